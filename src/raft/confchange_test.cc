// Membership change rules (thesis ch. 4) and the ConfChangeV2 encoding.
#include "raft/confchange.h"

#include <gtest/gtest.h>

namespace etcdpp::raft {
namespace {

ProgressTracker Tracker(std::initializer_list<uint64_t> voters) {
  ProgressTracker t(8, 0);
  for (uint64_t id : voters) {
    t.config.voters.incoming.mutable_ids().insert(NodeId(id));
    t.progress.emplace(NodeId(id), Progress(1, 8, 0));
  }
  return t;
}

ConfChangeSingle Add(uint64_t id) { return {ConfChangeType::kAddNode, NodeId(id)}; }
ConfChangeSingle Remove(uint64_t id) { return {ConfChangeType::kRemoveNode, NodeId(id)}; }
ConfChangeSingle Learner(uint64_t id) { return {ConfChangeType::kAddLearnerNode, NodeId(id)}; }

TEST(ConfChangeTest, SimpleAllowsOneVoterChange) {
  ProgressTracker t = Tracker({1, 2, 3});
  Changer c(t, 10);
  auto r = c.Simple({Add(4)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->config.voters.incoming.ids().size(), 4u);
  EXPECT_EQ(r->progress.at(NodeId(4)).next, 10u);
  EXPECT_FALSE(c.Simple({Add(4), Add(5)}).ok());
  EXPECT_FALSE(c.Simple({Remove(1), Add(4)}).ok()) << "two voters changed";
  EXPECT_TRUE(c.Simple({Learner(4)}).ok()) << "learners do not count";
}

TEST(ConfChangeTest, CannotRemoveAllVoters) {
  ProgressTracker t = Tracker({1});
  Changer c(t, 1);
  EXPECT_FALSE(c.Simple({Remove(1)}).ok());
}

TEST(ConfChangeTest, JointEnterAndLeave) {
  ProgressTracker t = Tracker({1, 2, 3});
  auto r = Changer(t, 5).EnterJoint(true, {Add(4), Remove(3), Learner(2)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->config.voters.ToString(), "(1 4)&&(1 2 3)");
  // 2 is a voter of the outgoing half: it waits in learners_next.
  EXPECT_EQ(r->config.learners_next.count(NodeId(2)), 1u);
  EXPECT_TRUE(r->config.auto_leave);
  t.config = r->config;
  t.progress = r->progress;
  EXPECT_FALSE(Changer(t, 5).EnterJoint(false, {Add(5)}).ok()) << "already joint";
  EXPECT_FALSE(Changer(t, 5).Simple({Add(5)}).ok());
  auto l = Changer(t, 5).LeaveJoint();
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->config.voters.ToString(), "(1 4)");
  EXPECT_EQ(l->config.learners.count(NodeId(2)), 1u);
  EXPECT_TRUE(l->progress.at(NodeId(2)).is_learner);
  EXPECT_EQ(l->progress.count(NodeId(3)), 0u);
  EXPECT_FALSE(l->config.auto_leave);
}

TEST(ConfChangeTest, LeaveWhenNotJointFails) {
  ProgressTracker t = Tracker({1, 2, 3});
  EXPECT_FALSE(Changer(t, 1).LeaveJoint().ok());
}

TEST(ConfChangeTest, TransitionClassification) {
  bool auto_leave = false;
  ConfChangeV2 cc;
  EXPECT_TRUE(ConfChangeLeavesJoint(cc));
  cc.changes = {Add(2)};
  EXPECT_FALSE(ConfChangeEntersJoint(cc, &auto_leave));
  cc.changes = {Add(2), Add(3)};
  EXPECT_TRUE(ConfChangeEntersJoint(cc, &auto_leave));
  EXPECT_TRUE(auto_leave);
  cc.transition = ConfChangeTransition::kJointExplicit;
  EXPECT_TRUE(ConfChangeEntersJoint(cc, &auto_leave));
  EXPECT_FALSE(auto_leave);
}

TEST(ConfChangeTest, EncodingRoundTripAndCorruption) {
  ConfChangeV2 cc;
  cc.transition = ConfChangeTransition::kJointExplicit;
  cc.changes = {Add(1), Remove(300), Learner(1ULL << 60)};
  cc.context = "ctx";
  std::string data = EncodeConfChangeV2(cc);
  auto back = DecodeConfChangeV2(data);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, cc);
  EXPECT_FALSE(DecodeConfChangeV2("").ok());
  EXPECT_FALSE(DecodeConfChangeV2(data.substr(0, data.size() - 1)).ok()) << "truncated context";
  std::string bad_version = data;
  bad_version[0] = 9;
  EXPECT_FALSE(DecodeConfChangeV2(bad_version).ok());
  std::string bad_type = data;
  bad_type[3] = 7;  // first change's type
  EXPECT_FALSE(DecodeConfChangeV2(bad_type).ok());
}

}  // namespace
}  // namespace etcdpp::raft
