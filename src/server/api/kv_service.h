// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
//
// Writes are validated on the loop thread (etcd's checks before proposing), proposed to the
// node, and answered when applied. Reads are served on an MVCC snapshot: serializable reads at
// once, linearizable reads after the node's read barrier (ReadIndex). A read-only Txn is a read.
// A Range that walks more than a few thousand keys is handed to a thread of
// ApiContext::large_reads, so that it does not hold up the other clients of its loop thread.
#pragma once

#include <cstddef>

#include "grpc/call.h"
#include "server/api/api_context.h"
#include "server/apply/kv_apply.h"

namespace etcdpp::server {

// Threads for large Range answers (ApiContext::large_reads): beyond this many at once, a large
// answer is counted on its loop thread.
inline constexpr size_t kMaxLargeReads = 2;

// `ctx` and `applier` must outlive the server.
void RegisterKvService(grpc::Registry* registry, const ApiContext* ctx,
                       const apply::KvApplier* applier);

}  // namespace etcdpp::server
