// The WAL record format: framing (length, type, chained checksum, alignment) and the payload
// encodings of each record type. Pure functions over bytes; no I/O. The format is documented
// for operators in docs/file-formats.md ("WAL segments"); keep the two in sync.
//
// A record is:
//   offset 0  u32 payload_len (little-endian)
//          4  u8  type (RecordType)
//          5  u8[3] reserved, zero
//          8  u64 checksum = XXH64(payload, seed = XXH64(bytes 0..8, seed = chain))
//         16  payload_len bytes of payload
//             zero padding up to the next multiple of kRecordAlignBytes
// `chain` is the checksum of the previous record in the same segment; for the segment header
// (always the first record of a segment) it is kSegmentHeaderSeed. Chaining means a record is
// only valid at its place in its segment: stale bytes of an older segment or of a truncated tail
// never verify, even when they are themselves well-formed records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "raft/types.h"

namespace etcdpp::wal {

enum class RecordType : uint8_t {
  kSegmentHeader = 1,  // first record of every segment: magic, version, seq, first index, chain
  kMetadata = 2,       // opaque bytes given to Wal::Create (etcd: member and cluster ids)
  kEntry = 3,          // one raft::Entry
  kHardState = 4,      // raft::HardState
  kSnapshot = 5,       // SnapshotMarker: a raft snapshot was taken at (index, term)
};

inline constexpr size_t kRecordHeaderBytes = 16;
// Records start at 8-byte offsets so the header's u64 never straddles a 512-byte sector: a torn
// sector then damages whole header fields, which the zero-sector check below can recognise.
inline constexpr size_t kRecordAlignBytes = 8;
// Largest payload accepted by the reader. etcd's --max-request-bytes defaults to 1.5 MiB and an
// entry holds one request; 256 MiB leaves room for any sane setting while rejecting a corrupt
// length field before it makes us read far past the real data.
inline constexpr uint32_t kMaxRecordPayloadBytes = 256u << 20;
inline constexpr uint64_t kSegmentHeaderSeed = 0x6574636470705741ULL;  // "etcdppWA"
inline constexpr uint64_t kSegmentMagic = 0x4c57707064637465ULL;       // "etcdppWL" LE
inline constexpr uint32_t kFormatVersion = 1;

// A raft snapshot position recorded in the WAL (etcd's walpb.Snapshot without conf state).
struct SnapshotMarker {
  LogIndex index;
  Term term;
  friend bool operator==(const SnapshotMarker&, const SnapshotMarker&) = default;
};

struct SegmentHeader {
  uint64_t seq = 0;         // position of the segment in the WAL, 0-based, contiguous
  LogIndex first_index;     // index of the first entry the segment may hold
  uint64_t prev_chain = 0;  // checksum of the last record of segment seq-1 (0 for seq 0)
  friend bool operator==(const SegmentHeader&, const SegmentHeader&) = default;
};

// Total bytes a record with `payload_bytes` of payload occupies, padding included.
inline size_t RecordSize(size_t payload_bytes) {
  return kRecordHeaderBytes +
         (payload_bytes + kRecordAlignBytes - 1) / kRecordAlignBytes * kRecordAlignBytes;
}

// Appends one framed record to `out`; returns its checksum (the chain seed of the next record).
uint64_t AppendRecord(std::string* out, RecordType type, std::string_view payload, uint64_t chain);

// Payload encodings. Decoders return kDataLoss on malformed payloads.
std::string EncodeEntry(const raft::Entry& e);
size_t EntryPayloadSize(const raft::Entry& e);
Result<raft::Entry> DecodeEntry(std::string_view payload);
std::string EncodeHardState(const raft::HardState& hs);
Result<raft::HardState> DecodeHardState(std::string_view payload);
std::string EncodeSnapshotMarker(const SnapshotMarker& m);
Result<SnapshotMarker> DecodeSnapshotMarker(std::string_view payload);
std::string EncodeSegmentHeader(const SegmentHeader& h);
Result<SegmentHeader> DecodeSegmentHeader(std::string_view payload);

struct RecordView {
  RecordType type;
  std::string_view payload;  // points into the scanned bytes
  uint64_t checksum;
  uint64_t offset;  // of the record header in the segment
};

// The outcome of reading the records of one segment.
struct SegmentScan {
  std::vector<RecordView> records;  // every record that verified, in order
  uint64_t end_offset = 0;          // just past the last verified record
  uint64_t chain = 0;               // checksum of the last verified record
  // False: the records end cleanly (only zero bytes follow end_offset).
  bool bad = false;
  std::string reason;  // why the record at end_offset is bad (when bad)
  // True when the bad record looks like an interrupted write rather than damage: it runs into
  // zero-filled sectors (pages the kernel never wrote back) or the end of the file, or nothing
  // after it verifies. False when records that verify (a record and its chained successor) follow
  // it with no zero-filled sector in between: those were written later, so the bad record had
  // been synced. Only meaningful for the last segment; see Wal::ReadAll.
  bool torn = false;
};

// Reads records from the start of `bytes` (a whole segment file). Never fails: problems are
// described in the result. A checksum-valid record of an unknown type is reported as bad and
// not torn (a newer format or a bug, never an interrupted write).
SegmentScan ScanRecords(std::string_view bytes);

}  // namespace etcdpp::wal
