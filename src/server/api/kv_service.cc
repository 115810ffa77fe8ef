#include "server/api/kv_service.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "base/chunked_buffer.h"
#include "etcdpp/internal.pb.h"
#include "grpc/framing.h"
#include "grpc/typed.h"
#include "mvcc/errors.h"
#include "server/api/errors.h"
#include "server/api/propose.h"
#include "server/api/range_body.h"
#include "server/api/read_barrier.h"
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

// Keys a loop thread walks for one read before it hands the read to a large-read thread: a
// few milliseconds, the longest the loop's other clients then wait for it.
constexpr int64_t kLoopWalkBudget = 4096;

// A read that went over kLoopWalkBudget on the loop: job->Read() runs again, without a budget,
// on a large-read thread, then job->Send() on the call's loop (through job->responder; dropped
// with the snapshot if the call is gone), or both right here when every such thread is busy.
template <typename Job>
void ReadOnLargeReadThread(const ApiContext* ctx, std::shared_ptr<Job> job) {
  bool started = ctx->large_reads->Start([job](const std::atomic<bool>&) {
    job->Read();
    job->responder.RunOnLoop([job] { job->Send(); });
  });
  if (started) return;
  job->Read();
  job->Send();
}

template <typename Resp>
void AnswerRead(const ApiContext* ctx, Result<Resp> resp, grpc::TypedResponder<Resp>& r) {
  if (!resp.ok()) return r.Fail(api::ToClientStatus(resp.status()));
  ctx->FillHeader(resp->mutable_header(), resp->header().revision());
  r.Reply(*resp);
}

// Runs `read(view, walk_budget)` on a fresh snapshot (see OnSnapshot) and answers with its
// result. On the loop the read may walk kLoopWalkBudget keys; one that walks more is handed to
// a large-read thread.
template <typename Resp, typename ReadFn>
void ServeRead(const ApiContext* ctx, bool serializable, grpc::TypedResponder<Resp> responder,
               ReadFn read) {
  struct LargeRead {
    const ApiContext* ctx;
    ReadFn read;
    mvcc::ReadView view;
    grpc::TypedResponder<Resp> responder;
    Result<Resp> result;

    void Read() { result = read(view, /*walk_budget=*/0); }
    void Send() { AnswerRead(ctx, std::move(result), responder); }
  };
  OnSnapshot(ctx, serializable, std::move(responder),
             [ctx, read = std::move(read)](mvcc::ReadView& view, grpc::TypedResponder<Resp>& r) {
               const int64_t budget = ctx->large_reads != nullptr ? kLoopWalkBudget : 0;
               Result<Resp> resp = read(view, budget);
               if (budget == 0 || !mvcc::IsWalkBudget(resp.status())) {
                 return AnswerRead(ctx, std::move(resp), r);
               }
               ReadOnLargeReadThread(ctx, std::make_shared<LargeRead>(LargeRead{
                                              .ctx = ctx,
                                              .read = read,
                                              .view = std::move(view),
                                              .responder = std::move(r),
                                              .result = std::move(resp),
                                          }));
             });
}

// The part of a Range answer built before it is sent: a smaller answer is built whole in one
// walk; a larger one is streamed, its rest encoded by a second walk while the client reads.
constexpr size_t kRangeBufferBytes = 1 << 20;
// Sends an encoded Range answer on the call's loop thread `loop` (null off a loop: no
// streaming). `view` is moved from when the answer is streamed.
void SendRange(net::EventLoop* loop, const Result<apply::EncodedRange>& encoded, ChunkedBuffer out,
               mvcc::ReadView& view, StreamingSlot slot, grpc::TypedResponder<RangeResponse>& r) {
  if (!encoded.ok()) return r.Fail(api::ToClientStatus(encoded.status()));
  if (encoded->size > grpc::kMaxSendMessageBytes) return r.Fail(grpc::SendTooLarge(encoded->size));
  out.Overwrite(0, grpc::MessagePrefix(encoded->size));
  std::unique_ptr<RangeBody> body;
  if (encoded->rest.has_value()) {
    body = RangeBody::Start(loop, std::move(view), std::move(*encoded->rest), std::move(slot));
  }
  r.ReplyFramed(std::move(out).Release(), std::move(body));
}

// A Range that went over kLoopWalkBudget (see ReadOnLargeReadThread); everything the read
// needs moves here.
struct LargeRangeRead {
  const apply::KvApplier* applier;
  RangeRequest req;
  apply::HeaderFields header;
  apply::RangeEncodeLimits limits;  // without a walk budget
  mvcc::ReadView view;
  StreamingSlot slot;
  grpc::TypedResponder<RangeResponse> responder;
  ChunkedBuffer out;
  Result<apply::EncodedRange> encoded;

  void Read() {
    out.Append(grpc::MessagePrefix(0));  // the length is written once known
    encoded = applier->RangeEncoded(view, req, header, limits, &out);
  }
  void Send() {
    SendRange(net::EventLoop::Current(), encoded, std::move(out), view, std::move(slot), responder);
  }
};

// Range answers with bytes the applier encodes from the snapshot straight into the buffers the
// transport sends (KvApplier::RangeEncoded): a 100 MB response is never held whole. `view` and
// `r` are moved from when the answer is streamed or read on another thread.
void ReplyRange(const ApiContext* ctx, const apply::KvApplier* applier, const RangeRequest& req,
                mvcc::ReadView& view, grpc::TypedResponder<RangeResponse>& r) {
  apply::HeaderFields h{ctx->node->cluster_id(), ctx->node->member_id(), ctx->node->term()};
  // Streamed answers and hand-offs belong to the call's loop (OnSnapshot answers there);
  // anywhere else the answer is built whole where it is.
  net::EventLoop* loop = net::EventLoop::Current();
  StreamingSlot slot;
  apply::RangeEncodeLimits limits{
      .max_message_bytes = grpc::kMaxSendMessageBytes,
      .buffer_bytes = slot.held() && loop != nullptr ? kRangeBufferBytes : SIZE_MAX,
      .walk_budget = ctx->large_reads != nullptr && loop != nullptr ? kLoopWalkBudget : 0};
  ChunkedBuffer out;
  out.Append(grpc::MessagePrefix(0));  // the length is written once known
  auto encoded = applier->RangeEncoded(view, req, h, limits, &out);
  if (encoded.ok() && encoded->over_budget) {
    limits.walk_budget = 0;
    ReadOnLargeReadThread(ctx, std::make_shared<LargeRangeRead>(LargeRangeRead{
                                   .applier = applier,
                                   .req = req,
                                   .header = h,
                                   .limits = limits,
                                   .view = std::move(view),
                                   .slot = std::move(slot),
                                   .responder = std::move(r),
                                   .out = ChunkedBuffer(),
                                   .encoded = Internal("range not read yet"),
                               }));
    return;
  }
  SendRange(loop, encoded, std::move(out), view, std::move(slot), r);
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
        OnSnapshot(ctx, serializable, std::move(r),
                   [ctx, applier, req = std::move(req)](mvcc::ReadView& view,
                                                        grpc::TypedResponder<RangeResponse>& r) {
                     ReplyRange(ctx, applier, req, view, r);
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
          ServeRead(
              ctx, serializable, std::move(r),
              [applier, req = std::move(req)](const mvcc::ReadView& view, int64_t walk_budget) {
                return applier->ReadOnlyTxn(view, req, walk_budget);
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
