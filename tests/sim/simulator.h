// A deterministic simulator of a raft cluster built on src/raft: one seed fixes everything
// (cluster size, fault rates, every delay and decision), so a failing seed replays exactly.
//
// Simulated parts (all driven from one event queue in simulated milliseconds; no threads, no
// wall clock):
//   * clock: each node ticks on its own period (clock drift), paused nodes do not tick;
//   * network: per-message delay, loss, duplication, reordering (random delays), symmetric and
//     asymmetric partitions; snapshot and unreachable reports back to the sender;
//   * disk: each Ready is persisted after a random latency; a crash before that loses it, a
//     write failure persists only a prefix (entries before hard state, as a WAL would) and
//     crashes the node; restarts rebuild node and state machine from the "disk" (MemoryStorage);
//   * clients: proposals (single and batched), ReadIndex reads, membership changes (learners,
//     simple, joint with auto and explicit leave), leader transfers;
//   * application: applies entries into a hash chain, snapshots and compacts the log.
// Phases: a fault phase, then healing (all faults off, every node restarted) and a liveness
// phase that must elect a leader and commit a new proposal on every member within a bound.
//
// Thread safety: a Simulator is single-threaded; separate seeds may run on separate threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace etcdpp::sim {

struct SimOptions {
  uint64_t seed = 1;
  // Simulated length of the fault phase.
  uint64_t fault_ms = 4000;
  // Bound on electing a leader and committing on all members after healing (liveness).
  uint64_t liveness_ms = 20000;
  // 0: chosen by the seed (1, 3, 4 or 5).
  int nodes = 0;
  bool verbose = false;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // the first violated invariant, if any
  // Counters for the campaign summary.
  uint64_t events = 0;
  uint64_t commits = 0;
  uint64_t acks = 0;
  uint64_t reads = 0;
  uint64_t crashes = 0;
  uint64_t disk_failures = 0;
  uint64_t partitions = 0;
  uint64_t pauses = 0;
  uint64_t conf_changes = 0;
  uint64_t transfers = 0;
  uint64_t snapshots_sent = 0;
  uint64_t max_term = 0;
  uint64_t msgs_dropped = 0;
  uint64_t liveness_ms = 0;  // time from heal to the final commit everywhere
};

SimResult RunSimulation(const SimOptions& opts);

}  // namespace etcdpp::sim
