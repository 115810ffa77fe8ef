#include "raft/progress.h"

#include <algorithm>
#include <sstream>

#include "base/check.h"

namespace etcdpp::raft {

Inflights::Inflights(size_t max_count, uint64_t max_bytes)
    : max_count_(std::max<size_t>(max_count, 1)), max_bytes_(max_bytes) {}

void Inflights::Add(uint64_t last_index, uint64_t bytes) {
  CHECK(count_ < max_count_) << "adding to a full inflight window";
  if (buffer_.size() < max_count_ && count_ == buffer_.size()) {
    // Grow lazily: most followers never need the whole window. Re-linearize first.
    std::vector<Item> grown;
    grown.reserve(std::min(max_count_, std::max<size_t>(buffer_.size() * 2, 4)));
    for (size_t i = 0; i < count_; ++i) grown.push_back(buffer_[(start_ + i) % buffer_.size()]);
    grown.resize(grown.capacity());
    buffer_ = std::move(grown);
    start_ = 0;
  }
  buffer_[(start_ + count_) % buffer_.size()] = Item{last_index, bytes};
  ++count_;
  bytes_ += bytes;
}

void Inflights::FreeLE(uint64_t to) {
  while (count_ > 0 && buffer_[start_].index <= to) {
    bytes_ -= buffer_[start_].bytes;
    start_ = (start_ + 1) % buffer_.size();
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ == 0) return;
  FreeLE(buffer_[start_].index);
}

bool Inflights::Full() const {
  return count_ >= max_count_ || (max_bytes_ != 0 && bytes_ >= max_bytes_);
}

void Inflights::Reset() {
  start_ = 0;
  count_ = 0;
  bytes_ = 0;
}

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe:
      return "StateProbe";
    case ProgressState::kReplicate:
      return "StateReplicate";
    case ProgressState::kSnapshot:
      return "StateSnapshot";
  }
  return "?";
}

void Progress::BecomeProbe() {
  // Leaving snapshot state: the follower has at least the snapshot, so probe right after it.
  if (state == ProgressState::kSnapshot) {
    const uint64_t pending = pending_snapshot;
    state = ProgressState::kProbe;
    probe_sent = false;
    pending_snapshot = 0;
    inflights.Reset();
    next = std::max(match + 1, pending + 1);
  } else {
    state = ProgressState::kProbe;
    probe_sent = false;
    pending_snapshot = 0;
    inflights.Reset();
    next = match + 1;
  }
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  probe_sent = false;
  pending_snapshot = 0;
  inflights.Reset();
  next = match + 1;
}

void Progress::BecomeSnapshot(uint64_t snapshot_index) {
  state = ProgressState::kSnapshot;
  probe_sent = false;
  inflights.Reset();
  pending_snapshot = snapshot_index;
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;  // the follower answered: probing may continue
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t match_hint) {
  if (state == ProgressState::kReplicate) {
    // Only a rejection of something past match is news; older ones were already handled.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // Probe: the rejection must be about the append we sent (next-1), else it is stale.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), uint64_t{1});
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

std::string Progress::ToString() const {
  std::ostringstream os;
  os << ProgressStateName(state) << " match=" << match << " next=" << next;
  if (is_learner) os << " learner";
  if (probe_sent) os << " paused";
  if (pending_snapshot > 0) os << " pendingSnap=" << pending_snapshot;
  if (!recent_active) os << " inactive";
  if (inflights.Count() > 0) os << " inflight=" << inflights.Count();
  return os.str();
}

std::string TrackerConfig::ToString() const {
  std::ostringstream os;
  os << "voters=" << voters.ToString();
  auto list = [&os](const char* name, const std::set<NodeId>& s) {
    if (s.empty()) return;
    os << " " << name << "=" << MajorityConfig(s).ToString();
  };
  list("learners", learners);
  list("learners_next", learners_next);
  if (auto_leave) os << " autoleave";
  return os.str();
}

ConfState ProgressTracker::GetConfState() const {
  ConfState cs;
  cs.voters.assign(config.voters.incoming.ids().begin(), config.voters.incoming.ids().end());
  cs.voters_outgoing.assign(config.voters.outgoing.ids().begin(),
                            config.voters.outgoing.ids().end());
  cs.learners.assign(config.learners.begin(), config.learners.end());
  cs.learners_next.assign(config.learners_next.begin(), config.learners_next.end());
  cs.auto_leave = config.auto_leave;
  return cs;
}

bool ProgressTracker::IsSingleton() const {
  return config.voters.incoming.ids().size() == 1 && config.voters.outgoing.empty();
}

uint64_t ProgressTracker::Committed() const {
  return config.voters.CommittedIndex([this](NodeId id) -> std::optional<uint64_t> {
    auto it = progress.find(id);
    if (it == progress.end()) return std::nullopt;
    return it->second.match;
  });
}

bool ProgressTracker::QuorumActive() const {
  std::map<NodeId, bool> votes;
  for (const auto& [id, pr] : progress) {
    if (pr.is_learner) continue;
    votes[id] = pr.recent_active;
  }
  return config.voters.Vote(votes) == VoteResult::kWon;
}

std::vector<NodeId> ProgressTracker::VoterNodes() const {
  auto ids = config.voters.Ids();
  return std::vector<NodeId>(ids.begin(), ids.end());
}

std::vector<NodeId> ProgressTracker::LearnerNodes() const {
  return std::vector<NodeId>(config.learners.begin(), config.learners.end());
}

VoteResult ProgressTracker::TallyVotes(size_t* granted, size_t* rejected) const {
  size_t g = 0, r = 0;
  for (const auto& [id, pr] : progress) {
    if (pr.is_learner) continue;
    auto it = votes_.find(id);
    if (it == votes_.end()) continue;
    if (it->second) {
      ++g;
    } else {
      ++r;
    }
  }
  if (granted) *granted = g;
  if (rejected) *rejected = r;
  return config.voters.Vote(votes_);
}

}  // namespace etcdpp::raft
