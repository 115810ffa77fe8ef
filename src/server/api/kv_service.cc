#include "server/api/kv_service.h"

#include <memory>

#include "etcdpp/internal.pb.h"
#include "grpc/typed.h"
#include "server/api/errors.h"
#include "server/api/propose.h"
#include "server/apply/validate.h"

namespace etcdpp::server {
namespace {

using etcdserverpb::CompactionRequest;
using etcdserverpb::CompactionResponse;
using etcdserverpb::DeleteRangeRequest;
using etcdserverpb::DeleteRangeResponse;
using etcdserverpb::PutRequest;
using etcdserverpb::PutResponse;
using etcdserverpb::RangeRequest;
using etcdserverpb::RangeResponse;
using etcdserverpb::TxnRequest;
using etcdserverpb::TxnResponse;

// Runs `read` on a fresh snapshot after the read barrier — everything committed applied
// (linearizable) or everything acknowledged applied (serializable) — and answers with its
// result.
template <typename Resp, typename ReadFn>
void ServeRead(const ApiContext* ctx, bool serializable, grpc::TypedResponder<Resp> responder,
               ReadFn read) {
  auto run = [ctx, read = std::move(read)](grpc::TypedResponder<Resp>& r) {
    auto view = ctx->store->Read();
    if (!view.ok()) {
      r.Fail(api::ToClientStatus(view.status()));
      return;
    }
    Result<Resp> resp = read(*view);
    if (!resp.ok()) {
      r.Fail(api::ToClientStatus(resp.status()));
      return;
    }
    ctx->FillHeader(resp->mutable_header(), resp->header().revision());
    r.Reply(*resp);
  };
  if (serializable && ctx->node->applied_index() >= ctx->node->acknowledged_index()) {
    run(responder);  // the common case: nothing acknowledged is still committing
    return;
  }
  auto shared = std::make_shared<grpc::TypedResponder<Resp>>(std::move(responder));
  auto on_barrier = [shared, run = std::move(run)](Status s) mutable {
    if (!s.ok()) {
      shared->Fail(api::ToClientStatus(s));
      return;
    }
    run(*shared);
  };
  if (serializable) {
    ctx->node->ReadAcknowledged(std::move(on_barrier));
  } else {
    ctx->node->ReadIndex(std::move(on_barrier));
  }
}

// etcd serves a read-only txn without raft; it is serializable only if every range in it is.
bool TxnIsSerializable(const TxnRequest& r) {
  for (const auto* ops : {&r.success(), &r.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_range() && !op.request_range().serializable()) return false;
      if (op.has_request_txn() && !TxnIsSerializable(op.request_txn())) return false;
    }
  }
  return true;
}

}  // namespace

void RegisterKvService(grpc::Registry* registry, const ApiContext* ctx,
                       const apply::KvApplier* applier) {
  grpc::AddTypedUnary<RangeRequest, RangeResponse>(
      *registry, "/etcdserverpb.KV/Range",
      [ctx, applier](grpc::CallContext&, RangeRequest&& req,
                     grpc::TypedResponder<RangeResponse> r) {
        Status s = apply::ValidateRange(req);
        if (!s.ok()) return r.Fail(s);
        bool serializable = req.serializable();
        ServeRead(ctx, serializable, std::move(r),
                  [applier, req = std::move(req)](const mvcc::ReadView& view) {
                    return applier->Range(view, req);
                  });
      });

  grpc::AddTypedUnary<PutRequest, PutResponse>(
      *registry, "/etcdserverpb.KV/Put",
      [ctx](grpc::CallContext&, PutRequest&& req, grpc::TypedResponder<PutResponse> r) {
        Status s = apply::ValidatePut(req);
        if (!s.ok()) return r.Fail(s);
        etcdpp::internal::InternalRequest ir;
        *ir.mutable_put() = std::move(req);
        ProposeWrite(ctx, std::move(ir), std::move(r));
      });

  grpc::AddTypedUnary<DeleteRangeRequest, DeleteRangeResponse>(
      *registry, "/etcdserverpb.KV/DeleteRange",
      [ctx](grpc::CallContext&, DeleteRangeRequest&& req,
            grpc::TypedResponder<DeleteRangeResponse> r) {
        Status s = apply::ValidateDeleteRange(req);
        if (!s.ok()) return r.Fail(s);
        etcdpp::internal::InternalRequest ir;
        *ir.mutable_delete_range() = std::move(req);
        ProposeWrite(ctx, std::move(ir), std::move(r));
      });

  grpc::AddTypedUnary<TxnRequest, TxnResponse>(
      *registry, "/etcdserverpb.KV/Txn",
      [ctx, applier](grpc::CallContext&, TxnRequest&& req, grpc::TypedResponder<TxnResponse> r) {
        Status s = apply::ValidateTxn(req, static_cast<int64_t>(ctx->config->max_txn_ops));
        if (!s.ok()) return r.Fail(s);
        if (apply::IsTxnReadOnly(req)) {
          bool serializable = TxnIsSerializable(req);
          ServeRead(ctx, serializable, std::move(r),
                    [applier, req = std::move(req)](const mvcc::ReadView& view) {
                      return applier->ReadOnlyTxn(view, req);
                    });
          return;
        }
        etcdpp::internal::InternalRequest ir;
        *ir.mutable_txn() = std::move(req);
        ProposeWrite(ctx, std::move(ir), std::move(r));
      });

  grpc::AddTypedUnary<CompactionRequest, CompactionResponse>(
      *registry, "/etcdserverpb.KV/Compact",
      [ctx](grpc::CallContext&, CompactionRequest&& req,
            grpc::TypedResponder<CompactionResponse> r) {
        etcdpp::internal::InternalRequest ir;
        *ir.mutable_compaction() = std::move(req);
        ProposeWrite(ctx, std::move(ir), std::move(r));
      });
}

}  // namespace etcdpp::server
