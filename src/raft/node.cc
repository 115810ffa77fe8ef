#include "raft/node.h"

#include <algorithm>
#include <iterator>

#include "base/check.h"

namespace etcdpp::raft {

namespace {

bool IsLocalMsg(MessageType t) {
  return t == MessageType::kHup || t == MessageType::kBeat || t == MessageType::kUnreachable ||
         t == MessageType::kSnapStatus || t == MessageType::kCheckQuorum;
}

bool IsResponseMsg(MessageType t) {
  return t == MessageType::kAppResp || t == MessageType::kVoteResp ||
         t == MessageType::kHeartbeatResp || t == MessageType::kUnreachable ||
         t == MessageType::kPreVoteResp;
}

}  // namespace

Result<std::unique_ptr<Node>> Node::Create(const Config& c) {
  ETCDPP_RETURN_IF_ERROR(c.Validate());
  return std::unique_ptr<Node>(new Node(c));
}

Node::Node(const Config& c) : raft_(c) {
  prev_soft_state_ = raft_.GetSoftState();
  prev_hard_state_ = raft_.GetHardState();
}

void Node::Tick() { raft_.Tick(); }

Status Node::Campaign() {
  Message m;
  m.type = MessageType::kHup;
  m.from = raft_.id();
  return raft_.Step(std::move(m));
}

Status Node::Propose(std::string data) {
  Message m;
  m.type = MessageType::kProp;
  m.from = raft_.id();
  m.entries.resize(1);
  m.entries[0].data = std::move(data);
  return raft_.Step(std::move(m));
}

Status Node::ProposeBatch(std::vector<std::string> data) {
  if (data.empty()) return Status::Ok();
  Message m;
  m.type = MessageType::kProp;
  m.from = raft_.id();
  m.entries.resize(data.size());
  for (size_t i = 0; i < data.size(); ++i) m.entries[i].data = std::move(data[i]);
  return raft_.Step(std::move(m));
}

Status Node::ProposeConfChange(const ConfChangeV2& cc) {
  Message m;
  m.type = MessageType::kProp;
  m.from = raft_.id();
  m.entries.resize(1);
  m.entries[0].type = EntryType::kConfChangeV2;
  m.entries[0].data = EncodeConfChangeV2(cc);
  return raft_.Step(std::move(m));
}

Status Node::ReadIndex(std::string request_ctx) {
  Message m;
  m.type = MessageType::kReadIndex;
  m.from = raft_.id();
  m.context = std::move(request_ctx);
  return raft_.Step(std::move(m));
}

Status Node::TransferLeader(NodeId transferee) {
  if (raft_.state() != StateType::kLeader) {
    return FailedPrecondition("raft: leadership transfer must be requested on the leader");
  }
  Message m;
  m.type = MessageType::kTransferLeader;
  m.from = transferee;
  return raft_.Step(std::move(m));
}

Status Node::Step(Message m) {
  if (IsLocalMsg(m.type)) return InvalidArgument("raft: cannot step raft local message");
  if (IsResponseMsg(m.type) && raft_.tracker().progress.count(m.from) == 0) {
    return NotFound("raft: cannot step as peer not found");
  }
  return raft_.Step(std::move(m));
}

Result<ConfState> Node::ApplyConfChange(const ConfChangeV2& cc) {
  return raft_.ApplyConfChange(cc);
}

void Node::ReportUnreachable(NodeId id) {
  Message m;
  m.type = MessageType::kUnreachable;
  m.from = id;
  (void)raft_.Step(std::move(m));
}

void Node::ReportSnapshot(NodeId id, SnapshotStatus status) {
  Message m;
  m.type = MessageType::kSnapStatus;
  m.from = id;
  m.reject = status == SnapshotStatus::kFailure;
  (void)raft_.Step(std::move(m));
}

bool Node::HasReady() const {
  if (ready_outstanding_) return false;
  if (!(raft_.GetSoftState() == prev_soft_state_)) return true;
  HardState hs = raft_.GetHardState();
  if (!hs.empty() && !(hs == prev_hard_state_)) return true;
  const RaftLog& log = raft_.log();
  if (log.HasPendingSnapshot()) return true;
  if (!raft_.msgs().empty() || !log.unstable().entries().empty() || log.HasNextEnts()) {
    return true;
  }
  return !raft_.read_states().empty();
}

bool MaySendBeforePersist(const Ready& rd, const Message& m) {
  return m.type == MessageType::kProp ||
         (rd.leader_sends_early &&
          (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat));
}

std::vector<Message> TakeMessagesBeforePersist(Ready* rd) {
  auto later = std::stable_partition(rd->messages.begin(), rd->messages.end(),
                                     [&](const Message& m) { return MaySendBeforePersist(*rd, m); });
  std::vector<Message> early(std::make_move_iterator(rd->messages.begin()),
                             std::make_move_iterator(later));
  rd->messages.erase(rd->messages.begin(), later);
  return early;
}

Ready Node::GetReady() {
  CHECK(!ready_outstanding_) << "GetReady called before Advance of the previous Ready";
  Ready rd;
  RaftLog& log = raft_.log();
  rd.entries = log.UnstableEntries();
  rd.committed_entries = log.NextEnts();
  rd.messages = std::move(raft_.msgs());
  raft_.msgs().clear();
  SoftState ss = raft_.GetSoftState();
  if (!(ss == prev_soft_state_)) {
    rd.soft_state = ss;
    prev_soft_state_ = ss;
  }
  HardState hs = raft_.GetHardState();
  if (!(hs == prev_hard_state_)) {
    rd.must_sync = hs.term != prev_hard_state_.term || hs.vote != prev_hard_state_.vote;
    rd.hard_state = hs;
    prev_hard_state_ = hs;
  }
  // must_sync holds only the term/vote change here; the entries are added below.
  rd.leader_sends_early =
      raft_.leader_counts_self_when_stable() && ss.role == StateType::kLeader && !rd.must_sync;
  if (log.unstable().snapshot()) rd.snapshot = *log.unstable().snapshot();
  rd.read_states = std::move(raft_.read_states());
  raft_.read_states().clear();
  rd.must_sync = rd.must_sync || !rd.entries.empty();

  ready_outstanding_ = true;
  pending_applied_ = 0;
  if (!rd.committed_entries.empty()) pending_applied_ = rd.committed_entries.back().index.value();
  pending_stable_index_ = 0;
  pending_stable_term_ = 0;
  if (!rd.entries.empty()) {
    pending_stable_index_ = rd.entries.back().index.value();
    pending_stable_term_ = rd.entries.back().term.value();
  }
  pending_snap_index_ = rd.snapshot.empty() ? 0 : rd.snapshot.metadata.index.value();
  // Only the leader tracks the uncommitted size; copying entries for followers would be waste.
  pending_applied_entries_.clear();
  if (raft_.uncommitted_size() > 0) pending_applied_entries_ = rd.committed_entries;
  if (pending_applied_ == 0 && pending_snap_index_ > 0) pending_applied_ = pending_snap_index_;
  return rd;
}

void Node::Advance() {
  CHECK(ready_outstanding_) << "Advance without an outstanding Ready";
  ready_outstanding_ = false;
  raft_.Advance(pending_applied_, pending_stable_index_, pending_stable_term_, pending_snap_index_,
                pending_applied_entries_);
  pending_applied_entries_.clear();
}

BasicStatus Node::GetBasicStatus() const {
  BasicStatus s;
  s.id = raft_.id();
  s.hard_state = raft_.GetHardState();
  s.soft_state = raft_.GetSoftState();
  s.applied = LogIndex(raft_.log().applied());
  s.lead_transferee = raft_.lead_transferee();
  return s;
}

}  // namespace etcdpp::raft
