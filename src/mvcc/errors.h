// The MVCC store's own failures. The server's error table (server/api/errors.h) maps them onto
// etcd's client-visible errors ("etcdserver: mvcc: required revision has been compacted", …).
#pragma once

#include <string>

#include "base/status.h"

namespace etcdpp::mvcc {

inline constexpr char kCompactedMessage[] = "mvcc: required revision has been compacted";
inline constexpr char kFutureRevMessage[] = "mvcc: required revision is a future revision";
inline constexpr char kKeyTooLongMessage[] = "mvcc: key is too long";

// A read or compaction asked for a revision below the compaction revision. kOutOfRange.
inline Status ErrCompacted() { return OutOfRange(kCompactedMessage); }
// A read or compaction asked for a revision above the current revision. kOutOfRange.
inline Status ErrFutureRev() { return OutOfRange(kFutureRevMessage); }
// A put of a key longer than kMaxUserKeyBytes (schema.h). kInvalidArgument.
inline Status ErrKeyTooLong() { return InvalidArgument(kKeyTooLongMessage); }

inline bool IsCompacted(const Status& s) { return s == ErrCompacted(); }
inline bool IsFutureRev(const Status& s) { return s == ErrFutureRev(); }
inline bool IsKeyTooLong(const Status& s) { return s == ErrKeyTooLong(); }

}  // namespace etcdpp::mvcc
