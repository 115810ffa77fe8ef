// ReadOnly: the leader's queue of linearizable read requests waiting for a heartbeat round to
// confirm that it is still the leader (ReadIndex, thesis §6.4). Raft thread only.
//
// Batching: every request gets its own context and is queued in arrival order with the commit
// index at arrival. Heartbeats carry the context of the newest request; a quorum of acks for a
// context confirms it *and every request queued before it*, so one round serves a whole batch.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "raft/types.h"

namespace etcdpp::raft {

enum class ReadOnlyOption : uint8_t {
  // Confirm leadership with a heartbeat round for every batch (always linearizable).
  kSafe,
  // Trust the leader lease kept by check-quorum (thesis §6.4.1); depends on bounded clock drift.
  kLeaseBased,
};

struct ReadIndexStatus {
  Message req;
  uint64_t index = 0;
  std::set<NodeId> acks;
};

class ReadOnly {
 public:
  explicit ReadOnly(ReadOnlyOption option) : option_(option) {}

  // Queues a request (req.context is its id) to be answered at commit index `index`.
  // Duplicate contexts are ignored (the first one wins).
  void AddRequest(uint64_t index, const Message& req);
  // Records a heartbeat ack from `id` for ctx; returns the acks so far, or nullptr if ctx is
  // unknown (already served or never queued).
  const std::set<NodeId>* RecvAck(NodeId id, const std::string& ctx);
  // Dequeues every request up to and including ctx, in order.
  std::vector<ReadIndexStatus> Advance(const std::string& ctx);
  // Context of the newest queued request, or "" if none.
  std::string LastPendingRequestCtx() const;
  size_t PendingCount() const { return queue_.size(); }
  ReadOnlyOption option() const { return option_; }

 private:
  ReadOnlyOption option_;
  std::unordered_map<std::string, ReadIndexStatus> pending_;
  std::deque<std::string> queue_;
};

}  // namespace etcdpp::raft
