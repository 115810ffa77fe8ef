#include "server/kv_state_machine.h"

#include <spdlog/spdlog.h>

#include "etcdpp/internal.pb.h"
#include "mvcc/errors.h"
#include "lease/lessor.h"
#include "server/api/errors.h"
#include "server/api/lease_service.h"

namespace etcdpp::server {
namespace {

template <typename Resp>
ApplyResult ToApplyResult(Result<Resp>&& r) {
  if (!r.ok()) return ApplyResult{r.status(), nullptr};
  return ApplyResult{Status::Ok(), std::make_unique<Resp>(std::move(r).value())};
}

}  // namespace

ApplyResult KvStateMachine::ApplyOne(mvcc::WriteBatch& batch,
                                     const etcdpp::internal::InternalRequest& req,
                                     std::vector<mvcc::Event>* events) {
  using R = etcdpp::internal::InternalRequest;
  switch (req.request_case()) {
    case R::kPut:
      return ToApplyResult(applier_.ApplyPut(batch, req.put(), events));
    case R::kDeleteRange:
      return ToApplyResult(applier_.ApplyDeleteRange(batch, req.delete_range(), events));
    case R::kTxn:
      return ToApplyResult(applier_.ApplyTxn(batch, req.txn(), events));
    case R::kRange:
      return ToApplyResult(applier_.ApplyRange(batch, req.range()));
    case R::kCompaction: {
      ApplyResult r = ToApplyResult(applier_.ApplyCompaction(batch, req.compaction()));
      // etcd answers a physical compaction only after the history is gone; do the whole
      // deletion in this batch. A non-physical one proceeds in bounded steps with later batches.
      if (r.status.ok() && req.compaction().physical()) {
        for (;;) {
          auto done = batch.CompactStep();
          if (!done.ok()) return ApplyResult{done.status(), nullptr};
          if (*done) break;
        }
      }
      return r;
    }
    case R::kLeaseGrant:
    case R::kLeaseRevoke:
    case R::kLeaseCheckpoint:
      if (lessor_ == nullptr) break;
      return ApplyLeaseRequest(lessor_, batch, req, events);
    default:
      break;
  }
  return ApplyResult{api::Err(api::EtcdError::kUnknownMethod), nullptr};
}

Result<StateMachine::Position> KvStateMachine::SyncApplied() {
  // Read the position first: whatever the sync covers includes at least this commit.
  ETCDPP_ASSIGN_OR_RETURN(mvcc::ReadView view, store_->Read());
  Position pos{view.consistent_index(), view.consistent_term()};
  ETCDPP_RETURN_IF_ERROR(store_->env()->Sync());
  return pos;
}

Status KvStateMachine::ApplyBatch(std::span<const raft::Entry> entries,
                                  const std::function<void(Results&&)>& release) {
  if (entries.empty()) {
    release({});
    return Status::Ok();
  }
  const bool collect_prev_kv = needs_prev_kv_ && needs_prev_kv_();
  if (!open_) {
    ETCDPP_ASSIGN_OR_RETURN(mvcc::WriteBatch batch, store_->Write({}));
    open_.emplace(std::move(batch));
  }
  mvcc::WriteBatch& batch = *open_;
  batch.set_collect_prev_kv(collect_prev_kv);
  // A storage failure leaves the LMDB transaction unusable: nothing applied since the last
  // commit counts (it stays in the log; the write path stops).
  auto abort = [&](Status s) {
    AbortOpen();
    return s;
  };
  Results results;
  std::vector<mvcc::Event> events;
  etcdpp::internal::InternalRequest req;
  // A compaction changes what watchers and historic reads may be served; those consult the
  // committed store, so its answer waits for the commit (compactions are rare).
  bool release_after_commit = false;
  for (const raft::Entry& e : entries) {
    if (e.type != raft::EntryType::kNormal || e.data.empty()) continue;
    if (!req.ParseFromString(e.data)) {
      return abort(DataLoss("log entry " + std::to_string(e.index.value()) + " (term " +
                            std::to_string(e.term.value()) + ") is not a valid request"));
    }
    release_after_commit |= req.has_compaction();
    ApplyResult r = ApplyOne(batch, req, &events);
    if (!r.status.ok()) {
      if (!api::IsClientError(r.status) && !mvcc::IsCompacted(r.status) &&
          !mvcc::IsFutureRev(r.status)) {
        return abort(r.status);
      }
      r.status = api::ToClientStatus(r.status);
    }
    results.emplace_back(req.id(), std::move(r));
  }
  auto compact_done = batch.CompactStep();
  if (!compact_done.ok()) return abort(compact_done.status());
  batch.SetConsistentIndex(entries.back().index, entries.back().term);
  if (release_after_commit) {
    ETCDPP_RETURN_IF_ERROR(CommitApplied());
  } else {
    // Every result is final: the entries are durable in the log, so neither the answers nor the
    // events need wait for the commit. New watchers start after the revisions answered so far.
    batch.Acknowledge();
  }
  release(std::move(results));
  if (sink_ && !events.empty()) sink_(std::move(events));
  return Status::Ok();
}

Status KvStateMachine::CommitApplied() {
  if (!open_) return Status::Ok();
  Status s = open_->Commit();
  open_.reset();
  if (s.ok() && lessor_ != nullptr) lessor_->AfterCommit();  // keep-alives waiting for revokes
  return s;
}

void KvStateMachine::AbortOpen() {
  if (open_) open_->Abort();
  open_.reset();
}

}  // namespace etcdpp::server
