// Env: one LMDB environment (a single data file plus its lock file) and its named sub-databases.
//
// This is a thin RAII wrapper: it owns the MDB_env*, turns MDB_* codes into Status and fixes the
// flags the rest of etcdpp relies on. See txn.h for transactions and cursors.
//
// Durability choice (why MDB_NOMETASYNC): the WAL (src/wal) is the source of durability — an
// entry is acknowledged only after its WAL record is fdatasync'ed, and the applied ("consistent")
// index is stored in the same LMDB transaction as the data it describes. LMDB therefore does not
// have to make every commit durable on its own. With MDB_NOMETASYNC each commit still syncs the
// data pages but not the meta page, so after a system crash the file is always consistent (LMDB
// falls back to the previous meta page) and may only miss the last commit(s); recovery replays
// the WAL from the stored consistent index. Sync() forces a full flush when that matters (before
// deleting WAL segments, before a snapshot is sent). MDB_NOSYNC would risk a torn, inconsistent
// file and is not used.
//
// File layout: MDB_NOSUBDIR, so `path` is the data file itself (etcd's `member/snap/db`) and
// the lock file is `path + "-lock"`.
//
// Defragmentation (Defragment()): a compacting copy into `path + ".tmp"` that is renamed over
// the data file and then becomes the live environment. Transactions begun before the swap keep
// the old environment open until they end (see txn.h), so readers are never blocked or broken.
//
// Thread safety: an Env may be used from any thread. MDB_NOTLS is set, so a read transaction is
// not bound to the thread that began it (a loop thread may hand it to another); a transaction
// itself must not be used by two threads at once. There is at most one write transaction at a
// time (LMDB serialises writers; etcdpp has exactly one writer, the apply thread) and it must be
// committed or aborted on the thread that began it. Readers never block the writer.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "storage/txn.h"

struct MDB_env;

namespace etcdpp::storage {

// Suffix of the compacted copy Defragment() writes next to the data file before renaming it
// over the data file. A file by this name is a leftover of an interrupted defragmentation:
// Open() deletes it.
inline constexpr std::string_view kDefragTempSuffix = ".tmp";

// Default map size: etcd's default --quota-backend-bytes (2 GiB).
inline constexpr uint64_t kDefaultMapSizeBytes = 2ull << 30;
// Named sub-databases per environment: mvcc uses 4, lease/auth/members a few more; 32 leaves
// room without the linear-scan cost LMDB documents for large values.
inline constexpr unsigned kDefaultMaxDbs = 32;
// Concurrent read transactions (one reader-table slot each). A reader is held for the duration
// of one Range/Watch-catch-up, or, for a Range answer streamed to its client, until the client
// has read it (at most 256 of those at once, server/api/kv_service.cc); 1024 covers many loop
// threads with many in-flight reads. Beginning a read beyond the limit fails with
// kResourceExhausted rather than blocking.
inline constexpr unsigned kDefaultMaxReaders = 1024;

enum class CommitSync {
  // MDB_NOMETASYNC: each commit fdatasyncs the data pages, not the meta page. Crash-safe (see
  // the file comment). The default and the only mode for real data dirs.
  kDataOnly,
  // MDB_NOSYNC: commits do not sync at all; a system crash can corrupt the file (LMDB may find
  // a meta page whose data pages never reached the disk). Only for tests and benchmarks that
  // want to measure the code rather than the disk, and for throwaway copies.
  kNone,
};

struct EnvOptions {
  // The data file; created (with its parent directory expected to exist) unless read_only.
  std::string path;
  // The LMDB map size: the largest the data file can grow. etcdpp sets it from
  // --quota-backend-bytes (plus headroom chosen by the server).
  uint64_t map_size_bytes = kDefaultMapSizeBytes;
  unsigned max_dbs = kDefaultMaxDbs;
  unsigned max_readers = kDefaultMaxReaders;
  bool read_only = false;
  // MDB_NORDAHEAD: random point reads on a large database should not pull in neighbouring pages.
  bool no_readahead = true;
  CommitSync commit_sync = CommitSync::kDataOnly;
};

struct EnvStats {
  uint64_t map_size_bytes = 0;
  uint64_t page_size_bytes = 0;
  // Bytes of the file in use: (last used page + 1) × page size. What etcd reports as "db size".
  uint64_t used_bytes = 0;
  // The id of the last committed write transaction; grows by one per commit.
  uint64_t last_txn_id = 0;
  // Of used_bytes, the pages on LMDB's free list (reusable, reclaimed only by a compacting
  // copy). used_bytes - free_bytes is etcd's "db size in use". Filled by Stats() only when
  // asked (it walks the free list).
  uint64_t free_bytes = 0;
};

enum class StatsDetail { kCheap, kWithFreeList };

class Env {
 public:
  // Opens (or creates) the environment. Never scans the file: cost is independent of its size.
  static Result<std::unique_ptr<Env>> Open(const EnvOptions& options);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Opens the named sub-database, creating it unless the env is read-only. Handles stay valid
  // for the life of the Env. REQUIRES: no write transaction is open on this thread; call during
  // start-up before readers use the handle.
  Result<Dbi> OpenDbi(std::string_view name, DbiKind kind);
  // Deletes the named sub-database with all its entries; its handle must not be used again.
  // Only the most recently opened one can be dropped (FailedPrecondition otherwise), so that
  // the others keep their handles in opening order, which Defragment relies on. For schema
  // migrations at start-up. REQUIRES: as OpenDbi; not read-only.
  Status DropDbi(std::string_view name);

  // Begins a read-only snapshot transaction. Cheap (a reader-table slot, no lock held against
  // the writer). Fails with kResourceExhausted when max_readers are in use.
  Result<ReadTxn> BeginRead() const;
  // Begins the write transaction. Blocks while another thread holds one (never the case when
  // only the apply thread writes) and while Defragment() runs. REQUIRES: !read_only.
  Result<WriteTxn> BeginWrite();

  // Reclaims the free pages of the data file (etcd's backend defrag): waits for the current write
  // transaction to end and keeps new ones waiting (BeginWrite blocks) while it writes a compacted
  // copy of the last committed state to `path + kDefragTempSuffix`, fsyncs it, opens it as a new
  // environment (re-opening every sub-database, whose handles keep their values), renames it over
  // the data file, fsyncs the directory and makes it the live environment. Readers are not
  // blocked: new transactions use the new environment, running ones finish on the old one.
  // Crash-safe: before the rename the old file is untouched; after it the new file is complete
  // and durable. On an error before the rename nothing changed and the temp file is removed.
  // Takes time proportional to the live data. REQUIRES: !read_only; the calling thread holds no
  // WriteTxn of this Env (it would wait for itself).
  Status Defragment();

  // Writes a compacted copy (free pages omitted, pages renumbered) of the last committed state
  // to a new file at `dest_path` (must not exist), fsynced. Runs on a read transaction, so
  // writers go on.
  // Used for defragmentation and for snapshots.
  Status CopyCompact(const std::string& dest_path) const;
  // Same, to an open file descriptor (a pipe or socket for a streamed snapshot).
  Status CopyCompactToFd(int fd) const;

  // Flushes data and meta pages to disk (the commits MDB_NOMETASYNC left unsynced).
  Status Sync();

  // kCheap is O(1); kWithFreeList also sums the free list (O(free-list records)).
  Result<EnvStats> Stats(StatsDetail detail = StatsDetail::kCheap) const;
  const EnvOptions& options() const { return options_; }

  // A sub-database opened through OpenDbi, in opening order.
  struct NamedDbi {
    std::string name;
    Dbi dbi;
  };
  // Every sub-database opened so far (for whole-database walks such as Maintenance.Hash).
  std::vector<NamedDbi> OpenedDbis() const;

 private:
  // One open MDB_env, closed when the last reference (the Env's, or a transaction's) goes.
  struct Handle;

  explicit Env(EnvOptions options) : options_(std::move(options)) {}
  std::shared_ptr<Handle> Current() const;
  // Opens `dbi` in `handle`'s environment; the caller holds writer_mu_ unless read-only.
  Result<Dbi> OpenDbiIn(MDB_env* env, std::string_view name, DbiKind kind) const;

  const EnvOptions options_;
  // Held by the live WriteTxn (from BeginWrite to Commit/Abort), by OpenDbi and by Defragment:
  // the environment never changes under a writer.
  std::mutex writer_mu_;
  // Taken on the way to writer_mu_ by BeginWrite and Defragment (and held while waiting for it),
  // so that they get it in turn: the apply thread, which begins its next transaction right after
  // committing the last, cannot starve a waiting Defragment.
  std::mutex writer_turn_mu_;
  // Guards current_ and dbis_.
  mutable std::mutex handle_mu_;
  std::shared_ptr<Handle> current_;
  std::vector<NamedDbi> dbis_;
};

}  // namespace etcdpp::storage
