#include "server/commit_pacer.h"

#include <gtest/gtest.h>

namespace etcdpp::server {
namespace {

using std::chrono::milliseconds;
constexpr uint64_t kNoRead = UINT64_MAX;

CommitPacer::Options Opts(milliseconds interval, size_t max_entries, size_t max_bytes) {
  CommitPacer::Options o;
  o.interval = interval;
  o.max_entries = max_entries;
  o.max_bytes = max_bytes;
  return o;
}

TEST(CommitPacerTest, NothingPendingIsNeverDue) {
  CommitPacer p(Opts(milliseconds(0), 1, 1));
  EXPECT_FALSE(p.pending());
  EXPECT_FALSE(p.Due(CommitPacer::Clock::now(), 0));
}

TEST(CommitPacerTest, DueWhenTheIntervalSinceTheFirstUncommittedApplyHasPassed) {
  CommitPacer p(Opts(milliseconds(10), 1000, 1 << 20));
  const auto t0 = CommitPacer::Clock::time_point() + milliseconds(100);
  p.Applied(5, 1, 10, t0);
  p.Applied(7, 2, 10, t0 + milliseconds(8));  // a later apply does not move the deadline
  EXPECT_EQ(p.pending_last(), 7u);
  EXPECT_EQ(p.deadline(), t0 + milliseconds(10));
  EXPECT_FALSE(p.Due(t0 + milliseconds(9), kNoRead));
  EXPECT_TRUE(p.Due(t0 + milliseconds(10), kNoRead));
}

TEST(CommitPacerTest, DueAtOnceForAReadOfAnAppliedEntryOnly) {
  CommitPacer p(Opts(milliseconds(1000), 1000, 1 << 20));
  const auto t0 = CommitPacer::Clock::time_point();
  p.Applied(7, 1, 10, t0);
  EXPECT_FALSE(p.Due(t0, 8));  // waits for an entry not applied yet: a later commit serves it
  EXPECT_TRUE(p.Due(t0, 7));
  EXPECT_TRUE(p.Due(t0, 3));
}

TEST(CommitPacerTest, DueAtOnceAtTheEntryOrByteLimit) {
  const auto t0 = CommitPacer::Clock::time_point();
  CommitPacer by_entries(Opts(milliseconds(1000), 3, 1 << 20));
  by_entries.Applied(1, 2, 10, t0);
  EXPECT_FALSE(by_entries.Due(t0, kNoRead));
  by_entries.Applied(2, 1, 10, t0);
  EXPECT_TRUE(by_entries.Due(t0, kNoRead));

  CommitPacer by_bytes(Opts(milliseconds(1000), 1000, 100));
  by_bytes.Applied(1, 1, 99, t0);
  EXPECT_FALSE(by_bytes.Due(t0, kNoRead));
  by_bytes.Applied(2, 1, 1, t0);
  EXPECT_TRUE(by_bytes.Due(t0, kNoRead));
}

TEST(CommitPacerTest, CommittedStartsAfresh) {
  CommitPacer p(Opts(milliseconds(10), 2, 1 << 20));
  const auto t0 = CommitPacer::Clock::time_point();
  p.Applied(1, 2, 10, t0);
  p.Committed();
  EXPECT_FALSE(p.pending());
  EXPECT_FALSE(p.Due(t0 + milliseconds(100), 0));
  p.Applied(2, 1, 10, t0 + milliseconds(50));  // the interval counts from this apply
  EXPECT_FALSE(p.Due(t0 + milliseconds(55), kNoRead));
  EXPECT_TRUE(p.Due(t0 + milliseconds(60), kNoRead));
}

}  // namespace
}  // namespace etcdpp::server
