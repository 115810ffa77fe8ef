#include "wal/record.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace etcdpp::wal {
namespace {

// All-zero 512-byte chunks are how an unwritten page of a pre-allocated file looks after a
// power loss.
constexpr uint64_t kSectorBytes = 512;
constexpr uint32_t kEntryFixedBytes = 17;  // term, index, type

// Little-endian, appended in one call (each record has several).
template <typename T>
void PutLittleEndian(std::string* out, T v) {
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, sizeof(T));
}
void PutU32(std::string* out, uint32_t v) { PutLittleEndian(out, v); }
void PutU64(std::string* out, uint64_t v) { PutLittleEndian(out, v); }
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint64_t Checksum(const char* header8, std::string_view payload, uint64_t chain) {
  uint64_t h = XXH64(header8, 8, chain);
  return XXH64(payload.data(), payload.size(), h);
}

bool AllZero(std::string_view bytes) {
  // memcmp against a zero block: vectorised by libc, this is what scanning a segment's
  // pre-allocated tail costs.
  static const char kZeros[4096] = {};
  while (!bytes.empty()) {
    size_t n = std::min(bytes.size(), sizeof(kZeros));
    if (std::memcmp(bytes.data(), kZeros, n) != 0) return false;
    bytes.remove_prefix(n);
  }
  return true;
}

bool KnownType(uint8_t t) { return t >= 1 && t <= 5; }

// Returns true iff the [begin, end) range of `bytes` contains a 512-byte aligned chunk (clipped to
// the range) that is entirely zero.
bool HasZeroSector(std::string_view bytes, uint64_t begin, uint64_t end) {
  uint64_t off = begin;
  while (off < end) {
    uint64_t chunk_end = std::min(end, (off / kSectorBytes + 1) * kSectorBytes);
    if (AllZero(bytes.substr(off, chunk_end - off))) return true;
    off = chunk_end;
  }
  return false;
}

// Returns true iff a record starting at `off` verifies against `chain`.
bool VerifiesAt(std::string_view bytes, uint64_t off, uint64_t chain) {
  if (off + kRecordHeaderBytes > bytes.size()) return false;
  const char* h = bytes.data() + off;
  uint32_t len = GetU32(h);
  if (len > kMaxRecordPayloadBytes || off + kRecordHeaderBytes + len > bytes.size()) return false;
  if (AllZero(bytes.substr(off, kRecordHeaderBytes))) return false;
  return Checksum(h, bytes.substr(off + kRecordHeaderBytes, len), chain) == GetU64(h + 8);
}

// Returns true iff a record header at `off` could be one we wrote: non-zero, known type, zero
// reserved bytes, and a payload that fits in `bytes`.
bool PlausibleHeader(std::string_view bytes, uint64_t off) {
  if (off + kRecordHeaderBytes > bytes.size()) return false;
  const char* h = bytes.data() + off;
  uint32_t len = GetU32(h);
  return KnownType(static_cast<uint8_t>(h[4])) && h[5] == 0 && h[6] == 0 && h[7] == 0 &&
         len <= kMaxRecordPayloadBytes && off + kRecordHeaderBytes + len <= bytes.size();
}

// Evidence that records were written after a damaged record at `bad`: the first 8-aligned offset
// p ≥ `bad` where a plausible record is followed by one that verifies against its stored checksum
// (at p = `bad` this is the damaged record's own successor). Such a pair is never garbage and,
// once the zero-filled gaps of an interrupted write are ruled out, proves the damage is not the
// torn tail. Returns the end of `bytes` if there is none.
uint64_t FindVerifiedPair(std::string_view bytes, uint64_t bad) {
  for (uint64_t p = bad; p + kRecordHeaderBytes <= bytes.size(); p += kRecordAlignBytes) {
    if (!PlausibleHeader(bytes, p)) continue;
    const char* h = bytes.data() + p;
    if (VerifiesAt(bytes, p + RecordSize(GetU32(h)), GetU64(h + 8))) return p;
  }
  return bytes.size();
}

// Classifies damage found at `bad`: torn iff no verified records follow it, or zero-filled
// sectors (pages the kernel never wrote back) lie between it and them — an interrupted write
// leaves zeros, never rewritten bytes.
bool LooksTorn(std::string_view bytes, uint64_t bad) {
  uint64_t evidence = FindVerifiedPair(bytes, bad);
  if (evidence >= bytes.size()) return true;
  uint64_t end = evidence;
  if (evidence == bad) {
    // The damaged record's own successor verifies: look for zeros inside the damaged record.
    end = std::min<uint64_t>(bad + RecordSize(GetU32(bytes.data() + bad)), bytes.size());
  }
  return HasZeroSector(bytes, bad, end);
}

}  // namespace

uint64_t AppendRecord(std::string* out, RecordType type, std::string_view payload, uint64_t chain) {
  CHECK(payload.size() <= kMaxRecordPayloadBytes) << "record payload " << payload.size();
  size_t start = out->size();
  PutU32(out, static_cast<uint32_t>(payload.size()));
  out->push_back(static_cast<char>(type));
  out->append(3, '\0');
  uint64_t sum = Checksum(out->data() + start, payload, chain);
  PutU64(out, sum);
  out->append(payload);
  out->append(RecordSize(payload.size()) - kRecordHeaderBytes - payload.size(), '\0');
  return sum;
}

size_t EntryPayloadSize(const raft::Entry& e) { return kEntryFixedBytes + e.data.size(); }

std::string EncodeEntry(const raft::Entry& e) {
  std::string out;
  out.reserve(EntryPayloadSize(e));
  PutU64(&out, e.term.value());
  PutU64(&out, e.index.value());
  out.push_back(static_cast<char>(e.type));
  out.append(e.data);
  return out;
}

Result<raft::Entry> DecodeEntry(std::string_view p) {
  if (p.size() < kEntryFixedBytes) return DataLoss("entry record shorter than 17 bytes");
  raft::Entry e;
  e.term = Term(GetU64(p.data()));
  e.index = LogIndex(GetU64(p.data() + 8));
  uint8_t type = static_cast<uint8_t>(p[16]);
  if (type > static_cast<uint8_t>(raft::EntryType::kConfChangeV2)) {
    return DataLoss("entry record with unknown entry type " + std::to_string(type));
  }
  e.type = static_cast<raft::EntryType>(type);
  e.data.assign(p.substr(kEntryFixedBytes));
  return e;
}

std::string EncodeHardState(const raft::HardState& hs) {
  std::string out;
  PutU64(&out, hs.term.value());
  PutU64(&out, hs.vote.value());
  PutU64(&out, hs.commit.value());
  return out;
}

Result<raft::HardState> DecodeHardState(std::string_view p) {
  if (p.size() != 24) return DataLoss("hard state record is not 24 bytes");
  raft::HardState hs;
  hs.term = Term(GetU64(p.data()));
  hs.vote = raft::NodeId(GetU64(p.data() + 8));
  hs.commit = LogIndex(GetU64(p.data() + 16));
  return hs;
}

std::string EncodeSnapshotMarker(const SnapshotMarker& m) {
  std::string out;
  PutU64(&out, m.index.value());
  PutU64(&out, m.term.value());
  return out;
}

Result<SnapshotMarker> DecodeSnapshotMarker(std::string_view p) {
  if (p.size() != 16) return DataLoss("snapshot record is not 16 bytes");
  return SnapshotMarker{LogIndex(GetU64(p.data())), Term(GetU64(p.data() + 8))};
}

std::string EncodeSegmentHeader(const SegmentHeader& h) {
  std::string out;
  PutU64(&out, kSegmentMagic);
  PutU32(&out, kFormatVersion);
  PutU32(&out, 0);
  PutU64(&out, h.seq);
  PutU64(&out, h.first_index.value());
  PutU64(&out, h.prev_chain);
  return out;
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view p) {
  if (p.size() != 40) return DataLoss("segment header record is not 40 bytes");
  if (GetU64(p.data()) != kSegmentMagic) return DataLoss("segment header has a bad magic number");
  uint32_t version = GetU32(p.data() + 8);
  if (version != kFormatVersion) {
    return DataLoss("segment format version " + std::to_string(version) + " is not supported");
  }
  SegmentHeader h;
  h.seq = GetU64(p.data() + 16);
  h.first_index = LogIndex(GetU64(p.data() + 24));
  h.prev_chain = GetU64(p.data() + 32);
  return h;
}

SegmentScan ScanRecords(std::string_view bytes) {
  SegmentScan scan;
  uint64_t chain = kSegmentHeaderSeed;
  uint64_t off = 0;
  auto fail = [&](std::string reason, bool torn) {
    scan.bad = true;
    scan.reason = std::move(reason);
    scan.torn = torn;
  };
  while (true) {
    scan.end_offset = off;
    scan.chain = chain;
    uint64_t left = bytes.size() - off;
    if (left == 0) return scan;
    if (left < kRecordHeaderBytes) {
      if (AllZero(bytes.substr(off))) return scan;
      fail("truncated record header (" + std::to_string(left) + " bytes left)", true);
      return scan;
    }
    const char* h = bytes.data() + off;
    if (AllZero(bytes.substr(off, kRecordHeaderBytes))) {
      if (AllZero(bytes.substr(off))) return scan;  // the zeroed, pre-allocated tail
      fail("zero record header followed by non-zero bytes", true);
      return scan;
    }
    uint32_t len = GetU32(h);
    uint8_t type = static_cast<uint8_t>(h[4]);
    if (len > kMaxRecordPayloadBytes) {
      fail("bad record length " + std::to_string(len), LooksTorn(bytes, off));
      return scan;
    }
    uint64_t size = RecordSize(len);
    if (off + kRecordHeaderBytes + len > bytes.size()) {
      fail("record length " + std::to_string(len) + " runs past the end of the file",
           LooksTorn(bytes, off));
      return scan;
    }
    std::string_view payload = bytes.substr(off + kRecordHeaderBytes, len);
    uint64_t stored = GetU64(h + 8);
    if (Checksum(h, payload, chain) != stored) {
      fail("checksum mismatch", LooksTorn(bytes, off));
      return scan;
    }
    if (!KnownType(type)) {
      fail("unknown record type " + std::to_string(type), false);
      return scan;
    }
    if (h[5] != 0 || h[6] != 0 || h[7] != 0) {
      fail("non-zero reserved header bytes (written by a newer format?)", false);
      return scan;
    }
    scan.records.push_back({static_cast<RecordType>(type), payload, stored, off});
    chain = stored;
    off = std::min<uint64_t>(off + size, bytes.size());
  }
}

}  // namespace etcdpp::wal
