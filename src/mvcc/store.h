// Store: etcd's MVCC key-value store on LMDB (schema in schema.h).
//
// Revisions work exactly as etcd's: the store starts at revision 1; every write transaction
// that changes something bumps the main revision by one, and its changes get sub-revisions
// 0, 1, 2…. A put sets mod_revision to the new main revision, keeps create_revision, and
// increments version; a delete writes a tombstone and the next put starts a new generation
// (create_revision = its revision, version 1). A read at revision R sees, per key, its latest
// change with main ≤ R, unless that change is a delete.
//
// Driving it (one writer, many readers):
//
//   // apply thread, once per batch of committed raft entries:
//   auto batch = store.Write();             // one LMDB write transaction
//   for (entry : entries) {
//     TxnWrite t = batch->BeginTxn();       // one etcd revision
//     t.Put("k", "v", LeaseId(0));          // reads via t.Range() see t's own writes
//     auto events = t.End();                // → watch hub
//   }
//   batch->CompactStep(kCompactionBatchRevisions);  // bounded background compaction work
//   batch->SetConsistentIndex(last_index, last_term);
//   batch->Commit();                        // data + index in one transaction
//
//   // any thread:
//   auto view = store.Read();               // a consistent snapshot, never blocks the writer
//   view->Range("a", "b", {.limit = 10});
//
// Thread safety: Store is thread-safe. ReadView: one thread at a time, may move between
// threads. WriteBatch/TxnWrite: apply thread only, one WriteBatch at a time (LMDB serialises
// writers; a second Write() blocks until the first batch ends).
//
// Cold start: Open() reads a handful of meta numbers; there is no scan and no index rebuild.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "base/status.h"
#include "mvcc/key_value.h"
#include "mvcc/schema.h"
#include "storage/env.h"
#include "storage/txn.h"

namespace etcdpp::mvcc {

// How many `rev` entries one CompactStep call examines by default: about a millisecond of work,
// so compaction never holds the apply thread (and with it the write path) for long.
inline constexpr size_t kCompactionBatchRevisions = 1000;

// Key ranges follow etcd's request convention everywhere in this API:
//   end == ""      → the single key `key`;
//   end == "\0"    → every key ≥ key ("from key");
//   otherwise      → the half-open interval [key, end) (empty if end ≤ key).
struct RangeOptions {
  // Maximum number of KeyValues returned; ≤ 0 means no limit. `count` is not limited.
  int64_t limit = 0;
  // Revision to read at; ≤ 0 means the current revision.
  int64_t rev = 0;
  // Return only the count, no KeyValues.
  bool count_only = false;
  // Leave KeyValue::value empty (and skip reading values where the schema allows).
  bool keys_only = false;
  // Stop at `limit` keys instead of counting the rest: `count` then covers only the keys
  // visited. For reading a large range in pieces, each piece resuming after the last key.
  bool stop_at_limit = false;
  // > 0: fail with ErrWalkBudget once more keys than this were walked (counted or not, deleted
  // ones too), so that a thread which must stay responsive can hand a large range elsewhere.
  int64_t walk_budget = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;  // in key order
  // Number of keys in the range at the read revision, regardless of `limit`.
  int64_t count = 0;
  // The store's current revision as seen by the reader (etcd's response header revision).
  int64_t rev = 0;
};

// Called with each KeyValue of a range, in key order. The views point into the LMDB snapshot
// and are valid only during the call.
using KvVisitor = std::function<void(const KeyValueView&)>;

struct HashResult {
  uint32_t hash = 0;
  int64_t rev = 0;          // the store's current revision (response header)
  int64_t compact_rev = 0;  // the compaction revision the hash was taken against
};

struct DeleteResult {
  int64_t deleted = 0;
  // The transaction's revision if anything in it changed so far, else the current revision.
  int64_t rev = 0;
};

class Store;
class WriteBatch;

// A consistent read-only snapshot of the store (an LMDB read transaction).
class ReadView {
 public:
  ReadView(ReadView&&) = default;
  ReadView& operator=(ReadView&&) = default;

  // Current revision and compaction revision of this snapshot.
  int64_t rev() const { return rev_; }
  int64_t compact_rev() const { return compact_rev_; }
  LogIndex consistent_index() const { return consistent_index_; }
  Term consistent_term() const { return consistent_term_; }

  // Returns ErrFutureRev if opts.rev > rev(), ErrCompacted if 0 < opts.rev < compact_rev().
  Result<RangeResult> Range(std::string_view key, std::string_view end,
                            const RangeOptions& opts) const;
  // The same without copying: calls `visit` for each KeyValue Range would return and returns
  // the count. For large reads (the caller copies straight into its response).
  Result<int64_t> RangeEach(std::string_view key, std::string_view end, const RangeOptions& opts,
                            const KvVisitor& visit) const;

  // Calls `fn` for every change with main revision in [from_rev, to_rev] (to_rev ≤ 0: up to the
  // current revision), in revision order, stopping after `max_events` events or when `fn`
  // returns false. Returns the main revision to continue from (the first not fully delivered).
  // Whole revisions are delivered (a revision is never split by max_events). Events carry no
  // prev_kv and prev_lease. ErrCompacted if from_rev < compact_rev().
  // This is what the watch hub replays for watchers that start in the past or fell behind.
  Result<int64_t> History(int64_t from_rev, int64_t to_rev, size_t max_events,
                          const std::function<bool(const Event&)>& fn) const;

  // The live keys attached to `lease`, in key order (the lessor's revoke list).
  Result<std::vector<std::string>> KeysWithLease(LeaseId lease) const;

  // etcd's HashKV: a CRC-32 over the history up to `rev` (≤ 0: the current revision) as it is
  // after compaction — every change after compact_rev() plus, for each key, its surviving entry
  // at compact_rev() — so members with the same applied state agree whether or not their
  // compaction steps have physically run yet. Not byte-compatible with etcd's value (different
  // on-disk layout); only etcdpp members compare it. O(history size).
  // ErrCompacted if 0 < rev ≤ compact_rev(), ErrFutureRev if rev > rev(), as etcd's HashByRev.
  Result<HashResult> HashKV(int64_t rev) const;

  // Number of entries in the history (`rev`), for metrics and compaction tests. O(1).
  Result<uint64_t> HistorySize() const;

  const storage::ReadTxn& txn() const { return txn_; }

 private:
  friend class Store;
  ReadView(const Store* store, storage::ReadTxn txn) : store_(store), txn_(std::move(txn)) {}

  const Store* store_;
  storage::ReadTxn txn_;
  int64_t rev_ = kInitialRevision;
  int64_t compact_rev_ = kNeverCompacted;
  LogIndex consistent_index_;
  Term consistent_term_;
};

// One etcd write transaction (one revision) inside a WriteBatch. Obtained from
// WriteBatch::BeginTxn(); End() must be called before the next BeginTxn() or Commit().
// Any error from Put/DeleteRange leaves the LMDB transaction unusable: abort the WriteBatch.
class TxnWrite {
 public:
  TxnWrite(TxnWrite&&) = default;
  TxnWrite(const TxnWrite&) = delete;

  // The revision before this transaction (etcd's TxnWrite.Rev()).
  int64_t rev() const { return begin_rev_; }
  bool has_changes() const { return !events_.empty(); }

  // Reads at the current revision include this transaction's own earlier writes (as etcd: the
  // read revision is rev()+1 once something changed).
  Result<RangeResult> Range(std::string_view key, std::string_view end,
                            const RangeOptions& opts) const;
  // See ReadView::RangeEach; the header revision is rev() (+1 once something changed).
  Result<int64_t> RangeEach(std::string_view key, std::string_view end, const RangeOptions& opts,
                            const KvVisitor& visit) const;
  // The live keys attached to `lease`, including this transaction's own changes.
  Result<std::vector<std::string>> KeysWithLease(LeaseId lease) const;

  // Returns the revision of the put (rev()+1). ErrKeyTooLong for keys over kMaxUserKeyBytes.
  // REQUIRES: !key.empty().
  Result<int64_t> Put(std::string_view key, std::string_view value, LeaseId lease);
  // Deletes every live key in the range (see RangeOptions for the range convention).
  Result<DeleteResult> DeleteRange(std::string_view key, std::string_view end);

  // Ends the transaction: if anything changed, the batch's current revision becomes rev()+1.
  // Returns the changes in order (sub-revision order), for the watch hub and the lessor.
  std::vector<Event> End();

 private:
  friend class WriteBatch;
  explicit TxnWrite(WriteBatch* batch);
  Status DeleteKey(const std::string& key, const KeyState& state);

  WriteBatch* batch_;
  int64_t begin_rev_;
  std::vector<Event> events_;
  bool ended_ = false;
};

struct WriteBatchOptions {
  // Fill Event::prev_kv (costs one extra read per change). The watch hub sets it while any
  // watcher asked for prev_kv.
  bool collect_prev_kv = false;
};

// One LMDB write transaction holding any number of etcd revisions, compaction work and the
// consistent index. Apply thread only.
class WriteBatch {
 public:
  // Do not move a WriteBatch while a TxnWrite of it is open (the TxnWrite points to it).
  WriteBatch(WriteBatch&&) = default;
  ~WriteBatch() = default;  // aborts if not committed

  // Begins the next revision. REQUIRES: the previous TxnWrite has ended.
  TxnWrite BeginTxn();

  int64_t rev() const { return current_rev_; }
  int64_t compact_rev() const { return compact_rev_; }
  // Changes the options for the transactions begun from now on (a batch can stay open while
  // watchers come and go).
  void set_collect_prev_kv(bool collect) { options_.collect_prev_kv = collect; }

  // Records compaction at `rev` (etcd's Compact): reads below it fail from now on, and the
  // superseded history is deleted by later CompactStep calls. ErrCompacted if
  // rev ≤ compact_rev(), ErrFutureRev if rev > rev(). Does not change the revision.
  Status Compact(int64_t rev);
  // Deletes superseded history, examining or deleting about `max_revisions` history entries.
  // Returns true iff no compaction work is left (then finished_compact_rev() == compact_rev()).
  Result<bool> CompactStep(size_t max_revisions = kCompactionBatchRevisions);
  int64_t finished_compact_rev() const { return finished_compact_rev_; }

  // Stored by Commit() in the same LMDB transaction as the data.
  void SetConsistentIndex(LogIndex index, Term term);

  // Declares the batch's revisions final before its commit: clients may be told about them
  // now (see Store::acknowledged_rev()). REQUIRES: no TxnWrite open; the batch must then be
  // committed or the write path stopped.
  void Acknowledge();

  // Commits everything; afterwards new ReadViews see it and the Store's cached numbers are
  // updated. After a failed commit nothing of the batch is visible.
  Status Commit();
  void Abort() { txn_.Abort(); }

  // The underlying LMDB transaction, for other modules' sub-databases (lease, auth, members) so
  // their changes commit atomically with the KV changes.
  storage::WriteTxn& txn() { return txn_; }

 private:
  friend class Store;
  friend class TxnWrite;
  WriteBatch(Store* store, storage::WriteTxn txn, WriteBatchOptions options);
  Result<bool> CompactKey(std::string_view key, int64_t target, size_t budget, size_t* work);

  Store* store_;
  storage::WriteTxn txn_;
  WriteBatchOptions options_;
  int64_t current_rev_;
  int64_t compact_rev_;
  int64_t finished_compact_rev_;
  RevisionKey compact_cursor_;
  LogIndex consistent_index_;
  Term consistent_term_;
  bool txn_open_ = false;
  bool dirty_meta_ = false;
  std::string encode_buffer_;  // reused by each put's encoded KeyValue
};

class Store {
 public:
  // Opens (creating on first use) the MVCC sub-databases in `env`. `env` must outlive the
  // Store. Reads only the meta numbers: O(1) in the store's size.
  static Result<std::unique_ptr<Store>> Open(storage::Env* env);

  Result<ReadView> Read() const;
  // REQUIRES: apply thread; no other WriteBatch alive.
  Result<WriteBatch> Write(WriteBatchOptions options = {});

  // Values as of the last commit (atomics; any thread). A ReadView has its own exact values.
  int64_t current_rev() const { return current_rev_.load(std::memory_order_acquire); }
  // The newest revision a client may already have been told about; ≥ current_rev(). It runs
  // ahead while an acknowledged batch commits: a watch created then starts after it, as it
  // would have had the commit finished.
  int64_t acknowledged_rev() const { return acknowledged_rev_.load(std::memory_order_acquire); }
  int64_t compact_rev() const { return compact_rev_.load(std::memory_order_acquire); }
  int64_t finished_compact_rev() const {
    return finished_compact_rev_.load(std::memory_order_acquire);
  }
  LogIndex consistent_index() const {
    return LogIndex(consistent_index_.load(std::memory_order_acquire));
  }

  storage::Env* env() const { return env_; }

 private:
  friend class ReadView;
  friend class WriteBatch;
  friend class TxnWrite;
  Store(storage::Env* env) : env_(env) {}
  Status MigrateSchema1();

  storage::Env* env_;
  storage::Dbi rev_db_, key_states_db_, meta_db_, lease_keys_db_;
  std::atomic<int64_t> current_rev_{kInitialRevision};
  std::atomic<int64_t> acknowledged_rev_{kInitialRevision};
  std::atomic<int64_t> compact_rev_{kNeverCompacted};
  std::atomic<int64_t> finished_compact_rev_{kNeverCompacted};
  std::atomic<uint64_t> consistent_index_{0};
};

}  // namespace etcdpp::mvcc
