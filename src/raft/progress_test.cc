// Progress, Inflights and ProgressTracker: the leader's flow control (thesis §10.2.1).
#include "raft/progress.h"

#include <gtest/gtest.h>

namespace etcdpp::raft {
namespace {

TEST(InflightsTest, CountLimit) {
  Inflights in(3, 0);
  in.Add(1, 10);
  in.Add(2, 10);
  EXPECT_FALSE(in.Full());
  in.Add(3, 10);
  EXPECT_TRUE(in.Full());
  in.FreeLE(2);
  EXPECT_EQ(in.Count(), 1u);
  EXPECT_EQ(in.Bytes(), 10u);
  in.Add(4, 1);
  in.Add(5, 1);
  EXPECT_TRUE(in.Full());
  in.FreeFirstOne();
  EXPECT_EQ(in.Count(), 2u);
  in.FreeLE(100);
  EXPECT_EQ(in.Count(), 0u);
  EXPECT_EQ(in.Bytes(), 0u);
}

TEST(InflightsTest, ByteLimit) {
  Inflights in(100, 50);
  in.Add(1, 30);
  EXPECT_FALSE(in.Full());
  in.Add(2, 30);
  EXPECT_TRUE(in.Full());
  in.FreeLE(1);
  EXPECT_FALSE(in.Full());
}

TEST(InflightsTest, WrapsAround) {
  Inflights in(4, 0);
  uint64_t next = 1;
  for (int round = 0; round < 20; ++round) {
    while (!in.Full()) in.Add(next++, 1);
    in.FreeLE(next - 3);
    EXPECT_EQ(in.Count(), 2u);
  }
}

TEST(ProgressTest, MaybeDecrToProbeAndReplicate) {
  Progress p(10, 8, 0);
  p.match = 5;
  p.BecomeReplicate();
  EXPECT_EQ(p.next, 6u);
  p.OptimisticUpdate(9);
  EXPECT_FALSE(p.MaybeDecrTo(4, 4)) << "stale rejection in replicate";
  EXPECT_TRUE(p.MaybeDecrTo(8, 7));
  EXPECT_EQ(p.next, 6u);
  p.BecomeProbe();
  p.next = 10;
  EXPECT_FALSE(p.MaybeDecrTo(5, 3)) << "rejection not of the last probe";
  EXPECT_TRUE(p.MaybeDecrTo(9, 3));
  EXPECT_EQ(p.next, 4u);
}

TEST(ProgressTest, PausedStates) {
  Progress p(1, 1, 0);
  EXPECT_FALSE(p.IsPaused());
  p.probe_sent = true;
  EXPECT_TRUE(p.IsPaused());
  EXPECT_TRUE(p.MaybeUpdate(3));
  EXPECT_FALSE(p.IsPaused());
  p.BecomeSnapshot(10);
  EXPECT_TRUE(p.IsPaused());
  p.BecomeProbe();
  EXPECT_EQ(p.next, 11u);
}

TEST(ProgressTrackerTest, CommittedAndQuorumActive) {
  ProgressTracker t(8, 0);
  for (uint64_t id : {1, 2, 3}) {
    t.config.voters.incoming.mutable_ids().insert(NodeId(id));
    t.progress.emplace(NodeId(id), Progress(1, 8, 0));
  }
  t.progress.at(NodeId(1)).match = 10;
  t.progress.at(NodeId(2)).match = 7;
  t.progress.at(NodeId(3)).match = 3;
  EXPECT_EQ(t.Committed(), 7u);
  t.progress.at(NodeId(1)).recent_active = true;
  EXPECT_FALSE(t.QuorumActive());
  t.progress.at(NodeId(3)).recent_active = true;
  EXPECT_TRUE(t.QuorumActive());
}

}  // namespace
}  // namespace etcdpp::raft
