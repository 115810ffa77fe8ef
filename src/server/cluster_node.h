// ClusterNode: the write pipeline of a member of a multi-member cluster. It drives the raft core
// (src/raft) and is the Consensus the client-facing services use when --initial-cluster lists
// more than one member (a single member keeps the faster Node, node.h).
//
// Threads and ownership (DESIGN §2, §3):
//  - Callers (loop threads, the transport's readers) call Propose, ReadIndex, Step and
//    ReportUnreachable from any thread; each only queues work and wakes the raft thread.
//  - The raft thread owns raft::Node and its MemoryStorage. Each wake-up it ticks (every
//    heartbeat interval), steps queued messages, proposes every queued proposal as one batch,
//    asks one ReadIndex for every queued read, then handles each Ready in the order of the raft
//    manual (src/raft/README.md): persist entries + hard state with one DurableLog::Save (one
//    fdatasync: group commit), only then send its messages, then hand its committed entries to
//    the apply thread and note its read states.
//  - The apply thread owns the state machine's write side: it applies committed batches in
//    order, then completes the proposals (matched by the request id inside each entry, so a
//    follower's proposal that raft forwarded to the leader completes when it comes back
//    committed), commits the state machine when its CommitPacer says so (as Node does), and
//    releases reads whose index is now applied.
//
// Invariants: a proposal's `done` reports success only after its entry was committed by a quorum
// and applied here. applied_index <= committed_index. Entries reach the apply thread only after
// they are durable locally.
//
// Static membership only: the initial configuration is written as ConfChangeV2 entries at
// indexes 1..n on every member (as etcd does with its bootstrap conf changes), and kept in a
// small file beside the WAL for restarts; runtime reconfiguration is not implemented. Raft
// snapshots are never sent: a follower that needs one (because the leader compacted the entries
// it lacks) is reported in the log as an error.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "raft/node.h"
#include "raft/storage.h"
#include "server/apply_waiters.h"
#include "server/consensus.h"
#include "server/membership.h"
#include "server/node.h"

namespace etcdpp::server {

// The member list of a multi-member data dir, kept beside the WAL (<data-dir>/member/members):
// one "<id hex> <name> <peer url>[,<peer url>...]" line per member. Written atomically once at
// bootstrap; read at every restart (the raft configuration and MemberList come from it, since
// a restarted member ignores --initial-cluster, as etcd does).
Status SaveClusterMembers(const std::string& path, const std::vector<Member>& members);
Result<std::vector<Member>> LoadClusterMembers(const std::string& path);

class ClusterNode : public Consensus {
 public:
  struct Options {
    MemberId member_id;
    ClusterId cluster_id;
    // Raft tick length (--heartbeat-interval) and the election timeout in ticks.
    std::chrono::milliseconds heartbeat{100};
    int election_ticks = 10;
    // Proposals waiting to be applied beyond which Propose fails fast with "etcdserver: too many
    // requests" (etcd allows 5000 between commit and apply).
    size_t max_pending_proposals = 5000;
    // Applied entries between log compactions (--snapshot-count).
    uint64_t snapshot_count = 100000;
    // Entries kept behind the compaction point so that a slow follower can still be caught up
    // from the log (etcd's SnapshotCatchUpEntries, 5000).
    uint64_t catch_up_entries = 5000;
    // A proposal or read not answered within this time fails with "etcdserver: request timed
    // out" (etcd: 5 s plus two election timeouts). The write may still commit later.
    std::chrono::milliseconds request_timeout{7000};
    // When applied entries are committed to the state machine (--backend-batch-interval/-limit).
    CommitPacer::Options commit{};
    // Called on the raft thread when this member becomes leader (true) or stops being leader.
    std::function<void(bool)> on_leadership;
  };

  // How the raft state is rebuilt at Start.
  struct StartState {
    // A brand-new member of a new cluster: write the initial configuration first.
    bool bootstrap = false;
    // The voters (the initial members); their names go into the bootstrap entries.
    std::vector<std::pair<MemberId, std::string>> members;
    // Where the recovered log starts (the WAL snapshot marker replay began from).
    LogIndex snapshot_index;
    Term snapshot_term;
    Node::RecoveredLog recovered;
  };

  using SendFn = std::function<void(raft::Message)>;

  // `log` and `sm` are not owned and must outlive the node. `send` delivers a message to a peer
  // (any thread may call it; it must not block).
  ClusterNode(Options options, DurableLog* log, StateMachine* sm, SendFn send);
  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  Status Start(StartState state);
  // If this member leads, hands leadership to the most up-to-date follower (thesis §3.10) and
  // waits, at most `timeout`, until another member leads: a graceful stop then costs clients
  // no election timeout. Call before the transport stops. Any thread but the raft thread.
  void TransferLeadershipIfLeader(std::chrono::milliseconds timeout);
  // Stops both threads; pending proposals and reads fail with "etcdserver: server stopped".
  void Stop();

  // Any thread: a message from a peer, and the transport's report that a peer is unreachable.
  void Step(raft::Message m);
  void ReportUnreachable(MemberId id);

  // Consensus.
  void Propose(uint64_t request_id, std::string data, ProposeCallback done) override;
  void ReadIndex(ReadCallback done) override;
  void ReadAcknowledged(ReadCallback done) override;
  uint64_t NextRequestId() override;
  MemberId member_id() const override { return options_.member_id; }
  ClusterId cluster_id() const override { return options_.cluster_id; }
  Term term() const override { return Term(term_.load(std::memory_order_acquire)); }
  MemberId leader() const override { return MemberId(leader_.load(std::memory_order_acquire)); }
  LogIndex committed_index() const override {
    return LogIndex(committed_.load(std::memory_order_acquire));
  }
  LogIndex applied_index() const override { return LogIndex(waiters_.applied()); }
  LogIndex acknowledged_index() const override { return LogIndex(waiters_.acknowledged()); }
  Status write_path_error() const override;

 private:
  struct Proposal {
    uint64_t request_id;
    std::string data;
  };
  // Reads that asked raft for a read index together, waiting for its ReadState.
  struct ReadBatch {
    std::chrono::steady_clock::time_point deadline;
    std::vector<ReadCallback> callbacks;
  };

  void RaftThreadMain();
  // Handles every pending Ready. Returns false if the write path failed (the raft thread stops).
  bool HandleReadies();
  // Hands committed, durable entries to the apply thread (after applying configuration changes
  // to raft). Raft thread.
  void DeliverCommitted(std::vector<raft::Entry>&& entries);
  void MaybeCompactLog();
  void ExpireRequests(std::chrono::steady_clock::time_point now);
  void ApplyThreadMain();
  void FailAllPending(const Status& status);
  void SetWritePathError(const Status& status);

  const Options options_;
  RequestIds request_ids_{options_.member_id};
  DurableLog* const log_;
  StateMachine* const sm_;
  const SendFn send_;

  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> leader_{0};
  std::atomic<uint64_t> committed_{0};
  // Proposals made here and reads waiting to be answered; the applied and acknowledged indexes.
  ApplyWaiters waiters_{options_.max_pending_proposals};

  // Guards everything below up to "Owned by the raft thread".
  mutable std::mutex mu_;
  std::condition_variable raft_cv_;
  std::condition_variable apply_cv_;
  bool stopping_ = false;
  bool started_ = false;
  bool transfer_requested_ = false;    // TransferLeadershipIfLeader → raft thread
  std::condition_variable leader_cv_;  // signalled when the leader changes
  std::vector<raft::Message> inbox_;
  std::vector<MemberId> unreachable_;
  std::vector<Proposal> proposals_;
  std::vector<ReadCallback> reads_;
  std::deque<std::vector<raft::Entry>> to_apply_;
  std::vector<ReadCallback> ready_reads_;  // confirmed and applied: for the apply thread to run

  // Owned by the raft thread.
  raft::MemoryStorage storage_;
  std::unique_ptr<raft::Node> raft_;
  raft::ConfState conf_state_;
  raft::HardState hard_state_;
  bool is_leader_ = false;
  uint64_t read_ctx_counter_ = 0;
  std::map<uint64_t, ReadBatch> pending_reads_;  // read ctx → reads
  // Proposal deadlines in submission order (deadlines grow monotonically).
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> deadlines_;
  uint64_t compacted_index_ = 0;
  std::chrono::steady_clock::time_point last_snapshot_warning_{};

  std::thread raft_thread_;
  std::thread apply_thread_;
};

}  // namespace etcdpp::server
