// RaftLog: the whole log as the core sees it: the stable prefix (through Storage) followed by the
// unstable tail (Unstable), plus the commit and apply cursors. Raft thread only.
//
// Invariants: applied <= committed <= LastIndex(); FirstIndex()-1 <= applied (the snapshot point
// is applied by definition).
//
//     snapshot | stable entries (Storage) | unstable entries  (Unstable)
//              ^FirstIndex                  ^unstable.offset   ^LastIndex
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/result.h"
#include "raft/log_unstable.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace etcdpp::raft {

class RaftLog {
 public:
  // max_next_ents_size_bytes bounds the committed entries handed out per Ready.
  RaftLog(Storage* storage, uint64_t max_next_ents_size_bytes);

  // Follower side of AppendEntries: if the entry at `index` has term `log_term`, appends the
  // entries (dropping a conflicting suffix), advances commit to min(committed, last new index)
  // and returns the last new index. Returns nullopt if the terms do not match.
  std::optional<uint64_t> MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                      std::vector<Entry>&& ents);
  // Appends at the end (leader side). Returns the new last index.
  uint64_t Append(std::vector<Entry>&& ents);
  // Index of the first entry of ents that conflicts with (or extends) the log; 0 if none.
  uint64_t FindConflict(const std::vector<Entry>& ents) const;
  // The largest index <= index whose term is <= term (fast back-off, thesis §5.3 footnote): a
  // follower's rejection hint, also used by the leader to skip whole terms.
  uint64_t FindConflictByTerm(uint64_t index, uint64_t term) const;

  std::vector<Entry> UnstableEntries() const { return unstable_.entries(); }
  // Committed entries not yet applied, up to max_next_ents_size_bytes.
  std::vector<Entry> NextEnts() const;
  bool HasNextEnts() const;
  bool HasPendingSnapshot() const { return unstable_.snapshot().has_value(); }
  // The pending (unstable) snapshot if any, else the storage snapshot.
  Result<Snapshot> GetSnapshot() const;

  uint64_t FirstIndex() const;
  uint64_t LastIndex() const;
  // The last index of the log that is in stable storage: below the unstable entries, if any.
  uint64_t LastStableIndex() const;
  uint64_t LastTerm() const;
  // Term of entry i; 0 if i is outside [FirstIndex()-1, LastIndex()] or compacted.
  Result<uint64_t> TermOf(uint64_t i) const;
  uint64_t ZeroTermOnErr(uint64_t i) const;
  bool MatchTerm(uint64_t i, uint64_t t) const;
  // Thesis §3.6.1: (term, index) is at least as up to date as our last entry.
  bool IsUpToDate(uint64_t last_index, uint64_t term) const;

  // Entries from i to the end, up to max_size_bytes (at least one).
  Result<std::vector<Entry>> EntriesFrom(uint64_t i, uint64_t max_size_bytes) const;
  // Entries in [lo, hi) up to max_size_bytes (at least one). OutOfRange if lo is compacted.
  Result<std::vector<Entry>> Slice(uint64_t lo, uint64_t hi, uint64_t max_size_bytes) const;

  void CommitTo(uint64_t to);
  // Commits max_index if its term is `term` (only current-term entries commit by counting,
  // thesis §3.6.2 / figure 3.7). Returns whether commit advanced.
  bool MaybeCommit(uint64_t max_index, uint64_t term);
  void AppliedTo(uint64_t i);
  void StableTo(uint64_t i, uint64_t t) { unstable_.StableTo(i, t); }
  void StableSnapTo(uint64_t i) { unstable_.StableSnapTo(i); }
  void Restore(const Snapshot& s);

  uint64_t committed() const { return committed_; }
  uint64_t applied() const { return applied_; }
  const Unstable& unstable() const { return unstable_; }
  Storage* storage() const { return storage_; }

 private:
  Status MustCheckOutOfBounds(uint64_t lo, uint64_t hi) const;

  Storage* storage_;
  Unstable unstable_;
  uint64_t committed_ = 0;
  uint64_t applied_ = 0;
  uint64_t max_next_ents_size_bytes_;
};

}  // namespace etcdpp::raft
