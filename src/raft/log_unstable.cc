#include "raft/log_unstable.h"

#include "base/check.h"

namespace etcdpp::raft {

std::optional<uint64_t> Unstable::MaybeFirstIndex() const {
  if (snapshot_) return snapshot_->metadata.index.value() + 1;
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeLastIndex() const {
  if (!entries_.empty()) return offset_ + entries_.size() - 1;
  if (snapshot_) return snapshot_->metadata.index.value();
  return std::nullopt;
}

std::optional<uint64_t> Unstable::MaybeTerm(uint64_t i) const {
  if (i < offset_) {
    if (snapshot_ && snapshot_->metadata.index.value() == i) {
      return snapshot_->metadata.term.value();
    }
    return std::nullopt;
  }
  auto last = MaybeLastIndex();
  if (!last || i > *last) return std::nullopt;
  return entries_[i - offset_].term.value();
}

void Unstable::StableTo(uint64_t i, uint64_t t) {
  auto gt = MaybeTerm(i);
  // Only drop entries if the entry at i is still the one that was persisted: a newer append
  // (from a new leader) may have replaced it while the caller was writing.
  if (!gt || *gt != t || i < offset_) return;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(i + 1 - offset_));
  offset_ = i + 1;
}

void Unstable::StableSnapTo(uint64_t i) {
  if (snapshot_ && snapshot_->metadata.index.value() == i) snapshot_.reset();
}

void Unstable::Restore(const Snapshot& s) {
  offset_ = s.metadata.index.value() + 1;
  entries_.clear();
  snapshot_ = s;
}

void Unstable::PrepareAppend(uint64_t after) {
  // `after` is the index of the first new entry.
  if (after == offset_ + entries_.size()) return;  // plain append
  if (after <= offset_) {
    // Replaces everything unstable; the new entries start before or at our offset.
    offset_ = after;
    entries_.clear();
    return;
  }
  entries_.resize(after - offset_);  // keep [offset_, after)
}

void Unstable::TruncateAndAppend(const std::vector<Entry>& ents) {
  if (ents.empty()) return;
  PrepareAppend(ents.front().index.value());
  entries_.insert(entries_.end(), ents.begin(), ents.end());
}

void Unstable::TruncateAndAppend(std::vector<Entry>&& ents) {
  if (ents.empty()) return;
  PrepareAppend(ents.front().index.value());
  if (entries_.empty()) {
    entries_ = std::move(ents);
  } else {
    for (auto& e : ents) entries_.push_back(std::move(e));
  }
}

std::vector<Entry> Unstable::Slice(uint64_t lo, uint64_t hi) const {
  CHECK_LE(lo, hi);
  CHECK(lo >= offset_ && hi <= offset_ + entries_.size())
      << "unstable slice [" << lo << "," << hi << ") out of [" << offset_ << ","
      << offset_ + entries_.size() << ")";
  return std::vector<Entry>(entries_.begin() + static_cast<std::ptrdiff_t>(lo - offset_),
                            entries_.begin() + static_cast<std::ptrdiff_t>(hi - offset_));
}

}  // namespace etcdpp::raft
