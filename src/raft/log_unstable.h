// Unstable: the tail of the raft log (and possibly an incoming snapshot) that the core holds in
// memory until the caller reports it durable (Node::Advance). Owned by RaftLog; raft thread only.
//
// Invariants:
//   * entries_[i] has index offset_ + i; entries are contiguous.
//   * if snapshot_ is set, offset_ == snapshot_->metadata.index + 1.
//   * offset_ may be <= the last stable index: an incoming append can overwrite stable entries
//     that were never committed; storage is fixed up when those entries are persisted.
//
// Indexes and terms inside the core are raw uint64_t to keep arithmetic readable; the strong
// types (LogIndex, Term) are used at the module boundary (types.h, Storage, Node).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "raft/types.h"

namespace etcdpp::raft {

class Unstable {
 public:
  // Index of the first entry, known only when a snapshot is pending.
  std::optional<uint64_t> MaybeFirstIndex() const;
  // Index of the last entry or of the pending snapshot, if any.
  std::optional<uint64_t> MaybeLastIndex() const;
  std::optional<uint64_t> MaybeTerm(uint64_t i) const;

  // Entries up to (i, t) are durable: drop them, unless they were replaced meanwhile.
  void StableTo(uint64_t i, uint64_t t);
  // The pending snapshot at index i is durable.
  void StableSnapTo(uint64_t i);
  void Restore(const Snapshot& s);
  // Appends ents, truncating any overlapping suffix first.
  void TruncateAndAppend(const std::vector<Entry>& ents);
  void TruncateAndAppend(std::vector<Entry>&& ents);
  // Entries with index in [lo, hi). REQUIRES: offset_ <= lo <= hi <= last+1.
  std::vector<Entry> Slice(uint64_t lo, uint64_t hi) const;

  const std::vector<Entry>& entries() const { return entries_; }
  const std::optional<Snapshot>& snapshot() const { return snapshot_; }
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t o) { offset_ = o; }

 private:
  void PrepareAppend(uint64_t first_index);

  std::optional<Snapshot> snapshot_;
  std::vector<Entry> entries_;
  uint64_t offset_ = 0;
};

}  // namespace etcdpp::raft
