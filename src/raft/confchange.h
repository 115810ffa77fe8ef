// Membership changes as pure functions over (TrackerConfig, ProgressMap): simple one-at-a-time
// changes (thesis §4.1), entering and leaving joint consensus (thesis §4.3), and restoring a
// configuration from a ConfState. Nothing here touches the log; Raft applies the result.
//
// Rules enforced (each violation is an InvalidArgument, and the input is left unchanged):
//   * a simple change may alter at most one voter (else it must go through joint consensus);
//   * no configuration may end up without voters;
//   * joint consensus cannot be entered twice nor left when not joint;
//   * a node is never a voter and a learner in the same half (a voter demoted while joint waits
//     in learners_next until the joint configuration is left).
#pragma once

#include <utility>
#include <vector>

#include "base/result.h"
#include "raft/progress.h"
#include "raft/types.h"

namespace etcdpp::raft {

struct ConfChangeResult {
  TrackerConfig config;
  ProgressMap progress;
};

class Changer {
 public:
  // last_index: where new followers start probing from.
  Changer(const ProgressTracker& tracker, uint64_t last_index)
      : tracker_(tracker), last_index_(last_index) {}

  Result<ConfChangeResult> EnterJoint(bool auto_leave,
                                      const std::vector<ConfChangeSingle>& changes) const;
  Result<ConfChangeResult> LeaveJoint() const;
  Result<ConfChangeResult> Simple(const std::vector<ConfChangeSingle>& changes) const;

 private:
  Status Apply(ConfChangeResult* r, const std::vector<ConfChangeSingle>& changes) const;
  void MakeVoter(ConfChangeResult* r, NodeId id) const;
  void MakeLearner(ConfChangeResult* r, NodeId id) const;
  void Remove(ConfChangeResult* r, NodeId id) const;
  void InitProgress(ConfChangeResult* r, NodeId id, bool learner) const;
  Status Check(const ConfChangeResult& r) const;

  const ProgressTracker& tracker_;
  uint64_t last_index_;
};

// Builds the tracker state that a ConfState describes (startup, snapshot restore).
ConfChangeResult RestoreConfState(const ConfState& cs, uint64_t last_index, size_t max_inflight,
                                  uint64_t max_inflight_bytes);

// Whether cc enters a joint configuration, and if so whether it is left automatically.
// A cc with no changes leaves the joint configuration instead.
bool ConfChangeLeavesJoint(const ConfChangeV2& cc);
bool ConfChangeEntersJoint(const ConfChangeV2& cc, bool* auto_leave);

// A byte encoding of ConfChangeV2 for the data of kConfChangeV2 entries. Our own compact
// format (mixed clusters with etcd are out of scope); version byte first so it can evolve.
std::string EncodeConfChangeV2(const ConfChangeV2& cc);
Result<ConfChangeV2> DecodeConfChangeV2(std::string_view data);

}  // namespace etcdpp::raft
