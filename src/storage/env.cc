#include "storage/env.h"

#include <fcntl.h>
#include <lmdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/check.h"
#include "storage/errors.h"

namespace etcdpp::storage {

Result<std::unique_ptr<Env>> Env::Open(const EnvOptions& options) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_create");
  auto fail = [&](int code, std::string_view op) {
    mdb_env_close(env);
    return FromMdb(code, std::string(op) + " " + options.path);
  };
  if ((rc = mdb_env_set_mapsize(env, options.map_size_bytes)) != MDB_SUCCESS) {
    return fail(rc, "mdb_env_set_mapsize");
  }
  if ((rc = mdb_env_set_maxdbs(env, options.max_dbs)) != MDB_SUCCESS) {
    return fail(rc, "mdb_env_set_maxdbs");
  }
  if ((rc = mdb_env_set_maxreaders(env, options.max_readers)) != MDB_SUCCESS) {
    return fail(rc, "mdb_env_set_maxreaders");
  }
  unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
  flags |= options.commit_sync == CommitSync::kNone ? MDB_NOSYNC : MDB_NOMETASYNC;
  if (options.read_only) flags |= MDB_RDONLY;
  if (options.no_readahead) flags |= MDB_NORDAHEAD;
  if ((rc = mdb_env_open(env, options.path.c_str(), flags, 0600)) != MDB_SUCCESS) {
    return fail(rc, "mdb_env_open");
  }
  // A process that died holding a read transaction leaves its reader slot behind, which pins
  // old pages (the file grows) until cleared. Clear them now; the count is not interesting.
  int dead_readers = 0;
  if ((rc = mdb_reader_check(env, &dead_readers)) != MDB_SUCCESS) {
    return fail(rc, "mdb_reader_check");
  }
  return std::unique_ptr<Env>(new Env(env, options));
}

Env::~Env() { mdb_env_close(env_); }

Result<Dbi> Env::OpenDbi(std::string_view name, DbiKind kind) {
  std::string name_z(name);
  unsigned flags = 0;
  if (!options_.read_only) flags |= MDB_CREATE;
  if (kind == DbiKind::kDupFixed) flags |= MDB_DUPSORT | MDB_DUPFIXED;
  if (kind == DbiKind::kDupSort) flags |= MDB_DUPSORT;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin for mdb_dbi_open " + name_z);
  MDB_dbi dbi = 0;
  rc = mdb_dbi_open(txn, name_z.c_str(), flags, &dbi);
  if (rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND) return NotFound("storage: sub-database " + name_z + " does not exist");
    return FromMdb(rc, "mdb_dbi_open " + name_z);
  }
  // Commit (also for read-only) so the handle becomes visible to every later transaction.
  rc = mdb_txn_commit(txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_commit for mdb_dbi_open " + name_z);
  return Dbi{dbi, kind};
}

Result<ReadTxn> Env::BeginRead() const {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin(read)");
  return ReadTxn(txn);
}

Result<WriteTxn> Env::BeginWrite() {
  CHECK(!options_.read_only) << "write transaction on a read-only env " << options_.path;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin(write)");
  return WriteTxn(txn);
}

Status Env::CopyCompact(const std::string& dest_path) const {
  // O_EXCL: never overwrite an existing file (a previous snapshot or the live db).
  int fd = ::open(dest_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("storage: cannot create " + dest_path + ": " + strerror(errno));
  Status s = CopyCompactToFd(fd);
  if (s.ok() && ::fsync(fd) != 0) {
    s = IoError("storage: fsync " + dest_path + ": " + strerror(errno));
  }
  ::close(fd);
  return s;
}

Status Env::CopyCompactToFd(int fd) const {
  int rc = mdb_env_copyfd2(env_, fd, MDB_CP_COMPACT);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_copyfd2(MDB_CP_COMPACT)");
  return Status::Ok();
}

Status Env::Sync() {
  int rc = mdb_env_sync(env_, 1);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_sync");
  return Status::Ok();
}

Result<EnvStats> Env::Stats(StatsDetail detail) const {
  MDB_envinfo info;
  int rc = mdb_env_info(env_, &info);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_info");
  MDB_stat st;
  rc = mdb_env_stat(env_, &st);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_stat");
  EnvStats out;
  out.map_size_bytes = info.me_mapsize;
  out.page_size_bytes = st.ms_psize;
  out.used_bytes = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
  out.last_txn_id = info.me_last_txnid;
  if (detail == StatsDetail::kWithFreeList) {
    // LMDB keeps its free list in sub-database 0 (FREE_DBI): one record per freeing
    // transaction, whose value is an array of page numbers led by their count.
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin(stats)");
    MDB_cursor* c = nullptr;
    rc = mdb_cursor_open(txn, 0, &c);
    uint64_t free_pages = 0;
    MDB_val k, v;
    while (rc == MDB_SUCCESS && (rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == MDB_SUCCESS) {
      if (v.mv_size >= sizeof(size_t)) free_pages += *static_cast<const size_t*>(v.mv_data);
    }
    if (c != nullptr) mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND) return FromMdb(rc, "walking the free list");
    out.free_bytes = free_pages * st.ms_psize;
  }
  return out;
}

}  // namespace etcdpp::storage
