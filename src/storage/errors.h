// LMDB return codes as Status values. This is the only place MDB_* codes are interpreted; every
// other module sees Status.
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

#include "base/status.h"

namespace etcdpp::storage {

// The message prefix of the Status returned when the LMDB map (sized from
// --quota-backend-bytes) is full. The server turns it into etcd's NOSPACE alarm and the client
// error "etcdserver: mvcc: database space exceeded". Code: kResourceExhausted.
inline constexpr std::string_view kMapFullMessage =
    "storage: database space exceeded (LMDB map full)";

// Returns true iff `s` is the map-full status built by FromMdb(MDB_MAP_FULL, ...).
bool IsMapFull(const Status& s);

// Converts an LMDB return code (REQUIRES: rc != MDB_SUCCESS) into a Status naming the failed
// operation. MDB_MAP_FULL → kResourceExhausted with kMapFullMessage; MDB_CORRUPTED,
// MDB_PAGE_NOTFOUND, MDB_VERSION_MISMATCH, MDB_INVALID → kDataLoss; MDB_READERS_FULL →
// kResourceExhausted; anything else (incl. errno values such as ENOSPC, EACCES) → kInternal.
Status FromMdb(int rc, std::string_view operation);

}  // namespace etcdpp::storage
