// Node: the public face of the raft core. A deterministic state machine with no threads, clocks
// or I/O: the caller feeds it time (Tick), peer messages (Step) and requests (Propose,
// ReadIndex, ProposeConfChange, TransferLeader), and collects the resulting work as Ready
// batches, acknowledging each with Advance(). See src/raft/README.md for the full manual.
//
// Thread safety: none; one thread (the "raft thread") owns a Node and its Storage.
//
// Ordering contract for one Ready `rd` (thesis §3.8, §10.2.1):
//   1. Persist rd.snapshot (if not empty), then rd.entries, then rd.hard_state (if not empty),
//      durably (fdatasync if rd.must_sync), and record them in the Storage the Node reads.
//   2. Only then send rd.messages. By default this holds for the leader too: the leader counts
//      its own log as replicated as soon as it appends, which is safe only because no follower
//      can receive an entry the leader has not persisted. With
//      Config::leader_counts_self_when_stable a leader may send its kApp and kHeartbeat messages
//      before step 1 (unless rd changes the term or the vote); it counts its own log at Advance.
//   3. Apply rd.snapshot (if any) and rd.committed_entries in order. Committed entries may
//      include entries of rd.entries (a single voter commits on append): they are applied
//      only after step 1. A kConfChangeV2 entry is applied by decoding it
//      (DecodeConfChangeV2) and calling ApplyConfChange.
//   4. Serve rd.read_states once the applied index reaches each ReadState's index.
//   5. Call Advance(). No other GetReady() may be called before it; Step/Tick/Propose may be.
//
//   Driving loop:
//     for (;;) {
//       wait for a tick, a message or a request; call Tick/Step/Propose...;
//       if (node.HasReady()) { Ready rd = node.GetReady(); persist; send; apply; node.Advance(); }
//     }
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "raft/confchange.h"
#include "raft/raft.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace etcdpp::raft {

struct Ready {
  // Set iff leader or role changed since the previous Ready.
  std::optional<SoftState> soft_state;
  // The hard state to persist; empty() if unchanged.
  HardState hard_state;
  // Reads confirmed since the previous Ready (thesis §6.4).
  std::vector<ReadState> read_states;
  // Entries to append to stable storage (replacing any suffix they overlap) before sending.
  std::vector<Entry> entries;
  // Snapshot to persist and install; empty() if none.
  Snapshot snapshot;
  // Committed entries to apply, in order, after persisting.
  std::vector<Entry> committed_entries;
  // Messages to send after persisting. A kSnap message must be followed by
  // ReportSnapshot(to, ...) once the transfer finished or failed.
  std::vector<Message> messages;
  // The hard state's term/vote or the entries changed: persist with fdatasync before sending.
  bool must_sync = false;
  // Set iff Config::leader_counts_self_when_stable, this node leads, and the Ready changes
  // neither term nor vote: its appends and heartbeats may go out before the persist (see
  // MaySendBeforePersist).
  bool leader_sends_early = false;

  bool empty() const {
    return !soft_state && hard_state.empty() && read_states.empty() && entries.empty() &&
           snapshot.empty() && committed_entries.empty() && messages.empty();
  }
};

// True iff `m`, one of rd.messages, may be sent before rd is persisted (step 2 of the ordering
// contract may come first for it): a proposal a follower forwards (a request, depending on no
// log state), or a leader's append or heartbeat when rd.leader_sends_early.
bool MaySendBeforePersist(const Ready& rd, const Message& m);
// Removes from rd->messages those that MaySendBeforePersist allows and returns them, in their
// order; the rest stay, in theirs, to be sent after the persist.
std::vector<Message> TakeMessagesBeforePersist(Ready* rd);

enum class SnapshotStatus : uint8_t { kFinish, kFailure };

struct BasicStatus {
  NodeId id = kNoNode;
  HardState hard_state;
  SoftState soft_state;
  LogIndex applied;
  NodeId lead_transferee = kNoNode;
};

class Node {
 public:
  // Starts (or restarts) a node from the state in c.storage: its hard state, its snapshot's
  // configuration and its log. A brand-new cluster member is bootstrapped by giving its storage
  // a snapshot whose ConfState lists the initial members (see MemoryStorage::ApplySnapshot).
  static Result<std::unique_ptr<Node>> Create(const Config& c);

  // Advances the logical clock by one tick (election and heartbeat timeouts count ticks).
  void Tick();
  // Starts an election now (skipping the timeout); pre-vote first if enabled.
  Status Campaign();
  // Proposes data to be appended to the log. Returns a proposal-dropped error (see
  // IsProposalDropped) if there is no known leader, a leadership transfer is in progress, or
  // the leader's uncommitted tail is over its limit. OK means "accepted for replication"
  // (possibly forwarded to the leader), not "committed": watch committed entries for it.
  Status Propose(std::string data);
  // Proposes several entries in one message (one append and one fan-out for the batch).
  Status ProposeBatch(std::vector<std::string> data);
  // Proposes a membership change. Only one change can be pending: a second one is turned into
  // an empty entry by the leader (the caller sees it committed as a kNormal empty entry).
  Status ProposeConfChange(const ConfChangeV2& cc);
  // Requests a linearizable read. `request_ctx` identifies the request (unique among pending
  // reads); it comes back in a ReadState. Dropped (error) when no leader is known.
  Status ReadIndex(std::string request_ctx);
  // Asks the leader to hand leadership to transferee (thesis §3.10). Must be called on the
  // leader; the transfer is abandoned after an election timeout.
  Status TransferLeader(NodeId transferee);
  // Feeds a message received from a peer. Local-only message types are rejected.
  Status Step(Message m);
  // Applies a committed configuration change; returns the new configuration, which the caller
  // stores with its next snapshot. An invalid change leaves the configuration unchanged and
  // returns an error (all members see the same error at the same index).
  Result<ConfState> ApplyConfChange(const ConfChangeV2& cc);
  // The transport could not reach `id`: stop pipelining to it.
  void ReportUnreachable(NodeId id);
  void ReportSnapshot(NodeId id, SnapshotStatus status);

  bool HasReady() const;
  // Collects the pending work. REQUIRES: no Ready outstanding (Advance was called).
  Ready GetReady();
  // Acknowledges the last Ready: its entries and snapshot are durable and its committed
  // entries were handed to the application. REQUIRES: a Ready is outstanding.
  void Advance();

  BasicStatus GetBasicStatus() const;
  // The leader's view of every member's replication (empty on followers).
  const ProgressTracker& tracker() const { return raft_.tracker(); }
  NodeId id() const { return raft_.id(); }
  // Direct access for white-box tests only.
  Raft& raft_for_testing() { return raft_; }

 private:
  explicit Node(const Config& c);

  Raft raft_;
  SoftState prev_soft_state_;
  HardState prev_hard_state_;
  // Bookkeeping of the outstanding Ready, consumed by Advance().
  bool ready_outstanding_ = false;
  uint64_t pending_applied_ = 0;
  uint64_t pending_stable_index_ = 0;
  uint64_t pending_stable_term_ = 0;
  uint64_t pending_snap_index_ = 0;
  std::vector<Entry> pending_applied_entries_;
};

}  // namespace etcdpp::raft
