#include "mvcc/db_hash.h"

#include <zlib.h>

#include <algorithm>

#include "mvcc/schema.h"

namespace etcdpp::mvcc {
namespace {

uLong Crc(uLong crc, std::string_view bytes) {
  return crc32(crc, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()));
}

// Per-member bookkeeping that is not part of the replicated data.
bool IsMemberLocal(std::string_view db, std::string_view key) {
  return db == kMetaDbName && (key == kMetaConsistentIndex || key == kMetaConsistentTerm);
}

}  // namespace

Result<HashResult> HashDatabase(const storage::Env& env, const ReadView& view) {
  std::vector<storage::Env::NamedDbi> dbis = env.OpenedDbis();
  std::sort(dbis.begin(), dbis.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const storage::Env::NamedDbi& d : dbis) {
    crc = Crc(crc, d.name);
    ETCDPP_ASSIGN_OR_RETURN(storage::Cursor c, view.txn().OpenCursor(d.dbi));
    ETCDPP_ASSIGN_OR_RETURN(bool found, c.First());
    while (found) {
      if (!IsMemberLocal(d.name, c.key())) {
        crc = Crc(crc, c.key());
        crc = Crc(crc, c.value());
      }
      ETCDPP_ASSIGN_OR_RETURN(found, c.Next());
    }
  }
  HashResult out;
  out.hash = static_cast<uint32_t>(crc);
  out.rev = view.rev();
  out.compact_rev = view.compact_rev();
  return out;
}

}  // namespace etcdpp::mvcc
