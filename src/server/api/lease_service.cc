#include "server/api/lease_service.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>

#include "grpc/typed.h"
#include "server/api/errors.h"
#include "server/api/propose.h"
#include "server/api/read_barrier.h"

namespace etcdpp::server {
namespace {

using etcdserverpb::LeaseGrantRequest;
using etcdserverpb::LeaseGrantResponse;
using etcdserverpb::LeaseKeepAliveRequest;
using etcdserverpb::LeaseKeepAliveResponse;
using etcdserverpb::LeaseLeasesRequest;
using etcdserverpb::LeaseLeasesResponse;
using etcdserverpb::LeaseRevokeRequest;
using etcdserverpb::LeaseRevokeResponse;
using etcdserverpb::LeaseTimeToLiveRequest;
using etcdserverpb::LeaseTimeToLiveResponse;

Status ToClientError(lease::LeaseErrc e) {
  switch (e) {
    case lease::LeaseErrc::kOk:
      return Status::Ok();
    case lease::LeaseErrc::kNotFound:
      return api::Err(api::EtcdError::kLeaseNotFound);
    case lease::LeaseErrc::kExists:
      return api::Err(api::EtcdError::kLeaseExist);
    case lease::LeaseErrc::kTtlTooLarge:
      return api::Err(api::EtcdError::kLeaseTTLTooLarge);
  }
  return api::Err(api::EtcdError::kUnknownMethod);
}

template <typename Resp>
ApplyResult Reply(Resp resp) {
  return ApplyResult{Status::Ok(), std::make_unique<Resp>(std::move(resp))};
}

// Proposes a request nobody waits for (the lessor's own revokes and checkpoints). A lost
// proposal is harmless: an expired lease is handed out again after the retry interval, and a
// missed checkpoint only means the lease may live longer after a restart.
void ProposeInternal(const ApiContext* ctx, etcdpp::internal::InternalRequest&& req) {
  uint64_t id = ctx->node->NextRequestId();
  req.set_id(id);
  ctx->node->Propose(id, req.SerializeAsString(), [](ApplyResult&& r) {
    if (!r.status.ok() && !api::Is(r.status, api::EtcdError::kLeaseNotFound)) {
      spdlog::warn("lease proposal failed: {}", r.status.ToString());
    }
  });
}

// One LeaseKeepAlive stream: each request renews one lease and is answered on the stream.
// Requests are answered as they come, except that the answer for an expired lease waits for its
// revocation (etcd's stream blocks there; here later requests for other leases may be answered
// first — clients match answers by lease id). A half-close ends the call once every waiting
// answer has been sent, as etcd's loop only sees the end of the stream after them.
class KeepAliveHandler : public grpc::TypedStreamHandler<LeaseKeepAliveRequest> {
 public:
  KeepAliveHandler(const ApiContext* ctx, lease::Lessor* lessor,
                   grpc::TypedStream<LeaseKeepAliveResponse> stream)
      : ctx_(ctx), lessor_(lessor), state_(std::make_shared<State>(std::move(stream))) {}

  void OnRequest(LeaseKeepAliveRequest&& req) override {
    // The header is taken before renewing, as etcd does, so a client never sees a keep-alive
    // succeed at a revision after the lease's revocation.
    LeaseKeepAliveResponse resp;
    resp.set_id(req.id());
    ctx_->FillHeader(resp.mutable_header(), ctx_->store->acknowledged_rev());
    {
      std::lock_guard lock(state_->mu);
      ++state_->waiting;  // before Renew: the callback may run before Renew returns
    }
    // Runs on the apply thread after the revoke committed: only sends, never calls the node.
    auto on_revoked = [state = state_, resp]() mutable {
      resp.set_ttl(0);
      (void)state->stream.Send(resp);
      state->AnswerDone();
    };
    auto r = lessor_->Renew(LeaseId(req.id()), std::move(on_revoked));
    switch (r.outcome) {
      case lease::Lessor::RenewOutcome::kRenewed:
        resp.set_ttl(r.ttl_seconds);
        break;
      case lease::Lessor::RenewOutcome::kNotFound:
        resp.set_ttl(0);
        break;
      case lease::Lessor::RenewOutcome::kExpired:
        return;  // answered by on_revoked
      case lease::Lessor::RenewOutcome::kNotPrimary:
        if (ctx_->forward_lease_renew) {
          // A follower: the leader renews, this stream relays its answer.
          ctx_->forward_lease_renew(
              LeaseId(req.id()), [state = state_, resp](Result<int64_t> ttl) mutable {
                if (!ttl.ok()) {
                  state->stream.Finish(ttl.status());
                  return;
                }
                resp.set_ttl(*ttl);
                (void)state->stream.Send(resp);
                state->AnswerDone();
              });
          return;
        }
        // A single member is always the leader once started.
        state_->stream.Finish(api::Err(api::EtcdError::kNoLeader));
        return;
    }
    // A failed Send finishes the stream itself (client gone or not reading).
    (void)state_->stream.Send(resp);
    state_->AnswerDone();
  }
  void OnHalfClose() override {
    std::unique_lock lock(state_->mu);
    state_->half_closed = true;
    if (state_->waiting == 0) {
      lock.unlock();
      state_->stream.Finish(Status::Ok());
    }
  }
  void OnCancel() override {}

 private:
  // Shared with the revocation callbacks, which may outlive the handler.
  struct State {
    explicit State(grpc::TypedStream<LeaseKeepAliveResponse> s) : stream(std::move(s)) {}
    void AnswerDone() {
      std::unique_lock lock(mu);
      --waiting;
      if (half_closed && waiting == 0) {
        lock.unlock();
        stream.Finish(Status::Ok());
      }
    }
    grpc::TypedStream<LeaseKeepAliveResponse> stream;  // thread-safe
    std::mutex mu;
    int64_t waiting = 0;  // requests not yet answered
    bool half_closed = false;
  };

  const ApiContext* const ctx_;
  lease::Lessor* const lessor_;
  std::shared_ptr<State> state_;
};

}  // namespace

ApplyResult ApplyLeaseRequest(lease::Lessor* lessor, mvcc::WriteBatch& batch,
                              const etcdpp::internal::InternalRequest& req,
                              std::vector<mvcc::Event>* events) {
  using R = etcdpp::internal::InternalRequest;
  switch (req.request_case()) {
    case R::kLeaseGrant: {
      int64_t ttl = 0;
      auto r =
          lessor->ApplyGrant(batch, LeaseId(req.lease_grant().id()), req.lease_grant().ttl(), &ttl);
      if (!r.ok()) return ApplyResult{r.status(), nullptr};
      if (*r != lease::LeaseErrc::kOk) return ApplyResult{ToClientError(*r), nullptr};
      LeaseGrantResponse resp;
      resp.set_id(req.lease_grant().id());
      resp.set_ttl(ttl);
      resp.mutable_header()->set_revision(batch.rev());
      return Reply(std::move(resp));
    }
    case R::kLeaseRevoke: {
      auto r = lessor->ApplyRevoke(batch, LeaseId(req.lease_revoke().id()), events);
      if (!r.ok()) return ApplyResult{r.status(), nullptr};
      if (*r != lease::LeaseErrc::kOk) return ApplyResult{ToClientError(*r), nullptr};
      LeaseRevokeResponse resp;
      resp.mutable_header()->set_revision(batch.rev());
      return Reply(std::move(resp));
    }
    case R::kLeaseCheckpoint: {
      std::vector<lease::Checkpoint> cps;
      cps.reserve(req.lease_checkpoint().checkpoints_size());
      for (const auto& c : req.lease_checkpoint().checkpoints()) {
        cps.push_back({LeaseId(c.id()), c.remaining_ttl()});
      }
      Status s = lessor->ApplyCheckpoint(batch, cps);
      if (!s.ok()) return ApplyResult{s, nullptr};
      etcdserverpb::LeaseCheckpointResponse resp;
      resp.mutable_header()->set_revision(batch.rev());
      return Reply(std::move(resp));
    }
    default:
      return ApplyResult{api::Err(api::EtcdError::kUnknownMethod), nullptr};
  }
}

void ConnectLessor(lease::Lessor* lessor, const ApiContext* ctx) {
  lessor->SetProposers(
      [ctx](LeaseId id) {
        etcdpp::internal::InternalRequest ir;
        ir.mutable_lease_revoke()->set_id(id.value());
        ProposeInternal(ctx, std::move(ir));
      },
      [ctx](std::vector<lease::Checkpoint> cps) {
        etcdpp::internal::InternalRequest ir;
        for (const auto& c : cps) {
          auto* cp = ir.mutable_lease_checkpoint()->add_checkpoints();
          cp->set_id(c.id.value());
          cp->set_remaining_ttl(c.remaining_ttl_seconds);
        }
        ProposeInternal(ctx, std::move(ir));
      });
}

void RegisterLeaseService(grpc::Registry* registry, const ApiContext* ctx, lease::Lessor* lessor) {
  grpc::AddTypedUnary<LeaseGrantRequest, LeaseGrantResponse>(
      *registry, "/etcdserverpb.Lease/LeaseGrant",
      [ctx](grpc::CallContext&, LeaseGrantRequest&& req,
            grpc::TypedResponder<LeaseGrantResponse> r) {
        // etcd picks a positive id from its request-id generator when the client gave none.
        while (req.id() == 0) {
          req.set_id(static_cast<int64_t>(ctx->node->NextRequestId() & ((uint64_t{1} << 63) - 1)));
        }
        etcdpp::internal::InternalRequest ir;
        *ir.mutable_lease_grant() = std::move(req);
        ProposeWrite(ctx, std::move(ir), std::move(r));
      });

  grpc::AddTypedUnary<LeaseRevokeRequest, LeaseRevokeResponse>(
      *registry, "/etcdserverpb.Lease/LeaseRevoke",
      [ctx](grpc::CallContext&, LeaseRevokeRequest&& req,
            grpc::TypedResponder<LeaseRevokeResponse> r) {
        etcdpp::internal::InternalRequest ir;
        *ir.mutable_lease_revoke() = std::move(req);
        ProposeWrite(ctx, std::move(ir), std::move(r));
      });

  grpc::AddTypedUnary<LeaseTimeToLiveRequest, LeaseTimeToLiveResponse>(
      *registry, "/etcdserverpb.Lease/LeaseTimeToLive",
      [ctx, lessor](grpc::CallContext&, LeaseTimeToLiveRequest&& req,
                    grpc::TypedResponder<LeaseTimeToLiveResponse> r) {
        LeaseTimeToLiveResponse resp;
        resp.set_id(req.id());
        auto info = lessor->Lookup(LeaseId(req.id()));
        if (!info.has_value()) {
          resp.set_ttl(-1);  // etcd answers an unknown lease with TTL -1, not an error
        } else {
          resp.set_ttl(info->remaining_seconds);
          resp.set_grantedttl(info->granted_ttl_seconds);
        }
        if (!info.has_value() || !req.keys()) {
          ctx->FillHeader(resp.mutable_header(), ctx->store->acknowledged_rev());
          return r.Reply(resp);
        }
        // The attached keys come from the store: include every put the caller saw answered.
        OnSnapshot(ctx, /*serializable=*/true, std::move(r),
                   [ctx, resp = std::move(resp)](
                       const mvcc::ReadView& view,
                       grpc::TypedResponder<LeaseTimeToLiveResponse>& responder) {
                     auto keys = view.KeysWithLease(LeaseId(resp.id()));
                     if (!keys.ok()) return responder.Fail(api::ToClientStatus(keys.status()));
                     LeaseTimeToLiveResponse out = resp;
                     for (auto& k : *keys) out.add_keys(std::move(k));
                     ctx->FillHeader(out.mutable_header(), ctx->store->acknowledged_rev());
                     responder.Reply(out);
                   });
      });

  grpc::AddTypedUnary<LeaseLeasesRequest, LeaseLeasesResponse>(
      *registry, "/etcdserverpb.Lease/LeaseLeases",
      [ctx, lessor](grpc::CallContext&, LeaseLeasesRequest&&,
                    grpc::TypedResponder<LeaseLeasesResponse> r) {
        LeaseLeasesResponse resp;
        for (LeaseId id : lessor->Leases()) resp.add_leases()->set_id(id.value());
        ctx->FillHeader(resp.mutable_header(), ctx->store->acknowledged_rev());
        r.Reply(resp);
      });

  grpc::AddTypedStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
      *registry, "/etcdserverpb.Lease/LeaseKeepAlive",
      [ctx, lessor](grpc::CallContext&, grpc::TypedStream<LeaseKeepAliveResponse> stream)
          -> std::unique_ptr<grpc::TypedStreamHandler<LeaseKeepAliveRequest>> {
        return std::make_unique<KeepAliveHandler>(ctx, lessor, std::move(stream));
      });
}

}  // namespace etcdpp::server
