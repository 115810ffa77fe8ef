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

struct Env::Handle {
  explicit Handle(MDB_env* e) : env(e) {}
  ~Handle() { mdb_env_close(env); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  MDB_env* const env;
};

namespace {

// Opens an LMDB environment on `path` with the flags of `options` (whose own path is ignored).
Result<MDB_env*> OpenRaw(const EnvOptions& options, const std::string& path) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_create");
  auto fail = [&](int code, std::string_view op) {
    mdb_env_close(env);
    return FromMdb(code, std::string(op) + " " + path);
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
  if ((rc = mdb_env_open(env, path.c_str(), flags, 0600)) != MDB_SUCCESS) {
    return fail(rc, "mdb_env_open");
  }
  // A process that died holding a read transaction leaves its reader slot behind, which pins
  // old pages (the file grows) until cleared. Clear them now; the count is not interesting.
  int dead_readers = 0;
  if ((rc = mdb_reader_check(env, &dead_readers)) != MDB_SUCCESS) {
    return fail(rc, "mdb_reader_check");
  }
  return env;
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("storage: cannot open directory " + dir + ": " + strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return IoError("storage: fsync directory " + dir + ": " + strerror(err));
  return Status::Ok();
}

Status CopyCompactTo(MDB_env* env, const std::string& dest_path) {
  // O_EXCL: never overwrite an existing file (a previous snapshot or the live db).
  int fd = ::open(dest_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("storage: cannot create " + dest_path + ": " + strerror(errno));
  Status s;
  int rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
  if (rc != MDB_SUCCESS) s = FromMdb(rc, "mdb_env_copyfd2(MDB_CP_COMPACT) to " + dest_path);
  if (s.ok() && ::fsync(fd) != 0) {
    s = IoError("storage: fsync " + dest_path + ": " + strerror(errno));
  }
  ::close(fd);
  return s;
}

}  // namespace

Result<std::unique_ptr<Env>> Env::Open(const EnvOptions& options) {
  if (!options.read_only) {
    // A defragmentation that crashed before its rename leaves its copy behind; the data file
    // itself is intact, so the copy is garbage.
    std::string tmp = options.path + std::string(kDefragTempSuffix);
    ::unlink(tmp.c_str());
    ::unlink((tmp + "-lock").c_str());
  }
  ETCDPP_ASSIGN_OR_RETURN(MDB_env * raw, OpenRaw(options, options.path));
  std::unique_ptr<Env> env(new Env(options));
  env->current_ = std::make_shared<Handle>(raw);
  return env;
}

Env::~Env() = default;

std::shared_ptr<Env::Handle> Env::Current() const {
  std::lock_guard lock(handle_mu_);
  return current_;
}

std::vector<Env::NamedDbi> Env::OpenedDbis() const {
  std::lock_guard lock(handle_mu_);
  return dbis_;
}

Result<Dbi> Env::OpenDbi(std::string_view name, DbiKind kind) {
  std::unique_lock<std::mutex> writer;
  if (!options_.read_only) writer = std::unique_lock(writer_mu_);
  std::shared_ptr<Handle> handle = Current();
  ETCDPP_ASSIGN_OR_RETURN(Dbi dbi, OpenDbiIn(handle->env, name, kind));
  std::lock_guard lock(handle_mu_);
  bool known = false;
  for (const NamedDbi& d : dbis_) known = known || d.name == name;
  if (!known) dbis_.push_back(NamedDbi{std::string(name), dbi});
  return dbi;
}

Status Env::DropDbi(std::string_view name) {
  CHECK(!options_.read_only);
  std::unique_lock writer(writer_mu_);
  std::shared_ptr<Handle> handle = Current();
  std::lock_guard lock(handle_mu_);
  if (dbis_.empty() || dbis_.back().name != name) {
    return FailedPrecondition("storage: sub-database " + std::string(name) +
                              " is not the last one opened and cannot be dropped");
  }
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(handle->env, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin for mdb_drop");
  rc = mdb_drop(txn, dbis_.back().dbi.handle, 1);
  if (rc != MDB_SUCCESS) {
    mdb_txn_abort(txn);
    return FromMdb(rc, "mdb_drop " + std::string(name));
  }
  rc = mdb_txn_commit(txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_commit for mdb_drop " + std::string(name));
  dbis_.pop_back();
  return Status::Ok();
}

Result<Dbi> Env::OpenDbiIn(MDB_env* env, std::string_view name, DbiKind kind) const {
  std::string name_z(name);
  unsigned flags = 0;
  if (!options_.read_only) flags |= MDB_CREATE;
  if (kind == DbiKind::kDupFixed) flags |= MDB_DUPSORT | MDB_DUPFIXED;
  if (kind == DbiKind::kDupSort) flags |= MDB_DUPSORT;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env, nullptr, options_.read_only ? MDB_RDONLY : 0, &txn);
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
  std::shared_ptr<Handle> handle = Current();
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(handle->env, nullptr, MDB_RDONLY, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin(read)");
  return ReadTxn(txn, std::move(handle));
}

Result<WriteTxn> Env::BeginWrite() {
  CHECK(!options_.read_only) << "write transaction on a read-only env " << options_.path;
  std::unique_lock turn(writer_turn_mu_);
  std::unique_lock writer(writer_mu_);
  turn.unlock();
  std::shared_ptr<Handle> handle = Current();
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(handle->env, nullptr, 0, &txn);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_begin(write)");
  return WriteTxn(txn, std::move(handle), std::move(writer));
}

Status Env::Defragment() {
  CHECK(!options_.read_only) << "defragmenting a read-only env " << options_.path;
  // From here on no write transaction runs: the copy is the final state of the old file.
  std::unique_lock turn(writer_turn_mu_);
  std::unique_lock writer(writer_mu_);
  turn.unlock();
  std::shared_ptr<Handle> old = Current();
  const std::string tmp = options_.path + std::string(kDefragTempSuffix);
  const std::string tmp_lock = tmp + "-lock";
  ::unlink(tmp.c_str());
  ::unlink(tmp_lock.c_str());
  auto cleanup = [&](Status s) {
    ::unlink(tmp.c_str());
    ::unlink(tmp_lock.c_str());
    return s;
  };
  Status s = CopyCompactTo(old->env, tmp);
  if (!s.ok()) return cleanup(s);
  // Open the copy under its temporary name, so that it has its own lock file: two environments
  // of this process never share one (LMDB forbids it; the old one may live on for its readers).
  auto fresh_raw = OpenRaw(options_, tmp);
  if (!fresh_raw.ok()) return cleanup(fresh_raw.status());
  auto fresh = std::make_shared<Handle>(*fresh_raw);
  // Handles are slot numbers assigned in opening order; opening the same names in the same order
  // yields the same numbers, so every Dbi held by other modules stays valid.
  for (const NamedDbi& d : OpenedDbis()) {
    auto dbi = OpenDbiIn(fresh->env, d.name, d.dbi.kind);
    if (!dbi.ok()) {
      fresh.reset();
      return cleanup(dbi.status());
    }
    if (dbi->handle != d.dbi.handle) {
      fresh.reset();
      return cleanup(Internal("storage: defragment: sub-database " + d.name + " reopened as " +
                              std::to_string(dbi->handle) + ", was " +
                              std::to_string(d.dbi.handle)));
    }
  }
  if (::rename(tmp.c_str(), options_.path.c_str()) != 0) {
    Status err =
        IoError("storage: rename " + tmp + " to " + options_.path + ": " + strerror(errno));
    fresh.reset();
    return cleanup(err);
  }
  // The rename happened: the old file is no longer reachable by name, so the new environment
  // must become the live one whatever else fails (writes to the old one would be lost).
  {
    std::lock_guard lock(handle_mu_);
    current_ = std::move(fresh);
  }
  ::unlink(tmp_lock.c_str());  // the open environment keeps its (now nameless) lock file
  Status synced = FsyncDir(ParentDir(options_.path));
  // Writers may go on; closing the old environment (unmapping it) is not their business.
  writer.unlock();
  old.reset();
  return synced;
}

Status Env::CopyCompact(const std::string& dest_path) const {
  return CopyCompactTo(Current()->env, dest_path);
}

Status Env::CopyCompactToFd(int fd) const {
  int rc = mdb_env_copyfd2(Current()->env, fd, MDB_CP_COMPACT);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_copyfd2(MDB_CP_COMPACT)");
  return Status::Ok();
}

Status Env::Sync() {
  int rc = mdb_env_sync(Current()->env, 1);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_sync");
  return Status::Ok();
}

Result<EnvStats> Env::Stats(StatsDetail detail) const {
  std::shared_ptr<Handle> handle = Current();
  MDB_env* env = handle->env;
  MDB_envinfo info;
  int rc = mdb_env_info(env, &info);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_env_info");
  MDB_stat st;
  rc = mdb_env_stat(env, &st);
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
    rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
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
