// Revision, version, create/mod revision and error expectations recorded from real etcd 3.4.
//
// How they were obtained (once, by hand, 2026-11-26): /usr/bin/etcd (3.4, Debian etcd-server)
// started on a free 127.0.0.1 port with an empty data dir, then the etcdctl 3.4.23 commands in
// the comments below, in this order, with `-w json`; the numbers are copied from its output.
// The test replays the same requests through KvApplier on a fresh store and expects the same
// numbers, so a change in our revision bookkeeping shows up here without a running etcd.
#include <gtest/gtest.h>

#include "mvcc/store_test_util.h"
#include "server/api/errors.h"
#include "server/apply/kv_apply.h"
#include "server/apply/validate.h"

namespace etcdpp::apply {
namespace {

using api::EtcdError;
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;

struct Kv {
  std::string key;
  int64_t create, mod, version;
  std::string value;
};

class EtcdSequence : public ::testing::Test {
 protected:
  template <typename Fn>
  auto Apply(Fn fn) {
    auto b = ts_.store().Write();
    CHECK(b.ok());
    std::vector<mvcc::Event> ev;
    auto resp = fn(*b, &ev);
    CHECK(b->Commit().ok());
    return resp;
  }
  etcdserverpb::PutResponse Put(std::string k, std::string v, bool prev_kv = false) {
    etcdserverpb::PutRequest r;
    r.set_key(k);
    r.set_value(v);
    r.set_prev_kv(prev_kv);
    auto resp = Apply([&](auto& b, auto* ev) { return applier_.ApplyPut(b, r, ev); });
    CHECK(resp.ok()) << resp.status().ToString();
    return *resp;
  }
  Result<etcdserverpb::RangeResponse> Get(RangeRequest r) {
    auto v = ts_.store().Read();
    CHECK(v.ok());
    return applier_.Range(*v, r);
  }
  static RangeRequest Req(std::string k, std::string end = "", int64_t rev = 0) {
    RangeRequest r;
    r.set_key(k);
    r.set_range_end(end);
    r.set_revision(rev);
    return r;
  }
  static void ExpectKvs(const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& got,
                        const std::vector<Kv>& want) {
    ASSERT_EQ(got.size(), static_cast<int>(want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      const auto& g = got[static_cast<int>(i)];
      EXPECT_EQ(g.key(), want[i].key);
      EXPECT_EQ(g.create_revision(), want[i].create) << want[i].key;
      EXPECT_EQ(g.mod_revision(), want[i].mod) << want[i].key;
      EXPECT_EQ(g.version(), want[i].version) << want[i].key;
      EXPECT_EQ(g.value(), want[i].value) << want[i].key;
    }
  }

  mvcc::testing::TempStore ts_;
  KvApplier applier_;
};

TEST_F(EtcdSequence, MatchesRecordedEtcd34Output) {
  const std::string from_key(1, '\0');
  EXPECT_EQ(Put("a", "1").header().revision(), 2);  // put a 1
  EXPECT_EQ(Put("b", "1").header().revision(), 3);  // put b 1
  EXPECT_EQ(Put("a", "2").header().revision(), 4);  // put a 2
  auto r = Get(Req("a"));                           // get a
  EXPECT_EQ(r->header().revision(), 4);
  ExpectKvs(r->kvs(), {{"a", 2, 4, 2, "2"}});
  EXPECT_EQ(r->count(), 1);

  etcdserverpb::DeleteRangeRequest del;  // del a
  del.set_key("a");
  auto d = Apply([&](auto& b, auto* ev) { return applier_.ApplyDeleteRange(b, del, ev); });
  EXPECT_EQ(d->header().revision(), 5);
  EXPECT_EQ(d->deleted(), 1);
  EXPECT_EQ(Put("a", "3").header().revision(), 6);  // put a 3

  r = Get(Req("a", "", 4));  // get a --rev=4
  EXPECT_EQ(r->header().revision(), 6);
  ExpectKvs(r->kvs(), {{"a", 2, 4, 2, "2"}});
  r = Get(Req("a", "", 5));  // get a --rev=5: deleted then
  EXPECT_EQ(r->header().revision(), 6);
  EXPECT_EQ(r->kvs_size(), 0);
  EXPECT_EQ(r->count(), 0);

  // txn: version("a") = "1" ? put c 1; put d 1 : get a
  etcdserverpb::TxnRequest t1;
  auto* c1 = t1.add_compare();
  c1->set_key("a");
  c1->set_target(Compare::VERSION);
  c1->set_result(Compare::EQUAL);
  c1->set_version(1);
  for (std::string k : {"c", "d"}) {
    auto* p = t1.add_success()->mutable_request_put();
    p->set_key(k);
    p->set_value("1");
  }
  t1.add_failure()->mutable_request_range()->set_key("a");
  ASSERT_TRUE(ValidateTxn(t1).ok());
  auto tr = Apply([&](auto& b, auto* ev) { return applier_.ApplyTxn(b, t1, ev); });
  ASSERT_TRUE(tr.ok());
  EXPECT_TRUE(tr->succeeded());
  EXPECT_EQ(tr->header().revision(), 7);
  EXPECT_EQ(tr->responses(0).response_put().header().revision(), 7);
  EXPECT_EQ(tr->responses(1).response_put().header().revision(), 7);

  // txn: version("a") = "7" ? put c 2 : get a; get c
  etcdserverpb::TxnRequest t2;
  *t2.add_compare() = *c1;
  t2.mutable_compare(0)->set_version(7);
  auto* p2 = t2.add_success()->mutable_request_put();
  p2->set_key("c");
  p2->set_value("2");
  t2.add_failure()->mutable_request_range()->set_key("a");
  t2.add_failure()->mutable_request_range()->set_key("c");
  tr = Apply([&](auto& b, auto* ev) { return applier_.ApplyTxn(b, t2, ev); });
  ASSERT_TRUE(tr.ok());
  EXPECT_FALSE(tr->succeeded());
  EXPECT_EQ(tr->header().revision(), 7);
  EXPECT_EQ(tr->responses(0).response_range().header().revision(), 7);
  ExpectKvs(tr->responses(0).response_range().kvs(), {{"a", 6, 6, 1, "3"}});
  ExpectKvs(tr->responses(1).response_range().kvs(), {{"c", 7, 7, 1, "1"}});

  r = Get(Req("a", from_key));  // get a --from-key
  EXPECT_EQ(r->header().revision(), 7);
  ExpectKvs(r->kvs(),
            {{"a", 6, 6, 1, "3"}, {"b", 3, 3, 1, "1"}, {"c", 7, 7, 1, "1"}, {"d", 7, 7, 1, "1"}});
  EXPECT_EQ(r->count(), 4);

  del.set_key("nothing");  // del nothing
  d = Apply([&](auto& b, auto* ev) { return applier_.ApplyDeleteRange(b, del, ev); });
  EXPECT_EQ(d->header().revision(), 7);
  EXPECT_EQ(d->deleted(), 0);

  auto p = Put("c", "3", /*prev_kv=*/true);  // put c 3 --prev-kv
  EXPECT_EQ(p.header().revision(), 8);
  google::protobuf::RepeatedPtrField<mvccpb::KeyValue> prev;
  *prev.Add() = p.prev_kv();
  ExpectKvs(prev, {{"c", 7, 7, 1, "1"}});

  auto sorted = Req("a", from_key);  // get a --from-key --sort-by=VERSION --order=DESCEND --limit=2
  sorted.set_sort_target(RangeRequest::VERSION);
  sorted.set_sort_order(RangeRequest::DESCEND);
  sorted.set_limit(2);
  r = Get(sorted);
  ExpectKvs(r->kvs(), {{"c", 7, 8, 2, "3"}, {"a", 6, 6, 1, "3"}});
  EXPECT_TRUE(r->more());
  EXPECT_EQ(r->count(), 4);

  auto keys = Req("a", from_key);  // get a --from-key --keys-only --limit=1
  keys.set_keys_only(true);
  keys.set_limit(1);
  r = Get(keys);
  ExpectKvs(r->kvs(), {{"a", 6, 6, 1, ""}});
  EXPECT_TRUE(r->more());
  EXPECT_EQ(r->count(), 4);

  del.set_key("a");  // del a --prefix --prev-kv
  del.set_range_end("b");
  del.set_prev_kv(true);
  d = Apply([&](auto& b, auto* ev) { return applier_.ApplyDeleteRange(b, del, ev); });
  EXPECT_EQ(d->header().revision(), 9);
  EXPECT_EQ(d->deleted(), 1);
  ExpectKvs(d->prev_kvs(), {{"a", 6, 6, 1, "3"}});

  etcdserverpb::CompactionRequest comp;  // compaction 5
  comp.set_revision(5);
  auto cr = Apply([&](auto& b, auto*) { return applier_.ApplyCompaction(b, comp); });
  ASSERT_TRUE(cr.ok());
  EXPECT_TRUE(api::Is(Get(Req("b", "", 4)).status(), EtcdError::kCompacted));  // get b --rev=4
  r = Get(Req("b", "", 5));                                                    // get b --rev=5
  EXPECT_EQ(r->header().revision(), 9);
  ExpectKvs(r->kvs(), {{"b", 3, 3, 1, "1"}});
  EXPECT_TRUE(api::Is(Get(Req("b", "", 100)).status(), EtcdError::kFutureRev));   // --rev=100
  cr = Apply([&](auto& b, auto*) { return applier_.ApplyCompaction(b, comp); });  // compaction 5
  EXPECT_TRUE(api::Is(cr.status(), EtcdError::kCompacted));
  comp.set_revision(100);  // compaction 100
  cr = Apply([&](auto& b, auto*) { return applier_.ApplyCompaction(b, comp); });
  EXPECT_TRUE(api::Is(cr.status(), EtcdError::kFutureRev));

  etcdserverpb::PutRequest missing;  // put missing --ignore-value
  missing.set_key("missing");
  missing.set_ignore_value(true);
  auto pr = Apply([&](auto& b, auto* ev) { return applier_.ApplyPut(b, missing, ev); });
  EXPECT_EQ(pr.status(), Status(Code::kInvalidArgument, "etcdserver: key not found"));
  etcdserverpb::PutRequest empty;  // put "" x
  empty.set_value("x");
  EXPECT_EQ(ValidatePut(empty), Status(Code::kInvalidArgument, "etcdserver: key is not provided"));

  // txn: put x 1; del x  → duplicate key;  put x 1; del w z → duplicate key
  etcdserverpb::TxnRequest dup;
  dup.add_success()->mutable_request_put()->set_key("x");
  dup.add_success()->mutable_request_delete_range()->set_key("x");
  EXPECT_EQ(ValidateTxn(dup),
            Status(Code::kInvalidArgument, "etcdserver: duplicate key given in txn request"));
  dup.mutable_success(1)->mutable_request_delete_range()->set_key("w");
  dup.mutable_success(1)->mutable_request_delete_range()->set_range_end("z");
  EXPECT_TRUE(api::Is(ValidateTxn(dup), EtcdError::kDuplicateKey));
}

// etcd applies `limit` before sorting when a sort target is given without an order (clientv3's
// WithSort sends order NONE when etcdctl gets --sort-by without --order): it fetches limit+1
// keys in key order and sorts those. Recorded: put s/a 9, s/b 8, s/c 7, s/d 1, then
// `etcdctl get s/ --prefix --sort-by=VALUE --limit=2` → [s/c, s/b], more, count 4; with
// `--order=ASCEND` → [s/d, s/c].
TEST_F(EtcdSequence, SortWithoutOrderLimitsFirst) {
  Put("s/a", "9");
  Put("s/b", "8");
  Put("s/c", "7");
  Put("s/d", "1");
  auto r = Req("s/", "s0");
  r.set_sort_target(RangeRequest::VALUE);
  r.set_limit(2);
  auto got = Get(r);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->kvs_size(), 2);
  EXPECT_EQ(got->kvs(0).key(), "s/c");
  EXPECT_EQ(got->kvs(1).key(), "s/b");
  EXPECT_TRUE(got->more());
  EXPECT_EQ(got->count(), 4);
  r.set_sort_order(RangeRequest::ASCEND);
  got = Get(r);
  EXPECT_EQ(got->kvs(0).key(), "s/d");
  EXPECT_EQ(got->kvs(1).key(), "s/c");
}

}  // namespace
}  // namespace etcdpp::apply
