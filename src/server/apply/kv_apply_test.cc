#include "server/apply/kv_apply.h"

#include <gtest/gtest.h>

#include "mvcc/errors.h"
#include "mvcc/store_test_util.h"
#include "server/api/errors.h"

namespace etcdpp::apply {
namespace {

using api::EtcdError;
using api::Is;
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;

class KvApplyTest : public ::testing::Test {
 protected:
  KvApplyTest() : applier_(ApplierHooks{[](LeaseId id) { return id.value() == 7; }}) {}

  template <typename Fn>
  auto Apply(Fn fn) {
    auto b = ts_.store().Write();
    CHECK(b.ok());
    events_.clear();
    auto resp = fn(*b, &events_);
    CHECK(b->Commit().ok());
    return resp;
  }

  etcdserverpb::PutResponse Put(const std::string& k, const std::string& v, int64_t lease = 0,
                                bool prev_kv = false) {
    etcdserverpb::PutRequest r;
    r.set_key(k);
    r.set_value(v);
    r.set_lease(lease);
    r.set_prev_kv(prev_kv);
    auto resp = Apply([&](mvcc::WriteBatch& b, std::vector<mvcc::Event>* ev) {
      return applier_.ApplyPut(b, r, ev);
    });
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : etcdserverpb::PutResponse();
  }

  etcdserverpb::RangeResponse Range(RangeRequest r) {
    auto v = ts_.store().Read();
    CHECK(v.ok());
    auto resp = applier_.Range(*v, r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : etcdserverpb::RangeResponse();
  }

  static RangeRequest Req(std::string key, std::string end = "") {
    RangeRequest r;
    r.set_key(std::move(key));
    r.set_range_end(std::move(end));
    return r;
  }

  static std::vector<std::string> Keys(const etcdserverpb::RangeResponse& r) {
    std::vector<std::string> out;
    for (const auto& kv : r.kvs()) out.push_back(kv.key());
    return out;
  }

  mvcc::testing::TempStore ts_;
  KvApplier applier_;
  std::vector<mvcc::Event> events_;
};

TEST_F(KvApplyTest, PutWithPrevKvAndHeaderRevision) {
  auto r1 = Put("foo", "bar");
  EXPECT_EQ(r1.header().revision(), 2);
  EXPECT_FALSE(r1.has_prev_kv());
  auto r2 = Put("foo", "baz", 0, /*prev_kv=*/true);
  EXPECT_EQ(r2.header().revision(), 3);
  ASSERT_TRUE(r2.has_prev_kv());
  EXPECT_EQ(r2.prev_kv().value(), "bar");
  EXPECT_EQ(r2.prev_kv().mod_revision(), 2);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].kv.value, "baz");
}

TEST_F(KvApplyTest, PutIgnoreValueAndLease) {
  etcdserverpb::PutRequest r;
  r.set_key("k");
  r.set_ignore_value(true);
  auto missing = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyPut(b, r, ev); });
  EXPECT_TRUE(Is(missing.status(), EtcdError::kKeyNotFound));
  EXPECT_EQ(ts_.store().current_rev(), 1);  // nothing written

  Put("k", "v1", 7);
  r.set_lease(0);
  r.set_ignore_lease(true);
  auto ok = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyPut(b, r, ev); });
  ASSERT_TRUE(ok.ok());
  auto got = Range(Req("k"));
  EXPECT_EQ(got.kvs(0).value(), "v1");
  EXPECT_EQ(got.kvs(0).lease(), 7);
  EXPECT_EQ(got.kvs(0).version(), 2);
}

TEST_F(KvApplyTest, LeaseMustExist) {
  etcdserverpb::PutRequest r;
  r.set_key("k");
  r.set_lease(8);
  auto s = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyPut(b, r, ev); });
  EXPECT_TRUE(Is(s.status(), EtcdError::kLeaseNotFound));
  KvApplier no_hooks;
  auto s2 = Apply([&](mvcc::WriteBatch& b, auto* ev) { return no_hooks.ApplyPut(b, r, ev); });
  EXPECT_TRUE(Is(s2.status(), EtcdError::kLeaseNotFound));
}

TEST_F(KvApplyTest, DeleteRangeWithPrevKvs) {
  Put("a", "1");
  Put("b", "2");
  Put("c", "3");
  etcdserverpb::DeleteRangeRequest d;
  d.set_key("a");
  d.set_range_end("c");
  d.set_prev_kv(true);
  auto resp =
      Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyDeleteRange(b, d, ev); });
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->deleted(), 2);
  EXPECT_EQ(resp->header().revision(), 5);
  ASSERT_EQ(resp->prev_kvs_size(), 2);
  EXPECT_EQ(resp->prev_kvs(1).value(), "2");
  EXPECT_EQ(events_.size(), 2u);
  d.set_key("zz");
  d.clear_range_end();
  auto none =
      Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyDeleteRange(b, d, ev); });
  EXPECT_EQ(none->deleted(), 0);
  EXPECT_EQ(none->header().revision(), 5);
}

TEST_F(KvApplyTest, RangeLimitSortAndFilters) {
  Put("a", "z");  // 2
  Put("b", "y");  // 3
  Put("c", "x");  // 4
  Put("a", "w");  // 5: a version 2
  auto r = Req("a", std::string(1, '\0'));
  r.set_limit(2);
  auto resp = Range(r);
  EXPECT_EQ(Keys(resp), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(resp.more());
  EXPECT_EQ(resp.count(), 3);
  EXPECT_EQ(resp.header().revision(), 5);

  r.set_limit(0);
  r.set_sort_target(RangeRequest::VALUE);  // no order given: ascending
  EXPECT_EQ(Keys(Range(r)), (std::vector<std::string>{"a", "c", "b"}));
  r.set_sort_order(RangeRequest::DESCEND);
  r.set_sort_target(RangeRequest::MOD);
  r.set_limit(1);
  resp = Range(r);
  EXPECT_EQ(Keys(resp), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(resp.more());
  r.set_limit(0);
  r.set_sort_target(RangeRequest::VERSION);
  EXPECT_EQ(Keys(Range(r)), (std::vector<std::string>{"a", "b", "c"}));  // ties keep key order

  auto f = Req("a", std::string(1, '\0'));
  f.set_min_mod_revision(3);
  f.set_max_mod_revision(4);
  resp = Range(f);
  EXPECT_EQ(Keys(resp), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(resp.count(), 3);  // count is before filtering, as in etcd
  f = Req("a", std::string(1, '\0'));
  f.set_max_create_revision(2);
  EXPECT_EQ(Keys(Range(f)), (std::vector<std::string>{"a"}));

  auto k = Req("a");
  k.set_keys_only(true);
  resp = Range(k);
  EXPECT_EQ(resp.kvs(0).value(), "");
  EXPECT_EQ(resp.kvs(0).version(), 2);
  k.set_sort_target(RangeRequest::VALUE);
  EXPECT_EQ(Range(k).kvs(0).value(), "");

  auto c = Req("a", "c");
  c.set_count_only(true);
  resp = Range(c);
  EXPECT_EQ(resp.kvs_size(), 0);
  EXPECT_EQ(resp.count(), 2);

  auto h = Req("a");
  h.set_revision(3);
  EXPECT_EQ(Range(h).kvs(0).value(), "z");
  h.set_revision(9);
  auto v = ts_.store().Read();
  EXPECT_TRUE(Is(applier_.Range(*v, h).status(), EtcdError::kFutureRev));
}

etcdserverpb::TxnRequest CasTxn(const std::string& key, int64_t version, const std::string& v) {
  etcdserverpb::TxnRequest t;
  auto* c = t.add_compare();
  c->set_key(key);
  c->set_target(Compare::VERSION);
  c->set_result(Compare::EQUAL);
  c->set_version(version);
  auto* put = t.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(v);
  auto* get = t.add_failure()->mutable_request_range();
  get->set_key(key);
  return t;
}

TEST_F(KvApplyTest, TxnCompareAndSwap) {
  auto t = CasTxn("k", 0, "first");
  auto r = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyTxn(b, t, ev); });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded());
  EXPECT_EQ(r->header().revision(), 2);
  EXPECT_EQ(r->responses(0).response_put().header().revision(), 2);

  r = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyTxn(b, t, ev); });
  EXPECT_FALSE(r->succeeded());
  EXPECT_EQ(r->header().revision(), 2);  // nothing written
  EXPECT_EQ(r->responses(0).response_range().kvs(0).value(), "first");
  EXPECT_TRUE(events_.empty());
}

TEST_F(KvApplyTest, TxnOneRevisionReadsOwnWritesAndNests) {
  Put("x", "1");  // 2
  etcdserverpb::TxnRequest t;
  auto* p1 = t.add_success()->mutable_request_put();
  p1->set_key("a");
  p1->set_value("1");
  t.add_success()->mutable_request_range()->set_key("a");
  auto* nested = t.add_success()->mutable_request_txn();
  auto* c = nested->add_compare();
  c->set_key("x");
  c->set_target(Compare::VALUE);
  c->set_result(Compare::EQUAL);
  c->set_value("1");
  auto* p2 = nested->add_success()->mutable_request_put();
  p2->set_key("b");
  p2->set_value("2");
  auto* d = t.add_success()->mutable_request_delete_range();
  d->set_key("x");
  auto r = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyTxn(b, t, ev); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->header().revision(), 3);
  const auto& range = r->responses(1).response_range();
  ASSERT_EQ(range.kvs_size(), 1);  // sees the put before it
  EXPECT_EQ(range.header().revision(), 3);
  const auto& inner = r->responses(2).response_txn();
  EXPECT_TRUE(inner.succeeded());
  EXPECT_TRUE(inner.has_header());
  EXPECT_EQ(inner.header().revision(), 0);  // etcd leaves nested txn headers empty
  EXPECT_EQ(inner.responses(0).response_put().header().revision(), 3);
  EXPECT_EQ(r->responses(3).response_delete_range().deleted(), 1);
  ASSERT_EQ(events_.size(), 3u);
  EXPECT_EQ(ts_.store().current_rev(), 3);
}

TEST_F(KvApplyTest, TxnPreChecksFailWithoutWriting) {
  Put("a", "1");
  etcdserverpb::TxnRequest t;
  auto* p = t.add_success()->mutable_request_put();
  p->set_key("missing");
  p->set_ignore_value(true);
  auto r = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyTxn(b, t, ev); });
  EXPECT_TRUE(Is(r.status(), EtcdError::kKeyNotFound));
  etcdserverpb::TxnRequest t2;
  auto* g = t2.add_success()->mutable_request_range();
  g->set_key("a");
  g->set_revision(100);
  auto* p2 = t2.add_success()->mutable_request_put();
  p2->set_key("b");
  r = Apply([&](mvcc::WriteBatch& b, auto* ev) { return applier_.ApplyTxn(b, t2, ev); });
  EXPECT_TRUE(Is(r.status(), EtcdError::kFutureRev));
  EXPECT_EQ(ts_.store().current_rev(), 2);
}

TEST_F(KvApplyTest, CompareOnMissingKeysAndRanges) {
  Put("a1", "x");
  Put("a2", "x");
  auto check = [&](Compare c) {
    etcdserverpb::TxnRequest t;
    *t.add_compare() = c;
    auto v = ts_.store().Read();
    return applier_.ReadOnlyTxn(*v, t)->succeeded();
  };
  Compare c;
  c.set_key("nope");
  c.set_target(Compare::VERSION);
  c.set_result(Compare::EQUAL);
  c.set_version(0);
  EXPECT_TRUE(check(c));  // a missing key has version 0
  c.set_target(Compare::VALUE);
  c.set_value("");
  EXPECT_FALSE(check(c));  // but a VALUE compare on it is false
  c.set_key("a");
  c.set_range_end("b");
  c.set_value("x");
  EXPECT_TRUE(check(c));  // every key in the range
  c.set_result(Compare::NOT_EQUAL);
  EXPECT_FALSE(check(c));
  c.set_target(Compare::MOD);
  c.set_result(Compare::GREATER);
  c.set_mod_revision(2);
  EXPECT_FALSE(check(c));  // a1 has mod 2
  c.set_result(Compare::LESS);
  c.set_mod_revision(4);
  EXPECT_TRUE(check(c));
  c.set_target(Compare::CREATE);
  c.set_result(Compare::LESS);  // union holds mod_revision: compares against 0
  EXPECT_FALSE(check(c));
}

TEST_F(KvApplyTest, ReadOnlyTxnHeaderIsCurrentRevision) {
  Put("a", "1");
  etcdserverpb::TxnRequest t;
  t.add_success()->mutable_request_range()->set_key("a");
  auto v = ts_.store().Read();
  auto r = applier_.ReadOnlyTxn(*v, t);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->succeeded());
  EXPECT_EQ(r->header().revision(), 2);
  EXPECT_EQ(r->responses(0).response_range().kvs(0).value(), "1");
}

// A read-only txn gives up past its walk budget in any of its ranges (the server then reads it
// off the loop) and answers as without one within it.
TEST_F(KvApplyTest, ReadOnlyTxnWalkBudget) {
  for (std::string k : {"a", "b", "c", "d"}) Put(k, "v");
  etcdserverpb::TxnRequest t;
  t.add_success()->mutable_request_range()->set_key("a");
  auto* all = t.add_success()->mutable_request_range();
  all->set_key("a");
  all->set_range_end("z");
  auto v = ts_.store().Read();
  EXPECT_TRUE(mvcc::IsWalkBudget(applier_.ReadOnlyTxn(*v, t, 3).status()));
  auto within = applier_.ReadOnlyTxn(*v, t, 4);
  ASSERT_TRUE(within.ok());
  EXPECT_EQ(within->SerializeAsString(), applier_.ReadOnlyTxn(*v, t)->SerializeAsString());
  EXPECT_EQ(within->responses(1).response_range().count(), 4);
}

TEST_F(KvApplyTest, Compaction) {
  Put("a", "1");
  Put("a", "2");
  etcdserverpb::CompactionRequest c;
  c.set_revision(2);
  auto r = Apply([&](mvcc::WriteBatch& b, auto*) { return applier_.ApplyCompaction(b, c); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->header().revision(), 3);
  r = Apply([&](mvcc::WriteBatch& b, auto*) { return applier_.ApplyCompaction(b, c); });
  EXPECT_TRUE(Is(r.status(), EtcdError::kCompacted));
  c.set_revision(10);
  r = Apply([&](mvcc::WriteBatch& b, auto*) { return applier_.ApplyCompaction(b, c); });
  EXPECT_TRUE(Is(r.status(), EtcdError::kFutureRev));
  auto h = Req("a");
  h.set_revision(1);
  auto v = ts_.store().Read();
  EXPECT_TRUE(Is(applier_.Range(*v, h).status(), EtcdError::kCompacted));
}

TEST(FillHeader, SetsServerFieldsOnly) {
  etcdserverpb::ResponseHeader h;
  h.set_revision(9);
  FillHeader({ClusterId(1), MemberId(2), Term(3)}, &h);
  EXPECT_EQ(h.cluster_id(), 1u);
  EXPECT_EQ(h.member_id(), 2u);
  EXPECT_EQ(h.raft_term(), 3u);
  EXPECT_EQ(h.revision(), 9);
}

}  // namespace
}  // namespace etcdpp::apply
