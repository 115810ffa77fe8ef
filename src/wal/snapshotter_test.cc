// Tests of the raft snapshot files: round trip, newest-first loading, broken files skipped and
// renamed, and one test per decoder error path on real encoded bytes.
#include "wal/snapshotter.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <xxhash.h>

#include <filesystem>

#include "wal/mem_file_system.h"

namespace etcdpp::wal {
namespace {

raft::Snapshot Snap(uint64_t term, uint64_t index, std::string data = "state") {
  raft::Snapshot s;
  s.data = std::move(data);
  s.metadata.term = Term(term);
  s.metadata.index = LogIndex(index);
  s.metadata.conf_state.voters = {raft::NodeId(1), raft::NodeId(2), raft::NodeId(3)};
  s.metadata.conf_state.learners = {raft::NodeId(4)};
  s.metadata.conf_state.voters_outgoing = {raft::NodeId(1)};
  s.metadata.conf_state.learners_next = {raft::NodeId(5)};
  s.metadata.conf_state.auto_leave = true;
  return s;
}

class SnapshotterTest : public ::testing::Test {
 protected:
  MemFileSystem fs_;
  const std::string dir_ = "/data/member/snap";
  Snapshotter snapper_{dir_, &fs_};
};

TEST_F(SnapshotterTest, SaveUsesEtcdNameAndLoadsBack) {
  ASSERT_TRUE(snapper_.Save(Snap(2, 100)).ok());
  EXPECT_TRUE(fs_.Exists(dir_ + "/0000000000000002-0000000000000064.snap"));
  EXPECT_FALSE(fs_.Exists(dir_ + "/0000000000000002-0000000000000064.snap.tmp"));
  auto s = snapper_.LoadNewest();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, Snap(2, 100));
}

TEST_F(SnapshotterTest, SaveIsDurableAcrossACrash) {
  ASSERT_TRUE(snapper_.Save(Snap(1, 5)).ok());
  fs_.Crash();
  EXPECT_EQ(*snapper_.LoadNewest(), Snap(1, 5));
}

TEST_F(SnapshotterTest, EmptySnapshotIsNotSaved) {
  ASSERT_TRUE(snapper_.Save(raft::Snapshot{}).ok());
  EXPECT_EQ(snapper_.LoadNewest().status().code(), Code::kNotFound);
}

TEST_F(SnapshotterTest, LoadNewestPicksHighestTermThenIndex) {
  ASSERT_TRUE(snapper_.Save(Snap(1, 300)).ok());
  ASSERT_TRUE(snapper_.Save(Snap(2, 200)).ok());
  ASSERT_TRUE(snapper_.Save(Snap(2, 250)).ok());
  EXPECT_EQ(snapper_.LoadNewest()->metadata.index, LogIndex(250));
}

TEST_F(SnapshotterTest, BrokenNewestIsRenamedAndSkipped) {
  ASSERT_TRUE(snapper_.Save(Snap(1, 10)).ok());
  ASSERT_TRUE(snapper_.Save(Snap(1, 20)).ok());
  const std::string newest = dir_ + "/0000000000000001-0000000000000014.snap";
  std::string bytes = *fs_.Peek(newest);
  bytes[30] ^= 0x01;
  ASSERT_TRUE(fs_.Poke(newest, bytes).ok());
  auto s = snapper_.LoadNewest();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->metadata.index, LogIndex(10));
  EXPECT_FALSE(fs_.Exists(newest));
  EXPECT_TRUE(fs_.Exists(newest + ".broken"));
}

TEST_F(SnapshotterTest, NoSnapshotDirIsNotFound) {
  EXPECT_EQ(snapper_.LoadNewest().status().code(), Code::kNotFound);
}

TEST_F(SnapshotterTest, LoadNewestAvailableMatchesWalMarkers) {
  ASSERT_TRUE(snapper_.Save(Snap(1, 10)).ok());
  ASSERT_TRUE(snapper_.Save(Snap(1, 20)).ok());
  std::vector<SnapshotMarker> markers = {{LogIndex(10), Term(1)}};
  EXPECT_EQ(snapper_.LoadNewestAvailable(markers)->metadata.index, LogIndex(10));
  markers = {{LogIndex(20), Term(2)}};
  EXPECT_EQ(snapper_.LoadNewestAvailable(markers).status().code(), Code::kNotFound);
}

TEST_F(SnapshotterTest, FileWhoseContentDisagreesWithItsNameIsBroken) {
  ASSERT_TRUE(snapper_.Save(Snap(1, 10)).ok());
  ASSERT_TRUE(fs_.Rename(dir_ + "/0000000000000001-000000000000000a.snap",
                         dir_ + "/0000000000000001-000000000000000b.snap")
                  .ok());
  EXPECT_EQ(snapper_.LoadNewest().status().code(), Code::kNotFound);
  EXPECT_TRUE(fs_.Exists(dir_ + "/0000000000000001-000000000000000b.snap.broken"));
}

TEST_F(SnapshotterTest, PurgeKeepsTheNewest) {
  EXPECT_TRUE(snapper_.Purge(5).ok());  // no directory yet: nothing to do
  for (uint64_t i = 1; i <= 7; ++i) ASSERT_TRUE(snapper_.Save(Snap(1, i * 10)).ok());
  ASSERT_TRUE(snapper_.Purge(5).ok());
  auto names = fs_.ListDir(dir_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 5u);
  EXPECT_EQ(names->front(), "0000000000000001-000000000000001e.snap");
  EXPECT_EQ(snapper_.LoadNewest()->metadata.index, LogIndex(70));
}

// ---- Decoder error paths. ----

TEST(SnapshotFileTest, RoundTrip) {
  auto s = Snap(3, 7, std::string("\0\1\2", 3));
  EXPECT_EQ(*DecodeSnapshotFile(EncodeSnapshotFile(s)), s);
}

TEST(SnapshotFileTest, TooShortIsDataLoss) {
  std::string b = EncodeSnapshotFile(Snap(1, 1));
  auto r = DecodeSnapshotFile(b.substr(0, 20));
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
  EXPECT_NE(r.status().message().find("too short"), std::string::npos);
}

TEST(SnapshotFileTest, BadMagicIsDataLoss) {
  std::string b = EncodeSnapshotFile(Snap(1, 1));
  b[0] ^= 1;
  EXPECT_NE(DecodeSnapshotFile(b).status().message().find("magic"), std::string::npos);
}

TEST(SnapshotFileTest, UnknownVersionIsDataLoss) {
  std::string b = EncodeSnapshotFile(Snap(1, 1));
  b[8] = 9;
  EXPECT_NE(DecodeSnapshotFile(b).status().message().find("version 9"), std::string::npos);
}

TEST(SnapshotFileTest, TruncatedFileIsDataLoss) {
  std::string b = EncodeSnapshotFile(Snap(1, 1));
  b.pop_back();
  EXPECT_NE(DecodeSnapshotFile(b).status().message().find("payload length"), std::string::npos);
}

TEST(SnapshotFileTest, BadChecksumIsDataLoss) {
  std::string b = EncodeSnapshotFile(Snap(1, 1));
  b[b.size() - 12] ^= 0x20;  // inside the data
  EXPECT_NE(DecodeSnapshotFile(b).status().message().find("checksum"), std::string::npos);
}

TEST(SnapshotFileTest, MalformedPayloadWithValidChecksumIsDataLoss) {
  // A payload whose voter count claims more ids than there are bytes, sealed with a good checksum.
  std::string b = EncodeSnapshotFile(Snap(1, 1, ""));
  b[24 + 17] = '\x7f';  // voters count, after index, term and auto_leave
  b.resize(b.size() - 8);
  uint64_t sum = XXH64(b.data(), b.size(), 0);
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>((sum >> (8 * i)) & 0xff));
  EXPECT_NE(DecodeSnapshotFile(b).status().message().find("malformed"), std::string::npos);
}

TEST(SnapshotterPosixTest, RoundTripOnDisk) {
  char tmpl[] = "/tmp/etcdpp-snap-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  Snapshotter snapper(std::string(tmpl) + "/member/snap");
  ASSERT_TRUE(snapper.Save(Snap(4, 1000)).ok());
  EXPECT_EQ(*snapper.LoadNewest(), Snap(4, 1000));
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace etcdpp::wal
