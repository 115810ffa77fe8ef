// Tests of Wal on the in-memory file system (and one smoke test on the real one): round trips,
// group commit, conflicts, segment cuts, snapshots, torn tails, corruption and sticky errors.
#include "wal/wal.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "wal/mem_file_system.h"
#include "wal/snapshotter.h"

namespace etcdpp::wal {
namespace {

using raft::Entry;
using raft::HardState;

Entry E(uint64_t term, uint64_t index, std::string data = "") {
  return Entry{Term(term), LogIndex(index), raft::EntryType::kNormal, std::move(data)};
}

std::vector<Entry> Range(uint64_t term, uint64_t from, uint64_t to, size_t data_bytes = 8) {
  std::vector<Entry> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back(E(term, i, std::string(data_bytes, 'a')));
  return out;
}

HardState HS(uint64_t term, uint64_t vote, uint64_t commit) {
  return HardState{Term(term), raft::NodeId(vote), LogIndex(commit)};
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

constexpr uint64_t kSmallSegmentBytes = 4096;

class WalTest : public ::testing::Test {
 protected:
  WalTest() {
    opts_.fs = &fs_;
    opts_.segment_size_bytes = kSmallSegmentBytes;
  }

  void Create() {
    auto w = Wal::Create(dir_, "meta", opts_);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    wal_ = std::move(w).value();
  }

  // Closes the current Wal (if any), opens and reads again.
  Result<WalContents> Reopen(SnapshotMarker from = {}) {
    wal_.reset();
    auto w = Wal::Open(dir_, from, opts_);
    if (!w.ok()) return w.status();
    wal_ = std::move(w).value();
    return wal_->ReadAll();
  }

  // Simulates a power loss and reopens.
  Result<WalContents> CrashAndReopen(SnapshotMarker from = {}) {
    fs_.Crash();
    wal_.reset();  // after the crash: its Close must not sync anything more (it logs failures)
    return Reopen(from);
  }

  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    auto names = fs_.ListDir(dir_);  // named: a range-for over *temporary would dangle
    for (auto& n : *names) {
      if (n.ends_with(".wal")) out.push_back(n);
    }
    return out;
  }

  std::string SegPath(size_t i) { return dir_ + "/" + Segments().at(i); }

  // Flips one bit of the byte at `offset` of segment `i`.
  void Flip(size_t i, uint64_t offset) {
    std::string bytes = *fs_.Peek(SegPath(i));
    bytes.at(offset) ^= 0x10;
    ASSERT_TRUE(fs_.Poke(SegPath(i), bytes).ok());
  }

  MemFileSystem fs_;
  WalOptions opts_;
  const std::string dir_ = "/data/member/wal";
  std::unique_ptr<Wal> wal_;
};

// Offsets of the first records of a fresh segment 0: header (56), metadata "meta" (24),
// snapshot marker (32).
constexpr uint64_t kFirstEntryOffset = 56 + 24 + 32;
// Size of an entry record with 8 bytes of data: 16 header + 25 payload padded to 32.
constexpr uint64_t kEntry8Bytes = 48;

TEST_F(WalTest, CreateMakesEtcdNamedFirstSegment) {
  Create();
  EXPECT_EQ(Segments(), std::vector<std::string>{"0000000000000000-0000000000000000.wal"});
  EXPECT_FALSE(fs_.Exists(dir_ + ".tmp"));
  EXPECT_EQ(fs_.Peek(SegPath(0))->size(), kSmallSegmentBytes);  // pre-allocated
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->metadata, "meta");
  EXPECT_TRUE(c->hard_state.empty());
  EXPECT_TRUE(c->entries.empty());
}

TEST_F(WalTest, CreateRefusesExistingWal) {
  Create();
  wal_.reset();
  auto w = Wal::Create(dir_, "meta", opts_);
  EXPECT_EQ(w.status().code(), Code::kAlreadyExists);
}

TEST_F(WalTest, CreateInAnExistingEmptyDirectory) {
  ASSERT_TRUE(fs_.CreateDirs(dir_).ok());  // e.g. a --wal-dir the operator made
  Create();
  EXPECT_EQ(Segments().size(), 1u);
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 2)).ok());
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 2));
}

TEST_F(WalTest, LeftoverTempDirectoryFromACrashedCreateIsReplaced) {
  ASSERT_TRUE(fs_.CreateDirs(dir_ + ".tmp").ok());
  auto f =
      fs_.OpenFile(dir_ + ".tmp/0000000000000000-0000000000000000.wal", OpenMode::kCreateExclusive);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, "half a segment").ok());
  Create();
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->metadata, "meta");
}

// A crash at any file-system call of Create leaves either no WAL (Create can run again) or a
// complete one: never a WAL that Open refuses.
TEST(WalCrashTest, CreateIsAtomic) {
  for (int n = 1; n <= 20; ++n) {
    SCOPED_TRACE("dying at call " + std::to_string(n));
    MemFileSystem fs;
    WalOptions opts;
    opts.fs = &fs;
    opts.segment_size_bytes = kSmallSegmentBytes;
    const std::string dir = "/data/member/wal";
    fs.DieAfter(n);
    (void)Wal::Create(dir, "meta", opts);
    fs.Crash(MemFileSystem::CrashMode::kTornSectors, static_cast<uint64_t>(n));
    if (Wal::Exists(dir, &fs)) {
      auto w = Wal::Open(dir, {}, opts);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      auto c = (*w)->ReadAll();
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_EQ(c->metadata, "meta");
    } else {
      auto w = Wal::Create(dir, "meta", opts);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
    }
  }
}

TEST(WalCrashTest, SnapshotterSaveIsAtomic) {
  for (int n = 1; n <= 10; ++n) {
    SCOPED_TRACE("dying at call " + std::to_string(n));
    MemFileSystem fs;
    Snapshotter snapper("/data/member/snap", &fs);
    raft::Snapshot old_snap, new_snap;
    old_snap.metadata.index = LogIndex(10);
    old_snap.metadata.term = Term(1);
    old_snap.data = "old";
    new_snap = old_snap;
    new_snap.metadata.index = LogIndex(20);
    new_snap.data = std::string(3000, 'n');  // several sectors, so it can tear
    ASSERT_TRUE(snapper.Save(old_snap).ok());
    fs.DieAfter(n);
    Status s = snapper.Save(new_snap);
    fs.Crash(MemFileSystem::CrashMode::kTornSectors, static_cast<uint64_t>(n));
    auto got = snapper.LoadNewest();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (s.ok()) {
      EXPECT_EQ(*got, new_snap);
    } else {
      EXPECT_TRUE(*got == old_snap || *got == new_snap);
    }
  }
}

TEST_F(WalTest, SecondOpenIsRefusedByTheLock) {
  Create();
  auto w = Wal::Open(dir_, {}, opts_);
  EXPECT_EQ(w.status().code(), Code::kUnavailable);
}

TEST_F(WalTest, SavedEntriesSurviveACrash) {
  Create();
  auto entries = Range(1, 1, 5);
  ASSERT_TRUE(wal_->Save(HS(1, 1, 3), entries).ok());
  auto c = CrashAndReopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, entries);
  EXPECT_EQ(c->hard_state, HS(1, 1, 3));
  EXPECT_EQ(wal_->last_index(), LogIndex(5));
}

TEST_F(WalTest, SaveIsOneWriteAndOneFdatasyncPerBatch) {
  opts_.zero_ahead_bytes = 0;
  Create();
  int syncs = fs_.sync_count();
  int writes = fs_.write_count();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 50)).ok());
  EXPECT_EQ(fs_.sync_count() - syncs, 1);
  EXPECT_EQ(fs_.write_count() - writes, 1);
}

TEST_F(WalTest, ZerosAheadOfTheRecordsOnceAChunkAndReadsThemAsTheCleanEnd) {
  opts_.segment_size_bytes = 1 << 20;
  opts_.zero_ahead_bytes = 4096;
  Create();
  int writes = fs_.write_count();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 2)).ok());
  EXPECT_EQ(fs_.write_count() - writes, 2);  // the zeros after the records, then the records
  writes = fs_.write_count();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 3, 3)).ok());
  EXPECT_EQ(fs_.write_count() - writes, 1);  // inside the zeroed chunk
  std::vector<Entry> big = {E(1, 4, std::string(5000, 'v'))};
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), big).ok());  // past the chunk
  EXPECT_EQ(fs_.write_count() - writes, 3);
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->entries.size(), 4u);
  EXPECT_EQ(c->entries.back().data, std::string(5000, 'v'));
}

TEST_F(WalTest, MetricHooksSeeEveryFsyncAndWrite) {
  int fsyncs = 0;
  uint64_t bytes = 0;
  opts_.on_fsync = [&](std::chrono::nanoseconds took) {
    EXPECT_GE(took.count(), 0);
    ++fsyncs;
  };
  opts_.on_write = [&](uint64_t n) { bytes += n; };
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 2)).ok());
  EXPECT_EQ(fsyncs, 1);
  EXPECT_EQ(bytes, 2 * kEntry8Bytes + 40);
  ASSERT_TRUE(wal_->Save(HS(1, 1, 1), {}).ok());  // commit only: written, not synced
  EXPECT_EQ(fsyncs, 1);
  ASSERT_TRUE(wal_->Close().ok());
  EXPECT_EQ(fsyncs, 2);
}

// The worked example of docs/file-formats.md ("WAL segments"), byte offsets included.
TEST_F(WalTest, LayoutMatchesTheFileFormatsDocExample) {
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 1)).ok());
  std::string bytes = *fs_.Peek(SegPath(0));
  SegmentScan scan = ScanRecords(bytes);
  ASSERT_FALSE(scan.bad) << scan.reason;
  ASSERT_EQ(scan.records.size(), 5u);
  std::vector<std::pair<RecordType, uint64_t>> want = {{RecordType::kSegmentHeader, 0},
                                                       {RecordType::kMetadata, 56},
                                                       {RecordType::kSnapshot, 80},
                                                       {RecordType::kEntry, 112},
                                                       {RecordType::kHardState, 160}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(scan.records[i].type, want[i].first) << i;
    EXPECT_EQ(scan.records[i].offset, want[i].second) << i;
  }
  EXPECT_EQ(scan.end_offset, 200u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("\x28\0\0\0", 4));  // payload_len 40
}

TEST_F(WalTest, CommitOnlyHardStateIsWrittenButNotSynced) {
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 2)).ok());
  int before = fs_.sync_count();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 2), {}).ok());
  EXPECT_EQ(fs_.sync_count(), before);
  // Lost in a crash (allowed: the commit index is learned again)...
  auto c = CrashAndReopen();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hard_state, HS(1, 1, 0));
  // ...but made durable by Close.
  ASSERT_TRUE(wal_->Save(HS(1, 1, 2), {}).ok());
  ASSERT_TRUE(wal_->Close().ok());
  c = CrashAndReopen();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->hard_state, HS(1, 1, 2));
}

TEST_F(WalTest, UnchangedHardStateAndNoEntriesWritesNothing) {
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 1)).ok());
  int before = fs_.sync_count();
  std::string bytes = *fs_.Peek(SegPath(0));
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), {}).ok());
  ASSERT_TRUE(wal_->Save(HardState{}, {}).ok());
  EXPECT_EQ(*fs_.Peek(SegPath(0)), bytes);
  EXPECT_EQ(fs_.sync_count(), before);
}

TEST_F(WalTest, LaterEntriesOverwriteConflictingSuffix) {
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 2), Range(1, 1, 5)).ok());
  // A new leader in term 2 replaces entries 3.. (raft §5.3).
  ASSERT_TRUE(wal_->Save(HS(2, 2, 2), Range(2, 3, 4)).ok());
  EXPECT_EQ(wal_->last_index(), LogIndex(4));
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<Entry> want = Range(1, 1, 2);
  for (auto& e : Range(2, 3, 4)) want.push_back(e);
  EXPECT_EQ(c->entries, want);
  EXPECT_EQ(c->hard_state, HS(2, 2, 2));
  // Appending after the overwrite continues from index 5.
  ASSERT_TRUE(wal_->Save({}, Range(2, 5, 5)).ok());
  c = Reopen();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->entries.size(), 5u);
  EXPECT_EQ(c->entries.back(), Range(2, 5, 5)[0]);
}

TEST_F(WalTest, SaveRejectsGapsWithoutBecomingSticky) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 1)).ok());
  EXPECT_EQ(wal_->Save({}, Range(1, 3, 3)).code(), Code::kInvalidArgument);
  std::vector<Entry> holes = {E(1, 2), E(1, 4)};
  EXPECT_EQ(wal_->Save({}, holes).code(), Code::kInvalidArgument);
  EXPECT_TRUE(wal_->sticky_error().ok());
  EXPECT_TRUE(wal_->Save({}, Range(1, 2, 2)).ok());
}

TEST_F(WalTest, SaveBeforeReadAllFails) {
  Create();
  wal_.reset();
  auto w = Wal::Open(dir_, {}, opts_);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Save(HS(1, 1, 0), Range(1, 1, 1)).code(), Code::kFailedPrecondition);
}

TEST_F(WalTest, SegmentsAreCutWhenFullAndReadBackInOrder) {
  Create();
  // 4 KiB segments hold ~80 records of 48 bytes: 300 entries need several segments.
  for (uint64_t i = 1; i <= 300; i += 10) {
    ASSERT_TRUE(wal_->Save(HS(1, 1, i - 1), Range(1, i, i + 9)).ok());
  }
  auto segs = Segments();
  ASSERT_GE(segs.size(), 3u);
  EXPECT_EQ(segs[0], "0000000000000000-0000000000000000.wal");
  // Segment n+1 is named after the index following the last entry of segment n.
  EXPECT_TRUE(segs[1].starts_with("0000000000000001-"));
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 300));
  EXPECT_EQ(c->hard_state, HS(1, 1, 290));
  EXPECT_EQ(c->metadata, "meta");
  for (auto& s : segs) EXPECT_FALSE(fs_.Exists(dir_ + "/" + s + ".tmp"));
}

TEST_F(WalTest, BatchLargerThanASegmentIsWrittenWhole) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 200)).ok());  // ~9.6 KiB > 4 KiB
  ASSERT_TRUE(wal_->Save({}, Range(1, 201, 201)).ok());
  EXPECT_EQ(Segments().size(), 2u);
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 201));
}

TEST_F(WalTest, OpenFromSnapshotReturnsOnlyLaterEntries) {
  Create();
  for (uint64_t i = 1; i <= 200; i += 10)
    ASSERT_TRUE(wal_->Save(HS(1, 1, i), Range(1, i, i + 9)).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(150), Term(1)}).ok());
  size_t before = Segments().size();
  ASSERT_TRUE(wal_->ReleaseLockTo(LogIndex(150)).ok());
  EXPECT_LT(Segments().size(), before);
  auto c = Reopen({LogIndex(150), Term(1)});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 151, 200));
  EXPECT_EQ(c->metadata, "meta");
  // Entries below the oldest remaining segment are gone.
  wal_.reset();
  EXPECT_EQ(Wal::Open(dir_, {}, opts_).status().code(), Code::kNotFound);
}

TEST_F(WalTest, ReleaseLockToKeepsTheSegmentCoveringTheIndex) {
  Create();
  for (uint64_t i = 1; i <= 300; i += 10) ASSERT_TRUE(wal_->Save({}, Range(1, i, i + 9)).ok());
  std::vector<std::string> segs = Segments();
  ASSERT_GE(segs.size(), 4u);
  auto first_index = [](const std::string& name) {
    return std::stoull(name.substr(17, 16), nullptr, 16);
  };
  ASSERT_TRUE(wal_->ReleaseLockTo(LogIndex(0)).ok());
  EXPECT_EQ(Segments(), segs);
  // An index inside segment 2 keeps segment 2 and later ones.
  uint64_t inside = first_index(segs[2]) + 1;
  ASSERT_TRUE(wal_->ReleaseLockTo(LogIndex(inside)).ok());
  EXPECT_EQ(Segments(), std::vector<std::string>(segs.begin() + 2, segs.end()));
  // Far beyond the log: only the last (open) segment stays.
  ASSERT_TRUE(wal_->ReleaseLockTo(LogIndex(1'000'000)).ok());
  EXPECT_EQ(Segments(), std::vector<std::string>{segs.back()});
  ASSERT_TRUE(wal_->Save({}, Range(1, 301, 301)).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(301), Term(1)}).ok());
  auto c = Reopen({LogIndex(301), Term(1)});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->entries.empty());
}

TEST_F(WalTest, SnapshotMarkerMustBeInTheWal) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 10)).ok());
  auto c = Reopen({LogIndex(5), Term(1)});
  EXPECT_EQ(c.status().code(), Code::kNotFound);
}

TEST_F(WalTest, SnapshotMarkerWithOtherTermIsDataLoss) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 10)).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(5), Term(1)}).ok());
  auto c = Reopen({LogIndex(5), Term(2)});
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
}

TEST_F(WalTest, LogMayContinueAfterASnapshotBeyondIt) {
  // A restored member: fresh WAL, snapshot marker at 100, entries from 101.
  Create();
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(100), Term(3)}).ok());
  EXPECT_EQ(wal_->last_index(), LogIndex(100));
  ASSERT_TRUE(wal_->Save(HS(3, 1, 100), Range(3, 101, 105)).ok());
  auto c = Reopen({LogIndex(100), Term(3)});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(3, 101, 105));
  // From an older snapshot the entries up to 100 do not exist: refuse rather than invent them.
  c = Reopen({});
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
}

TEST_F(WalTest, ValidSnapshotMarkersAreThoseAtOrBelowCommit) {
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 10), Range(1, 1, 20)).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(5), Term(1)}).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(10), Term(1)}).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(15), Term(1)}).ok());  // above commit 10
  for (uint64_t i = 21; i <= 200; i += 10) ASSERT_TRUE(wal_->Save({}, Range(1, i, i + 9)).ok());
  auto markers = Wal::ValidSnapshotMarkers(dir_, opts_);  // no lock needed while open
  ASSERT_TRUE(markers.ok()) << markers.status().ToString();
  std::vector<SnapshotMarker> want = {
      {LogIndex(0), Term(0)}, {LogIndex(5), Term(1)}, {LogIndex(10), Term(1)}};
  EXPECT_EQ(*markers, want);
}

// Restart after a crash between Snapshotter::Save and Wal::SaveSnapshot: the newest snap file is
// unknown to the WAL and the restart must pick an older one.
TEST_F(WalTest, RestartUsesNewestSnapshotTheWalKnows) {
  Create();
  Snapshotter snapper("/data/member/snap", &fs_);
  ASSERT_TRUE(wal_->Save(HS(1, 1, 20), Range(1, 1, 20)).ok());
  raft::Snapshot s10;
  s10.metadata.index = LogIndex(10);
  s10.metadata.term = Term(1);
  ASSERT_TRUE(snapper.Save(s10).ok());
  ASSERT_TRUE(wal_->SaveSnapshot({LogIndex(10), Term(1)}).ok());
  raft::Snapshot s20 = s10;
  s20.metadata.index = LogIndex(20);
  ASSERT_TRUE(snapper.Save(s20).ok());
  fs_.Crash();  // before Wal::SaveSnapshot({20, 1})
  wal_.reset();
  EXPECT_EQ(snapper.LoadNewest()->metadata.index, LogIndex(20));
  auto markers = Wal::ValidSnapshotMarkers(dir_, opts_);
  ASSERT_TRUE(markers.ok());
  auto snap = snapper.LoadNewestAvailable(*markers);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->metadata.index, LogIndex(10));
  auto c = Reopen({snap->metadata.index, snap->metadata.term});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 11, 20));
}

// ---- Torn tails: truncated with a warning, then the WAL is usable again. ----

TEST_F(WalTest, TornTailPartialRecordIsTruncated) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  ASSERT_TRUE(wal_->Close().ok());
  // Half of entry 3's record never reached the disk.
  std::string bytes = *fs_.Peek(SegPath(0));
  uint64_t third = kFirstEntryOffset + 2 * kEntry8Bytes;
  std::fill(bytes.begin() + third + 24, bytes.begin() + third + kEntry8Bytes, '\0');
  ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 2));
  EXPECT_EQ(wal_->last_index(), LogIndex(2));
  // The torn bytes are gone from disk (zeroed), and writing continues at the cut.
  bytes = *fs_.Peek(SegPath(0));
  EXPECT_EQ(bytes.size(), kSmallSegmentBytes);
  EXPECT_EQ(bytes.find_first_not_of('\0', third), std::string::npos);
  ASSERT_TRUE(wal_->Save({}, Range(2, 3, 4)).ok());
  c = CrashAndReopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<Entry> want = Range(1, 1, 2);
  for (auto& e : Range(2, 3, 4)) want.push_back(e);
  EXPECT_EQ(c->entries, want);
}

TEST_F(WalTest, TornTailBadChecksumOfLastRecordIsTruncated) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  Flip(0, kFirstEntryOffset + 2 * kEntry8Bytes + 20);
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 2));
}

TEST_F(WalTest, TornTailTruncatedHeaderIsTruncated) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  std::string bytes = *fs_.Peek(SegPath(0));
  uint64_t third = kFirstEntryOffset + 2 * kEntry8Bytes;
  std::fill(bytes.begin() + third + 8, bytes.end(), '\0');  // only the length and type landed
  ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 2));
}

TEST_F(WalTest, TornTailInNewestSegmentKeepsOlderSegments) {
  Create();
  for (uint64_t i = 1; i <= 200; i += 10) ASSERT_TRUE(wal_->Save({}, Range(1, i, i + 9)).ok());
  size_t n = Segments().size();
  ASSERT_GE(n, 2u);
  std::string bytes = *fs_.Peek(SegPath(n - 1));
  // Damage the very last record of the newest segment.
  uint64_t end = bytes.find_last_not_of('\0');
  bytes[end] ^= 0x01;
  ASSERT_TRUE(fs_.Poke(SegPath(n - 1), bytes).ok());
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 199));
}

// ---- Corruption: fails with kDataLoss naming the file and offset. ----

TEST_F(WalTest, BadChecksumInTheMiddleIsDataLoss) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  Flip(0, kFirstEntryOffset + 20);  // entry 1; entries 2 and 3 are intact
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), SegPath(0))) << c.status().message();
  EXPECT_TRUE(Contains(c.status().message(), "offset " + std::to_string(kFirstEntryOffset)))
      << c.status().message();
  EXPECT_TRUE(Contains(c.status().message(), "checksum mismatch")) << c.status().message();
}

TEST_F(WalTest, BadLengthInTheMiddleIsDataLoss) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  ASSERT_TRUE(wal_->Save({}, Range(1, 4, 6)).ok());
  Flip(0, kFirstEntryOffset);  // entry 1's length field
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "offset " + std::to_string(kFirstEntryOffset)))
      << c.status().message();
}

TEST_F(WalTest, DamagedLastRecordOfOlderSegmentIsDataLoss) {
  Create();
  for (uint64_t i = 1; i <= 200; i += 10) ASSERT_TRUE(wal_->Save({}, Range(1, i, i + 9)).ok());
  ASSERT_GE(Segments().size(), 2u);
  std::string bytes = *fs_.Peek(SegPath(0));
  bytes[bytes.find_last_not_of('\0')] ^= 0x01;
  ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), SegPath(0))) << c.status().message();
  EXPECT_TRUE(Contains(c.status().message(), "not in the last segment")) << c.status().message();
}

TEST_F(WalTest, LostRecordsAtEndOfOlderSegmentBreakTheChain) {
  Create();
  for (uint64_t i = 1; i <= 200; i += 10) ASSERT_TRUE(wal_->Save({}, Range(1, i, i + 9)).ok());
  ASSERT_GE(Segments().size(), 2u);
  // Zero the last record of segment 0: it then ends "cleanly", but one entry is missing.
  std::string bytes = *fs_.Peek(SegPath(0));
  uint64_t end = bytes.find_last_not_of('\0') + 1;
  end = (end + 7) / 8 * 8;
  std::fill(bytes.begin() + end - kEntry8Bytes, bytes.begin() + end, '\0');
  ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), SegPath(1))) << c.status().message();
  EXPECT_TRUE(Contains(c.status().message(), "chain broken")) << c.status().message();
}

TEST_F(WalTest, MissingSegmentIsDataLoss) {
  Create();
  for (uint64_t i = 1; i <= 300; i += 10) ASSERT_TRUE(wal_->Save({}, Range(1, i, i + 9)).ok());
  ASSERT_GE(Segments().size(), 3u);
  std::string missing = Segments()[1];
  ASSERT_TRUE(fs_.Remove(SegPath(1)).ok());
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "missing segment")) << c.status().message();
}

TEST_F(WalTest, BadSegmentHeaderIsDataLoss) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  Flip(0, 20);
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "offset 0")) << c.status().message();
}

TEST_F(WalTest, SegmentHeaderDisagreeingWithNameIsDataLoss) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  wal_.reset();
  ASSERT_TRUE(fs_.Rename(SegPath(0), dir_ + "/0000000000000001-0000000000000000.wal").ok());
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "name disagrees")) << c.status().message();
}

// Writes a segment 0 built record by record, to reach states Save never produces.
class CraftedWalTest : public WalTest {
 protected:
  void Write(const std::vector<std::pair<RecordType, std::string>>& records) {
    Create();
    wal_.reset();
    std::string bytes;
    uint64_t c = AppendRecord(&bytes, RecordType::kSegmentHeader,
                              EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
    offsets_.push_back(bytes.size());
    c = AppendRecord(&bytes, RecordType::kMetadata, "meta", c);
    offsets_.push_back(bytes.size());
    c = AppendRecord(&bytes, RecordType::kSnapshot, EncodeSnapshotMarker({}), c);
    for (const auto& [type, payload] : records) {
      offsets_.push_back(bytes.size());
      c = AppendRecord(&bytes, type, payload, c);
    }
    bytes.resize(kSmallSegmentBytes, '\0');
    ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  }
  std::vector<uint64_t> offsets_;
};

TEST_F(CraftedWalTest, GapInEntryIndicesIsDataLoss) {
  Write({{RecordType::kEntry, EncodeEntry(E(1, 1))},
         {RecordType::kEntry, EncodeEntry(E(1, 2))},
         {RecordType::kEntry, EncodeEntry(E(1, 4))}});
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "gap in the log: entry 4 follows index 2"))
      << c.status().message();
  EXPECT_TRUE(Contains(c.status().message(), "offset " + std::to_string(offsets_[4])))
      << c.status().message();
}

TEST_F(CraftedWalTest, ConflictingMetadataIsDataLoss) {
  Write({{RecordType::kMetadata, "other"}});
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "metadata conflict")) << c.status().message();
}

TEST_F(CraftedWalTest, UnknownRecordTypeIsDataLoss) {
  Write({{static_cast<RecordType>(42), "x"}});
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "unknown record type 42")) << c.status().message();
}

TEST_F(CraftedWalTest, MalformedEntryPayloadIsDataLoss) {
  Write({{RecordType::kEntry, "short"}});
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "entry record shorter")) << c.status().message();
}

TEST_F(CraftedWalTest, SecondSegmentHeaderIsDataLoss) {
  Write({{RecordType::kSegmentHeader, EncodeSegmentHeader({0, LogIndex(0), 0})}});
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
}

TEST_F(WalTest, SegmentWithoutItsOpeningRecordsIsDataLoss) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  // Everything after the segment header is gone: not a torn tail, the segment was synced whole.
  std::string bytes = *fs_.Peek(SegPath(0));
  std::fill(bytes.begin() + 56, bytes.end(), '\0');
  ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  auto c = Reopen();
  EXPECT_EQ(c.status().code(), Code::kDataLoss);
  EXPECT_TRUE(Contains(c.status().message(), "offset 56")) << c.status().message();
  EXPECT_TRUE(Contains(c.status().message(), "does not start with metadata"))
      << c.status().message();
}

TEST_F(CraftedWalTest, SegmentWithoutSnapshotMarkerIsDataLoss) {
  Create();
  wal_.reset();
  std::string bytes;
  uint64_t c = AppendRecord(&bytes, RecordType::kSegmentHeader,
                            EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
  c = AppendRecord(&bytes, RecordType::kMetadata, "meta", c);
  AppendRecord(&bytes, RecordType::kEntry, EncodeEntry(E(1, 1)), c);
  ASSERT_TRUE(fs_.Poke(SegPath(0), bytes).ok());
  EXPECT_EQ(Reopen().status().code(), Code::kDataLoss);
}

// ---- Sticky errors under injected faults. ----

TEST_F(WalTest, FailedFsyncIsSticky) {
  Create();
  ASSERT_TRUE(wal_->Save(HS(1, 1, 0), Range(1, 1, 2)).ok());
  fs_.FailSync(1);
  Status s = wal_->Save({}, Range(1, 3, 3));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "injected")) << s.ToString();
  // The file system works again, but the WAL must not pretend: same error every time.
  EXPECT_EQ(wal_->Save({}, Range(1, 3, 3)), s);
  EXPECT_EQ(wal_->Save(HS(1, 1, 2), {}), s);
  EXPECT_EQ(wal_->SaveSnapshot({LogIndex(1), Term(1)}), s);
  EXPECT_EQ(wal_->Sync(), s);
  EXPECT_EQ(wal_->Close(), s);
  // Recovery from disk still has everything synced before the failure.
  auto c = CrashAndReopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 2));
}

TEST_F(WalTest, FailedWriteIsSticky) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 2)).ok());
  fs_.FailWrite(1);
  Status s = wal_->Save({}, Range(1, 3, 10));  // half of it lands
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(wal_->Save({}, Range(1, 3, 3)), s);
  EXPECT_EQ(wal_->sticky_error(), s);
  // Without a crash the half-written batch is on "disk": it is a torn tail, never half-applied.
  wal_.reset();
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_GE(c->entries.size(), 2u);
  EXPECT_EQ(std::vector<Entry>(c->entries.begin(), c->entries.begin() + 2), Range(1, 1, 2));
  for (size_t i = 0; i < c->entries.size(); ++i) EXPECT_EQ(c->entries[i].index, LogIndex(i + 1));
}

TEST_F(WalTest, FailedSegmentCutIsSticky) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 60)).ok());
  fs_.FailSync(1);  // the cut syncs the new segment first: fail that
  Status s = wal_->Save({}, Range(1, 61, 100));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(wal_->Save({}, Range(1, 61, 61)), s);
  auto c = CrashAndReopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 60));
}

TEST_F(WalTest, LeftoverTempSegmentIsIgnored) {
  Create();
  ASSERT_TRUE(wal_->Save({}, Range(1, 1, 3)).ok());
  auto f =
      fs_.OpenFile(dir_ + "/0000000000000001-0000000000000004.wal.tmp", OpenMode::kCreateExclusive);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, "garbage").ok());
  auto c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 3));
  // The next cut replaces the leftover.
  ASSERT_TRUE(wal_->Save({}, Range(1, 4, 100)).ok());
  ASSERT_TRUE(wal_->Save({}, Range(1, 101, 101)).ok());
  c = Reopen();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->entries, Range(1, 1, 101));
}

// ---- The real file system. ----

TEST(WalPosixTest, RoundTripOnDisk) {
  char tmpl[] = "/tmp/etcdpp-wal-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/member/wal";
  {
    auto w = Wal::Create(dir, "meta");
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Save(HS(1, 1, 1), Range(1, 1, 100, 100)).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  EXPECT_EQ(std::filesystem::file_size(dir + "/0000000000000000-0000000000000000.wal"),
            kDefaultSegmentSizeBytes);
  EXPECT_FALSE(std::filesystem::exists(dir + ".tmp"));
  {
    auto w = Wal::Open(dir, {});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(Wal::Open(dir, {}).status().code(), Code::kUnavailable);  // flock held
    auto c = (*w)->ReadAll();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->entries, Range(1, 1, 100, 100));
    EXPECT_EQ(c->hard_state, HS(1, 1, 1));
  }
  std::filesystem::remove_all(tmpl);
}

// On disk, ReadAll reads only the data regions of the pre-allocated segment (SEEK_DATA/SEEK_HOLE).
// Bytes written far after the log (a torn write that left a hole) must still be seen and zeroed,
// and entries whose data is all zeros must survive.
TEST(WalPosixTest, ReadsAllWrittenRegionsOfPreallocatedSegments) {
  char tmpl[] = "/tmp/etcdpp-wal-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = std::string(tmpl) + "/wal";
  std::string seg = dir + "/0000000000000000-0000000000000000.wal";
  std::vector<Entry> entries = {E(1, 1, std::string(9000, '\0')), E(1, 2, "x")};
  {
    auto w = Wal::Create(dir, "meta");
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Save(HS(1, 1, 1), entries).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  auto data = PosixFileSystem()->ReadFileData(seg);
  ASSERT_TRUE(data.ok());
  // Not the whole 64 MiB: the records and the zeros written ahead of them (1 MiB).
  EXPECT_LT(data->size(), (1u << 20) + (64u << 10));
  {
    auto f = PosixFileSystem()->OpenFile(seg, OpenMode::kExisting);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(4 << 20, "stale bytes after a hole").ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  {
    auto w = Wal::Open(dir, {});
    ASSERT_TRUE(w.ok());
    auto c = (*w)->ReadAll();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->entries, entries);
  }
  auto after = PosixFileSystem()->ReadFile(seg);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), kDefaultSegmentSizeBytes);
  EXPECT_EQ(after->find("stale"), std::string::npos);  // the torn tail was zeroed
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace etcdpp::wal
