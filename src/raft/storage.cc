#include "raft/storage.h"

#include <algorithm>

namespace etcdpp::raft {

// Upper bound of entries reserved up front for a slice (the byte limit may stop it earlier).
constexpr uint64_t kMaxReserveEntries = 4096;

bool IsCompacted(const Status& s) { return s.code() == Code::kOutOfRange; }
bool IsUnavailable(const Status& s) { return s.code() == Code::kNotFound; }

// A fixed per-entry overhead keeps empty entries from being "free" for the byte limits.
uint64_t EntrySizeBytes(const Entry& e) { return e.data.size() + 16; }

MemoryStorage::MemoryStorage() { ents_.resize(1); }

Result<InitialState> MemoryStorage::GetInitialState() const {
  return InitialState{hard_state_, snapshot_.metadata.conf_state};
}

Result<std::vector<Entry>> MemoryStorage::Entries(LogIndex lo, LogIndex hi,
                                                  uint64_t max_size_bytes) const {
  CHECK_LE(lo, hi);
  const uint64_t off = offset();
  if (lo.value() <= off) return OutOfRange("raft: requested index is compacted");
  if (hi.value() > LastIndex().value() + 1) {
    return NotFound("raft: requested entries beyond last index");
  }
  std::vector<Entry> out;
  out.reserve(std::min<uint64_t>(hi.value() - lo.value(), kMaxReserveEntries));
  uint64_t size = 0;
  for (uint64_t i = lo.value(); i < hi.value(); ++i) {
    const Entry& e = ents_[i - off];
    size += EntrySizeBytes(e);
    if (!out.empty() && size > max_size_bytes) break;
    out.push_back(e);
  }
  return out;
}

Result<Term> MemoryStorage::TermAt(LogIndex i) const {
  const uint64_t off = offset();
  if (i.value() < off) return OutOfRange("raft: requested index is compacted");
  if (i.value() - off >= ents_.size()) return NotFound("raft: requested index is unavailable");
  return ents_[i.value() - off].term;
}

LogIndex MemoryStorage::LastIndex() const { return LogIndex(offset() + ents_.size() - 1); }

LogIndex MemoryStorage::FirstIndex() const { return LogIndex(offset() + 1); }

Result<Snapshot> MemoryStorage::GetSnapshot() const { return snapshot_; }

void MemoryStorage::SetInitialConfState(const ConfState& cs) {
  CHECK_EQ(LastIndex().value(), 0u) << "SetInitialConfState on a non-empty storage";
  snapshot_.metadata.conf_state = cs;
}

Status MemoryStorage::ApplySnapshot(const Snapshot& snap) {
  if (snap.metadata.index <= snapshot_.metadata.index) {
    return OutOfRange("raft: snapshot is older than the one held");
  }
  snapshot_ = snap;
  ents_.assign(1, Entry{snap.metadata.term, snap.metadata.index, EntryType::kNormal, {}});
  return Status::Ok();
}

Result<Snapshot> MemoryStorage::CreateSnapshot(LogIndex i, const ConfState* cs, std::string data) {
  if (i <= snapshot_.metadata.index) return OutOfRange("raft: snapshot is out of date");
  CHECK_LE(i, LastIndex()) << "snapshot " << i << " beyond last index " << LastIndex();
  snapshot_.metadata.index = i;
  snapshot_.metadata.term = ents_[i.value() - offset()].term;
  if (cs != nullptr) snapshot_.metadata.conf_state = *cs;
  snapshot_.data = std::move(data);
  return snapshot_;
}

Status MemoryStorage::Compact(LogIndex compact_index) {
  const uint64_t off = offset();
  if (compact_index.value() <= off) return OutOfRange("raft: requested index is compacted");
  CHECK_LE(compact_index, LastIndex());
  const uint64_t n = compact_index.value() - off;
  Entry head{ents_[n].term, ents_[n].index, EntryType::kNormal, {}};
  ents_.erase(ents_.begin(), ents_.begin() + static_cast<std::ptrdiff_t>(n));
  ents_[0] = std::move(head);
  return Status::Ok();
}

Status MemoryStorage::Append(const std::vector<Entry>& entries) {
  std::vector<Entry> copy = entries;
  return Append(std::move(copy));
}

Status MemoryStorage::Append(std::vector<Entry>&& entries) {
  if (entries.empty()) return Status::Ok();
  const uint64_t first = FirstIndex().value();
  const uint64_t last = entries.back().index.value();
  if (last < first) return Status::Ok();  // everything is already compacted
  size_t skip = 0;
  if (first > entries.front().index.value()) skip = first - entries.front().index.value();
  const uint64_t start = entries[skip].index.value();
  CHECK_LE(start, LastIndex().value() + 1) << "gap in MemoryStorage::Append at " << start;
  ents_.resize(start - offset());
  ents_.insert(ents_.end(),
               std::make_move_iterator(entries.begin() + static_cast<std::ptrdiff_t>(skip)),
               std::make_move_iterator(entries.end()));
  return Status::Ok();
}

}  // namespace etcdpp::raft
