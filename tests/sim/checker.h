// Invariant checker of the raft simulator. It only observes: the simulator reports what nodes
// do (who leads which term, what each node applies, acknowledged writes, served reads) and the
// checker compares it against the safety properties of Raft (thesis §3.6, figure 3.2):
//   * election safety: at most one leader per term;
//   * state machine safety: an index is applied with the same entry everywhere; every node's
//     applied sequence is a prefix of one sequence (checked through a hash chain, which also
//     covers state restored from snapshots);
//   * durability: every acknowledged proposal is in that sequence at its index;
//   * linearizable reads: a ReadIndex read covers every write acknowledged before it began.
// The first violation is kept; the simulator stops the run and prints how to reproduce it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "raft/types.h"

namespace etcdpp::sim {

// Hash of the applied prefix up to an index; the state machine's "state".
uint64_t ChainHash(uint64_t prev, const raft::Entry& e);

class Checker {
 public:
  void OnLeader(uint64_t node, uint64_t term, uint64_t now_ms);
  // node applied e; node_hash is the node's chain hash after applying it.
  void OnApply(uint64_t node, const raft::Entry& e, uint64_t node_hash, uint64_t now_ms);
  // node installed a snapshot whose state is hash at index.
  void OnSnapshotRestore(uint64_t node, uint64_t index, uint64_t hash, uint64_t now_ms);
  // A client's proposal `data` was acknowledged (applied on the proposer) at index.
  void OnAck(const std::string& data, uint64_t index, uint64_t now_ms);
  // Highest index of any acknowledged write so far: a read started now must cover it.
  uint64_t MaxAckedIndex() const { return max_acked_index_; }
  // A read started when MaxAckedIndex() was `required` was answered at read_index.
  void OnRead(uint64_t node, const std::string& ctx, uint64_t required, uint64_t read_index,
              uint64_t now_ms);
  // Final check: every acknowledged write is in the agreed sequence at its index.
  void CheckAcksSurvive();

  bool failed() const { return !failure_.empty(); }
  const std::string& failure() const { return failure_; }
  uint64_t max_index() const { return applied_.empty() ? 0 : applied_.rbegin()->first; }
  size_t acks() const { return acked_.size(); }
  size_t reads() const { return reads_; }
  uint64_t max_term() const { return leaders_.empty() ? 0 : leaders_.rbegin()->first; }

 private:
  void Fail(const std::string& why, uint64_t now_ms);

  struct Applied {
    raft::Entry entry;
    uint64_t hash;
  };
  std::map<uint64_t, uint64_t> leaders_;             // term -> node
  std::map<uint64_t, Applied> applied_;              // index -> first applied entry and chain hash
  std::map<uint64_t, uint64_t> snapshot_hashes_;     // index -> hash, for restores before applies
  std::unordered_map<std::string, uint64_t> acked_;  // data -> index
  uint64_t max_acked_index_ = 0;
  size_t reads_ = 0;
  std::string failure_;
};

}  // namespace etcdpp::sim
