#include "lease/lessor.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>

#include "base/check.h"

namespace etcdpp::lease {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// An LMDB environment with the mvcc store and a lessor on a fake clock; proposals the lessor
// makes are recorded instead of going through a log.
class LessorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string tmpl = base + "/etcdpp_lease_XXXXXX";
    CHECK(mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl.c_str();
    Reopen();
  }
  void TearDown() override {
    lessor_.reset();
    store_.reset();
    env_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Reopen() {
    lessor_.reset();
    store_.reset();
    env_.reset();
    storage::EnvOptions o;
    o.path = dir_ + "/db";
    o.map_size_bytes = 64ull << 20;
    o.commit_sync = storage::CommitSync::kNone;
    auto env = storage::Env::Open(o);
    CHECK(env.ok()) << env.status().ToString();
    env_ = std::move(env).value();
    auto store = mvcc::Store::Open(env_.get());
    CHECK(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    auto lessor = Lessor::Open(env_.get(), &clock_, options_);
    CHECK(lessor.ok()) << lessor.status().ToString();
    lessor_ = std::move(lessor).value();
    lessor_->SetProposers([this](LeaseId id) { revokes_.push_back(id); },
                          [this](std::vector<Checkpoint> cps) {
                            checkpoints_.insert(checkpoints_.end(), cps.begin(), cps.end());
                          });
  }

  // Grants in its own committed batch; returns the outcome and the granted TTL.
  std::pair<LeaseErrc, int64_t> Grant(int64_t id, int64_t ttl) {
    auto b = store_->Write();
    CHECK(b.ok());
    int64_t granted = -1;
    auto r = lessor_->ApplyGrant(*b, LeaseId(id), ttl, &granted);
    CHECK(r.ok()) << r.status().ToString();
    CHECK(b->Commit().ok());
    return {*r, granted};
  }
  LeaseErrc Revoke(int64_t id, std::vector<mvcc::Event>* events = nullptr) {
    auto b = store_->Write();
    CHECK(b.ok());
    auto r = lessor_->ApplyRevoke(*b, LeaseId(id), events);
    CHECK(r.ok()) << r.status().ToString();
    CHECK(b->Commit().ok());
    lessor_->AfterCommit();
    return *r;
  }
  void ApplyCheckpoints(const std::vector<Checkpoint>& cps) {
    auto b = store_->Write();
    CHECK(b.ok());
    CHECK(lessor_->ApplyCheckpoint(*b, cps).ok());
    CHECK(b->Commit().ok());
  }
  void Put(std::string_view key, int64_t lease) {
    auto b = store_->Write();
    CHECK(b.ok());
    mvcc::TxnWrite t = b->BeginTxn();
    CHECK(t.Put(key, "v", LeaseId(lease)).ok());
    t.End();
    CHECK(b->Commit().ok());
  }
  int64_t KeyCount() {
    auto v = store_->Read();
    CHECK(v.ok());
    return v->Range("", std::string(1, '\0'), {})->count;
  }
  int64_t Remaining(int64_t id) {
    auto info = lessor_->Lookup(LeaseId(id));
    CHECK(info.has_value());
    return info->remaining_seconds;
  }

  std::string dir_;
  FakeClock clock_;
  LessorOptions options_;
  std::unique_ptr<storage::Env> env_;
  std::unique_ptr<mvcc::Store> store_;
  std::unique_ptr<Lessor> lessor_;
  std::vector<LeaseId> revokes_;
  std::vector<Checkpoint> checkpoints_;
};

TEST(LeaseRecordTest, RoundTrips) {
  auto r = DecodeLeaseRecord(EncodeLeaseRecord({kMaxLeaseTtlSeconds, 42}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ttl_seconds, kMaxLeaseTtlSeconds);
  EXPECT_EQ(r->remaining_ttl_seconds, 42);
}

TEST(LeaseRecordTest, TruncatedRecordIsDataLoss) {
  std::string b = EncodeLeaseRecord({10, 0});
  b.pop_back();
  EXPECT_EQ(DecodeLeaseRecord(b).status().code(), Code::kDataLoss);
}

TEST(LeaseRecordTest, UnknownFormatIsDataLoss) {
  std::string b = EncodeLeaseRecord({10, 0});
  b[0] = 7;
  EXPECT_EQ(DecodeLeaseRecord(b).status().code(), Code::kDataLoss);
}

TEST_F(LessorFixture, GrantFollowsEtcdRules) {
  lessor_->Promote(seconds(0));
  EXPECT_EQ(Grant(1, 1), std::make_pair(LeaseErrc::kOk, int64_t{2}));  // raised to the minimum
  EXPECT_EQ(Grant(2, -5).second, 2);
  EXPECT_EQ(Grant(3, 60), std::make_pair(LeaseErrc::kOk, int64_t{60}));
  EXPECT_EQ(Grant(3, 60).first, LeaseErrc::kExists);
  EXPECT_EQ(Grant(0, 60).first, LeaseErrc::kNotFound);
  EXPECT_EQ(Grant(4, kMaxLeaseTtlSeconds + 1).first, LeaseErrc::kTtlTooLarge);
  EXPECT_EQ(Grant(4, kMaxLeaseTtlSeconds).second, kMaxLeaseTtlSeconds);
  EXPECT_TRUE(lessor_->Exists(LeaseId(3)));
  EXPECT_FALSE(lessor_->Exists(LeaseId(5)));
  EXPECT_EQ(lessor_->size(), 4u);
  auto info = lessor_->Lookup(LeaseId(3));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->granted_ttl_seconds, 60);
  EXPECT_EQ(info->remaining_seconds, 60);
  clock_.Advance(milliseconds(1500));
  EXPECT_EQ(Remaining(3), 58);  // 58.5 s truncated, as etcd's int64(Seconds())
}

TEST_F(LessorFixture, RevokeDeletesAttachedKeysInOneRevision) {
  lessor_->Promote(seconds(0));
  Grant(7, 60);
  Grant(8, 60);
  Put("b", 7);
  Put("a", 7);
  Put("c", 8);
  Put("d", 0);
  int64_t before = store_->current_rev();
  std::vector<mvcc::Event> events;
  EXPECT_EQ(Revoke(7, &events), LeaseErrc::kOk);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv.key, "a");
  EXPECT_EQ(events[1].kv.key, "b");
  EXPECT_EQ(events[0].kv.mod_revision, before + 1);
  EXPECT_EQ(events[1].kv.mod_revision, before + 1);
  EXPECT_EQ(store_->current_rev(), before + 1);
  EXPECT_EQ(KeyCount(), 2);
  EXPECT_FALSE(lessor_->Exists(LeaseId(7)));
  EXPECT_EQ(Revoke(7), LeaseErrc::kNotFound);
  EXPECT_EQ(Revoke(8), LeaseErrc::kOk);
  EXPECT_EQ(store_->current_rev(), before + 2);
  EXPECT_EQ(KeyCount(), 1);  // only the key without a lease is left
}

TEST_F(LessorFixture, RevokeOfLeaseWithoutKeysKeepsRevision) {
  lessor_->Promote(seconds(0));
  Grant(9, 60);
  int64_t before = store_->current_rev();
  EXPECT_EQ(Revoke(9), LeaseErrc::kOk);
  EXPECT_EQ(store_->current_rev(), before);
}

TEST_F(LessorFixture, ExpiryProposesRevokeAtTtlAndRetries) {
  lessor_->Promote(seconds(0));
  Grant(1, 5);
  clock_.Advance(milliseconds(4999));
  lessor_->Tick();
  EXPECT_TRUE(revokes_.empty());
  clock_.Advance(milliseconds(1));
  lessor_->Tick();
  ASSERT_EQ(revokes_.size(), 1u);
  EXPECT_EQ(revokes_[0], LeaseId(1));
  // The proposal was lost: handed out again after the retry interval, not before.
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 1u);
  clock_.Advance(kExpiredRetryInterval);
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 2u);
  Revoke(1);
  clock_.Advance(kExpiredRetryInterval);
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 2u);
}

TEST_F(LessorFixture, RenewPostponesExpiry) {
  lessor_->Promote(seconds(0));
  Grant(1, 5);
  clock_.Advance(seconds(4));
  auto r = lessor_->Renew(LeaseId(1), nullptr);
  EXPECT_EQ(r.outcome, Lessor::RenewOutcome::kRenewed);
  EXPECT_EQ(r.ttl_seconds, 5);
  clock_.Advance(seconds(4));
  lessor_->Tick();
  EXPECT_TRUE(revokes_.empty());
  clock_.Advance(seconds(1));
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 1u);
  EXPECT_EQ(lessor_->Renew(LeaseId(99), nullptr).outcome, Lessor::RenewOutcome::kNotFound);
}

TEST_F(LessorFixture, RenewOfExpiredLeaseAnswersOnlyAfterRevokeCommitted) {
  lessor_->Promote(seconds(0));
  Grant(1, 2);
  Put("k", 1);
  clock_.Advance(seconds(2));
  int called = 0;
  auto r = lessor_->Renew(LeaseId(1), [&] { ++called; });
  EXPECT_EQ(r.outcome, Lessor::RenewOutcome::kExpired);
  lessor_->AfterCommit();
  EXPECT_EQ(called, 0);
  Revoke(1);  // commits, then AfterCommit
  EXPECT_EQ(called, 1);
  EXPECT_EQ(KeyCount(), 0);
}

TEST_F(LessorFixture, NotPrimaryNeverExpiresAndRefusesRenew) {
  Grant(1, 2);
  clock_.Advance(seconds(1000));
  lessor_->Tick();
  EXPECT_TRUE(revokes_.empty());
  EXPECT_EQ(lessor_->Renew(LeaseId(1), nullptr).outcome, Lessor::RenewOutcome::kNotPrimary);
  EXPECT_EQ(Remaining(1), 9223372036);  // etcd's "forever"
}

TEST_F(LessorFixture, LeasesSurviveReopenAndGetFullTtlPlusExtendOnPromote) {
  lessor_->Promote(seconds(0));
  Grant(1, 10);
  Grant(2, 100);
  Put("k", 2);
  clock_.Advance(seconds(8));
  Reopen();
  EXPECT_EQ(lessor_->size(), 2u);
  EXPECT_TRUE(lessor_->Exists(LeaseId(2)));
  EXPECT_FALSE(lessor_->is_primary());
  lessor_->Promote(seconds(1));
  EXPECT_EQ(Remaining(1), 11);
  EXPECT_EQ(Remaining(2), 101);
  clock_.Advance(milliseconds(10999));
  lessor_->Tick();
  EXPECT_TRUE(revokes_.empty());
  clock_.Advance(milliseconds(1));
  lessor_->Tick();
  EXPECT_EQ(revokes_, std::vector<LeaseId>{LeaseId(1)});
}

TEST_F(LessorFixture, RevokedLeaseStaysRevokedAfterReopen) {
  lessor_->Promote(seconds(0));
  Grant(1, 10);
  Revoke(1);
  Reopen();
  EXPECT_EQ(lessor_->size(), 0u);
}

class CheckpointFixture : public LessorFixture {
 protected:
  void SetUp() override {
    options_.checkpoint_interval = seconds(10);
    LessorFixture::SetUp();
  }
};

TEST_F(CheckpointFixture, LongLeaseIsCheckpointedAndReopenHonoursIt) {
  lessor_->Promote(seconds(0));
  Grant(1, 100);
  Grant(2, 5);  // shorter than the interval: never checkpointed
  clock_.Advance(seconds(10));
  lessor_->Tick();
  ASSERT_EQ(checkpoints_.size(), 1u);
  EXPECT_EQ(checkpoints_[0].id, LeaseId(1));
  EXPECT_EQ(checkpoints_[0].remaining_ttl_seconds, 90);
  ApplyCheckpoints(checkpoints_);
  // The next checkpoint is scheduled one interval after the applied one.
  clock_.Advance(seconds(10));
  lessor_->Tick();
  ASSERT_EQ(checkpoints_.size(), 2u);
  EXPECT_EQ(checkpoints_[1].remaining_ttl_seconds, 80);
  // Restart: the lease gets its checkpointed remaining TTL, not a fresh 100 s.
  Reopen();
  lessor_->Promote(seconds(1));
  EXPECT_EQ(Remaining(1), 91);
  EXPECT_EQ(lessor_->Lookup(LeaseId(1))->granted_ttl_seconds, 100);
}

TEST_F(CheckpointFixture, RenewClearsCheckpointThroughTheLog) {
  lessor_->Promote(seconds(0));
  Grant(1, 100);
  clock_.Advance(seconds(10));
  lessor_->Tick();
  ApplyCheckpoints(checkpoints_);
  checkpoints_.clear();
  auto r = lessor_->Renew(LeaseId(1), nullptr);
  EXPECT_EQ(r.ttl_seconds, 100);
  EXPECT_EQ(Remaining(1), 100);
  ASSERT_EQ(checkpoints_.size(), 1u);
  EXPECT_EQ(checkpoints_[0].remaining_ttl_seconds, 0);
  ApplyCheckpoints(checkpoints_);
  checkpoints_.clear();
  // A second renewal writes nothing to the log.
  lessor_->Renew(LeaseId(1), nullptr);
  EXPECT_TRUE(checkpoints_.empty());
  // Applying the clear did not add a second pending checkpoint: one per interval.
  clock_.Advance(seconds(10));
  lessor_->Tick();
  EXPECT_EQ(checkpoints_.size(), 1u);
  clock_.Advance(seconds(1));
  lessor_->Tick();
  EXPECT_EQ(checkpoints_.size(), 1u);
  checkpoints_.clear();
  Reopen();
  lessor_->Promote(seconds(0));
  EXPECT_EQ(Remaining(1), 100);
}

class RateFixture : public LessorFixture {
 protected:
  void SetUp() override {
    options_.revokes_per_tick = 10;
    options_.target_expiries_per_second = 15;
    LessorFixture::SetUp();
  }
};

TEST_F(RateFixture, ExpiryStormIsRevokedAtTheRateLimit) {
  lessor_->Promote(seconds(0));
  for (int i = 1; i <= 25; ++i) Grant(i, 2);
  clock_.Advance(seconds(3));
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 10u);
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 20u);
  lessor_->Tick();
  EXPECT_EQ(revokes_.size(), 25u);
  std::set<LeaseId> distinct(revokes_.begin(), revokes_.end());
  EXPECT_EQ(distinct.size(), 25u);
}

TEST_F(RateFixture, PromoteSpreadsPiledUpExpiries) {
  for (int i = 1; i <= 60; ++i) Grant(i, 10);
  lessor_->Promote(seconds(1));
  // Count expiries per one-second bucket after the first possible one (11 s).
  std::map<int64_t, int> per_second;
  for (int i = 1; i <= 60; ++i) {
    int64_t r = Remaining(i);
    EXPECT_GE(r, 11) << "lease " << i << " would expire early";
    per_second[r]++;
  }
  for (const auto& [second, n] : per_second) {
    EXPECT_LE(n, 15) << n << " leases expire in second " << second;
  }
  EXPECT_GT(per_second.size(), 3u);
}

TEST_F(LessorFixture, LeasesListedSoonestExpiryFirst) {
  lessor_->Promote(seconds(0));
  Grant(5, 30);
  Grant(6, 10);
  Grant(7, 20);
  EXPECT_EQ(lessor_->Leases(), (std::vector<LeaseId>{LeaseId(6), LeaseId(7), LeaseId(5)}));
}

TEST_F(LessorFixture, DemoteStopsExpiry) {
  lessor_->Promote(seconds(0));
  Grant(1, 2);
  lessor_->Demote();
  clock_.Advance(seconds(10));
  lessor_->Tick();
  EXPECT_TRUE(revokes_.empty());
  lessor_->Promote(seconds(0));
  EXPECT_EQ(Remaining(1), 2);
}

TEST_F(LessorFixture, TickThreadStartsAndStops) {
  lessor_->Start();
  lessor_->Stop();
  lessor_->Start();
  lessor_->Stop();
}

}  // namespace
}  // namespace etcdpp::lease
