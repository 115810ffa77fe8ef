// Consensus: what the client-facing services (src/server/api) need of the member's write
// pipeline — propose a write, wait for a linearizable read point, and report the raft status.
//
// Two implementations: Node (node.h), the single-member fast path that commits on its own
// fdatasync, and ClusterNode (cluster_node.h), which replicates through raft to the peers.
// EtcdServer picks one from --initial-cluster; the services only see this interface.
//
// Threads: every method may be called from any thread. Callbacks run on the implementation's
// apply thread (or on the caller's thread when the answer is known at once); they must be quick
// and must not call back into the Consensus synchronously.
#pragma once

#include <google/protobuf/message.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/ids.h"
#include "base/status.h"

namespace etcdpp::server {

// What applying one proposal produced: an error, or a typed response message.
struct ApplyResult {
  Status status;
  std::unique_ptr<google::protobuf::Message> response;
};

// Request ids as etcd's idutil makes them: the low 2 bytes of the member id on top, then a
// counter started from the clock, so that ids are unique across members and restarts.
class RequestIds {
 public:
  explicit RequestIds(MemberId member)
      : prefix_((member.value() & 0xffff) << 48),
        start_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count())
               << 8) {}
  uint64_t Next() {
    uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed);
    return prefix_ | ((start_ + n) & ((uint64_t{1} << 48) - 1));
  }

 private:
  const uint64_t prefix_;
  const uint64_t start_;
  std::atomic<uint64_t> counter_{0};
};

class Consensus {
 public:
  using ProposeCallback = std::function<void(ApplyResult&&)>;
  using ReadCallback = std::function<void(Status)>;

  virtual ~Consensus() = default;

  // `data` is an encoded request that carries `request_id`; `done` runs once with the applied
  // result, or with an error if the proposal was refused or could not be committed in time.
  // `done` never reports success for an entry that is not committed and applied.
  virtual void Propose(uint64_t request_id, std::string data, ProposeCallback done) = 0;
  // `done(OK)` runs once every entry committed before this call has been applied locally (Raft
  // thesis §6.4): a read served after that is linearizable.
  virtual void ReadIndex(ReadCallback done) = 0;
  // The serializable-read barrier: `done(OK)` runs once every write this member already
  // acknowledged to a client is visible to reads (answers may precede the state machine's
  // commit); at once if that is already true.
  virtual void ReadAcknowledged(ReadCallback done) = 0;
  // Unique ids for requests, as etcd generates them: member id bits on top, a counter below.
  virtual uint64_t NextRequestId() = 0;

  virtual MemberId member_id() const = 0;
  virtual ClusterId cluster_id() const = 0;
  virtual Term term() const = 0;
  // The current leader as this member knows it; MemberId(0) when none is known.
  virtual MemberId leader() const = 0;
  virtual LogIndex committed_index() const = 0;
  virtual LogIndex applied_index() const = 0;
  // Last index whose proposals may have been answered (>= applied_index while a batch commits).
  virtual LogIndex acknowledged_index() const = 0;
  // The sticky error of the write path (e.g. a failed fdatasync), OK while healthy.
  virtual Status write_path_error() const = 0;
};

}  // namespace etcdpp::server
