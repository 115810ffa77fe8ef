// Storage: the raft core's read-only view of the stable log, and MemoryStorage, an in-memory
// implementation used by tests, the simulator and the benchmark (the server backs it with the WAL).
//
// The core only ever reads through Storage. Writing is the caller's job: after it has made the
// entries, hard state and snapshot of a Ready durable, it records them in its Storage before
// calling Node::Advance (see src/raft/README.md, "ordering contract").
//
// Error contract (every method):
//   OutOfRange   the index is at or below the last compaction point ("compacted").
//   NotFound     the index is above the last index ("unavailable").
//   Unavailable  (GetSnapshot only) a snapshot is being made; the core retries later.
// Any other non-OK status is a storage failure; the core treats it as fatal (CHECK).
//
// Thread safety: MemoryStorage is not synchronized; one thread (the raft thread) owns it.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "raft/types.h"

namespace etcdpp::raft {

// Limit meaning "no byte limit" for Entries(); at least one entry is always returned.
inline constexpr uint64_t kNoLimit = UINT64_MAX;

struct InitialState {
  HardState hard_state;
  ConfState conf_state;
};

bool IsCompacted(const Status& s);    // OutOfRange
bool IsUnavailable(const Status& s);  // NotFound

class Storage {
 public:
  virtual ~Storage() = default;

  // The hard state and configuration saved last (the configuration as of the last snapshot;
  // configuration entries after it are re-applied by the caller on replay).
  virtual Result<InitialState> GetInitialState() const = 0;
  // Entries with index in [lo, hi), stopping once their total byte size would pass
  // max_size_bytes (but at least one entry). REQUIRES: lo <= hi.
  virtual Result<std::vector<Entry>> Entries(LogIndex lo, LogIndex hi,
                                             uint64_t max_size_bytes) const = 0;
  // Term of the entry at i. Defined for i in [FirstIndex()-1, LastIndex()] (the entry just
  // before FirstIndex is the snapshot point, whose term is kept).
  virtual Result<Term> TermAt(LogIndex i) const = 0;
  // Index of the last entry (the snapshot index if the log is empty).
  virtual LogIndex LastIndex() const = 0;
  // Index of the first entry still available (snapshot index + 1).
  virtual LogIndex FirstIndex() const = 0;
  // The most recent snapshot.
  virtual Result<Snapshot> GetSnapshot() const = 0;
};

// Byte size of an entry as counted against every byte limit (data plus a fixed header).
uint64_t EntrySizeBytes(const Entry& e);

// In-memory Storage. ents_[0] is a placeholder carrying the snapshot index and term, so that
// TermAt(snapshot index) works after compaction.
class MemoryStorage final : public Storage {
 public:
  MemoryStorage();

  Result<InitialState> GetInitialState() const override;
  Result<std::vector<Entry>> Entries(LogIndex lo, LogIndex hi,
                                     uint64_t max_size_bytes) const override;
  Result<Term> TermAt(LogIndex i) const override;
  LogIndex LastIndex() const override;
  LogIndex FirstIndex() const override;
  Result<Snapshot> GetSnapshot() const override;

  void SetHardState(const HardState& hs) { hard_state_ = hs; }
  const HardState& hard_state() const { return hard_state_; }

  // Bootstraps an empty storage at index 0 with the given configuration (as if a snapshot at
  // index 0 held it). Only for a brand-new cluster whose members all start this way; a member
  // that joins later must start empty and be caught up by snapshot. REQUIRES: LastIndex() == 0.
  void SetInitialConfState(const ConfState& cs);

  // Replaces the whole content with the snapshot. Returns OutOfRange (and changes nothing) if
  // the snapshot is older than the one held.
  Status ApplySnapshot(const Snapshot& snap);
  // Records a snapshot of the state machine at index i (<= LastIndex) without compacting.
  Result<Snapshot> CreateSnapshot(LogIndex i, const ConfState* cs, std::string data);
  // Discards entries before compact_index (keeps its term). OutOfRange if already compacted.
  Status Compact(LogIndex compact_index);
  // Appends entries, replacing any existing suffix that they overlap. Entries already compacted
  // are skipped. REQUIRES: the first new index <= LastIndex()+1 (no gap).
  Status Append(const std::vector<Entry>& entries);
  // The same, taking the entries (saves a copy of every payload on the hot path).
  Status Append(std::vector<Entry>&& entries);

 private:
  uint64_t offset() const { return ents_[0].index.value(); }

  HardState hard_state_;
  Snapshot snapshot_;
  std::vector<Entry> ents_;  // ents_[i] has index offset()+i.
};

}  // namespace etcdpp::raft
