// ProposeWrite: the common path of every write a client-facing service makes — give the
// internal request a fresh id, propose it to the node, and answer the client with the applied
// response (header completed by the server) or the client-visible error.
//
// Thread: any loop thread; the answer is sent from the apply thread (responders are
// thread-safe, see grpc/typed.h).
#pragma once

#include <memory>
#include <utility>

#include "etcdpp/internal.pb.h"
#include "grpc/typed.h"
#include "server/api/api_context.h"
#include "server/api/errors.h"

namespace etcdpp::server {

// `Resp` is the response message the applier produces for `req` (it must have a header).
template <typename Resp>
void ProposeWrite(const ApiContext* ctx, etcdpp::internal::InternalRequest&& req,
                  grpc::TypedResponder<Resp> responder) {
  uint64_t id = ctx->node->NextRequestId();
  req.set_id(id);
  auto shared = std::make_shared<grpc::TypedResponder<Resp>>(std::move(responder));
  ctx->node->Propose(id, req.SerializeAsString(), [ctx, shared](ApplyResult&& r) {
    if (!r.status.ok()) {
      shared->Fail(api::ToClientStatus(r.status));
      return;
    }
    auto* resp = static_cast<Resp*>(r.response.get());
    ctx->FillHeader(resp->mutable_header(), resp->header().revision());
    shared->Reply(*resp);
  });
}

}  // namespace etcdpp::server
