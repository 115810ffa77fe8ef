// libFuzzer target: arbitrary bytes as a WAL segment and as a snap file. Checks that the decoders
// never crash or read out of bounds, that recovery either succeeds or fails with kDataLoss /
// kNotFound (never CHECK-fails), and that a recovered WAL is still writable and re-readable.
//
//   cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DETCDPP_FUZZ=ON
//   cmake --build build/fuzz --target wal_record_fuzz && build/fuzz/src/wal/wal_record_fuzz
#include <cstdint>
#include <cstdlib>
#include <string>

#include "wal/mem_file_system.h"
#include "wal/record.h"
#include "wal/snapshotter.h"
#include "wal/wal.h"

namespace {

void Require(bool cond) {
  if (!cond) std::abort();
}

// A valid segment 0 with metadata "m", a snapshot marker, 20 entries and hard states: random
// bytes almost never carry valid chained checksums, so half of the inputs are read as edits of
// this image instead (pairs of u16 offset, xor byte, plus an optional truncation).
std::string ReferenceSegment() {
  using namespace etcdpp;
  using namespace etcdpp::wal;
  std::string out;
  uint64_t c = AppendRecord(&out, RecordType::kSegmentHeader,
                            EncodeSegmentHeader({0, LogIndex(0), 0}), kSegmentHeaderSeed);
  c = AppendRecord(&out, RecordType::kMetadata, "m", c);
  c = AppendRecord(&out, RecordType::kSnapshot, EncodeSnapshotMarker({LogIndex(0), Term(0)}), c);
  for (uint64_t i = 1; i <= 20; ++i) {
    raft::Entry e{Term(1 + i / 8), LogIndex(i - (i % 7 == 0 ? 3 : 0)), raft::EntryType::kNormal,
                  std::string(i * 13 % 97, 'd')};
    c = AppendRecord(&out, RecordType::kEntry, EncodeEntry(e), c);
    c = AppendRecord(&out, RecordType::kHardState,
                     EncodeHardState({Term(1 + i / 8), raft::NodeId(1), LogIndex(i / 2)}), c);
  }
  out.resize(4096, '\0');
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace etcdpp;
  using namespace etcdpp::wal;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  if (size > 0 && (data[0] & 1)) {
    static const std::string* reference = new std::string(ReferenceSegment());
    std::string edited = *reference;
    size_t i = 1;
    for (; i + 3 <= size; i += 3) {
      size_t off =
          (static_cast<size_t>(data[i]) | static_cast<size_t>(data[i + 1]) << 8) % edited.size();
      edited[off] = static_cast<char>(edited[off] ^ data[i + 2]);
    }
    if (i < size) edited.resize(edited.size() - data[i] * 16 % edited.size());
    bytes = std::move(edited);
  }

  SegmentScan scan = ScanRecords(bytes);
  Require(scan.end_offset <= bytes.size());
  for (const auto& r : scan.records) {
    (void)DecodeEntry(r.payload);
    (void)DecodeHardState(r.payload);
    (void)DecodeSnapshotMarker(r.payload);
    (void)DecodeSegmentHeader(r.payload);
  }
  (void)DecodeSnapshotFile(bytes);

  // The same bytes as the only segment of a WAL: recover, then append and recover again.
  MemFileSystem fs;
  WalOptions opts;
  opts.fs = &fs;
  opts.segment_size_bytes = 4096;
  const std::string dir = "/w";
  {
    auto w = Wal::Create(dir, "m", opts);
    Require(w.ok());
  }
  Require(fs.Poke(dir + "/0000000000000000-0000000000000000.wal", bytes).ok());
  auto w = Wal::Open(dir, {}, opts);
  Require(w.ok());
  auto c = (*w)->ReadAll();
  if (!c.ok()) {
    Code code = c.status().code();
    Require(code == Code::kDataLoss || code == Code::kNotFound);
    return 0;
  }
  raft::Entry e{Term(1), (*w)->last_index().next(), raft::EntryType::kNormal, "x"};
  Require((*w)->Save({}, std::span<const raft::Entry>(&e, 1)).ok());
  w->reset();
  auto again = Wal::Open(dir, {}, opts);
  Require(again.ok());
  auto c2 = (*again)->ReadAll();
  Require(c2.ok());
  Require(!c2->entries.empty() && c2->entries.back() == e);
  return 0;
}
