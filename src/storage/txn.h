// Transactions, sub-database handles and cursors over an LMDB Env (see env.h).
//
// Lifetimes (from LMDB's contract, enforced by RAII here):
//  - A string_view returned by Get() or a Cursor points into the memory map and is valid only
//    until the transaction ends (and, in a WriteTxn, only until the next write to that page).
//    Copy what must outlive the transaction.
//  - A Cursor must be destroyed before its transaction ends.
//  - A ReadTxn/WriteTxn that is destroyed without Commit() is aborted.
//
// Thread safety: a transaction and its cursors are used by one thread at a time. A ReadTxn may
// move between threads (the Env sets MDB_NOTLS); a WriteTxn must end on the thread that began it.
//
// Environment lifetime: every transaction keeps the LMDB environment it was begun on alive (a
// shared reference), so Env::Defragment can swap in a compacted environment while readers still
// hold snapshots of the old one; the old environment is closed when its last transaction ends.
// A WriteTxn also holds the Env's writer lock until it commits or aborts (see Env::Defragment).
//
// Error model: "not found" is not an error — lookups return std::optional / bool. Every other
// MDB_* code becomes a Status through storage/errors.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "base/result.h"
#include "base/status.h"

struct MDB_txn;
struct MDB_cursor;

namespace etcdpp::storage {

enum class DbiKind {
  // Unique keys, one value each.
  kPlain,
  // MDB_DUPSORT | MDB_DUPFIXED: many fixed-size values per key, kept sorted by memcmp; values
  // must all have the same size (≤ 511 bytes, as keys).
  kDupFixed,
  // MDB_DUPSORT: many values per key, sorted by memcmp, each of 1..511 bytes.
  kDupSort,
};

// A sub-database handle. Valid for the life of the Env that opened it.
struct Dbi {
  unsigned handle = 0;
  DbiKind kind = DbiKind::kPlain;
};

// The longest key LMDB accepts (compile-time MDB_MAXKEYSIZE of Debian's liblmdb).
inline constexpr size_t kMaxKeyBytes = 511;

class Cursor;

// Read operations common to read and write transactions.
class Txn {
 public:
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // Returns the value of `key`, nullopt if absent. For a dup dbi: the first value.
  Result<std::optional<std::string_view>> Get(Dbi dbi, std::string_view key) const;
  // Opens a cursor on `dbi`. REQUIRES: the cursor is destroyed before this transaction ends.
  Result<Cursor> OpenCursor(Dbi dbi) const;
  // Number of entries (for dup dbis: of values) in the sub-database. O(1).
  Result<uint64_t> Count(Dbi dbi) const;

  MDB_txn* raw() const { return txn_; }

 protected:
  Txn() = default;
  Txn(MDB_txn* txn, std::shared_ptr<const void> env_ref)
      : txn_(txn), env_ref_(std::move(env_ref)) {}
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)), env_ref_(std::move(o.env_ref_)) {}
  ~Txn() = default;

  MDB_txn* txn_ = nullptr;
  // Keeps the environment of txn_ open; released only after txn_ has ended (member order and the
  // derived destructors guarantee it).
  std::shared_ptr<const void> env_ref_;
};

class ReadTxn : public Txn {
 public:
  ReadTxn() = default;
  ReadTxn(ReadTxn&& o) noexcept : Txn(std::move(o)) {}
  ReadTxn& operator=(ReadTxn&& o) noexcept;
  ~ReadTxn();  // Releases the snapshot (mdb_txn_abort).

  bool valid() const { return txn_ != nullptr; }

 private:
  friend class Env;
  ReadTxn(MDB_txn* txn, std::shared_ptr<const void> env_ref) : Txn(txn, std::move(env_ref)) {}
};

class WriteTxn : public Txn {
 public:
  WriteTxn() = default;
  WriteTxn(WriteTxn&& o) noexcept : Txn(std::move(o)), writer_lock_(std::move(o.writer_lock_)) {}
  WriteTxn& operator=(WriteTxn&& o) noexcept;
  ~WriteTxn();  // Aborts if neither committed nor aborted.

  bool valid() const { return txn_ != nullptr; }

  // Inserts or overwrites. For dup dbis: adds the value to the key's set (no-op if present).
  // Returns kResourceExhausted/kMapFullMessage when the map is full; after any error the
  // transaction can only be aborted (LMDB marks it failed).
  Status Put(Dbi dbi, std::string_view key, std::string_view value);
  // Put for a key expected to sort after every key of the (plain) dbi: goes straight to the
  // last page, and a full last page is split at its end rather than in half, so that keys
  // written in order fill their pages. Any other key is put in its place as by Put.
  Status PutLast(Dbi dbi, std::string_view key, std::string_view value);
  // Deletes `key` (all its values for dup dbis). Returns true iff it existed.
  Result<bool> Delete(Dbi dbi, std::string_view key);
  // Dup dbis only: deletes one value of `key`. Returns true iff it existed.
  Result<bool> DeleteDup(Dbi dbi, std::string_view key, std::string_view value);

  // Deletes every entry of the sub-database (which stays, empty; see Env::DropDbi).
  Status Clear(Dbi dbi);

  // Makes all writes visible to new readers and durable per the Env's flags (see env.h).
  // The transaction is finished afterwards, whatever the outcome.
  Status Commit();
  void Abort();

 private:
  friend class Env;
  WriteTxn(MDB_txn* txn, std::shared_ptr<const void> env_ref,
           std::unique_lock<std::mutex> writer_lock)
      : Txn(txn, std::move(env_ref)), writer_lock_(std::move(writer_lock)) {}
  // Releases the environment reference and the writer lock once txn_ has ended.
  void Finish();

  // The Env's writer lock, held from BeginWrite until Commit/Abort.
  std::unique_lock<std::mutex> writer_lock_;
};

// A position in one sub-database. Each positioning call returns true iff it landed on an entry;
// key()/value() are then valid (see the lifetime note above).
class Cursor {
 public:
  Cursor(Cursor&& o) noexcept
      : cursor_(std::exchange(o.cursor_, nullptr)), key_(o.key_), value_(o.value_) {}
  Cursor& operator=(Cursor&& o) noexcept;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  Result<bool> First();
  Result<bool> Last();
  Result<bool> Next();  // next entry (next value for dup dbs)
  Result<bool> Prev();
  // First entry whose key is ≥ `key` (MDB_SET_RANGE).
  Result<bool> SeekGE(std::string_view key);
  // Entry whose key is exactly `key` (first value for dup dbs).
  Result<bool> SeekExact(std::string_view key);

  // Dup-sorted sub-databases only.
  Result<bool> NextKey();   // first value of the next key (MDB_NEXT_NODUP)
  Result<bool> PrevKey();   // last value of the previous key (MDB_PREV_NODUP)
  Result<bool> FirstDup();  // first value of the current key
  Result<bool> LastDup();   // last value of the current key
  Result<bool> NextDup();   // next value of the current key, false at its end
  Result<bool> PrevDup();   // previous value of the current key, false at its start
  // Key exactly `key`, first value ≥ `value` (MDB_GET_BOTH_RANGE).
  Result<bool> SeekDupGE(std::string_view key, std::string_view value);
  // Number of values of the current key.
  Result<size_t> DupCount();

  // Deletes the entry (one value for dup dbs) under the cursor. Only on a WriteTxn's cursor.
  // The cursor then points at the following entry, which key()/value() do not reflect until the
  // next positioning call.
  Status DeleteCurrent();

  std::string_view key() const { return key_; }
  std::string_view value() const { return value_; }

 private:
  friend class Txn;
  explicit Cursor(MDB_cursor* c) : cursor_(c) {}
  Result<bool> Move(int op, std::string_view key = {}, std::string_view value = {});

  MDB_cursor* cursor_;
  std::string_view key_;
  std::string_view value_;
};

}  // namespace etcdpp::storage
