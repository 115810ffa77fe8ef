#include "storage/errors.h"

#include <lmdb.h>

#include <string>

namespace etcdpp::storage {

bool IsMapFull(const Status& s) {
  return s.code() == Code::kResourceExhausted &&
         std::string_view(s.message()).substr(0, kMapFullMessage.size()) == kMapFullMessage;
}

Status FromMdb(int rc, std::string_view operation) {
  // mdb_strerror covers both LMDB's own codes and errno values.
  std::string detail = std::string(operation) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return ResourceExhausted(std::string(kMapFullMessage) + " in " + detail);
    case MDB_READERS_FULL:
      return ResourceExhausted("storage: too many concurrent readers in " + detail);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_VERSION_MISMATCH:
    case MDB_INVALID:
      return DataLoss("storage: database file is damaged or not an LMDB file: " + detail);
    default:
      return Internal("storage: " + detail);
  }
}

}  // namespace etcdpp::storage
