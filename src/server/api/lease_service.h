// etcdserverpb.Lease: LeaseGrant, LeaseRevoke, LeaseKeepAlive, LeaseTimeToLive, LeaseLeases —
// and the apply side of the lease entries in the log (grant, revoke, checkpoint).
//
// As etcd 3.4 (etcdserver/api/v3rpc/lease.go, etcdserver/v3_server.go, etcdserver/apply.go):
//  - Grant and Revoke go through the log; a grant without an id gets one from the node's
//    request-id generator (positive, never 0).
//  - KeepAlive and TimeToLive are answered by the leader (this member) from the lessor, without
//    the log. A keep-alive for an unknown lease answers TTL 0; for an expired lease the answer
//    (TTL 0) is sent once its revoke has been applied. TimeToLive of an unknown lease answers
//    TTL -1 (no error).
//  - Expired leases and checkpoints are proposed by the lessor through ConnectLessor's
//    proposers, as etcd's server proposes them for its lessor.
//
// Threads: handlers run on loop threads; ApplyLeaseRequest on the apply thread.
#pragma once

#include <vector>

#include "etcdpp/internal.pb.h"
#include "grpc/call.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "server/api/api_context.h"
#include "server/node.h"

namespace etcdpp::server {

// `ctx` and `lessor` must outlive the server.
void RegisterLeaseService(grpc::Registry* registry, const ApiContext* ctx, lease::Lessor* lessor);

// Lets the lessor propose revokes of expired leases and checkpoints through ctx->node. Call
// before lessor->Start().
void ConnectLessor(lease::Lessor* lessor, const ApiContext* ctx);

// Applies a lease_grant, lease_revoke or lease_checkpoint request on the batch (apply thread).
// Errors follow KvApplier's contract (kv_apply.h): client errors from server/api/errors.h, or a
// storage failure after which the batch must be aborted. Revocation events are appended to
// `events`.
ApplyResult ApplyLeaseRequest(lease::Lessor* lessor, mvcc::WriteBatch& batch,
                              const etcdpp::internal::InternalRequest& req,
                              std::vector<mvcc::Event>* events);

}  // namespace etcdpp::server
