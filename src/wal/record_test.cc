// Tests of the record framing and payload codecs: one named test per decoder error path, each
// corrupting real encoded bytes.
#include "wal/record.h"

#include <gtest/gtest.h>
#include <xxhash.h>

namespace etcdpp::wal {
namespace {

raft::Entry E(uint64_t term, uint64_t index, std::string data = "") {
  return raft::Entry{Term(term), LogIndex(index), raft::EntryType::kNormal, std::move(data)};
}

// A segment image: header, metadata, then `n` entries; returns the offsets of all records.
std::string Segment(int n, std::vector<uint64_t>* offsets = nullptr, size_t data_bytes = 10) {
  std::string out;
  auto add = [&](RecordType t, const std::string& p, uint64_t chain) {
    if (offsets) offsets->push_back(out.size());
    return AppendRecord(&out, t, p, chain);
  };
  uint64_t c =
      add(RecordType::kSegmentHeader, EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
  c = add(RecordType::kMetadata, "meta", c);
  for (int i = 1; i <= n; ++i)
    c = add(RecordType::kEntry, EncodeEntry(E(1, i, std::string(data_bytes, 'x'))), c);
  return out;
}

TEST(RecordTest, RoundTripsEveryPayload) {
  raft::Entry e{Term(7), LogIndex(42), raft::EntryType::kConfChangeV2, std::string("a\0b", 3)};
  EXPECT_EQ(*DecodeEntry(EncodeEntry(e)), e);
  raft::HardState hs{Term(3), raft::NodeId(9), LogIndex(11)};
  EXPECT_EQ(*DecodeHardState(EncodeHardState(hs)), hs);
  SnapshotMarker m{LogIndex(5), Term(2)};
  EXPECT_EQ(*DecodeSnapshotMarker(EncodeSnapshotMarker(m)), m);
  SegmentHeader h{3, LogIndex(100), 0xdeadbeef};
  EXPECT_EQ(*DecodeSegmentHeader(EncodeSegmentHeader(h)), h);
}

TEST(RecordTest, RecordsAreAlignedAndSized) {
  std::string out;
  AppendRecord(&out, RecordType::kMetadata, "12345", 0);
  EXPECT_EQ(out.size(), 24u);
  EXPECT_EQ(RecordSize(5), 24u);
  EXPECT_EQ(RecordSize(0), 16u);
  EXPECT_EQ(RecordSize(8), 24u);
}

TEST(RecordTest, ScanCleanSegmentWithZeroTail) {
  std::string seg = Segment(3);
  size_t end = seg.size();
  seg.append(4096, '\0');
  SegmentScan s = ScanRecords(seg);
  EXPECT_FALSE(s.bad) << s.reason;
  EXPECT_EQ(s.records.size(), 5u);
  EXPECT_EQ(s.end_offset, end);
}

TEST(RecordTest, TruncatedHeaderIsTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  seg.resize(offs.back() + 10);  // the last record's header is cut after 10 bytes
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_TRUE(s.torn);
  EXPECT_EQ(s.end_offset, offs.back());
  EXPECT_EQ(s.records.size(), 4u);
  EXPECT_NE(s.reason.find("truncated record header"), std::string::npos) << s.reason;
}

TEST(RecordTest, LengthPastEndOfFileIsTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  seg.resize(seg.size() - 8);  // the last record's payload is cut short (past its padding)
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_TRUE(s.torn);
  EXPECT_EQ(s.end_offset, offs.back());
  EXPECT_NE(s.reason.find("runs past the end"), std::string::npos) << s.reason;
}

TEST(RecordTest, HugeLengthIsBad) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  seg[offs.back() + 3] = '\x7f';  // length's top byte: ~2 GiB
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_EQ(s.end_offset, offs.back());
  EXPECT_NE(s.reason.find("bad record length"), std::string::npos) << s.reason;
}

TEST(RecordTest, ChecksumMismatchOfLastRecordIsTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  seg[offs.back() + kRecordHeaderBytes + 2] ^= 0x01;
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_TRUE(s.torn);
  EXPECT_EQ(s.end_offset, offs.back());
  EXPECT_EQ(s.reason, "checksum mismatch");
}

TEST(RecordTest, ChecksumMismatchFollowedByValidRecordIsNotTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  seg[offs[2] + kRecordHeaderBytes + 1] ^= 0x40;  // entry 1 damaged, entries 2 and 3 intact
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_FALSE(s.torn);
  EXPECT_EQ(s.end_offset, offs[2]);
}

TEST(RecordTest, LengthBitFlipFollowedByValidRecordsIsNotTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(5, &offs);
  seg[offs[3]] ^= 0x08;  // entry 2's length is 8 bytes off: its successor cannot be located
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_FALSE(s.torn) << "entries 3..5 verify after the damage";
  EXPECT_EQ(s.end_offset, offs[3]);
}

TEST(RecordTest, HugeLengthFollowedByValidRecordsIsNotTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(5, &offs);
  seg[offs[3] + 3] = '\x7f';
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_FALSE(s.torn);
  EXPECT_NE(s.reason.find("bad record length"), std::string::npos) << s.reason;
}

TEST(RecordTest, LengthBitFlipOfLastRecordIsTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  seg.append(1024, '\0');
  seg[offs.back()] ^= 0x08;
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_TRUE(s.torn);
}

TEST(RecordTest, ZeroSectorInsideRecordIsTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(2, &offs, 2000);  // entries span several 512-byte sectors
  // Zero the sector-aligned 512 bytes inside entry 1 (a page never written back), even though a
  // valid record (entry 2) follows it.
  uint64_t sector = (offs[2] / 512 + 1) * 512;
  std::fill(seg.begin() + sector, seg.begin() + sector + 512, '\0');
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_TRUE(s.torn);
  EXPECT_EQ(s.end_offset, offs[2]);
}

TEST(RecordTest, ZeroHeaderFollowedByDataIsTorn) {
  std::vector<uint64_t> offs;
  std::string seg = Segment(3, &offs);
  std::fill(seg.begin() + offs[3], seg.begin() + offs[3] + kRecordHeaderBytes, '\0');
  SegmentScan s = ScanRecords(seg);
  EXPECT_TRUE(s.bad);
  EXPECT_TRUE(s.torn);
  EXPECT_EQ(s.end_offset, offs[3]);
}

TEST(RecordTest, UnknownTypeWithValidChecksumIsNotTorn) {
  // Rebuild the chain by hand with a record of type 9 at the end.
  std::string out;
  uint64_t c = AppendRecord(&out, RecordType::kSegmentHeader,
                            EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
  size_t off = out.size();
  AppendRecord(&out, static_cast<RecordType>(9), "future", c);
  SegmentScan s = ScanRecords(out);
  EXPECT_TRUE(s.bad);
  EXPECT_FALSE(s.torn);
  EXPECT_EQ(s.end_offset, off);
  EXPECT_NE(s.reason.find("unknown record type 9"), std::string::npos) << s.reason;
}

TEST(RecordTest, NonZeroReservedBytesWithValidChecksumAreBad) {
  // Build a record whose reserved byte is set and whose checksum covers it.
  std::string out;
  uint64_t c = AppendRecord(&out, RecordType::kSegmentHeader,
                            EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
  size_t off = out.size();
  AppendRecord(&out, RecordType::kMetadata, "meta", c);
  out[off + 6] = 1;
  uint64_t h = XXH64(out.data() + off, 8, c);
  uint64_t sum = XXH64(out.data() + off + kRecordHeaderBytes, 4, h);
  for (int i = 0; i < 8; ++i) out[off + 8 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  SegmentScan s = ScanRecords(out);
  EXPECT_TRUE(s.bad);
  EXPECT_FALSE(s.torn);
  EXPECT_EQ(s.end_offset, off);
  EXPECT_NE(s.reason.find("reserved"), std::string::npos) << s.reason;
}

TEST(RecordTest, RecordFromAnotherChainDoesNotVerify) {
  // Two segments with identical first records but different headers: a record copied from one
  // into the other must not verify, because its checksum is chained to its own header.
  std::string a, b;
  uint64_t ca = AppendRecord(&a, RecordType::kSegmentHeader,
                             EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
  uint64_t cb = AppendRecord(&b, RecordType::kSegmentHeader,
                             EncodeSegmentHeader({1, LogIndex(5), 77}), kSegmentHeaderSeed);
  std::string rec_a;
  AppendRecord(&rec_a, RecordType::kEntry, EncodeEntry(E(1, 5)), ca);
  std::string rec_b;
  AppendRecord(&rec_b, RecordType::kEntry, EncodeEntry(E(1, 5)), cb);
  EXPECT_NE(rec_a, rec_b);
  SegmentScan s = ScanRecords(b + rec_a);
  EXPECT_TRUE(s.bad);
  EXPECT_EQ(s.records.size(), 1u);
}

TEST(RecordTest, ShortEntryPayloadIsDataLoss) {
  std::string p = EncodeEntry(E(1, 1));
  EXPECT_EQ(DecodeEntry(p.substr(0, 16)).status().code(), Code::kDataLoss);
}

TEST(RecordTest, UnknownEntryTypeIsDataLoss) {
  std::string p = EncodeEntry(E(1, 1));
  p[16] = 7;
  EXPECT_EQ(DecodeEntry(p).status().code(), Code::kDataLoss);
}

TEST(RecordTest, WrongSizeHardStateIsDataLoss) {
  std::string p = EncodeHardState({Term(1), raft::NodeId(1), LogIndex(1)});
  EXPECT_EQ(DecodeHardState(p + "x").status().code(), Code::kDataLoss);
  EXPECT_EQ(DecodeHardState(p.substr(0, 23)).status().code(), Code::kDataLoss);
}

TEST(RecordTest, WrongSizeSnapshotMarkerIsDataLoss) {
  std::string p = EncodeSnapshotMarker({LogIndex(1), Term(1)});
  EXPECT_EQ(DecodeSnapshotMarker(p.substr(0, 15)).status().code(), Code::kDataLoss);
}

TEST(RecordTest, SegmentHeaderBadMagicIsDataLoss) {
  std::string p = EncodeSegmentHeader({0, LogIndex(0), 0});
  p[0] ^= 1;
  EXPECT_EQ(DecodeSegmentHeader(p).status().code(), Code::kDataLoss);
}

TEST(RecordTest, SegmentHeaderUnknownVersionIsDataLoss) {
  std::string p = EncodeSegmentHeader({0, LogIndex(0), 0});
  p[8] = 2;
  auto h = DecodeSegmentHeader(p);
  EXPECT_EQ(h.status().code(), Code::kDataLoss);
  EXPECT_NE(h.status().message().find("version 2"), std::string::npos);
}

}  // namespace
}  // namespace etcdpp::wal
