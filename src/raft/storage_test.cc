// MemoryStorage: the Storage contract the core relies on (compaction and bounds errors).
#include <gtest/gtest.h>

#include "raft/test_util.h"

namespace etcdpp::raft {
namespace {

TEST(MemoryStorageTest, TermEntriesAndBounds) {
  MemoryStorage s;
  testing::AppendTerms(&s, {1, 2, 3, 4});
  EXPECT_EQ(s.FirstIndex().value(), 1u);
  EXPECT_EQ(s.LastIndex().value(), 4u);
  EXPECT_EQ(s.TermAt(LogIndex(3))->value(), 3u);
  EXPECT_TRUE(IsUnavailable(s.TermAt(LogIndex(5)).status()));
  auto e = s.Entries(LogIndex(2), LogIndex(5), kNoLimit);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->size(), 3u);
  EXPECT_EQ(s.Entries(LogIndex(2), LogIndex(5), 0)->size(), 1u);
  EXPECT_TRUE(IsUnavailable(s.Entries(LogIndex(2), LogIndex(6), kNoLimit).status()));
}

TEST(MemoryStorageTest, CompactAndSnapshot) {
  MemoryStorage s;
  testing::AppendTerms(&s, {1, 2, 3, 4});
  ConfState cs;
  cs.voters = {NodeId(1)};
  ASSERT_TRUE(s.CreateSnapshot(LogIndex(3), &cs, "data").ok());
  ASSERT_TRUE(s.Compact(LogIndex(3)).ok());
  EXPECT_EQ(s.FirstIndex().value(), 4u);
  EXPECT_EQ(s.TermAt(LogIndex(3))->value(), 3u);
  EXPECT_TRUE(IsCompacted(s.TermAt(LogIndex(2)).status()));
  EXPECT_TRUE(IsCompacted(s.Entries(LogIndex(3), LogIndex(4), kNoLimit).status()));
  EXPECT_TRUE(IsCompacted(s.Compact(LogIndex(2))));
  EXPECT_EQ(s.GetSnapshot()->data, "data");
  EXPECT_EQ(s.GetInitialState()->conf_state, cs);
}

TEST(MemoryStorageTest, AppendOverwritesAndSkipsCompacted) {
  MemoryStorage s;
  testing::AppendTerms(&s, {1, 1, 1});
  ASSERT_TRUE(s.Append({Entry{Term(2), LogIndex(2), EntryType::kNormal, {}}}).ok());
  EXPECT_EQ(s.LastIndex().value(), 2u);
  ASSERT_TRUE(s.CreateSnapshot(LogIndex(2), nullptr, "").ok());
  ASSERT_TRUE(s.Compact(LogIndex(2)).ok());
  ASSERT_TRUE(s.Append({Entry{Term(2), LogIndex(1), EntryType::kNormal, {}},
                        Entry{Term(2), LogIndex(2), EntryType::kNormal, {}},
                        Entry{Term(3), LogIndex(3), EntryType::kNormal, {}}})
                  .ok());
  EXPECT_EQ(s.LastIndex().value(), 3u);
}

TEST(MemoryStorageTest, ApplySnapshotReplacesEverything) {
  MemoryStorage s;
  testing::AppendTerms(&s, {1, 1});
  Snapshot snap;
  snap.metadata.index = LogIndex(10);
  snap.metadata.term = Term(4);
  ASSERT_TRUE(s.ApplySnapshot(snap).ok());
  EXPECT_EQ(s.FirstIndex().value(), 11u);
  EXPECT_EQ(s.LastIndex().value(), 10u);
  EXPECT_FALSE(s.ApplySnapshot(snap).ok()) << "not newer";
}

}  // namespace
}  // namespace etcdpp::raft
