// The MVCC store's own failures. The server's error table (server/api/errors.h) maps them onto
// etcd's client-visible errors ("etcdserver: mvcc: required revision has been compacted", …).
#pragma once

#include <string>

#include "base/status.h"

namespace etcdpp::mvcc {

inline constexpr char kCompactedMessage[] = "mvcc: required revision has been compacted";
inline constexpr char kFutureRevMessage[] = "mvcc: required revision is a future revision";
inline constexpr char kKeyTooLongMessage[] = "mvcc: key is too long";
inline constexpr char kWalkBudgetMessage[] = "mvcc: range walked more keys than its budget";

// A read or compaction asked for a revision below the compaction revision. kOutOfRange.
inline Status ErrCompacted() { return OutOfRange(kCompactedMessage); }
// A read or compaction asked for a revision above the current revision. kOutOfRange.
inline Status ErrFutureRev() { return OutOfRange(kFutureRevMessage); }
// A put of a key longer than kMaxUserKeyBytes (schema.h). kInvalidArgument.
inline Status ErrKeyTooLong() { return InvalidArgument(kKeyTooLongMessage); }
// A range gave up after RangeOptions::walk_budget keys (the caller reads it elsewhere; never
// shown to clients). kAborted.
inline Status ErrWalkBudget() { return Status(Code::kAborted, kWalkBudgetMessage); }

inline bool IsCompacted(const Status& s) { return s == ErrCompacted(); }
inline bool IsFutureRev(const Status& s) { return s == ErrFutureRev(); }
inline bool IsKeyTooLong(const Status& s) { return s == ErrKeyTooLong(); }
inline bool IsWalkBudget(const Status& s) { return s == ErrWalkBudget(); }

}  // namespace etcdpp::mvcc
