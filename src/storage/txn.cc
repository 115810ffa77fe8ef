#include "storage/txn.h"

#include <lmdb.h>

#include "base/check.h"
#include "storage/errors.h"

namespace etcdpp::storage {
namespace {

MDB_val ToVal(std::string_view s) {
  // LMDB never writes through mv_data of an input MDB_val; the cast only satisfies its C API.
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}

std::string_view FromVal(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

}  // namespace

Result<std::optional<std::string_view>> Txn::Get(Dbi dbi, std::string_view key) const {
  MDB_val k = ToVal(key);
  MDB_val v;
  int rc = mdb_get(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_get");
  return std::optional<std::string_view>(FromVal(v));
}

Result<Cursor> Txn::OpenCursor(Dbi dbi) const {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn_, dbi.handle, &c);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_cursor_open");
  return Cursor(c);
}

Result<uint64_t> Txn::Count(Dbi dbi) const {
  MDB_stat st;
  int rc = mdb_stat(txn_, dbi.handle, &st);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_stat");
  return static_cast<uint64_t>(st.ms_entries);
}

ReadTxn& ReadTxn::operator=(ReadTxn&& o) noexcept {
  if (this != &o) {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = std::exchange(o.txn_, nullptr);
    env_ref_ = std::move(o.env_ref_);  // after the abort: the old environment may close now
  }
  return *this;
}

ReadTxn::~ReadTxn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

WriteTxn& WriteTxn::operator=(WriteTxn&& o) noexcept {
  if (this != &o) {
    Abort();
    txn_ = std::exchange(o.txn_, nullptr);
    env_ref_ = std::move(o.env_ref_);
    writer_lock_ = std::move(o.writer_lock_);
  }
  return *this;
}

WriteTxn::~WriteTxn() { Abort(); }

Status WriteTxn::Put(Dbi dbi, std::string_view key, std::string_view value) {
  CHECK(txn_ != nullptr);
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  unsigned flags = dbi.kind != DbiKind::kPlain ? MDB_NODUPDATA : 0;
  int rc = mdb_put(txn_, dbi.handle, &k, &v, flags);
  if (rc == MDB_KEYEXIST && dbi.kind != DbiKind::kPlain) return Status::Ok();
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_put");
  return Status::Ok();
}

Status WriteTxn::PutLast(Dbi dbi, std::string_view key, std::string_view value) {
  CHECK(txn_ != nullptr);
  CHECK(dbi.kind == DbiKind::kPlain) << "PutLast on a dup dbi";
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  // MDB_APPEND refuses a key that is not past the last one with MDB_KEYEXIST, before changing
  // anything: the transaction stays usable.
  int rc = mdb_put(txn_, dbi.handle, &k, &v, MDB_APPEND);
  if (rc == MDB_KEYEXIST) rc = mdb_put(txn_, dbi.handle, &k, &v, 0);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_put");
  return Status::Ok();
}

Result<bool> WriteTxn::Delete(Dbi dbi, std::string_view key) {
  CHECK(txn_ != nullptr);
  MDB_val k = ToVal(key);
  int rc = mdb_del(txn_, dbi.handle, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_del");
  return true;
}

Result<bool> WriteTxn::DeleteDup(Dbi dbi, std::string_view key, std::string_view value) {
  CHECK(txn_ != nullptr);
  CHECK(dbi.kind != DbiKind::kPlain);
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  int rc = mdb_del(txn_, dbi.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_del(dup)");
  return true;
}

Status WriteTxn::Clear(Dbi dbi) {
  CHECK(txn_ != nullptr);
  int rc = mdb_drop(txn_, dbi.handle, 0);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_drop");
  return Status::Ok();
}

Status WriteTxn::Commit() {
  CHECK(txn_ != nullptr) << "commit of a finished write transaction";
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  Finish();
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_txn_commit");
  return Status::Ok();
}

void WriteTxn::Abort() {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
  Finish();
}

void WriteTxn::Finish() {
  env_ref_.reset();
  if (writer_lock_.owns_lock()) writer_lock_.unlock();
}

Cursor& Cursor::operator=(Cursor&& o) noexcept {
  if (this != &o) {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
    cursor_ = std::exchange(o.cursor_, nullptr);
    key_ = o.key_;
    value_ = o.value_;
  }
  return *this;
}

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

Result<bool> Cursor::Move(int op, std::string_view key, std::string_view value) {
  MDB_val k = ToVal(key);
  MDB_val v = ToVal(value);
  int rc = mdb_cursor_get(cursor_, &k, &v, static_cast<MDB_cursor_op>(op));
  if (rc == MDB_NOTFOUND) {
    key_ = {};
    value_ = {};
    return false;
  }
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_cursor_get");
  if (op == MDB_FIRST_DUP || op == MDB_LAST_DUP || op == MDB_GET_BOTH_RANGE) {
    // These ops do not return the key (or return the caller's input buffer): read both back
    // from the cursor so key() always points into the database.
    rc = mdb_cursor_get(cursor_, &k, &v, MDB_GET_CURRENT);
    if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_cursor_get(MDB_GET_CURRENT)");
  }
  key_ = FromVal(k);
  value_ = FromVal(v);
  return true;
}

Result<bool> Cursor::First() { return Move(MDB_FIRST); }
Result<bool> Cursor::Last() { return Move(MDB_LAST); }
Result<bool> Cursor::Next() { return Move(MDB_NEXT); }
Result<bool> Cursor::Prev() { return Move(MDB_PREV); }
Result<bool> Cursor::SeekGE(std::string_view key) { return Move(MDB_SET_RANGE, key); }
Result<bool> Cursor::SeekExact(std::string_view key) { return Move(MDB_SET_KEY, key); }
Result<bool> Cursor::NextKey() { return Move(MDB_NEXT_NODUP); }
Result<bool> Cursor::PrevKey() { return Move(MDB_PREV_NODUP); }
Result<bool> Cursor::FirstDup() { return Move(MDB_FIRST_DUP); }
Result<bool> Cursor::LastDup() { return Move(MDB_LAST_DUP); }
Result<bool> Cursor::NextDup() { return Move(MDB_NEXT_DUP); }
Result<bool> Cursor::PrevDup() { return Move(MDB_PREV_DUP); }
Result<bool> Cursor::SeekDupGE(std::string_view key, std::string_view value) {
  return Move(MDB_GET_BOTH_RANGE, key, value);
}

Result<size_t> Cursor::DupCount() {
  size_t n = 0;
  int rc = mdb_cursor_count(cursor_, &n);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_cursor_count");
  return static_cast<size_t>(n);
}

Status Cursor::DeleteCurrent() {
  int rc = mdb_cursor_del(cursor_, 0);
  if (rc != MDB_SUCCESS) return FromMdb(rc, "mdb_cursor_del");
  return Status::Ok();
}

}  // namespace etcdpp::storage
