#include "watch/response_encoder.h"

#include <gtest/gtest.h>

#include "etcdserverpb/rpc.pb.h"

namespace etcdpp::watch {
namespace {

mvcc::Event PutEvent() {
  mvcc::Event ev;
  ev.kv = {.key = "k", .value = "v", .create_revision = 2, .mod_revision = 5, .version = 3,
           .lease = 7};
  mvcc::KeyValue prev;
  prev.key = "k";
  prev.value = "old";
  prev.create_revision = 2;
  prev.mod_revision = 4;
  prev.version = 2;
  ev.prev_kv = prev;
  return ev;
}

TEST(ResponseEncoderTest, EqualsGeneratedEncoding) {
  mvcc::Event put = PutEvent();
  mvcc::Event del;
  del.type = mvcc::Event::Type::kDelete;
  del.kv.key = "gone";
  del.kv.mod_revision = 5;
  std::string e1, e2, e3;
  AppendEvent(put, /*with_prev_kv=*/true, &e1);
  AppendEvent(put, /*with_prev_kv=*/false, &e2);
  AppendEvent(del, false, &e3);

  etcdserverpb::ResponseHeader h;
  h.set_cluster_id(11);
  h.set_member_id(22);
  h.set_revision(5);
  h.set_raft_term(3);
  std::string header = h.SerializeAsString();

  for (int64_t id : {int64_t{0}, int64_t{9}, int64_t{-1}}) {
    for (bool fragment : {false, true}) {
      std::vector<std::string_view> evs = {e1, e2, e3};
      std::string got = EncodeEventsResponse(header, id, evs, fragment);
      EXPECT_EQ(got.size(), EventsResponseSize(header, id, evs, 0, 3, fragment));

      etcdserverpb::WatchResponse want;
      *want.mutable_header() = h;
      want.set_watch_id(id);
      want.set_fragment(fragment);
      auto* a = want.add_events();
      a->set_type(mvccpb::Event::PUT);
      a->mutable_kv()->set_key("k");
      a->mutable_kv()->set_value("v");
      a->mutable_kv()->set_create_revision(2);
      a->mutable_kv()->set_mod_revision(5);
      a->mutable_kv()->set_version(3);
      a->mutable_kv()->set_lease(7);
      a->mutable_prev_kv()->set_key("k");
      a->mutable_prev_kv()->set_value("old");
      a->mutable_prev_kv()->set_create_revision(2);
      a->mutable_prev_kv()->set_mod_revision(4);
      a->mutable_prev_kv()->set_version(2);
      auto* b = want.add_events();
      *b = *a;
      b->clear_prev_kv();
      auto* c = want.add_events();
      c->set_type(mvccpb::Event::DELETE);
      c->mutable_kv()->set_key("gone");
      c->mutable_kv()->set_mod_revision(5);
      EXPECT_EQ(got, want.SerializeAsString()) << "id " << id << " fragment " << fragment;
    }
  }
}

}  // namespace
}  // namespace etcdpp::watch
