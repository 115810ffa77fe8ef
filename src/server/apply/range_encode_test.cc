// KvApplier::RangeEncoded must produce, byte for byte, what protobuf serializes for the
// RangeResponse that KvApplier::Range builds (with the same header), for every request shape:
// the streamed ones (plain, limit, keys_only, count_only, revision) and those that go through the
// message (sorting, revision filters). The streamed ones also in two parts: a buffer of any size,
// then the remainder in pieces of any size.
#include <gtest/gtest.h>

#include "mvcc/store_test_util.h"
#include "server/api/errors.h"
#include "server/apply/kv_apply.h"

namespace etcdpp::apply {
namespace {

using etcdserverpb::RangeRequest;

constexpr size_t kNoLimit = SIZE_MAX;

class RangeEncodeTest : public ::testing::Test {
 protected:
  RangeEncodeTest() {
    header_ = HeaderFields{ClusterId(0xc1a5732), MemberId(0x8e9e05c52164694d), Term(3)};
    // Keys with and without values and leases, a deleted key, a key put twice, a large value
    // (multi-byte lengths), and revisions spread so that old revisions differ from the current.
    ts_.Put("a", "1");
    ts_.Put("b", "", 0);            // empty value: field 5 omitted
    ts_.Put("c", "three", 7);       // lease
    ts_.Put("c", "three-again", 0);  // version 2, lease dropped
    ts_.Put("d", std::string(70000, 'x'));
    ts_.Put("e", "gone");
    ts_.Delete("e");
    ts_.Put(std::string("f\0g", 3), "binary\xff\x00value");
    ts_.Put("z", "last", -5);  // a negative lease encodes as a 10-byte varint
  }

  // Serializes Range(view, r) with the header filled, as the message path answers.
  std::string ViaMessage(const RangeRequest& r) {
    auto view = ts_.store().Read();
    CHECK(view.ok());
    auto resp = applier_.Range(*view, r);
    CHECK(resp.ok()) << resp.status().ToString();
    FillHeader(header_, resp->mutable_header());
    return resp->SerializeAsString();
  }

  // RangeEncoded into a buffer with a small chunk size, so chunk boundaries fall inside fields;
  // then the remainder, if any, in pieces of about `hint` bytes. Returns the message.
  std::string Encoded(const RangeRequest& r, size_t buffer_bytes = kNoLimit, size_t hint = 1,
                      size_t* size = nullptr) {
    auto view = ts_.store().Read();
    CHECK(view.ok());
    ChunkedBuffer out(7);
    out.Append("PREFIX");  // what is already there stays untouched
    auto n = applier_.RangeEncoded(*view, r, header_, {.buffer_bytes = buffer_bytes}, &out);
    CHECK(n.ok()) << n.status().ToString();
    if (buffer_bytes == kNoLimit) {
      EXPECT_FALSE(n->rest.has_value());
    }
    if (n->rest.has_value()) {
      EXPECT_EQ(n->rest->bytes_left(), n->size - (out.size() - 6));
      for (int pieces = 0; !n->rest->done(); ++pieces) {
        CHECK(pieces < 1000) << "the remainder does not end";
        const size_t before = out.size();
        Status st = n->rest->Next(*view, hint, &out);
        CHECK(st.ok()) << st.ToString();
        EXPECT_GT(out.size(), before);
      }
    }
    std::string s = out.ToString();
    EXPECT_EQ(s.substr(0, 6), "PREFIX");
    EXPECT_EQ(n->size, s.size() - 6);
    if (size != nullptr) *size = n->size;
    return s.substr(6);
  }

  static RangeRequest Req(std::string key, std::string end = "") {
    RangeRequest r;
    r.set_key(std::move(key));
    r.set_range_end(std::move(end));
    return r;
  }

  // Whole, and streamed after buffers of 0 to 200 bytes in pieces of 1 byte to everything.
  void ExpectSame(const RangeRequest& r) {
    std::string want = ViaMessage(r);
    std::string got = Encoded(r);
    EXPECT_EQ(got, want) << r.ShortDebugString();
    etcdserverpb::RangeResponse parsed;
    EXPECT_TRUE(parsed.ParseFromString(got));
    for (size_t buffer : {size_t{0}, size_t{30}, size_t{200}}) {
      for (size_t hint : {size_t{1}, size_t{100}, kNoLimit}) {
        EXPECT_EQ(Encoded(r, buffer, hint), want)
            << r.ShortDebugString() << " buffer " << buffer << " hint " << hint;
      }
    }
  }

  mvcc::testing::TempStore ts_;
  KvApplier applier_;
  HeaderFields header_;
};

TEST_F(RangeEncodeTest, PlainRangesMatchProtobuf) {
  ExpectSame(Req("a", std::string(1, '\0')));  // every key
  ExpectSame(Req("a", "e"));
  ExpectSame(Req("c"));                         // one key
  ExpectSame(Req("e"));                         // deleted: no kvs, count 0
  ExpectSame(Req("nothing"));                   // missing
  ExpectSame(Req("q", "b"));                    // end before key: empty
  ExpectSame(Req(std::string("f\0g", 3)));      // binary key and value
  ExpectSame(Req("z"));                         // negative lease
}

TEST_F(RangeEncodeTest, LimitMoreAndCountMatchProtobuf) {
  for (int64_t limit : {1, 2, 5, 6, 7, 100}) {
    RangeRequest r = Req("a", std::string(1, '\0'));
    r.set_limit(limit);
    ExpectSame(r);
    r.set_keys_only(true);
    ExpectSame(r);
  }
}

TEST_F(RangeEncodeTest, KeysOnlyAndCountOnlyMatchProtobuf) {
  RangeRequest r = Req("a", std::string(1, '\0'));
  r.set_keys_only(true);
  ExpectSame(r);
  r.set_keys_only(false);
  r.set_count_only(true);
  ExpectSame(r);
  r.set_limit(2);
  ExpectSame(r);
}

TEST_F(RangeEncodeTest, OldRevisionsMatchProtobuf) {
  for (int64_t rev = 1; rev <= 9; ++rev) {
    RangeRequest r = Req("a", std::string(1, '\0'));
    r.set_revision(rev);
    ExpectSame(r);
    r.set_limit(2);
    ExpectSame(r);
  }
}

TEST_F(RangeEncodeTest, SortedAndFilteredRangesMatchProtobuf) {
  for (auto target : {RangeRequest::KEY, RangeRequest::VERSION, RangeRequest::CREATE,
                      RangeRequest::MOD, RangeRequest::VALUE}) {
    for (auto order : {RangeRequest::NONE, RangeRequest::ASCEND, RangeRequest::DESCEND}) {
      RangeRequest r = Req("a", std::string(1, '\0'));
      r.set_sort_target(target);
      r.set_sort_order(order);
      ExpectSame(r);
      r.set_limit(3);
      ExpectSame(r);
      r.set_keys_only(true);
      ExpectSame(r);
    }
  }
  RangeRequest r = Req("a", std::string(1, '\0'));
  r.set_min_mod_revision(3);
  r.set_max_create_revision(8);
  ExpectSame(r);
}

TEST_F(RangeEncodeTest, HeaderIsAlwaysPresentEvenWhenZero) {
  header_ = HeaderFields{};
  ExpectSame(Req("nothing"));
}

TEST_F(RangeEncodeTest, ErrorsAreEtcds) {
  auto view = ts_.store().Read();
  ASSERT_TRUE(view.ok());
  ChunkedBuffer out;
  RangeRequest r = Req("a");
  r.set_revision(1000);
  auto n = applier_.RangeEncoded(*view, r, header_, {}, &out);
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(api::Is(n.status(), api::EtcdError::kFutureRev)) << n.status().ToString();
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(ts_.Compact(4).ok());
  auto view2 = ts_.store().Read();
  ASSERT_TRUE(view2.ok());
  r.set_revision(2);
  n = applier_.RangeEncoded(*view2, r, header_, {}, &out);
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(api::Is(n.status(), api::EtcdError::kCompacted)) << n.status().ToString();
}

// A message over the limit is not kept, but its full size is reported (for etcd's
// "trying to send message larger than max (N vs. M)"), whether or not it would have streamed.
TEST_F(RangeEncodeTest, OverTheLimitReportsTheSizeAndKeepsNothing) {
  RangeRequest all = Req("a", std::string(1, '\0'));
  size_t full = 0;
  Encoded(all, kNoLimit, 1, &full);
  for (size_t buffer : {size_t{0}, size_t{100}, kNoLimit}) {
    for (size_t limit : {size_t{0}, size_t{10}, full / 2, full - 1}) {
      auto view = ts_.store().Read();
      ASSERT_TRUE(view.ok());
      ChunkedBuffer out(64);
      out.Append("keep");
      auto n = applier_.RangeEncoded(*view, all, header_,
                                     {.max_message_bytes = limit, .buffer_bytes = buffer}, &out);
      ASSERT_TRUE(n.ok());
      EXPECT_EQ(n->size, full);
      EXPECT_FALSE(n->rest.has_value());
      EXPECT_EQ(out.ToString(), "keep") << limit;
    }
  }
  // The message path (sorted) reports the same way.
  RangeRequest sorted = all;
  sorted.set_sort_order(RangeRequest::DESCEND);
  auto view = ts_.store().Read();
  ASSERT_TRUE(view.ok());
  ChunkedBuffer out;
  auto n = applier_.RangeEncoded(*view, sorted, header_, {.max_message_bytes = 10}, &out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->size, full);
  EXPECT_TRUE(out.empty());
  // At exactly the limit the message is kept.
  ChunkedBuffer exact;
  n = applier_.RangeEncoded(*view, all, header_, {.max_message_bytes = full}, &exact);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(exact.size(), full);
}

// A single-key range is never split, however small the buffer: its remainder could not resume
// after the key. The first KeyValue of any range is always buffered.
TEST_F(RangeEncodeTest, TheFirstKeyValueIsAlwaysBuffered) {
  for (const RangeRequest& r : {Req("d"), Req("d", "e")}) {
    auto view = ts_.store().Read();
    ASSERT_TRUE(view.ok());
    ChunkedBuffer out;
    auto n = applier_.RangeEncoded(*view, r, header_, {.buffer_bytes = 0}, &out);
    ASSERT_TRUE(n.ok());
    EXPECT_FALSE(n->rest.has_value());
    EXPECT_EQ(out.ToString(), ViaMessage(r));
  }
}

// Past its walk budget a range gives up with nothing stored, sorted or not; within it the answer
// is the same as without one.
TEST_F(RangeEncodeTest, AWalkBudgetGivesUpWithNothingStored) {
  RangeRequest all = Req("a", std::string(1, '\0'));
  auto view = ts_.store().Read();
  ASSERT_TRUE(view.ok());
  ChunkedBuffer out;
  out.Append("keep");
  auto n = applier_.RangeEncoded(*view, all, header_, {.walk_budget = 3}, &out);
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->over_budget);
  EXPECT_FALSE(n->rest.has_value());
  EXPECT_EQ(out.ToString(), "keep");
  ChunkedBuffer within;
  n = applier_.RangeEncoded(*view, all, header_, {.walk_budget = 100}, &within);
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->over_budget);
  EXPECT_EQ(within.ToString(), ViaMessage(all));
  RangeRequest sorted = all;
  sorted.set_sort_order(RangeRequest::DESCEND);
  ChunkedBuffer whole;
  n = applier_.RangeEncoded(*view, sorted, header_, {.walk_budget = 3}, &whole);
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(n->over_budget);
  EXPECT_TRUE(whole.empty());
  n = applier_.RangeEncoded(*view, sorted, header_, {.walk_budget = 100}, &whole);
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->over_budget);
  EXPECT_EQ(whole.ToString(), ViaMessage(sorted));
}

// The remainder reads the snapshot it was counted on: writes after it do not change the answer.
TEST_F(RangeEncodeTest, TheRemainderReadsItsOwnSnapshot) {
  RangeRequest all = Req("a", std::string(1, '\0'));
  const std::string want = ViaMessage(all);
  auto view = ts_.store().Read();
  ASSERT_TRUE(view.ok());
  ChunkedBuffer out;
  auto n = applier_.RangeEncoded(*view, all, header_, {.buffer_bytes = 0}, &out);
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE(n->rest.has_value());
  ts_.Put("b2", "inserted");
  ts_.Put("z", "changed");
  while (!n->rest->done()) ASSERT_TRUE(n->rest->Next(*view, 10, &out).ok());
  EXPECT_EQ(out.ToString(), want);
}

}  // namespace
}  // namespace etcdpp::apply
