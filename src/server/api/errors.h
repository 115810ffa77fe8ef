// Every error a client can get from etcdpp's etcd API, with etcd 3.4's exact message and gRPC
// code, in one table. Services return these Status values; the gRPC layer sends code and
// message as they are, so clients (clientv3's rpctypes.Error, python-etcd3's exception mapping,
// etcdctl's output) recognise them.
//
// Adding an error: one line in ETCDPP_ETCD_ERRORS below. Sources: etcd's
// etcdserver/api/v3rpc/rpctypes/error.go (the ErrGRPC* values) and, for errors etcd passes
// through togRPCError unmapped (code Unknown), etcdserver/errors.go.
//
// Thread safety: constants and pure functions.
#pragma once

#include <string_view>

#include "base/status.h"

namespace etcdpp::api {

// X(name, code, message)
// clang-format off
#define ETCDPP_ETCD_ERRORS(X)                                                                     \
  /* KV */                                                                                        \
  X(kEmptyKey, kInvalidArgument, "etcdserver: key is not provided")                               \
  X(kKeyNotFound, kInvalidArgument, "etcdserver: key not found")                                  \
  X(kValueProvided, kInvalidArgument, "etcdserver: value is provided")                            \
  X(kLeaseProvided, kInvalidArgument, "etcdserver: lease is provided")                            \
  X(kTooManyOps, kInvalidArgument, "etcdserver: too many operations in txn request")              \
  X(kDuplicateKey, kInvalidArgument, "etcdserver: duplicate key given in txn request")            \
  X(kCompacted, kOutOfRange, "etcdserver: mvcc: required revision has been compacted")            \
  X(kFutureRev, kOutOfRange, "etcdserver: mvcc: required revision is a future revision")          \
  X(kNoSpace, kResourceExhausted, "etcdserver: mvcc: database space exceeded")                    \
  /* etcdpp only: LMDB keys are limited to 511 bytes (see mvcc/schema.h). */                      \
  X(kKeyTooLong, kInvalidArgument, "etcdserver: key is too long")                                 \
  /* Lease */                                                                                     \
  X(kLeaseNotFound, kNotFound, "etcdserver: requested lease not found")                           \
  X(kLeaseExist, kFailedPrecondition, "etcdserver: lease already exists")                         \
  X(kLeaseTTLTooLarge, kOutOfRange, "etcdserver: too large lease TTL")                            \
  /* Watch */                                                                                     \
  X(kWatchCanceled, kCancelled, "etcdserver: watch canceled")                                     \
  /* Cluster */                                                                                   \
  X(kMemberExist, kFailedPrecondition, "etcdserver: member ID already exist")                     \
  X(kPeerURLExist, kFailedPrecondition, "etcdserver: Peer URLs already exists")                   \
  X(kMemberNotEnoughStarted, kFailedPrecondition,                                                 \
    "etcdserver: re-configuration failed due to not enough started members")                      \
  X(kMemberBadURLs, kInvalidArgument, "etcdserver: given member URLs are invalid")                \
  X(kMemberNotFound, kNotFound, "etcdserver: member not found")                                   \
  X(kMemberNotLearner, kFailedPrecondition, "etcdserver: can only promote a learner member")      \
  X(kLearnerNotReady, kFailedPrecondition,                                                        \
    "etcdserver: can only promote a learner member which is in sync with leader")                 \
  X(kTooManyLearners, kFailedPrecondition, "etcdserver: too many learner members in cluster")     \
  /* Requests */                                                                                  \
  X(kRequestTooLarge, kInvalidArgument, "etcdserver: request is too large")                       \
  X(kTooManyRequests, kResourceExhausted, "etcdserver: too many requests")                        \
  /* Auth */                                                                                      \
  X(kRootUserNotExist, kFailedPrecondition, "etcdserver: root user does not exist")               \
  X(kRootRoleNotExist, kFailedPrecondition, "etcdserver: root user does not have root role")      \
  X(kUserAlreadyExist, kFailedPrecondition, "etcdserver: user name already exists")               \
  X(kUserEmpty, kInvalidArgument, "etcdserver: user name is empty")                               \
  X(kUserNotFound, kFailedPrecondition, "etcdserver: user name not found")                        \
  X(kRoleAlreadyExist, kFailedPrecondition, "etcdserver: role name already exists")               \
  X(kRoleNotFound, kFailedPrecondition, "etcdserver: role name not found")                        \
  X(kRoleEmpty, kInvalidArgument, "etcdserver: role name is empty")                               \
  X(kAuthFailed, kInvalidArgument,                                                                \
    "etcdserver: authentication failed, invalid user ID or password")                             \
  X(kPermissionDenied, kPermissionDenied, "etcdserver: permission denied")                        \
  X(kRoleNotGranted, kFailedPrecondition, "etcdserver: role is not granted to the user")          \
  X(kPermissionNotGranted, kFailedPrecondition,                                                   \
    "etcdserver: permission is not granted to the role")                                          \
  X(kAuthNotEnabled, kFailedPrecondition, "etcdserver: authentication is not enabled")            \
  X(kInvalidAuthToken, kUnauthenticated, "etcdserver: invalid auth token")                        \
  X(kInvalidAuthMgmt, kInvalidArgument, "etcdserver: invalid auth management")                    \
  X(kAuthOldRevision, kInvalidArgument, "etcdserver: revision of auth store is old")              \
  /* Server state */                                                                              \
  X(kNoLeader, kUnavailable, "etcdserver: no leader")                                             \
  X(kNotLeader, kFailedPrecondition, "etcdserver: not leader")                                    \
  X(kLeaderChanged, kUnavailable, "etcdserver: leader changed")                                   \
  X(kNotCapable, kUnavailable, "etcdserver: not capable")                                         \
  X(kStopped, kUnavailable, "etcdserver: server stopped")                                         \
  X(kTimeout, kUnavailable, "etcdserver: request timed out")                                      \
  X(kTimeoutDueToLeaderFail, kUnavailable,                                                        \
    "etcdserver: request timed out, possibly due to previous leader failure")                     \
  X(kTimeoutDueToConnectionLost, kUnavailable,                                                    \
    "etcdserver: request timed out, possibly due to connection lost")                             \
  X(kTimeoutWaitAppliedIndex, kUnavailable,                                                       \
    "etcdserver: request timed out, waiting for the applied index took too long")                 \
  X(kUnhealthy, kUnavailable, "etcdserver: unhealthy cluster")                                    \
  X(kCorrupt, kDataLoss, "etcdserver: corrupt cluster")                                           \
  X(kNotSupportedForLearner, kUnavailable, "etcdserver: rpc not supported for learner")           \
  X(kBadLeaderTransferee, kFailedPrecondition, "etcdserver: bad leader transferee")               \
  /* etcdserver errors etcd sends unmapped, as gRPC Unknown with their text. */                   \
  X(kTimeoutLeaderTransfer, kUnknown,                                                             \
    "etcdserver: request timed out, leader transfer took too long")                               \
  X(kRequestCanceled, kUnknown, "etcdserver: request cancelled")                                  \
  X(kUnknownMethod, kUnknown, "etcdserver: unknown method")
// clang-format on

enum class EtcdError {
#define ETCDPP_ETCD_ERROR_ENUM_(name, code, message) name,
  ETCDPP_ETCD_ERRORS(ETCDPP_ETCD_ERROR_ENUM_)
#undef ETCDPP_ETCD_ERROR_ENUM_
};

// The Status a client must see for `e`: etcd's gRPC code and exact message.
Status Err(EtcdError e);
Code ErrCode(EtcdError e);
std::string_view ErrMessage(EtcdError e);

// Returns true iff `s` is exactly Err(e).
bool Is(const Status& s, EtcdError e);
// Returns true iff `s` is one of the table's errors (code and message), i.e. a client error.
bool IsClientError(const Status& s);

// Translates a lower module's Status (mvcc, storage, …) into the client-visible one: compacted
// and future revisions → kCompacted / kFutureRev; an LMDB map-full → kNoSpace; a too-long key →
// kKeyTooLong. A Status that already carries an etcd message is returned as is. Anything else
// becomes gRPC Unknown with its text, as etcd's togRPCError does for unmapped errors.
Status ToClientStatus(const Status& s);

}  // namespace etcdpp::api
