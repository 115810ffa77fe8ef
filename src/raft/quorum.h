// Quorum arithmetic, free of any other raft state: the commit index a configuration agrees on,
// and the outcome of an election. A MajorityConfig is one set of voters; a JointConfig is the
// pair used during joint consensus (thesis §4.3), where every decision needs a majority of
// *both* halves. Pure values; any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "raft/types.h"

namespace etcdpp::raft {

enum class VoteResult : uint8_t { kPending, kLost, kWon };

// Returns the index a voter has acknowledged (persisted), or nullopt if unknown.
using AckedIndexFn = std::function<std::optional<uint64_t>(NodeId)>;

class MajorityConfig {
 public:
  MajorityConfig() = default;
  explicit MajorityConfig(std::set<NodeId> ids) : ids_(std::move(ids)) {}

  // The largest index acknowledged by a majority. An empty config commits "everything"
  // (UINT64_MAX) so that it is neutral in a joint config.
  uint64_t CommittedIndex(const AckedIndexFn& acked) const;
  // votes: id -> granted. An empty config wins (neutral in a joint config).
  VoteResult Vote(const std::map<NodeId, bool>& votes) const;

  const std::set<NodeId>& ids() const { return ids_; }
  std::set<NodeId>& mutable_ids() { return ids_; }
  bool empty() const { return ids_.empty(); }
  bool contains(NodeId id) const { return ids_.count(id) > 0; }
  std::string ToString() const;
  friend bool operator==(const MajorityConfig&, const MajorityConfig&) = default;

 private:
  std::set<NodeId> ids_;
};

struct JointConfig {
  MajorityConfig incoming;
  MajorityConfig outgoing;  // empty unless in joint consensus

  uint64_t CommittedIndex(const AckedIndexFn& acked) const;
  VoteResult Vote(const std::map<NodeId, bool>& votes) const;
  std::set<NodeId> Ids() const;
  bool contains(NodeId id) const { return incoming.contains(id) || outgoing.contains(id); }
  bool joint() const { return !outgoing.empty(); }
  std::string ToString() const;
  friend bool operator==(const JointConfig&, const JointConfig&) = default;
};

}  // namespace etcdpp::raft
