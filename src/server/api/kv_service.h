// etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact.
//
// Writes are validated on the loop thread (etcd's checks before proposing), proposed to the
// node, and answered when applied. Reads are served on an MVCC snapshot: serializable reads at
// once, linearizable reads after the node's read barrier (ReadIndex). A read-only Txn is a read.
#pragma once

#include "grpc/call.h"
#include "server/api/api_context.h"
#include "server/apply/kv_apply.h"

namespace etcdpp::server {

// `ctx` and `applier` must outlive the server.
void RegisterKvService(grpc::Registry* registry, const ApiContext* ctx,
                       const apply::KvApplier* applier);

}  // namespace etcdpp::server
