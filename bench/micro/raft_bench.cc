// raft_bench: entries/s through a 3-node in-memory raft cluster driven on one thread.
//
// Measures the consensus core alone: proposals are batched on the leader, every Ready is
// "persisted" into a MemoryStorage, messages are handed straight to the peer's Step, committed
// entries are counted as applied, and logs are compacted periodically so memory stays flat.
// An entry counts once it is applied on all three nodes. Not a test: it never fails on speed.
//
//   raft_bench [--entries=N] [--batch=B] [--payload=BYTES]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "raft/node.h"

namespace {

using etcdpp::LogIndex;
using etcdpp::raft::Config;
using etcdpp::raft::ConfState;
using etcdpp::raft::MemoryStorage;
using etcdpp::raft::Message;
using etcdpp::raft::Node;
using etcdpp::raft::NodeId;
using etcdpp::raft::Ready;

struct Peer {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<Node> node;
  uint64_t applied = 0;
  uint64_t applied_index = 0;
  uint64_t last_compact = 0;
};

uint64_t Arg(int argc, char** argv, const char* name, uint64_t def) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') {
      return std::strtoull(argv[i] + n + 1, nullptr, 10);
    }
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t total = Arg(argc, argv, "--entries", 5'000'000);
  const uint64_t batch = Arg(argc, argv, "--batch", 1000);
  const uint64_t payload = Arg(argc, argv, "--payload", 8);
  // Compact each log once this many entries are applied beyond the last compaction.
  constexpr uint64_t kCompactEvery = 100'000;

  std::vector<Peer> peers(3);
  ConfState cs;
  cs.voters = {NodeId(1), NodeId(2), NodeId(3)};
  for (int i = 0; i < 3; ++i) {
    peers[i].storage = std::make_unique<MemoryStorage>();
    peers[i].storage->SetInitialConfState(cs);
    Config c;
    c.id = NodeId(i + 1);
    c.storage = peers[i].storage.get();
    c.max_size_per_msg_bytes = 4 << 20;
    c.max_inflight_msgs = 256;
    c.max_inflight_bytes = 0;
    c.max_uncommitted_entries_size_bytes = 0;
    c.random_seed = i + 1;
    peers[i].node = std::move(Node::Create(c).value());
  }
  std::deque<Message> wire;
  auto pump = [&]() {
    bool any = true;
    while (any) {
      any = false;
      for (Peer& p : peers) {
        if (!p.node->HasReady()) continue;
        any = true;
        Ready rd = p.node->GetReady();
        if (!rd.entries.empty()) (void)p.storage->Append(std::move(rd.entries));
        if (!rd.hard_state.empty()) p.storage->SetHardState(rd.hard_state);
        for (Message& m : rd.messages) wire.push_back(std::move(m));
        if (!rd.committed_entries.empty()) {
          p.applied += rd.committed_entries.size();
          p.applied_index = rd.committed_entries.back().index.value();
        }
        p.node->Advance();
        if (p.applied_index >= p.last_compact + kCompactEvery) {
          (void)p.storage->CreateSnapshot(LogIndex(p.applied_index), nullptr, {});
          (void)p.storage->Compact(LogIndex(p.applied_index));
          p.last_compact = p.applied_index;
        }
      }
      while (!wire.empty()) {
        any = true;
        Message m = std::move(wire.front());
        wire.pop_front();
        (void)peers[m.to.value() - 1].node->Step(std::move(m));
      }
    }
  };
  (void)peers[0].node->Campaign();
  pump();
  for (Peer& p : peers) p.applied = 0;

  const std::string data(payload, 'x');
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  uint64_t proposed = 0;
  std::vector<std::string> b;
  while (proposed < total) {
    b.assign(batch, data);
    if (!peers[0].node->ProposeBatch(std::move(b)).ok()) {
      std::fprintf(stderr, "proposal dropped\n");
      return 1;
    }
    proposed += batch;
    b = {};
    pump();
    // Heartbeats carry the final commit index to followers.
    for (Peer& p : peers) p.node->Tick();
    pump();
  }
  for (int i = 0; i < 3; ++i) {
    for (Peer& p : peers) p.node->Tick();
    pump();
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // CPU time too: the machine is shared, and wall time then overstates the cost.
  const double cpu_secs = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  uint64_t min_applied = UINT64_MAX;
  for (Peer& p : peers) min_applied = std::min(min_applied, p.applied);
  // The leader's no-op is not counted; empty entries would inflate nothing here.
  std::printf(
      "raft_bench: 3 nodes, one thread, payload %llu B, batch %llu: %llu entries applied "
      "on all nodes in %.3fs wall (%.0f entries/s), %.3fs CPU (%.0f entries/CPU-s)\n",
      static_cast<unsigned long long>(payload), static_cast<unsigned long long>(batch),
      static_cast<unsigned long long>(min_applied), secs, static_cast<double>(min_applied) / secs,
      cpu_secs, static_cast<double>(min_applied) / cpu_secs);
  return min_applied >= total ? 0 : 1;
}
