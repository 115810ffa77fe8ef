// The checks etcd makes on a KV request before proposing it (etcdserver/api/v3rpc/key.go), run
// on the loop thread that received the request. A request that fails here never reaches raft;
// the Status is the client's error (server/api/errors.h).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "etcdserverpb/rpc.pb.h"

namespace etcdpp::apply {

// etcd's --max-txn-ops default: the most compares or ops in each list of a txn.
inline constexpr int64_t kDefaultMaxTxnOps = 128;

// Empty key → kEmptyKey.
Status ValidateRange(const etcdserverpb::RangeRequest& r);
// Empty key → kEmptyKey; ignore_value with a value → kValueProvided; ignore_lease with a lease
// → kLeaseProvided; a key over LMDB's limit → kKeyTooLong (etcdpp only).
Status ValidatePut(const etcdserverpb::PutRequest& r);
// Empty key → kEmptyKey.
Status ValidateDeleteRange(const etcdserverpb::DeleteRangeRequest& r);
// etcd's checkTxnRequest then checkIntervals on both branches: more than max_txn_ops compares,
// successes or failures → kTooManyOps; any op or compare invalid as above (a RequestOp with no
// request set → kKeyNotFound, as etcd); a key put twice, or put and deleted, on one path →
// kDuplicateKey (the same rules as etcd, including its interval quirks for deletes).
Status ValidateTxn(const etcdserverpb::TxnRequest& r, int64_t max_txn_ops = kDefaultMaxTxnOps);

// True iff no op anywhere in the txn (both branches, nested) writes. etcd serves such txns
// without raft.
bool IsTxnReadOnly(const etcdserverpb::TxnRequest& r);

}  // namespace etcdpp::apply
