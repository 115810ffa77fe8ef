// Raft: the consensus state machine itself (roles, terms, votes, replication, commit, ReadIndex,
// leader transfer, membership). Internal to src/raft: callers use Node (node.h), which adds the
// Ready/Advance bookkeeping on top. Raft thread only; deterministic: the only inputs are the
// calls made on it, the Storage it reads and the random seed in Config.
//
// Invariants (checked where cheap):
//   * term never decreases; vote is only set within a term and only once;
//   * a leader only appends to its own log and only commits entries of its own term by
//     counting replicas (thesis §3.6.2);
//   * by default the leader counts its own log as matched as soon as it appends. This is safe
//     only because the caller then persists a Ready's entries before sending its messages
//     (README: ordering contract), so no follower can acknowledge an entry the leader has not
//     made durable. With Config::leader_counts_self_when_stable the leader counts itself only up
//     to what Advance reported stable, and may send its appends before persisting them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace etcdpp::raft {

enum class StateType : uint8_t { kFollower, kCandidate, kLeader, kPreCandidate };
const char* StateTypeName(StateType s);

// The configuration of one raft node. Defaults are etcd's where etcd has one.
struct Config {
  NodeId id = kNoNode;
  // Ticks without hearing from a leader before a follower campaigns (randomized in
  // [election_tick, 2*election_tick)). Must be > heartbeat_tick; etcd uses 10x.
  int election_tick = 10;
  // Ticks between leader heartbeats.
  int heartbeat_tick = 1;
  // The stable log. Not owned; must outlive the node.
  Storage* storage = nullptr;
  // The last index the application has applied (on restart). Committed entries above it are
  // handed out again.
  LogIndex applied;
  // Byte limit of entries in one MsgApp (1 MiB, etcd's default); at least one entry is sent.
  uint64_t max_size_per_msg_bytes = 1 << 20;
  // Byte limit of committed entries in one Ready (default 64 MiB): bounds the apply batch.
  uint64_t max_committed_size_per_ready_bytes = 64 << 20;
  // Byte limit of the leader's uncommitted tail; proposals beyond it are dropped so that a
  // leader that cannot commit (lost quorum) does not grow without bound. 0 = no limit.
  // Default 64 MiB: several seconds of a busy etcd at its 1.5 MiB request limit.
  uint64_t max_uncommitted_entries_size_bytes = 64 << 20;
  // Appends in flight to one follower in replicate state (etcd uses 256 in etcdserver).
  size_t max_inflight_msgs = 256;
  // Bytes in flight to one follower (default 32 MiB); 0 = count limit only.
  uint64_t max_inflight_bytes = 32 << 20;
  // A leader steps down if it did not hear from a quorum during an election timeout
  // (thesis §6.2); followers then also ignore vote requests while they have a leader.
  bool check_quorum = true;
  // Pre-vote round before a real election (thesis §9.6), so a rejoining node cannot disrupt.
  bool pre_vote = true;
  ReadOnlyOption read_only_option = ReadOnlyOption::kSafe;
  // If set, followers drop proposals instead of forwarding them to the leader.
  bool disable_proposal_forwarding = false;
  // If set, the leader counts its own log toward the commit quorum only up to the index the
  // application reported stable in Advance, not when it appends. The application may then send
  // the leader's appends and heartbeats before persisting the Ready (thesis §10.2.1): followers
  // write in parallel with the leader, and a commit still needs a quorum of durable copies.
  // (etcd's raft counts the leader at append, which is safe only if every message waits for
  // the persist.)
  bool leader_counts_self_when_stable = false;
  // Seed of the election-timeout randomness (mixed with id). Fixed seeds make runs repeatable.
  uint64_t random_seed = 0;

  Status Validate() const;
};

struct SoftState {
  NodeId leader = kNoNode;
  StateType role = StateType::kFollower;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

// A confirmed read: once the application has applied `index`, reads issued before the
// ReadIndex call that carried `request_ctx` may be served locally.
struct ReadState {
  LogIndex index;
  std::string request_ctx;
  friend bool operator==(const ReadState&, const ReadState&) = default;
};

// Returns true iff s is the error of a dropped proposal (no leader, transfer in progress,
// uncommitted limit, node removed). The caller should retry later or report "no leader".
bool IsProposalDropped(const Status& s);

class Raft {
 public:
  explicit Raft(const Config& c);

  Status Step(Message m);
  void Tick();
  // Applies a committed configuration change entry. Returns the new configuration, or an error
  // (and leaves the configuration unchanged) if the change is invalid for the current one.
  Result<ConfState> ApplyConfChange(const ConfChangeV2& cc);

  // Node's Advance: entries up to (stable_index, stable_term) and the snapshot at snap_index are
  // durable; entries up to applied_index were handed to the application.
  void Advance(uint64_t applied_index, uint64_t stable_index, uint64_t stable_term,
               uint64_t snap_index, const std::vector<Entry>& applied_entries);

  SoftState GetSoftState() const { return {lead_, state_}; }
  HardState GetHardState() const { return {Term(term_), vote_, LogIndex(raft_log_.committed())}; }

  NodeId id() const { return id_; }
  uint64_t term() const { return term_; }
  NodeId lead() const { return lead_; }
  StateType state() const { return state_; }
  NodeId lead_transferee() const { return lead_transferee_; }
  bool is_learner() const { return is_learner_; }
  RaftLog& log() { return raft_log_; }
  const RaftLog& log() const { return raft_log_; }
  const ProgressTracker& tracker() const { return prs_; }
  std::vector<Message>& msgs() { return msgs_; }
  const std::vector<Message>& msgs() const { return msgs_; }
  std::vector<ReadState>& read_states() { return read_states_; }
  const std::vector<ReadState>& read_states() const { return read_states_; }
  uint64_t uncommitted_size() const { return uncommitted_size_; }
  bool leader_counts_self_when_stable() const { return leader_counts_self_when_stable_; }
  int randomized_election_timeout() const { return randomized_election_timeout_; }
  // Test hooks: election_elapsed is exposed so unit tests can check timer resets.
  int election_elapsed() const { return election_elapsed_; }
  void set_randomized_election_timeout(int t) { randomized_election_timeout_ = t; }

  // Role transitions, public for tests that set up a scenario directly.
  void BecomeFollower(uint64_t term, NodeId lead);
  void BecomeCandidate();
  void BecomePreCandidate();
  void BecomeLeader();

 private:
  enum class CampaignType : uint8_t { kPreElection, kElection, kTransfer };

  void Send(Message m);
  void SendAppend(NodeId to) { MaybeSendAppend(to, /*send_if_empty=*/true); }
  bool MaybeSendAppend(NodeId to, bool send_if_empty);
  void SendHeartbeat(NodeId to, const std::string& ctx);
  void BcastAppend();
  void BcastHeartbeat();
  void BcastHeartbeatWithCtx(const std::string& ctx);
  bool MaybeCommit();
  void Reset(uint64_t term);
  bool AppendEntry(std::vector<Entry>&& es);
  void TickElection();
  void TickHeartbeat();
  void Hup(CampaignType t);
  void Campaign(CampaignType t);
  VoteResult Poll(NodeId id, MessageType t, bool granted);
  Status StepLeader(Message& m);
  Status StepCandidate(Message& m);
  Status StepFollower(Message& m);
  void HandleAppendEntries(Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleSnapshot(Message& m);
  bool Restore(const Snapshot& s);
  bool Promotable() const;
  ConfState SwitchToConfig(TrackerConfig cfg, ProgressMap prs);
  void LoadState(const HardState& hs);
  bool PastElectionTimeout() const { return election_elapsed_ >= randomized_election_timeout_; }
  void ResetRandomizedElectionTimeout();
  void SendTimeoutNow(NodeId to);
  // A leader that is no longer a voter hands leadership to an up-to-date voter and steps down.
  void MaybeHandOffLeadership();
  void AbortLeaderTransfer() { lead_transferee_ = kNoNode; }
  bool CommittedEntryInCurrentTerm() const;
  bool IncreaseUncommittedSize(const std::vector<Entry>& es);
  void ReduceUncommittedSize(const std::vector<Entry>& es);
  void SendReadIndexResponse(Message& m);
  // Answers a confirmed read: locally (ReadState) or to the follower that forwarded it.
  void ResponseToReadIndexReq(const Message& req, uint64_t read_index);
  void ReleasePendingReadIndexMessages();
  uint64_t NextRandom();

  NodeId id_;
  uint64_t term_ = 0;
  NodeId vote_ = kNoNode;
  std::vector<ReadState> read_states_;
  RaftLog raft_log_;
  uint64_t max_msg_size_bytes_;
  uint64_t max_uncommitted_size_bytes_;
  ProgressTracker prs_;
  StateType state_ = StateType::kFollower;
  bool is_learner_ = false;
  std::vector<Message> msgs_;
  NodeId lead_ = kNoNode;
  NodeId lead_transferee_ = kNoNode;
  // Only one configuration change may be pending (proposed but not applied) at a time: this is
  // the index of the newest one; a proposal is refused while applied < pending_conf_index_.
  uint64_t pending_conf_index_ = 0;
  uint64_t uncommitted_size_ = 0;
  ReadOnly read_only_;
  // ReadIndex requests received before this leader committed an entry of its term: the commit
  // index is not yet known to be current (thesis §6.4 step 1). Bounded by
  // kMaxPendingReadIndexMessages; older requests beyond it are dropped.
  std::vector<Message> pending_read_index_messages_;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  bool check_quorum_;
  bool pre_vote_;
  int heartbeat_timeout_;
  int election_timeout_;
  int randomized_election_timeout_ = 0;
  bool disable_proposal_forwarding_;
  bool leader_counts_self_when_stable_;
  uint64_t rng_state_;
};

}  // namespace etcdpp::raft
