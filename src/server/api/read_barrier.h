// OnSnapshot: the read barrier every read a client-facing service serves from the store passes
// first, so that a read started after a client saw an answer observes that write (answers and
// watch events precede the state machine's commit; see server/README.md).
//
// Thread: any loop thread; the answer runs on that thread, or on the call's loop thread once
// the barrier is passed later.
#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include "grpc/typed.h"
#include "server/api/api_context.h"
#include "server/api/errors.h"

namespace etcdpp::server {

// Runs `answer(view, responder)` on a fresh snapshot after the read barrier: everything
// committed applied (linearizable) or everything acknowledged applied (serializable). `answer`
// may move the view (mvcc::ReadView&) to keep the snapshot beyond the call.
template <typename Resp, typename AnswerFn>
void OnSnapshot(const ApiContext* ctx, bool serializable, grpc::TypedResponder<Resp> responder,
                AnswerFn answer) {
  auto run = [ctx, answer = std::move(answer)](grpc::TypedResponder<Resp>& r) {
    auto view = ctx->store->Read();
    if (!view.ok()) {
      r.Fail(api::ToClientStatus(view.status()));
      return;
    }
    answer(*view, r);
  };
  if (serializable && ctx->node->applied_index() >= ctx->node->acknowledged_index()) {
    run(responder);  // the common case: nothing acknowledged is still committing
    return;
  }
  struct Waiting {
    grpc::TypedResponder<Resp> responder;
    // True while the barrier may still answer on this (loop) thread. Later the answer comes
    // from the apply or raft thread, which must not spend its time reading and encoding (a
    // large range would hold up every write or heartbeat behind it): the read moves to the
    // call's loop thread.
    std::atomic<bool> on_caller_thread{true};
  };
  auto waiting = std::make_shared<Waiting>();
  waiting->responder = std::move(responder);
  auto on_barrier = [waiting, run = std::move(run)](Status s) mutable {
    if (!s.ok()) {
      waiting->responder.Fail(api::ToClientStatus(s));
      return;
    }
    if (waiting->on_caller_thread.load(std::memory_order_acquire)) {
      run(waiting->responder);
      return;
    }
    // Dropped if the call is gone: nobody is left to answer.
    waiting->responder.RunOnLoop([waiting, run = std::move(run)]() mutable {
      run(waiting->responder);
    });
  };
  if (serializable) {
    ctx->node->ReadAcknowledged(std::move(on_barrier));
  } else {
    ctx->node->ReadIndex(std::move(on_barrier));
  }
  waiting->on_caller_thread.store(false, std::memory_order_release);
}

}  // namespace etcdpp::server
