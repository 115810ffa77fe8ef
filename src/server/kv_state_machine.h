// KvStateMachine: the node's StateMachine over the MVCC store. Applies batches of committed log
// entries (encoded etcdpp.internal.InternalRequest) into one open LMDB write transaction that
// also records the applied index, releasing the proposals' responses and publishing the events
// as each batch is applied; CommitApplied commits that transaction and tells the lessor.
//
// Thread: ApplyBatch and CommitApplied run on the node's apply thread only.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "mvcc/store.h"
#include "server/apply/kv_apply.h"
#include "server/node.h"

namespace etcdpp::internal {
class InternalRequest;
}
namespace etcdpp::lease {
class Lessor;
}

namespace etcdpp::server {

class KvStateMachine : public StateMachine {
 public:
  // Called after each applied batch (before its commit; see WatchHub::Publish) with the events
  // of every revision it created, in order.
  using EventSink = std::function<void(std::vector<mvcc::Event>&&)>;

  KvStateMachine(mvcc::Store* store, apply::KvApplier applier)
      : store_(store), applier_(std::move(applier)) {}

  // Must be set before the node starts. `needs_prev_kv` tells whether events must carry prev_kv.
  void SetEventSink(EventSink sink, std::function<bool()> needs_prev_kv) {
    sink_ = std::move(sink);
    needs_prev_kv_ = std::move(needs_prev_kv);
  }

  // Lease wiring (Lease service owner): lease_grant/lease_revoke/lease_checkpoint entries are
  // applied by `lessor`, which is told after each commit. Must be set before the node starts.
  void SetLessor(lease::Lessor* lessor) { lessor_ = lessor; }

  LogIndex applied_index() const override { return store_->consistent_index(); }
  Result<Position> SyncApplied() override;
  Status ApplyBatch(std::span<const raft::Entry> entries,
                    const std::function<void(Results&&)>& release) override;
  bool has_uncommitted() const override { return open_.has_value(); }
  Status CommitApplied() override;

 private:
  ApplyResult ApplyOne(mvcc::WriteBatch& batch, const etcdpp::internal::InternalRequest& req,
                       std::vector<mvcc::Event>* events);
  // Drops the open transaction and its events (after a storage error).
  void AbortOpen();

  mvcc::Store* const store_;
  const apply::KvApplier applier_;
  EventSink sink_;
  std::function<bool()> needs_prev_kv_;
  lease::Lessor* lessor_ = nullptr;
  // The transaction ApplyBatch applied into since the last commit.
  std::optional<mvcc::WriteBatch> open_;
};

}  // namespace etcdpp::server
