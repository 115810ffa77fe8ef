#include "raft/raft_log.h"

#include <algorithm>

#include "base/check.h"

namespace etcdpp::raft {

RaftLog::RaftLog(Storage* storage, uint64_t max_next_ents_size_bytes)
    : storage_(storage), max_next_ents_size_bytes_(max_next_ents_size_bytes) {
  CHECK(storage_ != nullptr);
  const uint64_t first = storage_->FirstIndex().value();
  const uint64_t last = storage_->LastIndex().value();
  unstable_.set_offset(last + 1);
  // The snapshot point is committed and applied by definition.
  committed_ = first - 1;
  applied_ = first - 1;
}

std::optional<uint64_t> RaftLog::MaybeAppend(uint64_t index, uint64_t log_term, uint64_t committed,
                                             std::vector<Entry>&& ents) {
  if (!MatchTerm(index, log_term)) return std::nullopt;
  const uint64_t last_new = index + ents.size();
  const uint64_t ci = FindConflict(ents);
  if (ci != 0) {
    CHECK(ci > committed_) << "entry " << ci << " conflicts with committed entry (committed "
                           << committed_ << ")";
    const uint64_t skip = ci - (index + 1);
    if (skip == 0) {
      Append(std::move(ents));
    } else {
      Append(std::vector<Entry>(std::make_move_iterator(ents.begin() + skip),
                                std::make_move_iterator(ents.end())));
    }
  }
  CommitTo(std::min(committed, last_new));
  return last_new;
}

uint64_t RaftLog::Append(std::vector<Entry>&& ents) {
  if (ents.empty()) return LastIndex();
  const uint64_t after = ents.front().index.value() - 1;
  CHECK(after >= committed_) << "append after " << after << " is below committed " << committed_;
  unstable_.TruncateAndAppend(std::move(ents));
  return LastIndex();
}

uint64_t RaftLog::FindConflict(const std::vector<Entry>& ents) const {
  for (const Entry& e : ents) {
    if (!MatchTerm(e.index.value(), e.term.value())) return e.index.value();
  }
  return 0;
}

uint64_t RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  const uint64_t last = LastIndex();
  if (index > last) return index;  // caller clamps; nothing to compare beyond our log
  for (;;) {
    auto t = TermOf(index);
    if (!t.ok() || *t <= term) break;  // unknown (compacted) terms stop the scan conservatively
    if (index == 0) break;
    --index;
  }
  return index;
}

std::vector<Entry> RaftLog::NextEnts() const {
  const uint64_t off = std::max(applied_ + 1, FirstIndex());
  if (committed_ + 1 > off) {
    auto ents = Slice(off, committed_ + 1, max_next_ents_size_bytes_);
    CHECK(ents.ok()) << "unexpected error reading committed entries: " << ents.status().ToString();
    return std::move(ents).value();
  }
  return {};
}

bool RaftLog::HasNextEnts() const {
  const uint64_t off = std::max(applied_ + 1, FirstIndex());
  return committed_ + 1 > off;
}

Result<Snapshot> RaftLog::GetSnapshot() const {
  if (unstable_.snapshot()) return *unstable_.snapshot();
  return storage_->GetSnapshot();
}

uint64_t RaftLog::FirstIndex() const {
  if (auto i = unstable_.MaybeFirstIndex()) return *i;
  return storage_->FirstIndex().value();
}

uint64_t RaftLog::LastIndex() const {
  if (auto i = unstable_.MaybeLastIndex()) return *i;
  return storage_->LastIndex().value();
}

uint64_t RaftLog::LastStableIndex() const {
  const uint64_t stored = storage_->LastIndex().value();
  if (unstable_.entries().empty() && !unstable_.snapshot().has_value()) return stored;
  // Storage may still hold entries at or past the unstable offset that the unstable ones
  // replace: those are not part of this log.
  return std::min(stored, unstable_.offset() - 1);
}

uint64_t RaftLog::LastTerm() const {
  auto t = TermOf(LastIndex());
  CHECK(t.ok()) << "term of last index unavailable: " << t.status().ToString();
  return *t;
}

Result<uint64_t> RaftLog::TermOf(uint64_t i) const {
  const uint64_t dummy = FirstIndex() - 1;
  if (i < dummy || i > LastIndex()) return uint64_t{0};
  if (auto t = unstable_.MaybeTerm(i)) return *t;
  auto t = storage_->TermAt(LogIndex(i));
  if (t.ok()) return t->value();
  if (IsCompacted(t.status()) || IsUnavailable(t.status())) return t.status();
  CHECK(false) << "storage failure: " << t.status().ToString();
  return uint64_t{0};
}

uint64_t RaftLog::ZeroTermOnErr(uint64_t i) const {
  auto t = TermOf(i);
  return t.ok() ? *t : 0;
}

bool RaftLog::MatchTerm(uint64_t i, uint64_t t) const {
  auto got = TermOf(i);
  return got.ok() && *got == t;
}

bool RaftLog::IsUpToDate(uint64_t last_index, uint64_t term) const {
  const uint64_t lt = LastTerm();
  return term > lt || (term == lt && last_index >= LastIndex());
}

Result<std::vector<Entry>> RaftLog::EntriesFrom(uint64_t i, uint64_t max_size_bytes) const {
  if (i > LastIndex()) return std::vector<Entry>{};
  return Slice(i, LastIndex() + 1, max_size_bytes);
}

Status RaftLog::MustCheckOutOfBounds(uint64_t lo, uint64_t hi) const {
  CHECK_LE(lo, hi);
  if (lo < FirstIndex()) return OutOfRange("raft: requested index is compacted");
  CHECK(hi <= LastIndex() + 1) << "slice [" << lo << "," << hi << ") beyond last index "
                               << LastIndex();
  return Status::Ok();
}

Result<std::vector<Entry>> RaftLog::Slice(uint64_t lo, uint64_t hi, uint64_t max_size_bytes) const {
  ETCDPP_RETURN_IF_ERROR(MustCheckOutOfBounds(lo, hi));
  std::vector<Entry> out;
  if (lo == hi) return out;
  // Reserve for the common case; the byte limit may stop the slice earlier.
  constexpr uint64_t kMaxReserveEntries = 4096;
  const uint64_t uoff = unstable_.offset();
  if (lo < uoff) {
    auto stored = storage_->Entries(LogIndex(lo), LogIndex(std::min(hi, uoff)), max_size_bytes);
    if (!stored.ok()) {
      if (IsCompacted(stored.status())) return stored.status();
      CHECK(false) << "storage failure reading [" << lo << "," << std::min(hi, uoff)
                   << "): " << stored.status().ToString();
    }
    out = std::move(stored).value();
    // Storage stopped early because of the size limit: do not continue into unstable.
    if (out.size() < std::min(hi, uoff) - lo) return out;
  }
  uint64_t size = 0;
  for (const Entry& e : out) size += EntrySizeBytes(e);
  if (hi > uoff) {
    out.reserve(out.size() + std::min<uint64_t>(hi - std::max(lo, uoff), kMaxReserveEntries));
    const uint64_t from = std::max(lo, uoff);
    const auto& ue = unstable_.entries();
    for (uint64_t i = from; i < hi; ++i) {
      const Entry& e = ue[i - uoff];
      size += EntrySizeBytes(e);
      if (!out.empty() && size > max_size_bytes) break;
      out.push_back(e);
    }
  }
  return out;
}

void RaftLog::CommitTo(uint64_t to) {
  if (committed_ < to) {
    CHECK(LastIndex() >= to) << "commit " << to << " beyond last index " << LastIndex()
                             << "; was the raft log corrupted, truncated or lost?";
    committed_ = to;
  }
}

bool RaftLog::MaybeCommit(uint64_t max_index, uint64_t term) {
  if (max_index > committed_ && ZeroTermOnErr(max_index) == term) {
    CommitTo(max_index);
    return true;
  }
  return false;
}

void RaftLog::AppliedTo(uint64_t i) {
  if (i == 0) return;
  CHECK(committed_ >= i && i >= applied_)
      << "applied " << i << " out of range [" << applied_ << "," << committed_ << "]";
  applied_ = i;
}

void RaftLog::Restore(const Snapshot& s) {
  committed_ = s.metadata.index.value();
  unstable_.Restore(s);
}

}  // namespace etcdpp::raft
