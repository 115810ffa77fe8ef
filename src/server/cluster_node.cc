#include "server/cluster_node.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "base/check.h"
#include "base/thread_name.h"
#include "raft/confchange.h"
#include "server/api/errors.h"

namespace etcdpp::server {
namespace {

using Clock = std::chrono::steady_clock;

// Read contexts are this member's id then its counter (8 bytes each): the leader keeps the
// pending reads of every member in one queue keyed by context, so they must be unique across
// members, not just here.
std::string ReadCtx(MemberId self, uint64_t n) {
  uint64_t id = self.value();
  std::string s(16, '\0');
  std::memcpy(s.data(), &id, 8);
  std::memcpy(s.data() + 8, &n, 8);
  return s;
}
bool ParseReadCtx(MemberId self, const std::string& s, uint64_t* n) {
  uint64_t id = 0;
  if (s.size() != 16) return false;
  std::memcpy(&id, s.data(), 8);
  std::memcpy(n, s.data() + 8, 8);
  return id == self.value();
}

}  // namespace

Status SaveClusterMembers(const std::string& path, const std::vector<Member>& members) {
  std::string text;
  for (const Member& m : members) {
    char id[17];
    std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(m.id.value()));
    text += std::string(id) + " " + m.name + " ";
    for (size_t i = 0; i < m.peer_urls.size(); ++i) text += (i ? "," : "") + m.peer_urls[i];
    text += "\n";
  }
  // Write a temporary file, sync it, rename: a crash leaves the old file or the new one.
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return IoError("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0 &&
            ::fsync(::fileno(f)) == 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return IoError("cannot write " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<std::vector<Member>> LoadClusterMembers(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("no cluster member file " + path);
  std::vector<Member> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string id, name, urls;
    if (!(fields >> id >> name >> urls)) return DataLoss("malformed line in " + path + ": " + line);
    Member m;
    m.id = MemberId(std::stoull(id, nullptr, 16));
    m.name = name;
    std::istringstream us(urls);
    for (std::string u; std::getline(us, u, ',');) m.peer_urls.push_back(u);
    out.push_back(std::move(m));
  }
  if (out.size() < 2) return DataLoss(path + " lists fewer than two members");
  return out;
}

ClusterNode::ClusterNode(Options options, DurableLog* log, StateMachine* sm, SendFn send)
    : options_(std::move(options)), log_(log), sm_(sm), send_(std::move(send)) {
  waiters_.SetReadWaitingHook(PacedApply::WakeOnWaitingRead(&mu_, &apply_cv_));
}

ClusterNode::~ClusterNode() { Stop(); }

Status ClusterNode::Start(StartState state) {
  for (const auto& [id, name] : state.members) conf_state_.voters.push_back(id);
  const LogIndex applied = sm_->applied_index();
  if (state.bootstrap) {
    if (applied.value() != 0) {
      return FailedPrecondition("the state machine has applied index " +
                                std::to_string(applied.value()) +
                                " but the WAL is new or empty: the data dir lost its WAL; "
                                "restore it or start this member from an empty data dir");
    }
    // Every member writes the same configuration entries at indexes 1..n in term 1 and marks them
    // committed, so all members agree on the voters before the first election (etcd does the
    // same with its bootstrap ConfChange entries).
    std::vector<raft::Entry> entries;
    for (const auto& [id, name] : state.members) {
      raft::ConfChangeV2 cc;
      cc.changes.push_back(raft::ConfChangeSingle{raft::ConfChangeType::kAddNode, id});
      cc.context = name;
      entries.push_back(raft::Entry{Term(1), LogIndex(entries.size() + 1),
                                    raft::EntryType::kConfChangeV2, raft::EncodeConfChangeV2(cc)});
    }
    hard_state_ = raft::HardState{Term(1), raft::kNoNode, LogIndex(entries.size())};
    ETCDPP_RETURN_IF_ERROR(log_->Save(hard_state_, entries));
    storage_.SetInitialConfState(conf_state_);
    ETCDPP_RETURN_IF_ERROR(storage_.Append(std::move(entries)));
  } else {
    if (state.snapshot_index.value() > 0) {
      raft::Snapshot snap;
      snap.metadata.conf_state = conf_state_;
      snap.metadata.index = state.snapshot_index;
      snap.metadata.term = state.snapshot_term;
      ETCDPP_RETURN_IF_ERROR(storage_.ApplySnapshot(snap));
      compacted_index_ = state.snapshot_index.value();
    } else {
      storage_.SetInitialConfState(conf_state_);
    }
    ETCDPP_RETURN_IF_ERROR(storage_.Append(std::move(state.recovered.entries)));
    hard_state_ = state.recovered.hard_state;
    // Commit-only hard state changes are not synced (wal.h); the state machine may have applied
    // (and durably recorded) entries past the commit index the WAL kept. They were committed.
    if (hard_state_.commit < applied) hard_state_.commit = applied;
    if (storage_.LastIndex() < applied) {
      return DataLoss("the WAL ends at index " + std::to_string(storage_.LastIndex().value()) +
                      " but the state machine has applied index " +
                      std::to_string(applied.value()));
    }
  }
  storage_.SetHardState(hard_state_);

  raft::Config c;
  c.id = options_.member_id;
  c.election_tick = options_.election_ticks;
  c.heartbeat_tick = 1;
  c.storage = &storage_;
  c.applied = applied;
  c.check_quorum = true;
  c.pre_vote = true;
  c.leader_counts_self_when_stable = true;  // HandleReadies sends appends before persisting
  c.random_seed =
      options_.member_id.value() ^ static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  ETCDPP_ASSIGN_OR_RETURN(raft_, raft::Node::Create(c));
  // As etcd's --initial-election-tick-advance: a (re)started member has heard from nobody, so
  // let it campaign after one heartbeat-less stretch instead of a full election timeout. Pre-vote
  // keeps this from disturbing a healthy leader.
  for (int i = 0; i + 1 < options_.election_ticks; ++i) raft_->Tick();

  term_.store(hard_state_.term.value(), std::memory_order_release);
  waiters_.StartAt(applied.value());
  committed_.store(hard_state_.commit.value(), std::memory_order_release);
  started_ = true;
  raft_thread_ = NamedThread("raft", [this] { RaftThreadMain(); });
  apply_thread_ = NamedThread("apply", [this] { ApplyThreadMain(); });
  return Status::Ok();
}

void ClusterNode::TransferLeadershipIfLeader(std::chrono::milliseconds timeout) {
  if (!started_ || leader() != options_.member_id) return;
  std::unique_lock lock(mu_);
  if (stopping_) return;
  transfer_requested_ = true;
  raft_cv_.notify_one();
  bool moved = leader_cv_.wait_for(lock, timeout, [&] {
    MemberId l = leader();
    return l != options_.member_id && l != MemberId(0);
  });
  if (moved) {
    spdlog::info("raft: leadership handed to member {:x} before stopping", leader().value());
  } else {
    spdlog::warn("raft: leadership not handed over before stopping (leader {:x})",
                 leader().value());
  }
}

void ClusterNode::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  raft_cv_.notify_all();
  apply_cv_.notify_all();
  if (raft_thread_.joinable()) raft_thread_.join();
  if (apply_thread_.joinable()) apply_thread_.join();
  FailAllPending(api::Err(api::EtcdError::kStopped));
  waiters_.Close(api::Err(api::EtcdError::kStopped));  // and refuse what comes later
  for (auto& [ctx, batch] : pending_reads_) {
    for (auto& cb : batch.callbacks) cb(api::Err(api::EtcdError::kStopped));
  }
  pending_reads_.clear();
}

uint64_t ClusterNode::NextRequestId() { return request_ids_.Next(); }

Status ClusterNode::write_path_error() const { return waiters_.write_path_error(); }

void ClusterNode::SetWritePathError(const Status& status) {
  if (waiters_.SetWritePathError(status)) {
    spdlog::critical("write path failed, this member stops taking part in raft: {}",
                     status.ToString());
  }
}

void ClusterNode::Step(raft::Message m) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    inbox_.push_back(std::move(m));
  }
  raft_cv_.notify_one();
}

void ClusterNode::ReportUnreachable(MemberId id) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    // Once per peer between two raft loop iterations (a full queue reports every drop).
    if (std::find(unreachable_.begin(), unreachable_.end(), id) != unreachable_.end()) return;
    unreachable_.push_back(id);
  }
  raft_cv_.notify_one();
}

void ClusterNode::Propose(uint64_t request_id, std::string data, ProposeCallback done) {
  Status refuse;
  {
    std::lock_guard lock(mu_);
    refuse = stopping_ ? api::Err(api::EtcdError::kStopped)
                       : waiters_.AddProposal(request_id, &done);
    if (refuse.ok()) proposals_.push_back(Proposal{request_id, std::move(data)});
  }
  if (!refuse.ok()) {
    done(ApplyResult{refuse, nullptr});
    return;
  }
  raft_cv_.notify_one();
}

void ClusterNode::ReadIndex(ReadCallback done) {
  Status refuse;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refuse = api::Err(api::EtcdError::kStopped);
    } else {
      reads_.push_back(std::move(done));
    }
  }
  if (!refuse.ok()) {
    done(refuse);
    return;
  }
  raft_cv_.notify_one();
}

void ClusterNode::ReadAcknowledged(ReadCallback done) {
  waiters_.WaitApplied(waiters_.acknowledged(), std::move(done));
}

void ClusterNode::RaftThreadMain() {
  std::vector<raft::Message> inbox;
  std::vector<MemberId> unreachable;
  std::vector<Proposal> proposals;
  std::vector<ReadCallback> reads;
  bool transfer = false;
  Clock::time_point next_tick = Clock::now() + options_.heartbeat;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      raft_cv_.wait_until(lock, next_tick, [&] {
        return stopping_ || !inbox_.empty() || !proposals_.empty() || !reads_.empty() ||
               !unreachable_.empty();
      });
      if (stopping_) return;
      inbox.swap(inbox_);
      unreachable.swap(unreachable_);
      proposals.swap(proposals_);
      reads.swap(reads_);
      transfer = transfer_requested_;
      transfer_requested_ = false;
    }
    if (transfer && is_leader_) {
      // The follower with the longest log catches up fastest, so TimeoutNow goes out soonest.
      MemberId best;
      uint64_t best_match = 0;
      for (const auto& [id, pr] : raft_->tracker().progress) {
        if (id != options_.member_id && (best == MemberId(0) || pr.match > best_match)) {
          best = id;
          best_match = pr.match;
        }
      }
      if (best != MemberId(0)) {
        Status s = raft_->TransferLeader(best);
        if (!s.ok()) spdlog::warn("raft: leadership transfer refused: {}", s.ToString());
      }
    }
    Clock::time_point now = Clock::now();
    if (now >= next_tick) {
      raft_->Tick();
      next_tick += options_.heartbeat;
      // After a stall (a slow fdatasync) skip the missed ticks rather than firing a burst of
      // them, which would look like a long silence from the leader.
      if (next_tick < now) next_tick = now + options_.heartbeat;
      ExpireRequests(now);
    }
    for (raft::Message& m : inbox) {
      // Errors are messages from unknown peers or of local-only types: nothing to do.
      (void)raft_->Step(std::move(m));
    }
    inbox.clear();
    for (MemberId id : unreachable) raft_->ReportUnreachable(id);
    unreachable.clear();

    if (!proposals.empty()) {
      std::vector<std::string> data;
      data.reserve(proposals.size());
      for (Proposal& p : proposals) data.push_back(std::move(p.data));
      Status s = raft_->ProposeBatch(std::move(data));
      if (!s.ok()) {
        // No leader known (an election is running) or the leader's tail is full: the client may
        // retry. As etcd reports a proposal it could not hand to a leader.
        Status err = api::Err(raft::IsProposalDropped(s) && leader_.load() == 0
                                  ? api::EtcdError::kNoLeader
                                  : api::EtcdError::kTooManyRequests);
        std::vector<uint64_t> ids;
        ids.reserve(proposals.size());
        for (const Proposal& p : proposals) ids.push_back(p.request_id);
        waiters_.FailProposals(ids, err);
      } else {
        Clock::time_point deadline = now + options_.request_timeout;
        for (const Proposal& p : proposals) deadlines_.emplace_back(deadline, p.request_id);
      }
      proposals.clear();
    }
    if (!reads.empty()) {
      uint64_t ctx = ++read_ctx_counter_;
      Status s = raft_->ReadIndex(ReadCtx(options_.member_id, ctx));
      if (!s.ok()) {
        for (auto& cb : reads) cb(api::Err(api::EtcdError::kNoLeader));
      } else {
        pending_reads_.emplace(ctx, ReadBatch{now + options_.request_timeout, std::move(reads)});
      }
      reads.clear();
    }
    if (!HandleReadies()) {
      // The WAL failed: raft must not go on (it would acknowledge entries that are not durable).
      FailAllPending(write_path_error());
      return;
    }
    MaybeCompactLog();
  }
}

bool ClusterNode::HandleReadies() {
  while (raft_->HasReady()) {
    raft::Ready rd = raft_->GetReady();
    if (rd.soft_state) {
      MemberId old_leader(leader_.load());
      if (rd.soft_state->leader != old_leader) {
        spdlog::info("raft: member {:x} sees leader {:x} (was {:x})", options_.member_id.value(),
                     rd.soft_state->leader.value(), old_leader.value());
        // Proposals forwarded to the old leader may be lost with it; tell their clients now
        // instead of after the request timeout. The write may still commit (the new leader can
        // hold it): an error never claims that it did not. Done before the new leader is
        // published, so that a proposal made by a caller who already saw the change is not
        // failed as "leader changed" but proposed (or refused for having no leader).
        if (old_leader != raft::kNoNode) {
          waiters_.FailAllProposals(api::Err(api::EtcdError::kLeaderChanged));
        }
      }
      {
        // Under the lock so that TransferLeadershipIfLeader cannot miss the change.
        std::lock_guard lock(mu_);
        leader_.store(rd.soft_state->leader.value(), std::memory_order_release);
      }
      leader_cv_.notify_all();
      bool leader_now = rd.soft_state->role == raft::StateType::kLeader;
      if (leader_now != is_leader_) {
        is_leader_ = leader_now;
        if (options_.on_leadership) options_.on_leadership(leader_now);
      }
    }
    // 0. Committed entries that were already durable before this Ready (all of them, unless
    // this Ready's own entries are among them) go to the apply thread at once rather than after
    // this Ready's fdatasync: under load every Ready has new entries to sync, and waiting would
    // add one sync to every write's latency. Committed entries are never overwritten, so an entry
    // below the first index of rd.entries that is in storage is durable.
    if (!rd.committed_entries.empty()) {
      uint64_t durable = storage_.LastIndex().value();
      if (!rd.entries.empty()) durable = std::min(durable, rd.entries.front().index.value() - 1);
      auto split = std::find_if(rd.committed_entries.begin(), rd.committed_entries.end(),
                                [&](const raft::Entry& e) { return e.index.value() > durable; });
      if (split == rd.committed_entries.end()) {
        DeliverCommitted(std::move(rd.committed_entries));
        rd.committed_entries.clear();
      } else if (split != rd.committed_entries.begin()) {
        std::vector<raft::Entry> early(std::make_move_iterator(rd.committed_entries.begin()),
                                       std::make_move_iterator(split));
        rd.committed_entries.erase(rd.committed_entries.begin(), split);
        DeliverCommitted(std::move(early));
      }
    }
    // Messages that depend on nothing this Ready persists go out before its fdatasync
    // (raft::MaySendBeforePersist): proposals a follower forwards to its leader, and the
    // leader's appends and heartbeats (thesis §10.2.1), so that followers write the entries
    // while the leader does.
    if (!rd.entries.empty() || !rd.hard_state.empty()) {
      for (raft::Message& m : raft::TakeMessagesBeforePersist(&rd)) send_(std::move(m));
    }
    // 1. Persist (one write and at most one fdatasync for the whole Ready).
    if (!rd.snapshot.empty()) {
      // Never happens: no member sends snapshots (kSnap messages are dropped below).
      SetWritePathError(Internal("received a raft snapshot, which this member cannot install"));
      return false;
    }
    if (!rd.hard_state.empty()) hard_state_ = rd.hard_state;
    if (!rd.entries.empty() || !rd.hard_state.empty()) {
      Status s = log_->Save(hard_state_, rd.entries);
      if (!s.ok()) {
        SetWritePathError(s);
        return false;
      }
    }
    if (!rd.entries.empty()) {
      Status s = storage_.Append(std::move(rd.entries));
      CHECK(s.ok()) << "raft storage append: " << s.ToString();
    }
    if (!rd.hard_state.empty()) {
      storage_.SetHardState(hard_state_);
      term_.store(hard_state_.term.value(), std::memory_order_release);
    }
    // 2. Send, only now that what the messages depend on is durable.
    for (raft::Message& m : rd.messages) {
      if (m.type == raft::MessageType::kSnap) {
        Clock::time_point now = Clock::now();
        if (now - last_snapshot_warning_ > std::chrono::seconds(10)) {
          last_snapshot_warning_ = now;
          spdlog::error(
              "raft: member {:x} needs entries this leader has compacted and can only "
              "be caught up by a snapshot, which etcdpp cannot send yet; it stays "
              "behind until replaced (remove it and add it back with an empty data "
              "dir)",
              m.to.value());
        }
        raft_->ReportSnapshot(m.to, raft::SnapshotStatus::kFailure);
        continue;
      }
      send_(std::move(m));
    }
    // 3. The rest of the committed entries, now durable.
    DeliverCommitted(std::move(rd.committed_entries));
    // 4. Reads confirmed by a quorum: served once the applied index reaches theirs. The reads
    // themselves run on the apply thread (never here: they would delay the heartbeats).
    bool reads_ready = false;
    for (const raft::ReadState& rs : rd.read_states) {
      uint64_t ctx = 0;
      if (!ParseReadCtx(options_.member_id, rs.request_ctx, &ctx)) continue;
      auto it = pending_reads_.find(ctx);
      if (it == pending_reads_.end()) continue;  // timed out already
      std::vector<ReadCallback> cbs = std::move(it->second.callbacks);
      pending_reads_.erase(it);
      for (auto& cb : cbs) {
        std::optional<Status> now = waiters_.WaitAppliedLater(rs.index.value(), &cb);
        if (!now) continue;  // the apply thread runs it once the index is applied
        if (!now->ok()) {
          cb(*now);
          continue;
        }
        std::lock_guard lock(mu_);
        ready_reads_.push_back(std::move(cb));
        reads_ready = true;
      }
    }
    if (reads_ready) apply_cv_.notify_one();
    raft_->Advance();
  }
  return true;
}

void ClusterNode::DeliverCommitted(std::vector<raft::Entry>&& entries) {
  if (entries.empty()) return;
  // Configuration changes are applied to raft here (it is the raft thread's object); every
  // entry goes to the apply thread, in order.
  for (const raft::Entry& e : entries) {
    if (e.type != raft::EntryType::kConfChangeV2) continue;
    auto cc = raft::DecodeConfChangeV2(e.data);
    CHECK(cc.ok()) << "committed configuration entry " << e.index.value()
                   << " does not decode: " << cc.status().ToString();
    auto cs = raft_->ApplyConfChange(*cc);
    if (cs.ok()) {
      conf_state_ = *cs;
    } else {
      spdlog::warn("raft: configuration change at index {} refused: {}", e.index.value(),
                   cs.status().ToString());
    }
  }
  committed_.store(entries.back().index.value(), std::memory_order_release);
  {
    std::lock_guard lock(mu_);
    to_apply_.push_back(std::move(entries));
  }
  apply_cv_.notify_one();
}

void ClusterNode::MaybeCompactLog() {
  uint64_t applied = waiters_.applied();
  if (applied < compacted_index_ + options_.snapshot_count + options_.catch_up_entries) return;
  // Only what the state machine holds durably may leave the log: sync it first. Keep
  // catch_up_entries behind it for followers that are a little behind.
  auto pos = sm_->SyncApplied();
  if (!pos.ok()) {
    spdlog::warn("log compaction at applied index {} failed: {}", applied, pos.status().ToString());
    return;
  }
  uint64_t to = pos->index.value() - options_.catch_up_entries;
  if (to <= compacted_index_ || to < storage_.FirstIndex().value()) return;
  auto term = storage_.TermAt(LogIndex(to));
  CHECK(term.ok()) << "term of index " << to << ": " << term.status().ToString();
  Status s = log_->Compact(LogIndex(to), *term);
  if (!s.ok()) {
    spdlog::warn("log compaction at index {} failed: {}", to, s.ToString());
    return;
  }
  auto snap = storage_.CreateSnapshot(LogIndex(to), &conf_state_, "");
  CHECK(snap.ok()) << snap.status().ToString();
  CHECK(storage_.Compact(LogIndex(to)).ok());
  compacted_index_ = to;
  spdlog::info("compacted the log up to index {} (term {}), keeping {} entries for followers", to,
               term->value(), options_.catch_up_entries);
}

void ClusterNode::ExpireRequests(Clock::time_point now) {
  std::vector<uint64_t> expired;
  while (!deadlines_.empty() && deadlines_.front().first <= now) {
    expired.push_back(deadlines_.front().second);
    deadlines_.pop_front();
  }
  waiters_.FailProposals(expired, api::Err(api::EtcdError::kTimeout));
  while (!pending_reads_.empty() && pending_reads_.begin()->second.deadline <= now) {
    for (auto& cb : pending_reads_.begin()->second.callbacks) {
      cb(api::Err(api::EtcdError::kTimeout));
    }
    pending_reads_.erase(pending_reads_.begin());
  }
}

void ClusterNode::ApplyThreadMain() {
  std::vector<raft::Entry> batch;
  std::vector<ReadCallback> reads;
  PacedApply apply(sm_, &waiters_, options_.commit);
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      apply.Wait(apply_cv_, lock,
                 [&] { return stopping_ || !to_apply_.empty() || !ready_reads_.empty(); });
      // What is not applied yet stays in the log for the restart; what is applied is committed.
      stop = stopping_;
      reads.swap(ready_reads_);
      batch.clear();
      while (!stop && !to_apply_.empty()) {
        for (auto& e : to_apply_.front()) batch.push_back(std::move(e));
        to_apply_.pop_front();
      }
    }
    if (Status s = apply.Run(batch, stop); !s.ok()) {
      SetWritePathError(s);
      FailAllPending(s);
      for (auto& cb : reads) cb(s);
      return;
    }
    // Reads whose index was applied when the raft thread checked it.
    for (auto& cb : reads) cb(Status::Ok());
    reads.clear();
    if (stop) return;
  }
}

void ClusterNode::FailAllPending(const Status& status) {
  std::vector<ReadCallback> reads;
  {
    std::lock_guard lock(mu_);
    reads.swap(reads_);
    for (auto& cb : ready_reads_) reads.push_back(std::move(cb));
    ready_reads_.clear();
    proposals_.clear();
  }
  waiters_.FailAll(status);
  for (auto& cb : reads) cb(status);
}

}  // namespace etcdpp::server
