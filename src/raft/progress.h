// The leader's view of each follower (Progress), the flow-control window of in-flight appends
// (Inflights) and the set of all of them with the active configuration (ProgressTracker).
// Raft thread only.
//
// Progress states (as in etcd's raft, thesis §10.2.1 for pipelining):
//   kProbe      one append per heartbeat interval until the follower's match is found;
//   kReplicate  optimistic pipelining: next is advanced as appends are sent, bounded by Inflights;
//   kSnapshot   a snapshot is on its way; nothing else is sent until it is reported or acked.
// Invariant: match < next.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "raft/quorum.h"
#include "raft/types.h"

namespace etcdpp::raft {

// A ring of the last index of each append in flight to one follower, with their byte total.
// Full when either the count or the byte limit is reached; the leader then stops sending until
// acknowledgements free a slot, so a slow follower costs the leader bounded memory.
class Inflights {
 public:
  // max_count: at least 1. max_bytes: 0 means no byte limit.
  Inflights(size_t max_count, uint64_t max_bytes);

  void Add(uint64_t last_index, uint64_t bytes);
  // Frees every in-flight append whose last index is <= to.
  void FreeLE(uint64_t to);
  void FreeFirstOne();
  bool Full() const;
  size_t Count() const { return count_; }
  uint64_t Bytes() const { return bytes_; }
  void Reset();

 private:
  struct Item {
    uint64_t index;
    uint64_t bytes;
  };
  size_t max_count_;
  uint64_t max_bytes_;
  std::vector<Item> buffer_;  // grows on demand up to max_count_
  size_t start_ = 0;
  size_t count_ = 0;
  uint64_t bytes_ = 0;
};

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };
const char* ProgressStateName(ProgressState s);

struct Progress {
  Progress(uint64_t next_index, size_t max_inflight, uint64_t max_inflight_bytes)
      : next(next_index), inflights(max_inflight, max_inflight_bytes) {}

  uint64_t match = 0;
  uint64_t next = 1;
  ProgressState state = ProgressState::kProbe;
  // Index of the snapshot in flight (kSnapshot only).
  uint64_t pending_snapshot = 0;
  // Heard from since the last check-quorum round (thesis §6.2).
  bool recent_active = false;
  // kProbe: an append was sent this heartbeat interval; wait before sending another.
  bool probe_sent = false;
  Inflights inflights;
  bool is_learner = false;

  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t snapshot_index);
  // The follower acknowledged n. Returns false if n is stale.
  bool MaybeUpdate(uint64_t n);
  // Pipelining: the leader sent up to n.
  void OptimisticUpdate(uint64_t n) { next = n + 1; }
  // The follower rejected an append at `rejected` and hinted that its log matches up to
  // match_hint. Returns false if the rejection is stale.
  bool MaybeDecrTo(uint64_t rejected, uint64_t match_hint);
  // Sending to this follower is paused (probe already sent, snapshot in flight, window full).
  bool IsPaused() const;
  std::string ToString() const;
};

// The membership configuration as the tracker holds it (see ConfState for the persisted form).
struct TrackerConfig {
  JointConfig voters;
  std::set<NodeId> learners;
  std::set<NodeId> learners_next;  // learners once the joint configuration is left
  bool auto_leave = false;

  std::string ToString() const;
  friend bool operator==(const TrackerConfig&, const TrackerConfig&) = default;
};

using ProgressMap = std::map<NodeId, Progress>;

class ProgressTracker {
 public:
  ProgressTracker(size_t max_inflight, uint64_t max_inflight_bytes)
      : max_inflight_(max_inflight), max_inflight_bytes_(max_inflight_bytes) {}

  ConfState GetConfState() const;
  // A single voter: proposals commit as soon as they are appended locally.
  bool IsSingleton() const;
  // The largest index acknowledged by a quorum.
  uint64_t Committed() const;
  // Whether a quorum has been heard from (recent_active) since the last check.
  bool QuorumActive() const;
  std::vector<NodeId> VoterNodes() const;
  std::vector<NodeId> LearnerNodes() const;

  void ResetVotes() { votes_.clear(); }
  void RecordVote(NodeId id, bool granted) { votes_.emplace(id, granted); }
  // Returns (granted, rejected, result).
  VoteResult TallyVotes(size_t* granted, size_t* rejected) const;

  TrackerConfig config;
  ProgressMap progress;
  size_t max_inflight() const { return max_inflight_; }
  uint64_t max_inflight_bytes() const { return max_inflight_bytes_; }

 private:
  std::map<NodeId, bool> votes_;
  size_t max_inflight_;
  uint64_t max_inflight_bytes_;
};

}  // namespace etcdpp::raft
