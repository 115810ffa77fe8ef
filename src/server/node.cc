#include "server/node.h"

#include <spdlog/spdlog.h>

#include "base/check.h"
#include "base/thread_name.h"
#include "server/api/errors.h"

namespace etcdpp::server {

Status PacedApply::Run(std::span<const raft::Entry> batch, bool stop) {
  Status s = batch.empty() ? Status::Ok() : Apply(batch);
  if (s.ok() && (stop || Due())) s = Commit();
  return s;
}

bool PacedApply::Due() const {
  return pacer_.Due(CommitPacer::Clock::now(), waiters_->lowest_waiting_read());
}

Status PacedApply::Apply(std::span<const raft::Entry> batch) {
  const uint64_t last = batch.back().index.value();
  Status s = sm_->ApplyBatch(batch, [&](StateMachine::Results&& results) {
    waiters_->Acknowledge(last, std::move(results));
  });
  if (!s.ok()) {
    pacer_.Committed();  // the state machine dropped everything uncommitted
    return s;
  }
  if (sm_->has_uncommitted()) {
    size_t bytes = 0;
    for (const raft::Entry& e : batch) bytes += e.data.size();
    pacer_.Applied(last, batch.size(), bytes, CommitPacer::Clock::now());
  } else {
    pacer_.Committed();
    waiters_->MarkApplied(last);
  }
  return Status::Ok();
}

Status PacedApply::Commit() {
  if (!pacer_.pending()) return Status::Ok();
  const uint64_t last = pacer_.pending_last();
  Status s = sm_->CommitApplied();
  pacer_.Committed();
  if (s.ok()) waiters_->MarkApplied(last);
  return s;
}

Node::Node(Options options, DurableLog* log, StateMachine* sm)
    : options_(options), log_(log), sm_(sm) {
  waiters_.SetReadWaitingHook(PacedApply::WakeOnWaitingRead(&mu_, &cv_));
}

Node::~Node() { Stop(); }

Status Node::Start(RecoveredLog recovered) {
  uint64_t applied = sm_->applied_index().value();
  // Re-apply what the log holds beyond the state machine; nothing is applied twice because the
  // state machine stores its applied index in the same transaction as the data.
  std::vector<raft::Entry> replay;
  for (auto& e : recovered.entries) {
    if (e.index.value() > applied) replay.push_back(std::move(e));
  }
  if (!replay.empty()) {
    CHECK_EQ(replay.front().index.value(), applied + 1)
        << "log does not continue the state machine: applied=" << applied
        << " first=" << replay.front().index.value();
    ETCDPP_RETURN_IF_ERROR(sm_->ApplyBatch(replay, [](StateMachine::Results&&) {}));
    ETCDPP_RETURN_IF_ERROR(sm_->CommitApplied());
    spdlog::info("replayed {} log entries after applied index {}", replay.size(), applied);
  }
  applied = sm_->applied_index().value();
  last_index_ = std::max(recovered.last_index.value(), applied);
  hard_state_ = recovered.hard_state;

  // A single member elects itself at start-up: a new term, and the leader's empty entry in it
  // (Raft §5.4.2) so that everything before it is committed in the new term. A fresh member
  // reaches term 2, like etcd (term 1 is its bootstrap as follower).
  uint64_t term = std::max<uint64_t>(hard_state_.term.value() + 1, 2);
  hard_state_.term = Term(term);
  hard_state_.vote = options_.member_id;
  raft::Entry noop{Term(term), LogIndex(last_index_ + 1), raft::EntryType::kNormal, ""};
  hard_state_.commit = noop.index;
  ETCDPP_RETURN_IF_ERROR(log_->Save(hard_state_, std::span<const raft::Entry>(&noop, 1)));
  last_index_ = noop.index.value();
  ETCDPP_RETURN_IF_ERROR(sm_->ApplyBatch(std::span<const raft::Entry>(&noop, 1),
                                         [](StateMachine::Results&&) {}));
  ETCDPP_RETURN_IF_ERROR(sm_->CommitApplied());
  term_.store(term, std::memory_order_release);
  committed_.store(last_index_, std::memory_order_release);
  waiters_.StartAt(sm_->applied_index().value());

  started_ = true;
  write_thread_ = NamedThread("wal-apply", [this] { WriteThreadMain(); });
  return Status::Ok();
}

void Node::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (write_thread_.joinable()) write_thread_.join();
  {
    std::lock_guard lock(mu_);
    proposals_.clear();
  }
  waiters_.Close(api::Err(api::EtcdError::kStopped));
  // A clean stop leaves nothing to replay: the next start is serving at once.
  if (started_) {
    MaybeCompactLog(/*min_entries=*/1);
  }
}

uint64_t Node::NextRequestId() { return request_ids_.Next(); }

Status Node::write_path_error() const { return waiters_.write_path_error(); }

void Node::SetWritePathError(const Status& status) {
  if (waiters_.SetWritePathError(status)) {
    spdlog::critical("write path failed, refusing further writes: {}", status.ToString());
  }
}

void Node::Propose(uint64_t request_id, std::string data, ProposeCallback done) {
  Status refuse;
  {
    std::lock_guard lock(mu_);
    refuse = stopping_ ? api::Err(api::EtcdError::kStopped)
                       : waiters_.AddProposal(request_id, &done);
    if (refuse.ok()) {
      proposals_.push_back(Proposal{request_id, std::move(data)});
      if (proposals_.size() < wake_at_) return;  // the write thread gathers: let it sleep
    }
  }
  if (!refuse.ok()) {
    done(ApplyResult{refuse, nullptr});
    return;
  }
  cv_.notify_one();
}

void Node::ReadIndex(ReadCallback done) {
  waiters_.WaitApplied(committed_.load(std::memory_order_acquire), std::move(done));
}

void Node::ReadAcknowledged(ReadCallback done) {
  waiters_.WaitApplied(waiters_.acknowledged(), std::move(done));
}

void Node::WriteThreadMain() {
  std::vector<Proposal> batch;
  std::vector<raft::Entry> entries;
  PacedApply apply(sm_, &waiters_, options_.commit);
  for (;;) {
    {
      std::unique_lock lock(mu_);
      apply.Wait(cv_, lock, [&] { return stopping_ || !proposals_.empty(); });
      if (!stopping_ && !proposals_.empty()) GatherProposals(lock, apply);
      if (stopping_) break;
      batch.swap(proposals_);
    }
    if (!batch.empty()) {
      WriteBatch(batch, &entries);
      batch.clear();
    }
    // The batch's entries are durable (or empty): apply them, and commit if that is due.
    if (Status s = apply.Run(entries, /*stop=*/false); !s.ok()) {
      SetWritePathError(s);
      // Entries are durable in the log but not visible: waiting reads must not be served from a
      // state without them. Fail them (and the proposers not yet answered); a restart replays
      // the log.
      waiters_.FailAll(s);
    }
    entries.clear();
    MaybeCompactLog(bytes_since_compaction_ >= options_.compact_after_bytes
                        ? 1
                        : options_.snapshot_count);
  }
  // Commit what was applied; what is still queued fails in Stop.
  if (Status s = apply.Run({}, /*stop=*/true); !s.ok()) {
    SetWritePathError(s);
    waiters_.FailAll(s);
  }
}

void Node::WriteBatch(std::vector<Proposal>& batch, std::vector<raft::Entry>* entries) {
  Status s = waiters_.write_path_error();
  if (s.ok()) {
    entries->reserve(batch.size());
    for (Proposal& p : batch) {
      entries->push_back(raft::Entry{hard_state_.term, LogIndex(last_index_ + entries->size() + 1),
                                     raft::EntryType::kNormal, std::move(p.data)});
    }
    // A single member commits an entry as soon as it is durable on its own disk.
    raft::HardState hs = hard_state_;
    hs.commit = entries->back().index;
    s = log_->Save(hs, *entries);
    if (s.ok()) {
      hard_state_ = hs;
      last_index_ = hs.commit.value();
      committed_.store(last_index_, std::memory_order_release);
      for (const raft::Entry& e : *entries) bytes_since_compaction_ += e.data.size();
      return;
    }
    // The entries may or may not be on disk; the only safe answer is to stop writing. Their
    // proposers learn of the failure; recovery decides what the log holds.
    SetWritePathError(s);
    entries->clear();
  }
  // The write path stopped (now or earlier): nothing more is written or applied.
  std::vector<uint64_t> ids;
  ids.reserve(batch.size());
  for (const Proposal& p : batch) ids.push_back(p.request_id);
  waiters_.FailProposals(ids, s);
}

void Node::GatherProposals(std::unique_lock<std::mutex>& lock, const PacedApply& apply) {
  if (options_.gather_wait.count() <= 0 || proposals_.size() >= options_.gather_target ||
      waiters_.unanswered_proposals() < options_.gather_min_unanswered) {
    return;
  }
  wake_at_ = options_.gather_target;
  cv_.wait_for(lock, options_.gather_wait, [&] {
    return stopping_ || proposals_.size() >= options_.gather_target || apply.Due();
  });
  wake_at_ = 1;
}

void Node::MaybeCompactLog(uint64_t min_entries) {
  uint64_t applied = waiters_.applied();
  if (applied < compacted_index_ + min_entries) return;
  // Only what the state machine holds durably may leave the log: sync it first.
  auto pos = sm_->SyncApplied();
  Status s = pos.ok() ? log_->Compact(pos->index, pos->term) : pos.status();
  if (!s.ok()) {
    // Costs disk space, not durability: log it and try again after the next batch.
    spdlog::warn("log compaction at applied index {} failed: {}", applied, s.ToString());
    return;
  }
  compacted_index_ = pos->index.value();
  bytes_since_compaction_ = 0;
  spdlog::info("compacted the log up to index {} (term {})", pos->index.value(),
               pos->term.value());
}

}  // namespace etcdpp::server
