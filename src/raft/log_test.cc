// RaftLog and Unstable: the log-matching mechanics of thesis §3.5 at the data-structure level.
#include <gtest/gtest.h>

#include "raft/raft_log.h"
#include "raft/test_util.h"

namespace etcdpp::raft {
namespace {

using testing::AppendTerms;

std::vector<Entry> Ents(uint64_t first_index, const std::vector<uint64_t>& terms) {
  std::vector<Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) {
    out.push_back(Entry{Term(terms[i]), LogIndex(first_index + i), EntryType::kNormal, {}});
  }
  return out;
}

TEST(RaftLogTest, FindConflict) {
  MemoryStorage s;
  RaftLog log(&s, kNoLimit);
  log.Append(Ents(1, {1, 2, 3}));
  EXPECT_EQ(log.FindConflict({}), 0u);
  EXPECT_EQ(log.FindConflict(Ents(1, {1, 2, 3})), 0u);
  EXPECT_EQ(log.FindConflict(Ents(2, {2, 3, 4})), 4u);
  EXPECT_EQ(log.FindConflict(Ents(1, {1, 4})), 2u);
  EXPECT_EQ(log.FindConflict(Ents(3, {4})), 3u);
}

TEST(RaftLogTest, MaybeAppendTruncatesConflictsAndCommits) {
  MemoryStorage s;
  RaftLog log(&s, kNoLimit);
  log.Append(Ents(1, {1, 2, 3}));
  // Mismatch at the previous entry.
  EXPECT_FALSE(log.MaybeAppend(3, 2, 3, Ents(4, {4})).has_value());
  // Conflict at index 3: replaced.
  auto last = log.MaybeAppend(2, 2, 3, Ents(3, {4, 4}));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, 4u);
  EXPECT_EQ(log.LastIndex(), 4u);
  EXPECT_EQ(log.ZeroTermOnErr(3), 4u);
  EXPECT_EQ(log.committed(), 3u);
  // Commit is bounded by the last new entry, not the leader's commit.
  EXPECT_TRUE(log.MaybeAppend(1, 1, 10, {}).has_value());
  EXPECT_EQ(log.committed(), 3u);
}

TEST(RaftLogTest, FindConflictByTerm) {
  MemoryStorage s;
  RaftLog log(&s, kNoLimit);
  log.Append(Ents(1, {1, 1, 2, 2, 5, 5}));
  EXPECT_EQ(log.FindConflictByTerm(6, 4), 4u);
  EXPECT_EQ(log.FindConflictByTerm(6, 5), 6u);
  EXPECT_EQ(log.FindConflictByTerm(6, 1), 2u);
  EXPECT_EQ(log.FindConflictByTerm(6, 0), 0u);
}

TEST(RaftLogTest, StableAndUnstableSlices) {
  MemoryStorage s;
  AppendTerms(&s, {1, 1, 2});
  RaftLog log(&s, kNoLimit);
  log.Append(Ents(4, {2, 3}));
  auto all = log.Slice(1, 6, kNoLimit);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[4].term.value(), 3u);
  // Byte limit: at least one entry, then stops.
  auto one = log.Slice(2, 6, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  // Persist and drop from unstable.
  ASSERT_TRUE(s.Append(log.UnstableEntries()).ok());
  log.StableTo(5, 3);
  EXPECT_TRUE(log.UnstableEntries().empty());
  // A stale stableTo (term mismatch) keeps the entries.
  log.Append(Ents(6, {3}));
  log.StableTo(6, 2);
  EXPECT_EQ(log.UnstableEntries().size(), 1u);
}

TEST(RaftLogTest, CompactedSliceIsError) {
  MemoryStorage s;
  AppendTerms(&s, {1, 1, 1, 1});
  ASSERT_TRUE(s.CreateSnapshot(LogIndex(2), nullptr, "").ok());
  ASSERT_TRUE(s.Compact(LogIndex(2)).ok());
  RaftLog log(&s, kNoLimit);
  EXPECT_EQ(log.FirstIndex(), 3u);
  EXPECT_EQ(log.committed(), 2u);
  EXPECT_TRUE(IsCompacted(log.Slice(2, 4, kNoLimit).status()));
  EXPECT_EQ(log.ZeroTermOnErr(2), 1u);  // the snapshot point keeps its term
}

TEST(RaftLogTest, NextEntsRespectsAppliedAndLimit) {
  MemoryStorage s;
  RaftLog log(&s, 40);  // two entries of 16 bytes of overhead + data fit
  log.Append(Ents(1, {1, 1, 1, 1}));
  log.CommitTo(3);
  auto next = log.NextEnts();
  EXPECT_EQ(next.size(), 2u);
  log.AppliedTo(2);
  next = log.NextEnts();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].index.value(), 3u);
}

TEST(RaftLogTest, RestoreSnapshot) {
  MemoryStorage s;
  RaftLog log(&s, kNoLimit);
  Snapshot snap;
  snap.metadata.index = LogIndex(100);
  snap.metadata.term = Term(5);
  log.Restore(snap);
  EXPECT_EQ(log.LastIndex(), 100u);
  EXPECT_EQ(log.FirstIndex(), 101u);
  EXPECT_EQ(log.committed(), 100u);
  EXPECT_EQ(log.ZeroTermOnErr(100), 5u);
}

TEST(UnstableTest, TruncateAndAppend) {
  Unstable u;
  u.set_offset(5);
  u.TruncateAndAppend(Ents(5, {1, 1, 1}));
  u.TruncateAndAppend(Ents(6, {2, 2}));  // replaces 6, 7
  ASSERT_EQ(u.entries().size(), 3u);
  EXPECT_EQ(u.entries()[1].term.value(), 2u);
  u.TruncateAndAppend(Ents(4, {3}));  // before offset: replaces everything
  EXPECT_EQ(u.offset(), 4u);
  EXPECT_EQ(u.entries().size(), 1u);
}

}  // namespace
}  // namespace etcdpp::raft
