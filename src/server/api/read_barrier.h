// OnSnapshot: the read barrier every read a client-facing service serves from the store passes
// first, so that a read started after a client saw an answer observes that write (answers and
// watch events precede the state machine's commit; see server/README.md).
//
// Thread: any loop thread; the answer runs on that thread, or on the call's loop thread once
// the barrier is passed later.
#pragma once

#include <memory>
#include <thread>
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
  };
  auto waiting = std::make_shared<Waiting>();
  waiting->responder = std::move(responder);
  // The barrier answers on this (the call's loop) thread when it is passed at once, else on
  // the apply or raft thread, which must not spend its time reading and encoding (a large range
  // would hold up every write or heartbeat behind it; a streamed answer must belong to the
  // call's loop): the read then moves to the call's loop thread. Decided by thread, not by
  // whether this function has returned yet: the barrier may pass on another thread before it
  // has.
  const std::thread::id caller = std::this_thread::get_id();
  auto on_barrier = [waiting, caller, run = std::move(run)](Status s) mutable {
    if (!s.ok()) {
      waiting->responder.Fail(api::ToClientStatus(s));
      return;
    }
    if (std::this_thread::get_id() == caller) {
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
}

}  // namespace etcdpp::server
