#include "raft/raft.h"

#include <algorithm>

#include "base/check.h"
#include "raft/confchange.h"

namespace etcdpp::raft {

namespace {

// Marks the MsgVote of an election started by MsgTimeoutNow: voters grant it even while they
// believe a leader is alive (thesis §3.10), since the current leader asked for it.
constexpr char kCampaignTransfer[] = "CampaignTransfer";
// Bound on ReadIndex requests parked until a new leader commits its first entry.
constexpr size_t kMaxPendingReadIndexMessages = 4096;

constexpr const char kDroppedPrefix[] = "raft: proposal dropped: ";

Status Dropped(const char* why) { return Unavailable(std::string(kDroppedPrefix) + why); }

MessageType VoteRespType(MessageType t) {
  return t == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
}

uint64_t PayloadSize(const std::vector<Entry>& es) {
  uint64_t s = 0;
  for (const Entry& e : es) s += e.data.size();
  return s;
}

}  // namespace

bool IsProposalDropped(const Status& s) {
  return s.code() == Code::kUnavailable && s.message().rfind(kDroppedPrefix, 0) == 0;
}

const char* StateTypeName(StateType s) {
  switch (s) {
    case StateType::kFollower:
      return "StateFollower";
    case StateType::kCandidate:
      return "StateCandidate";
    case StateType::kLeader:
      return "StateLeader";
    case StateType::kPreCandidate:
      return "StatePreCandidate";
  }
  return "?";
}

Status Config::Validate() const {
  if (id == kNoNode) return InvalidArgument("raft: cannot use 0 as node id");
  if (heartbeat_tick <= 0) return InvalidArgument("raft: heartbeat tick must be > 0");
  if (election_tick <= heartbeat_tick) {
    return InvalidArgument("raft: election tick must be greater than heartbeat tick");
  }
  if (storage == nullptr) return InvalidArgument("raft: storage cannot be null");
  if (max_inflight_msgs == 0) return InvalidArgument("raft: max inflight messages must be > 0");
  if (read_only_option == ReadOnlyOption::kLeaseBased && !check_quorum) {
    // The lease is only as good as the leader's knowledge that a quorum still follows it.
    return InvalidArgument("raft: lease-based reads require check-quorum");
  }
  if (max_committed_size_per_ready_bytes == 0) {
    return InvalidArgument("raft: max committed size per ready must be > 0");
  }
  return Status::Ok();
}

Raft::Raft(const Config& c)
    : id_(c.id),
      raft_log_(c.storage, c.max_committed_size_per_ready_bytes),
      max_msg_size_bytes_(c.max_size_per_msg_bytes),
      max_uncommitted_size_bytes_(c.max_uncommitted_entries_size_bytes == 0
                                      ? UINT64_MAX
                                      : c.max_uncommitted_entries_size_bytes),
      prs_(c.max_inflight_msgs, c.max_inflight_bytes),
      read_only_(c.read_only_option),
      check_quorum_(c.check_quorum),
      pre_vote_(c.pre_vote),
      heartbeat_timeout_(c.heartbeat_tick),
      election_timeout_(c.election_tick),
      disable_proposal_forwarding_(c.disable_proposal_forwarding),
      leader_counts_self_when_stable_(c.leader_counts_self_when_stable),
      rng_state_(c.random_seed ^ (c.id.value() * 0x9E3779B97F4A7C15ULL) ^ 0xD1B54A32D192ED03ULL) {
  Status valid = c.Validate();
  CHECK(valid.ok()) << valid.ToString();
  auto init = c.storage->GetInitialState();
  CHECK(init.ok()) << "storage initial state: " << init.status().ToString();
  auto restored = RestoreConfState(init->conf_state, raft_log_.LastIndex(), c.max_inflight_msgs,
                                   c.max_inflight_bytes);
  SwitchToConfig(std::move(restored.config), std::move(restored.progress));
  if (!init->hard_state.empty()) LoadState(init->hard_state);
  if (c.applied.value() > 0) raft_log_.AppliedTo(c.applied.value());
  BecomeFollower(term_, kNoNode);
}

uint64_t Raft::NextRandom() {
  // splitmix64: small, fast, and good enough to spread election timeouts.
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void Raft::ResetRandomizedElectionTimeout() {
  // Thesis §3.4: randomized timeouts make split votes rare.
  randomized_election_timeout_ =
      election_timeout_ + static_cast<int>(NextRandom() % static_cast<uint64_t>(election_timeout_));
}

void Raft::LoadState(const HardState& hs) {
  // A commit below the snapshot index is accepted (etcd panics): a crash between writing a
  // received snapshot and the hard state that goes with it leaves exactly that, and the
  // snapshot index is committed by definition. A commit beyond the log means lost entries.
  const uint64_t commit = hs.commit.value();
  CHECK(commit <= raft_log_.LastIndex())
      << id_ << " state.commit " << commit << " is beyond the last index " << raft_log_.LastIndex()
      << "; was the log truncated or lost?";
  raft_log_.CommitTo(commit);
  term_ = hs.term.value();
  vote_ = hs.vote;
}

void Raft::Send(Message m) {
  m.from = id_;
  if (m.type == MessageType::kVote || m.type == MessageType::kVoteResp ||
      m.type == MessageType::kPreVote || m.type == MessageType::kPreVoteResp) {
    // Vote messages carry the term they are about (the next term for pre-votes).
    CHECK(m.term.value() != 0) << "term should be set when sending vote messages";
  } else {
    CHECK(m.term.value() == 0) << "term should not be set for message type "
                               << static_cast<int>(m.type);
    // Proposals and read requests forwarded to the leader stay term-less: the leader treats
    // them as local requests.
    if (m.type != MessageType::kProp && m.type != MessageType::kReadIndex) m.term = Term(term_);
  }
  msgs_.push_back(std::move(m));
}

bool Raft::MaybeSendAppend(NodeId to, bool send_if_empty) {
  auto it = prs_.progress.find(to);
  if (it == prs_.progress.end()) return false;
  Progress& pr = it->second;
  if (pr.IsPaused()) return false;

  Message m;
  m.to = to;
  auto term = raft_log_.TermOf(pr.next - 1);
  Result<std::vector<Entry>> ents = std::vector<Entry>{};
  if (term.ok()) ents = raft_log_.EntriesFrom(pr.next, max_msg_size_bytes_);
  if (term.ok() && ents.ok() && ents->empty() && !send_if_empty) return false;

  if (!term.ok() || !ents.ok()) {
    // The entries the follower needs are compacted: send a snapshot (thesis §5.1).
    if (!pr.recent_active) return false;  // don't ship a snapshot to a node that may be down
    auto snap = raft_log_.GetSnapshot();
    if (!snap.ok()) {
      CHECK(snap.status().code() == Code::kUnavailable) << snap.status().ToString();
      return false;  // being made; retry on the next heartbeat response
    }
    CHECK(!snap->empty()) << "need a non-empty snapshot";
    m.type = MessageType::kSnap;
    pr.BecomeSnapshot(snap->metadata.index.value());
    m.snapshot = std::move(snap).value();
  } else {
    m.type = MessageType::kApp;
    m.index = LogIndex(pr.next - 1);
    m.log_term = Term(*term);
    m.entries = std::move(ents).value();
    m.commit = LogIndex(raft_log_.committed());
    if (!m.entries.empty()) {
      switch (pr.state) {
        case ProgressState::kReplicate: {
          const uint64_t last = m.entries.back().index.value();
          pr.OptimisticUpdate(last);
          pr.inflights.Add(last, PayloadSize(m.entries));
          break;
        }
        case ProgressState::kProbe:
          pr.probe_sent = true;
          break;
        case ProgressState::kSnapshot:
          CHECK(false) << "sending append in snapshot state";
      }
    }
  }
  Send(std::move(m));
  return true;
}

void Raft::SendHeartbeat(NodeId to, const std::string& ctx) {
  // Never move a follower's commit past what it is known to hold: it may not have those entries.
  Message m;
  m.to = to;
  m.type = MessageType::kHeartbeat;
  m.commit = LogIndex(std::min(prs_.progress.at(to).match, raft_log_.committed()));
  m.context = ctx;
  Send(std::move(m));
}

void Raft::BcastAppend() {
  for (auto& [id, pr] : prs_.progress) {
    if (id != id_) SendAppend(id);
  }
}

void Raft::BcastHeartbeat() { BcastHeartbeatWithCtx(read_only_.LastPendingRequestCtx()); }

void Raft::BcastHeartbeatWithCtx(const std::string& ctx) {
  for (auto& [id, pr] : prs_.progress) {
    if (id != id_) SendHeartbeat(id, ctx);
  }
}

bool Raft::MaybeCommit() {
  // Thesis §3.6.2: only an entry of the current term commits by counting replicas; earlier
  // entries commit with it (this is what figure 3.7 / paper figure 8 is about).
  return raft_log_.MaybeCommit(prs_.Committed(), term_);
}

void Raft::Reset(uint64_t term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetRandomizedElectionTimeout();
  AbortLeaderTransfer();
  prs_.ResetVotes();
  const uint64_t last = raft_log_.LastIndex();
  for (auto& [id, pr] : prs_.progress) {
    const bool learner = pr.is_learner;
    pr = Progress(last + 1, prs_.max_inflight(), prs_.max_inflight_bytes());
    pr.is_learner = learner;
    if (id == id_) pr.match = leader_counts_self_when_stable_ ? raft_log_.LastStableIndex() : last;
  }
  pending_conf_index_ = 0;
  uncommitted_size_ = 0;
  read_only_ = ReadOnly(read_only_.option());
  pending_read_index_messages_.clear();
}

bool Raft::AppendEntry(std::vector<Entry>&& es) {
  uint64_t li = raft_log_.LastIndex();
  for (size_t i = 0; i < es.size(); ++i) {
    es[i].term = Term(term_);
    es[i].index = LogIndex(li + 1 + i);
  }
  if (!IncreaseUncommittedSize(es)) return false;
  li = raft_log_.Append(std::move(es));
  if (!leader_counts_self_when_stable_) {
    // See the class comment: safe because a Ready is persisted before its messages are sent.
    auto self = prs_.progress.find(id_);
    if (self != prs_.progress.end()) self->second.MaybeUpdate(li);
  }
  MaybeCommit();
  return true;
}

void Raft::Tick() {
  if (state_ == StateType::kLeader) {
    TickHeartbeat();
  } else {
    TickElection();
  }
}

void Raft::TickElection() {
  ++election_elapsed_;
  // The cheap test first: for a server outside its configuration, Promotable scans the log.
  if (PastElectionTimeout() && Promotable()) {
    election_elapsed_ = 0;
    Message m;
    m.type = MessageType::kHup;
    m.from = id_;
    (void)Step(std::move(m));
  }
}

void Raft::TickHeartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= election_timeout_) {
    election_elapsed_ = 0;
    if (check_quorum_) {
      Message m;
      m.type = MessageType::kCheckQuorum;
      m.from = id_;
      (void)Step(std::move(m));
    }
    // A transfer that did not finish within an election timeout is abandoned (thesis §3.10),
    // so the leader accepts proposals again.
    if (state_ == StateType::kLeader && lead_transferee_ != kNoNode) AbortLeaderTransfer();
  }
  if (state_ != StateType::kLeader) return;
  if (heartbeat_elapsed_ >= heartbeat_timeout_) {
    heartbeat_elapsed_ = 0;
    Message m;
    m.type = MessageType::kBeat;
    m.from = id_;
    (void)Step(std::move(m));
  }
}

void Raft::BecomeFollower(uint64_t term, NodeId lead) {
  Reset(term);
  lead_ = lead;
  state_ = StateType::kFollower;
}

void Raft::BecomeCandidate() {
  CHECK(state_ != StateType::kLeader) << "invalid transition [leader -> candidate]";
  Reset(term_ + 1);
  vote_ = id_;
  state_ = StateType::kCandidate;
}

void Raft::BecomePreCandidate() {
  CHECK(state_ != StateType::kLeader) << "invalid transition [leader -> pre-candidate]";
  // A pre-candidate changes neither term nor vote (thesis §9.6): only the vote tally resets.
  prs_.ResetVotes();
  lead_ = kNoNode;
  state_ = StateType::kPreCandidate;
}

void Raft::BecomeLeader() {
  CHECK(state_ != StateType::kFollower) << "invalid transition [follower -> leader]";
  Reset(term_);
  lead_ = id_;
  state_ = StateType::kLeader;
  // The leader's own progress is always "replicating": it holds everything it appends. (A
  // leader outside its configuration has no progress of its own; see Promotable.)
  auto self = prs_.progress.find(id_);
  if (self != prs_.progress.end()) self->second.BecomeReplicate();
  // Conservatively assume the log tail may hold an unapplied configuration change.
  pending_conf_index_ = raft_log_.LastIndex();
  // The empty entry of the new term (thesis §3.6.2, §6.4): once it commits, everything before
  // it is committed too, and the leader's commit index is current for ReadIndex.
  std::vector<Entry> noop(1);
  CHECK(AppendEntry(std::move(noop))) << "empty entry dropped";
  // The no-op does not count against the uncommitted limit.
  uncommitted_size_ = 0;
}

void Raft::Hup(CampaignType t) {
  if (state_ == StateType::kLeader) return;
  if (!Promotable()) return;
  // A configuration change committed but not yet applied could change who votes; campaigning
  // now could use the wrong quorum, so wait until it is applied.
  if (raft_log_.committed() > raft_log_.applied()) {
    auto ents = raft_log_.Slice(raft_log_.applied() + 1, raft_log_.committed() + 1, kNoLimit);
    CHECK(ents.ok()) << "unexpected error getting unapplied entries: " << ents.status().ToString();
    for (const Entry& e : *ents) {
      if (e.type == EntryType::kConfChange || e.type == EntryType::kConfChangeV2) return;
    }
  }
  Campaign(t);
}

void Raft::Campaign(CampaignType t) {
  if (!Promotable()) return;
  uint64_t term;
  MessageType vote_msg;
  if (t == CampaignType::kPreElection) {
    BecomePreCandidate();
    vote_msg = MessageType::kPreVote;
    term = term_ + 1;  // the term we would campaign in; our own term is unchanged
  } else {
    BecomeCandidate();
    vote_msg = MessageType::kVote;
    term = term_;
  }
  if (Poll(id_, VoteRespType(vote_msg), true) == VoteResult::kWon) {
    // Single voter: won outright.
    if (t == CampaignType::kPreElection) {
      Campaign(CampaignType::kElection);
    } else {
      BecomeLeader();
    }
    return;
  }
  for (NodeId id : prs_.VoterNodes()) {
    if (id == id_) continue;
    Message m;
    m.to = id;
    m.type = vote_msg;
    m.term = Term(term);
    m.index = LogIndex(raft_log_.LastIndex());
    m.log_term = Term(raft_log_.LastTerm());
    if (t == CampaignType::kTransfer) m.context = kCampaignTransfer;
    Send(std::move(m));
  }
}

VoteResult Raft::Poll(NodeId id, MessageType, bool granted) {
  prs_.RecordVote(id, granted);
  return prs_.TallyVotes(nullptr, nullptr);
}

Status Raft::Step(Message m) {
  const uint64_t mterm = m.term.value();
  if (mterm == 0) {
    // Local message (or a forwarded proposal / read request).
  } else if (mterm > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      const bool force = m.context == kCampaignTransfer;
      const bool in_lease =
          check_quorum_ && lead_ != kNoNode && election_elapsed_ < election_timeout_;
      // Thesis §4.2.3: while we hear from a leader, ignore vote requests so that a removed or
      // partitioned server cannot depose it. Neither bump the term nor answer.
      if (!force && in_lease) return Status::Ok();
    }
    if (m.type == MessageType::kPreVote) {
      // Never change term because of a pre-vote.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote carries the future term; we bump when a quorum grants.
    } else if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnap) {
      BecomeFollower(mterm, m.from);
    } else {
      BecomeFollower(mterm, kNoNode);
    }
  } else if (mterm < term_) {
    if ((check_quorum_ || pre_vote_) &&
        (m.type == MessageType::kHeartbeat || m.type == MessageType::kApp)) {
      // A stale leader (e.g. after a partition healed) learns the new term from this reply and
      // steps down. Without it, with pre-vote or check-quorum the stale leader's followers could
      // never start an election it would notice.
      Message r;
      r.to = m.from;
      r.type = MessageType::kAppResp;
      Send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.to = m.from;
      r.term = Term(term_);
      r.type = MessageType::kPreVoteResp;
      r.reject = true;
      Send(std::move(r));
    }
    return Status::Ok();
  }

  switch (m.type) {
    case MessageType::kHup:
      Hup(pre_vote_ ? CampaignType::kPreElection : CampaignType::kElection);
      return Status::Ok();
    case MessageType::kVote:
    case MessageType::kPreVote: {
      // Thesis §3.6.1 (election restriction) and §9.6 (pre-vote).
      const bool can_vote = vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) ||
                            (m.type == MessageType::kPreVote && mterm > term_);
      Message r;
      r.to = m.from;
      r.type = VoteRespType(m.type);
      if (can_vote && raft_log_.IsUpToDate(m.index.value(), m.log_term.value())) {
        // The response carries the message's term: for a pre-vote our own term may be lower.
        r.term = m.term;
        Send(std::move(r));
        if (m.type == MessageType::kVote) {
          election_elapsed_ = 0;
          vote_ = m.from;
        }
      } else {
        r.term = Term(term_);
        r.reject = true;
        Send(std::move(r));
      }
      return Status::Ok();
    }
    default:
      break;
  }
  switch (state_) {
    case StateType::kLeader:
      return StepLeader(m);
    case StateType::kCandidate:
    case StateType::kPreCandidate:
      return StepCandidate(m);
    case StateType::kFollower:
      return StepFollower(m);
  }
  return Status::Ok();
}

Status Raft::StepLeader(Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      BcastHeartbeat();
      MaybeHandOffLeadership();
      return Status::Ok();
    case MessageType::kCheckQuorum: {
      auto self = prs_.progress.find(id_);
      if (self != prs_.progress.end()) self->second.recent_active = true;
      if (!prs_.QuorumActive()) BecomeFollower(term_, kNoNode);
      for (auto& [id, pr] : prs_.progress) {
        if (id != id_) pr.recent_active = false;
      }
      return Status::Ok();
    }
    case MessageType::kProp: {
      CHECK(!m.entries.empty()) << id_ << " stepped empty MsgProp";
      if (prs_.progress.count(id_) == 0) return Dropped("leader is not in the configuration");
      if (lead_transferee_ != kNoNode) return Dropped("leadership transfer in progress");
      for (size_t i = 0; i < m.entries.size(); ++i) {
        Entry& e = m.entries[i];
        if (e.type != EntryType::kConfChange && e.type != EntryType::kConfChangeV2) continue;
        bool leave = false;
        if (e.type == EntryType::kConfChangeV2) {
          auto cc = DecodeConfChangeV2(e.data);
          leave = cc.ok() && ConfChangeLeavesJoint(*cc);
        }
        const bool already_pending = pending_conf_index_ > raft_log_.applied();
        const bool already_joint = prs_.config.voters.joint();
        // Thesis §4.1: one change at a time; joint configurations are left before the next.
        if (already_pending || (already_joint && !leave) || (!already_joint && leave)) {
          e = Entry{};  // replaced by an empty normal entry, as etcd does
        } else {
          pending_conf_index_ = raft_log_.LastIndex() + i + 1;
        }
      }
      if (!AppendEntry(std::move(m.entries))) return Dropped("too many uncommitted entries");
      BcastAppend();
      return Status::Ok();
    }
    case MessageType::kReadIndex:
      if (!CommittedEntryInCurrentTerm()) {
        // Thesis §6.4: the commit index is only known to be current once an entry of this term
        // has committed; park the request until then. (Also for a single voter: when it counts
        // itself only once stable, its new term's entry commits after the persist, and until
        // then its commit index may lag behind what an earlier leader committed.)
        if (pending_read_index_messages_.size() >= kMaxPendingReadIndexMessages) {
          return Dropped("too many pending read index requests");
        }
        pending_read_index_messages_.push_back(std::move(m));
        return Status::Ok();
      }
      if (prs_.IsSingleton() && prs_.config.voters.incoming.contains(id_)) {
        // A single voter is the leader of its term: with an entry of the term committed, its
        // commit index is current.
        ResponseToReadIndexReq(m, raft_log_.committed());
        return Status::Ok();
      }
      SendReadIndexResponse(m);
      return Status::Ok();
    default:
      break;
  }

  auto it = prs_.progress.find(m.from);
  if (it == prs_.progress.end()) return Status::Ok();
  Progress& pr = it->second;
  switch (m.type) {
    case MessageType::kAppResp: {
      pr.recent_active = true;
      if (m.reject) {
        // Fast back-off: the follower told us the last index whose term is <= the term of the
        // probe; skip to the last entry of ours with a term <= that one.
        uint64_t next_probe = m.reject_hint.value();
        if (m.log_term.value() > 0) {
          next_probe = raft_log_.FindConflictByTerm(next_probe, m.log_term.value());
        }
        if (pr.MaybeDecrTo(m.index.value(), next_probe)) {
          if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
          SendAppend(m.from);
        }
      } else {
        const bool old_paused = pr.IsPaused();
        if (pr.MaybeUpdate(m.index.value())) {
          if (pr.state == ProgressState::kProbe) {
            pr.BecomeReplicate();
          } else if (pr.state == ProgressState::kSnapshot && pr.match >= pr.pending_snapshot) {
            pr.BecomeProbe();
            pr.BecomeReplicate();
          } else if (pr.state == ProgressState::kReplicate) {
            pr.inflights.FreeLE(m.index.value());
          }
          if (MaybeCommit()) {
            ReleasePendingReadIndexMessages();
            BcastAppend();
          } else if (old_paused) {
            SendAppend(m.from);
          }
          // Fill the window: a follower that fell behind catches up without waiting for
          // further proposals.
          while (MaybeSendAppend(m.from, /*send_if_empty=*/false)) {
          }
          if (m.from == lead_transferee_ &&
              prs_.progress.at(m.from).match == raft_log_.LastIndex()) {
            SendTimeoutNow(m.from);
          }
          MaybeHandOffLeadership();
        }
      }
      return Status::Ok();
    }
    case MessageType::kHeartbeatResp: {
      pr.recent_active = true;
      pr.probe_sent = false;
      // A lost append could otherwise stall a full window forever; free one slot per heartbeat.
      if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) {
        pr.inflights.FreeFirstOne();
      }
      if (pr.match < raft_log_.LastIndex()) SendAppend(m.from);
      if (read_only_.option() != ReadOnlyOption::kSafe || m.context.empty()) {
        return Status::Ok();
      }
      const std::set<NodeId>* acks = read_only_.RecvAck(m.from, m.context);
      if (acks == nullptr) return Status::Ok();
      std::map<NodeId, bool> votes;
      for (NodeId id : *acks) votes[id] = true;
      votes[id_] = true;
      if (prs_.config.voters.Vote(votes) != VoteResult::kWon) return Status::Ok();
      for (ReadIndexStatus& rs : read_only_.Advance(m.context)) {
        ResponseToReadIndexReq(rs.req, rs.index);
      }
      return Status::Ok();
    }
    case MessageType::kSnapStatus:
      if (pr.state != ProgressState::kSnapshot) return Status::Ok();
      if (m.reject) pr.pending_snapshot = 0;
      pr.BecomeProbe();
      // Wait for a heartbeat response before the next append: the follower may still be
      // installing the snapshot.
      pr.probe_sent = true;
      return Status::Ok();
    case MessageType::kUnreachable:
      // Optimistic pipelining to an unreachable node only loses messages: probe instead.
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      return Status::Ok();
    case MessageType::kTransferLeader: {
      if (pr.is_learner) return Status::Ok();
      const NodeId transferee = m.from;
      if (lead_transferee_ != kNoNode) {
        if (lead_transferee_ == transferee) return Status::Ok();
        AbortLeaderTransfer();
      }
      if (transferee == id_) return Status::Ok();
      // The transfer must finish within one election timeout (thesis §3.10).
      election_elapsed_ = 0;
      lead_transferee_ = transferee;
      if (pr.match == raft_log_.LastIndex()) {
        SendTimeoutNow(transferee);
      } else {
        SendAppend(transferee);
      }
      return Status::Ok();
    }
    default:
      return Status::Ok();
  }
}

Status Raft::StepCandidate(Message& m) {
  const MessageType my_resp =
      state_ == StateType::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kProp:
      return Dropped("no leader (election in progress)");
    case MessageType::kApp:
      BecomeFollower(m.term.value(), m.from);  // a leader of our term exists
      HandleAppendEntries(m);
      break;
    case MessageType::kHeartbeat:
      BecomeFollower(m.term.value(), m.from);
      HandleHeartbeat(m);
      break;
    case MessageType::kSnap:
      BecomeFollower(m.term.value(), m.from);
      HandleSnapshot(m);
      break;
    case MessageType::kReadIndex:
      return Dropped("no leader (election in progress)");
    default:
      if (m.type == my_resp) {
        switch (Poll(m.from, m.type, !m.reject)) {
          case VoteResult::kWon:
            if (state_ == StateType::kPreCandidate) {
              Campaign(CampaignType::kElection);
            } else {
              BecomeLeader();
              BcastAppend();
            }
            break;
          case VoteResult::kLost:
            // A rejection carries the voter's term: if it is higher we already became its
            // follower in Step; otherwise we fall back to follower in our term.
            BecomeFollower(term_, kNoNode);
            break;
          case VoteResult::kPending:
            break;
        }
      }
      break;
  }
  return Status::Ok();
}

Status Raft::StepFollower(Message& m) {
  switch (m.type) {
    case MessageType::kProp:
      if (lead_ == kNoNode) return Dropped("no leader");
      if (disable_proposal_forwarding_) return Dropped("proposal forwarding is disabled");
      m.to = lead_;
      Send(std::move(m));
      break;
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleAppendEntries(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleHeartbeat(m);
      break;
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      HandleSnapshot(m);
      break;
    case MessageType::kTransferLeader:
      // Deviation from etcd, which forwards the request but thereby names the forwarding
      // follower as the transferee: only the leader accepts transfer requests.
      return FailedPrecondition("raft: leadership transfer must be requested on the leader");
    case MessageType::kTimeoutNow:
      // Thesis §3.10: the leader asks us to start an election at once, skipping pre-vote.
      if (Promotable()) Hup(CampaignType::kTransfer);
      break;
    case MessageType::kReadIndex:
      if (lead_ == kNoNode) return Dropped("no leader for read index");
      m.to = lead_;
      Send(std::move(m));
      break;
    case MessageType::kReadIndexResp:
      read_states_.push_back(ReadState{m.index, m.context});
      break;
    default:
      break;
  }
  return Status::Ok();
}

void Raft::HandleAppendEntries(Message& m) {
  Message r;
  r.to = m.from;
  r.type = MessageType::kAppResp;
  if (m.index.value() < raft_log_.committed()) {
    // Old or duplicated append: everything up to commit is known to match.
    r.index = LogIndex(raft_log_.committed());
    Send(std::move(r));
    return;
  }
  if (auto last_new = raft_log_.MaybeAppend(m.index.value(), m.log_term.value(), m.commit.value(),
                                            std::move(m.entries))) {
    r.index = LogIndex(*last_new);
    Send(std::move(r));
    return;
  }
  // Log matching failed (thesis §3.5). Hint the last index whose term is <= the probe's term so
  // the leader can skip a whole term of mismatching entries at once.
  uint64_t hint = std::min(m.index.value(), raft_log_.LastIndex());
  hint = raft_log_.FindConflictByTerm(hint, m.log_term.value());
  r.index = m.index;
  r.reject = true;
  r.reject_hint = LogIndex(hint);
  r.log_term = Term(raft_log_.ZeroTermOnErr(hint));
  Send(std::move(r));
}

void Raft::HandleHeartbeat(const Message& m) {
  raft_log_.CommitTo(m.commit.value());
  Message r;
  r.to = m.from;
  r.type = MessageType::kHeartbeatResp;
  r.context = m.context;
  Send(std::move(r));
}

void Raft::HandleSnapshot(Message& m) {
  CHECK(m.snapshot.has_value()) << "MsgSnap without snapshot";
  Message r;
  r.to = m.from;
  r.type = MessageType::kAppResp;
  if (Restore(*m.snapshot)) {
    r.index = LogIndex(raft_log_.LastIndex());
  } else {
    r.index = LogIndex(raft_log_.committed());
  }
  Send(std::move(r));
}

bool Raft::Restore(const Snapshot& s) {
  const uint64_t sindex = s.metadata.index.value();
  const uint64_t sterm = s.metadata.term.value();
  if (sindex <= raft_log_.committed()) return false;
  if (state_ != StateType::kFollower) {
    // Only a follower installs snapshots; anything else means our term is stale somehow.
    BecomeFollower(term_ + 1, kNoNode);
    return false;
  }
  if (raft_log_.MatchTerm(sindex, sterm)) {
    // We already have the snapshot's last entry: just move commit (thesis §5.3).
    raft_log_.CommitTo(sindex);
    return false;
  }
  raft_log_.Restore(s);
  auto r = RestoreConfState(s.metadata.conf_state, raft_log_.LastIndex(), prs_.max_inflight(),
                            prs_.max_inflight_bytes());
  SwitchToConfig(std::move(r.config), std::move(r.progress));
  return true;
}

bool Raft::Promotable() const {
  if (raft_log_.HasPendingSnapshot()) return false;
  auto it = prs_.progress.find(id_);
  if (it != prs_.progress.end()) return !it->second.is_learner;
  // Not in its own latest configuration: removed, or the configuration it knows predates its
  // addition. Deviation from etcd (which never lets it campaign), following thesis §4.2.2: such
  // a server may hold entries the remaining voters need, and they cannot elect anyone whose
  // log is behind it, so it may campaign. It wins only with a quorum of that configuration
  // (its own vote does not count), and as leader it hands over at once
  // (MaybeHandOffLeadership). Pre-vote and check-quorum keep it from disrupting a working
  // leader.
  // That quorum is only meaningful if the configuration is current: not while its log holds a
  // configuration change it has not applied. A member added after the snapshot it was caught
  // up from knows the configuration before its addition, whose voters may all have been
  // removed since; winning their votes would elect it outside the real configuration (found
  // by the simulator, seeds 73145 and 79870 of the fourth campaign).
  if (prs_.config.voters.incoming.empty()) return false;
  const uint64_t last = raft_log_.LastIndex();
  const uint64_t from = std::max(raft_log_.applied(), raft_log_.FirstIndex() - 1) + 1;
  if (from > last) return true;
  auto ents = raft_log_.Slice(from, last + 1, kNoLimit);
  if (!ents.ok()) return false;
  for (const Entry& e : *ents) {
    if (e.type == EntryType::kConfChange || e.type == EntryType::kConfChangeV2) return false;
  }
  return true;
}

Result<ConfState> Raft::ApplyConfChange(const ConfChangeV2& cc) {
  Changer changer(prs_, raft_log_.LastIndex());
  Result<ConfChangeResult> r = [&]() -> Result<ConfChangeResult> {
    bool auto_leave = false;
    if (ConfChangeLeavesJoint(cc)) return changer.LeaveJoint();
    if (ConfChangeEntersJoint(cc, &auto_leave)) return changer.EnterJoint(auto_leave, cc.changes);
    return changer.Simple(cc.changes);
  }();
  if (!r.ok()) return r.status();
  return SwitchToConfig(std::move(r->config), std::move(r->progress));
}

ConfState Raft::SwitchToConfig(TrackerConfig cfg, ProgressMap prs) {
  prs_.config = std::move(cfg);
  prs_.progress = std::move(prs);
  ConfState cs = prs_.GetConfState();
  auto self = prs_.progress.find(id_);
  const bool present = self != prs_.progress.end();
  is_learner_ = present && self->second.is_learner;
  if ((!present || is_learner_) && state_ == StateType::kLeader) {
    // A leader removed or demoted by the change keeps replicating (it may hold the only copy
    // of entries the new configuration needs, and the others may not yet know the change is
    // committed), then hands leadership over; see MaybeHandOffLeadership.
    MaybeHandOffLeadership();
    return cs;
  }
  if (state_ != StateType::kLeader || cs.voters.empty()) return cs;
  if (MaybeCommit()) {
    BcastAppend();
  } else {
    // Probe newly added members right away rather than at the next heartbeat.
    for (auto& [id, pr] : prs_.progress) {
      if (id != id_) MaybeSendAppend(id, /*send_if_empty=*/false);
    }
  }
  if (lead_transferee_ != kNoNode && prs_.progress.count(lead_transferee_) == 0) {
    AbortLeaderTransfer();
  }
  return cs;
}

void Raft::MaybeHandOffLeadership() {
  if (state_ != StateType::kLeader) return;
  auto self = prs_.progress.find(id_);
  if (self != prs_.progress.end() && !self->second.is_learner) return;  // still a voter
  // Deviation from etcd, which keeps such a leader in place until the application stops it:
  // once a voter of the new configuration holds our whole log, ask it to campaign at once
  // (thesis §3.10) and step down. Stepping down earlier could deadlock: the remaining voters
  // might need our log, and we cannot campaign. If the TimeoutNow is lost, the up-to-date
  // voter still wins an ordinary election after its timeout.
  const uint64_t last = raft_log_.LastIndex();
  for (NodeId id : prs_.config.voters.incoming.ids()) {
    auto it = prs_.progress.find(id);
    if (it == prs_.progress.end() || it->second.match != last) continue;
    SendTimeoutNow(id);
    BecomeFollower(term_, kNoNode);
    return;
  }
}

void Raft::SendTimeoutNow(NodeId to) {
  Message m;
  m.to = to;
  m.type = MessageType::kTimeoutNow;
  Send(std::move(m));
}

bool Raft::CommittedEntryInCurrentTerm() const {
  return raft_log_.ZeroTermOnErr(raft_log_.committed()) == term_;
}

bool Raft::IncreaseUncommittedSize(const std::vector<Entry>& es) {
  const uint64_t s = PayloadSize(es);
  // Always admit a proposal into an empty tail so that one large entry can still go through.
  if (uncommitted_size_ > 0 && s > 0 && uncommitted_size_ + s > max_uncommitted_size_bytes_) {
    return false;
  }
  uncommitted_size_ += s;
  return true;
}

void Raft::ReduceUncommittedSize(const std::vector<Entry>& es) {
  if (uncommitted_size_ == 0) return;  // followers do not track the limit
  const uint64_t s = PayloadSize(es);
  uncommitted_size_ = s > uncommitted_size_ ? 0 : uncommitted_size_ - s;
}

void Raft::SendReadIndexResponse(Message& m) {
  switch (read_only_.option()) {
    case ReadOnlyOption::kSafe:
      // Thesis §6.4 steps 2-3: remember the commit index, confirm leadership with a heartbeat
      // round; the read is answered when a quorum acknowledged it (see kHeartbeatResp).
      read_only_.AddRequest(raft_log_.committed(), m);
      // A leader that is the only voter left (e.g. others are learners) confirms itself.
      {
        std::map<NodeId, bool> votes{{id_, true}};
        if (prs_.config.voters.Vote(votes) == VoteResult::kWon) {
          for (ReadIndexStatus& rs : read_only_.Advance(m.context)) {
            ResponseToReadIndexReq(rs.req, rs.index);
          }
          return;
        }
      }
      BcastHeartbeatWithCtx(m.context);
      break;
    case ReadOnlyOption::kLeaseBased:
      ResponseToReadIndexReq(m, raft_log_.committed());
      break;
  }
}

void Raft::ResponseToReadIndexReq(const Message& req, uint64_t read_index) {
  if (req.from == kNoNode || req.from == id_) {
    read_states_.push_back(ReadState{LogIndex(read_index), req.context});
    return;
  }
  Message r;
  r.to = req.from;
  r.type = MessageType::kReadIndexResp;
  r.index = LogIndex(read_index);
  r.context = req.context;
  Send(std::move(r));
}

void Raft::ReleasePendingReadIndexMessages() {
  if (pending_read_index_messages_.empty()) return;
  if (!CommittedEntryInCurrentTerm()) return;
  std::vector<Message> msgs = std::move(pending_read_index_messages_);
  pending_read_index_messages_.clear();
  for (Message& m : msgs) SendReadIndexResponse(m);
}

void Raft::Advance(uint64_t applied_index, uint64_t stable_index, uint64_t stable_term,
                   uint64_t snap_index, const std::vector<Entry>& applied_entries) {
  if (applied_index > 0) {
    raft_log_.AppliedTo(applied_index);
    if (prs_.config.auto_leave && applied_index >= pending_conf_index_ &&
        state_ == StateType::kLeader) {
      // The joint configuration is applied and is to be left automatically: propose the empty
      // ConfChangeV2 that leaves it (thesis §4.3, second phase).
      std::vector<Entry> e(1);
      e[0].type = EntryType::kConfChangeV2;
      e[0].data = EncodeConfChangeV2(ConfChangeV2{});
      if (!AppendEntry(std::move(e))) {
        pending_conf_index_ = raft_log_.LastIndex();  // retry after the next apply
      } else {
        pending_conf_index_ = raft_log_.LastIndex();
        BcastAppend();
      }
    }
  }
  ReduceUncommittedSize(applied_entries);
  if (stable_index > 0) raft_log_.StableTo(stable_index, stable_term);
  if (snap_index > 0) raft_log_.StableSnapTo(snap_index);
  if (leader_counts_self_when_stable_ && stable_index > 0 && state_ == StateType::kLeader) {
    auto self = prs_.progress.find(id_);
    if (self != prs_.progress.end() && self->second.MaybeUpdate(raft_log_.LastStableIndex()) &&
        MaybeCommit()) {
      // As after a follower's acknowledgement: the new commit index goes out at once.
      ReleasePendingReadIndexMessages();
      BcastAppend();
    }
  }
}

}  // namespace etcdpp::raft
