// Majority and joint quorum arithmetic (thesis §3.6, §4.3).
#include "raft/quorum.h"

#include <gtest/gtest.h>

namespace etcdpp::raft {
namespace {

MajorityConfig Cfg(std::initializer_list<uint64_t> ids) {
  std::set<NodeId> s;
  for (uint64_t id : ids) s.insert(NodeId(id));
  return MajorityConfig(s);
}

AckedIndexFn Acked(std::map<uint64_t, uint64_t> m) {
  return [m](NodeId id) -> std::optional<uint64_t> {
    auto it = m.find(id.value());
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(QuorumTest, MajorityCommittedIndex) {
  EXPECT_EQ(Cfg({}).CommittedIndex(Acked({})), UINT64_MAX);
  EXPECT_EQ(Cfg({1}).CommittedIndex(Acked({{1, 5}})), 5u);
  EXPECT_EQ(Cfg({1, 2}).CommittedIndex(Acked({{1, 5}, {2, 3}})), 3u);
  EXPECT_EQ(Cfg({1, 2, 3}).CommittedIndex(Acked({{1, 5}, {2, 3}, {3, 9}})), 5u);
  EXPECT_EQ(Cfg({1, 2, 3}).CommittedIndex(Acked({{1, 5}})), 0u);
  EXPECT_EQ(Cfg({1, 2, 3, 4}).CommittedIndex(Acked({{1, 5}, {2, 6}, {3, 7}, {4, 8}})), 6u);
  EXPECT_EQ(Cfg({1, 2, 3, 4, 5, 6, 7, 8, 9})
                .CommittedIndex(Acked(
                    {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}, {7, 7}, {8, 8}, {9, 9}})),
            5u);
}

TEST(QuorumTest, JointCommittedIndexIsMinOfHalves) {
  JointConfig j{Cfg({1, 2, 3}), Cfg({3, 4, 5})};
  auto acked = Acked({{1, 10}, {2, 10}, {3, 5}, {4, 2}, {5, 2}});
  EXPECT_EQ(j.CommittedIndex(acked), 2u);
  JointConfig simple{Cfg({1, 2, 3}), Cfg({})};
  EXPECT_EQ(simple.CommittedIndex(acked), 10u);
}

TEST(QuorumTest, Votes) {
  EXPECT_EQ(Cfg({}).Vote({}), VoteResult::kWon);
  EXPECT_EQ(Cfg({1, 2, 3}).Vote({{NodeId(1), true}}), VoteResult::kPending);
  EXPECT_EQ(Cfg({1, 2, 3}).Vote({{NodeId(1), true}, {NodeId(2), true}}), VoteResult::kWon);
  EXPECT_EQ(Cfg({1, 2, 3}).Vote({{NodeId(1), false}, {NodeId(2), false}}), VoteResult::kLost);
  EXPECT_EQ(Cfg({1, 2, 3, 4}).Vote({{NodeId(1), true}, {NodeId(2), true}}), VoteResult::kPending);
  JointConfig j{Cfg({1, 2, 3}), Cfg({3, 4, 5})};
  EXPECT_EQ(j.Vote({{NodeId(1), true}, {NodeId(2), true}}), VoteResult::kPending);
  EXPECT_EQ(j.Vote({{NodeId(1), true}, {NodeId(2), true}, {NodeId(3), true}, {NodeId(4), true}}),
            VoteResult::kWon);
  EXPECT_EQ(j.Vote({{NodeId(4), false}, {NodeId(5), false}, {NodeId(1), true}}), VoteResult::kLost);
}

}  // namespace
}  // namespace etcdpp::raft
