#include "mvcc/store.h"

#include <spdlog/spdlog.h>
#include <zlib.h>

#include <utility>

#include "base/check.h"
#include "mvcc/errors.h"

namespace etcdpp::mvcc {
namespace {

using storage::Cursor;
using storage::Dbi;

enum class EndKind { kSingle, kToInfinity, kBounded };

// A request's [key, end) in etcd's convention (see RangeOptions in store.h).
struct KeySpan {
  std::string_view key;
  std::string_view end;
  EndKind kind;

  static KeySpan Of(std::string_view key, std::string_view end) {
    if (end.empty()) return {key, end, EndKind::kSingle};
    if (end.size() == 1 && end[0] == '\0') return {key, end, EndKind::kToInfinity};
    return {key, end, EndKind::kBounded};
  }
  // REQUIRES: k ≥ key.
  bool BeforeEnd(std::string_view k) const { return kind == EndKind::kToInfinity || k < end; }
};

struct Dbs {
  Dbi rev, key_states;
};

Status Corrupt(std::string what) { return DataLoss("mvcc: inconsistent store: " + what); }

Result<std::vector<std::string>> LeaseKeys(const storage::Txn& txn, Dbi lease_keys, LeaseId lease) {
  std::vector<std::string> keys;
  ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn.OpenCursor(lease_keys));
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekExact(EncodeInt64(lease.value())));
  while (found) {
    keys.emplace_back(c.value());
    ETCDPP_ASSIGN_OR_RETURN(found, c.NextDup());
  }
  return keys;
}

// Positions `c` on the first key ≥ `key`. Keys longer than LMDB's limit cannot be passed to a
// seek; no stored key is that long, so seeking to the truncated prefix and skipping the
// (few) keys below `key` gives the same position.
Result<bool> SeekFirstKey(Cursor& c, std::string_view key) {
  if (key.empty()) return c.First();
  if (key.size() <= kMaxUserKeyBytes) return c.SeekGE(key);
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekGE(key.substr(0, kMaxUserKeyBytes)));
  while (found && c.key() < key) {
    ETCDPP_ASSIGN_OR_RETURN(found, c.NextKey());
  }
  return found;
}

Result<int64_t> ReadMeta(const storage::Txn& txn, Dbi meta, std::string_view name,
                         int64_t missing) {
  ETCDPP_ASSIGN_OR_RETURN(auto v, txn.Get(meta, name));
  if (!v.has_value()) return missing;
  int64_t out;
  if (!DecodeInt64(*v, &out)) return Corrupt("meta " + std::string(name) + " is not a number");
  return out;
}

// Reads the KeyValue stored at revision `r`.
Result<KeyValueView> ReadRevision(const storage::Txn& txn, Dbi rev_db, RevisionKey r) {
  char k[kRevisionKeyBytes];
  EncodeRevisionKey(r, k);
  ETCDPP_ASSIGN_OR_RETURN(auto v, txn.Get(rev_db, std::string_view(k, sizeof(k))));
  if (!v.has_value()) {
    return Corrupt("revision (" + std::to_string(r.main) + "," + std::to_string(r.sub) +
                   ") is indexed but missing from history");
  }
  return DecodeKeyValue(*v);
}

// With `c` on any entry of a key, moves it to the key's last (current) state and decodes it.
Status LastState(Cursor& c, KeyState* st) {
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.LastDup());
  if (!found || !DecodeKeyState(c.value(), st)) {
    return Corrupt("bad last key state of " + std::string(c.key()));
  }
  return Status::Ok();
}

// Positions `c` on `key`'s current (last) state. Returns false if the key has no entry.
// REQUIRES: key is not empty and at most kMaxUserKeyBytes long.
Result<bool> SeekCurrentState(Cursor& c, std::string_view key, KeyState* st) {
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekExact(key));
  if (!found) return false;
  ETCDPP_RETURN_IF_ERROR(LastState(c, st));
  return true;
}

// Builds the view of `key` from its state at the read revision (+ its value from `rev` unless
// keys_only). REQUIRES: !st.tombstone.
Result<KeyValueView> StateKeyValue(const storage::Txn& txn, const Dbs& dbs, std::string_view key,
                                   const KeyState& st, bool keys_only) {
  KeyValueView kv;
  kv.key = key;
  kv.create_revision = st.create_revision;
  kv.mod_revision = st.rev.main;
  kv.version = st.version;
  kv.lease = st.lease;
  if (!keys_only) {
    ETCDPP_ASSIGN_OR_RETURN(KeyValueView stored, ReadRevision(txn, dbs.rev, st.rev));
    kv.value = stored.value;
  }
  return kv;
}

// With `c` on the first entry of a key, finds the key's latest state with main ≤ rev.
// Returns false if the key had no entry by then. Leaves `c` on an entry of the same key.
Result<bool> LatestAtOrBefore(Cursor& c, int64_t rev, KeyState* out) {
  KeyState st;
  if (!DecodeKeyState(c.value(), &st)) return Corrupt("bad key state");
  if (st.rev.main > rev) return false;
  ETCDPP_RETURN_IF_ERROR(LastState(c, &st));
  if (st.rev.main <= rev) {
    *out = st;
    return true;
  }
  // Some entries are ≤ rev and some are not: seek the first entry > rev, step back one.
  std::string key(c.key());
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekDupGE(key, EncodeKeyState({.rev = {rev + 1, 0}})));
  if (!found) return Corrupt("key_states SeekDupGE of " + key);
  ETCDPP_ASSIGN_OR_RETURN(found, c.PrevDup());
  if (!found || !DecodeKeyState(c.value(), &st)) return Corrupt("key_states PrevDup of " + key);
  *out = st;
  return true;
}

// Range at revision `rev` ≤ the current one. Returns the count; calls `visit` for the first
// `limit` keys unless count_only.
Result<int64_t> RangeStates(const storage::Txn& txn, const Dbs& dbs, const KeySpan& span,
                            int64_t rev, bool current, const RangeOptions& opts,
                            const KvVisitor& visit) {
  int64_t count = 0;
  ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn.OpenCursor(dbs.key_states));
  // With `c` on the first entry of a key: counts and visits the key if it exists at `rev`.
  auto visit_key = [&]() -> Status {
    KeyState st;
    bool existed = true;
    if (current) {
      ETCDPP_RETURN_IF_ERROR(LastState(c, &st));
    } else {
      ETCDPP_ASSIGN_OR_RETURN(existed, LatestAtOrBefore(c, rev, &st));
    }
    if (!existed || st.tombstone) return Status::Ok();
    ++count;
    if (opts.count_only || (opts.limit > 0 && count > opts.limit)) return Status::Ok();
    ETCDPP_ASSIGN_OR_RETURN(KeyValueView kv, StateKeyValue(txn, dbs, c.key(), st, opts.keys_only));
    visit(kv);
    return Status::Ok();
  };
  if (span.kind == EndKind::kSingle) {
    if (span.key.empty() || span.key.size() > kMaxUserKeyBytes) return count;
    ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekExact(span.key));
    if (found) ETCDPP_RETURN_IF_ERROR(visit_key());
    return count;
  }
  const bool stop_at_limit = opts.stop_at_limit && opts.limit > 0;
  int64_t walked = 0;
  ETCDPP_ASSIGN_OR_RETURN(bool found, SeekFirstKey(c, span.key));
  while (found && span.BeforeEnd(c.key())) {
    if (stop_at_limit && count == opts.limit) break;
    if (opts.walk_budget > 0 && ++walked > opts.walk_budget) return ErrWalkBudget();
    ETCDPP_RETURN_IF_ERROR(visit_key());
    ETCDPP_ASSIGN_OR_RETURN(found, c.NextKey());
  }
  return count;
}

// etcd's rangeKeys: `cur` is the reader's current revision, `compact` the compaction revision.
// Returns the count.
Result<int64_t> RangeEachAt(const storage::Txn& txn, const Dbs& dbs, int64_t cur, int64_t compact,
                            std::string_view key, std::string_view end, const RangeOptions& opts,
                            const KvVisitor& visit) {
  int64_t rev = opts.rev;
  if (rev > cur) return ErrFutureRev();
  if (rev <= 0) rev = cur;
  if (rev < compact) return ErrCompacted();
  return RangeStates(txn, dbs, KeySpan::Of(key, end), rev, rev == cur, opts, visit);
}

Result<RangeResult> RangeAt(const storage::Txn& txn, const Dbs& dbs, int64_t cur, int64_t compact,
                            std::string_view key, std::string_view end, const RangeOptions& opts) {
  RangeResult r;
  r.rev = cur;
  ETCDPP_ASSIGN_OR_RETURN(
      r.count, RangeEachAt(txn, dbs, cur, compact, key, end, opts,
                           [&](const KeyValueView& kv) { r.kvs.push_back(kv.ToOwned()); }));
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Store

Result<std::unique_ptr<Store>> Store::Open(storage::Env* env) {
  std::unique_ptr<Store> s(new Store(env));
  ETCDPP_ASSIGN_OR_RETURN(s->meta_db_, env->OpenDbi(kMetaDbName, storage::DbiKind::kPlain));
  int64_t schema;
  {
    ETCDPP_ASSIGN_OR_RETURN(storage::ReadTxn r, env->BeginRead());
    ETCDPP_ASSIGN_OR_RETURN(schema, ReadMeta(r, s->meta_db_, kMetaSchemaVersion, 0));
  }
  if (schema != 0 && schema != 1 && schema != kSchemaVersion) {
    return FailedPrecondition("mvcc: store schema version " + std::to_string(schema) +
                              " is not supported (this build reads versions 1 and " +
                              std::to_string(kSchemaVersion) + ")");
  }
  if (schema == 1 && env->options().read_only) {
    return FailedPrecondition(
        "mvcc: the store has schema version 1; open it writable once (start etcdpp on it) to "
        "migrate it to version " +
        std::to_string(kSchemaVersion));
  }
  ETCDPP_ASSIGN_OR_RETURN(s->rev_db_, env->OpenDbi(kRevDbName, storage::DbiKind::kPlain));
  ETCDPP_ASSIGN_OR_RETURN(s->key_states_db_,
                          env->OpenDbi(kKeyStatesDbName, storage::DbiKind::kDupFixed));
  ETCDPP_ASSIGN_OR_RETURN(s->lease_keys_db_,
                          env->OpenDbi(kLeaseKeysDbName, storage::DbiKind::kDupSort));
  if (schema == 1) ETCDPP_RETURN_IF_ERROR(s->MigrateSchema1());

  ETCDPP_ASSIGN_OR_RETURN(storage::ReadTxn r, env->BeginRead());
  ETCDPP_ASSIGN_OR_RETURN(int64_t cur,
                          ReadMeta(r, s->meta_db_, kMetaCurrentRevision, kInitialRevision));
  ETCDPP_ASSIGN_OR_RETURN(int64_t compact,
                          ReadMeta(r, s->meta_db_, kMetaCompactRevision, kNeverCompacted));
  ETCDPP_ASSIGN_OR_RETURN(int64_t finished,
                          ReadMeta(r, s->meta_db_, kMetaFinishedCompactRevision, kNeverCompacted));
  ETCDPP_ASSIGN_OR_RETURN(int64_t index, ReadMeta(r, s->meta_db_, kMetaConsistentIndex, 0));
  r = storage::ReadTxn();
  s->current_rev_ = cur;
  s->acknowledged_rev_ = cur;
  s->compact_rev_ = compact;
  s->finished_compact_rev_ = finished;
  s->consistent_index_ = static_cast<uint64_t>(index);

  if (schema == 0 && !env->options().read_only) {
    ETCDPP_ASSIGN_OR_RETURN(storage::WriteTxn w, env->BeginWrite());
    ETCDPP_RETURN_IF_ERROR(w.Put(s->meta_db_, kMetaSchemaVersion, EncodeInt64(kSchemaVersion)));
    ETCDPP_RETURN_IF_ERROR(w.Commit());
  }
  return s;
}

// Schema 1 (schema.h) kept the live state in `key` and the history in `keyrev`. Each `keyrev`
// entry becomes a KeyState, its create revision, version and lease read from the KeyValue in `rev`.
// key_states is filled in transactions of kMigrationBatch entries (one LMDB transaction holds a
// bounded number of dirty pages), while the schema stays 1; the last transaction empties the old
// tables and sets version 2. A crash on the way leaves schema 1 and a partial key_states, which the
// next start empties and fills again.
Status Store::MigrateSchema1() {
  constexpr uint64_t kMigrationBatch = 100000;
  ETCDPP_ASSIGN_OR_RETURN(Dbi key_db, env_->OpenDbi(kSchema1KeyDbName, storage::DbiKind::kPlain));
  ETCDPP_ASSIGN_OR_RETURN(Dbi keyrev_db,
                          env_->OpenDbi(kSchema1KeyRevDbName, storage::DbiKind::kDupFixed));
  uint64_t migrated = 0;
  std::string resume_key, resume_value;  // the last entry copied
  bool done = false;
  while (!done) {
    ETCDPP_ASSIGN_OR_RETURN(storage::WriteTxn w, env_->BeginWrite());
    {
      ETCDPP_ASSIGN_OR_RETURN(Cursor c, w.OpenCursor(keyrev_db));
      bool found;
      if (migrated == 0) {
        ETCDPP_RETURN_IF_ERROR(w.Clear(key_states_db_));
        ETCDPP_ASSIGN_OR_RETURN(found, c.First());
      } else {
        ETCDPP_ASSIGN_OR_RETURN(found, c.SeekDupGE(resume_key, resume_value));
        if (!found) return Corrupt("schema 1 migration lost its place in keyrev");
        ETCDPP_ASSIGN_OR_RETURN(found, c.Next());
      }
      for (uint64_t n = 0; found && n < kMigrationBatch; ++n) {
        KeyState st;
        if (!DecodeSchema1KeyRevEntry(c.value(), &st)) {
          return Corrupt("bad schema 1 keyrev entry");
        }
        if (!st.tombstone) {
          ETCDPP_ASSIGN_OR_RETURN(KeyValueView kv, ReadRevision(w, rev_db_, st.rev));
          st.create_revision = kv.create_revision;
          st.version = kv.version;
          st.lease = kv.lease;
        }
        ETCDPP_RETURN_IF_ERROR(w.Put(key_states_db_, c.key(), EncodeKeyState(st)));
        resume_key = c.key();
        resume_value = c.value();
        ++migrated;
        ETCDPP_ASSIGN_OR_RETURN(found, c.Next());
      }
      done = !found;
    }
    if (done) {
      ETCDPP_RETURN_IF_ERROR(w.Clear(key_db));
      ETCDPP_RETURN_IF_ERROR(w.Clear(keyrev_db));
      ETCDPP_RETURN_IF_ERROR(w.Put(meta_db_, kMetaSchemaVersion, EncodeInt64(kSchemaVersion)));
    }
    ETCDPP_RETURN_IF_ERROR(w.Commit());
  }
  // Emptied in the same transaction as the version change; deleting the names is tidying (a
  // crash before it leaves two empty sub-databases that nothing opens again).
  ETCDPP_RETURN_IF_ERROR(env_->DropDbi(kSchema1KeyRevDbName));
  ETCDPP_RETURN_IF_ERROR(env_->DropDbi(kSchema1KeyDbName));
  spdlog::info("mvcc: migrated the store from schema version 1 to {} ({} key states)",
               kSchemaVersion, migrated);
  return Status::Ok();
}

Result<ReadView> Store::Read() const {
  ETCDPP_ASSIGN_OR_RETURN(storage::ReadTxn txn, env_->BeginRead());
  ReadView v(this, std::move(txn));
  ETCDPP_ASSIGN_OR_RETURN(v.rev_,
                          ReadMeta(v.txn_, meta_db_, kMetaCurrentRevision, kInitialRevision));
  ETCDPP_ASSIGN_OR_RETURN(v.compact_rev_,
                          ReadMeta(v.txn_, meta_db_, kMetaCompactRevision, kNeverCompacted));
  ETCDPP_ASSIGN_OR_RETURN(int64_t index, ReadMeta(v.txn_, meta_db_, kMetaConsistentIndex, 0));
  ETCDPP_ASSIGN_OR_RETURN(int64_t term, ReadMeta(v.txn_, meta_db_, kMetaConsistentTerm, 0));
  v.consistent_index_ = LogIndex(static_cast<uint64_t>(index));
  v.consistent_term_ = Term(static_cast<uint64_t>(term));
  return v;
}

Result<WriteBatch> Store::Write(WriteBatchOptions options) {
  ETCDPP_ASSIGN_OR_RETURN(storage::WriteTxn txn, env_->BeginWrite());
  WriteBatch b(this, std::move(txn), options);
  ETCDPP_ASSIGN_OR_RETURN(b.current_rev_,
                          ReadMeta(b.txn_, meta_db_, kMetaCurrentRevision, kInitialRevision));
  ETCDPP_ASSIGN_OR_RETURN(b.compact_rev_,
                          ReadMeta(b.txn_, meta_db_, kMetaCompactRevision, kNeverCompacted));
  ETCDPP_ASSIGN_OR_RETURN(
      b.finished_compact_rev_,
      ReadMeta(b.txn_, meta_db_, kMetaFinishedCompactRevision, kNeverCompacted));
  ETCDPP_ASSIGN_OR_RETURN(int64_t index, ReadMeta(b.txn_, meta_db_, kMetaConsistentIndex, 0));
  ETCDPP_ASSIGN_OR_RETURN(int64_t term, ReadMeta(b.txn_, meta_db_, kMetaConsistentTerm, 0));
  b.consistent_index_ = LogIndex(static_cast<uint64_t>(index));
  b.consistent_term_ = Term(static_cast<uint64_t>(term));
  ETCDPP_ASSIGN_OR_RETURN(auto cursor, b.txn_.Get(meta_db_, kMetaCompactCursor));
  if (cursor.has_value()) {
    if (cursor->size() != kRevisionKeyBytes) return Corrupt("bad compact cursor");
    b.compact_cursor_ = DecodeRevisionKey(*cursor);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// ReadView

Result<int64_t> ReadView::RangeEach(std::string_view key, std::string_view end,
                                    const RangeOptions& opts, const KvVisitor& visit) const {
  const Store& s = *store_;
  return RangeEachAt(txn_, Dbs{s.rev_db_, s.key_states_db_}, rev_, compact_rev_, key, end, opts,
                     visit);
}

Result<RangeResult> ReadView::Range(std::string_view key, std::string_view end,
                                    const RangeOptions& opts) const {
  const Store& s = *store_;
  return RangeAt(txn_, Dbs{s.rev_db_, s.key_states_db_}, rev_, compact_rev_, key, end, opts);
}

Result<int64_t> ReadView::History(int64_t from_rev, int64_t to_rev, size_t max_events,
                                  const std::function<bool(const Event&)>& fn) const {
  if (from_rev < compact_rev_) return ErrCompacted();
  if (to_rev <= 0 || to_rev > rev_) to_rev = rev_;
  if (from_rev < 1) from_rev = 1;
  ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn_.OpenCursor(store_->rev_db_));
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekGE(EncodeRevisionKey({from_rev, 0})));
  size_t delivered = 0;
  int64_t next = from_rev;
  while (found) {
    RevisionKey rk = DecodeRevisionKey(c.key());
    if (rk.main > to_rev) break;
    // Stop only between revisions so a revision is never split.
    if (rk.main != next && delivered >= max_events) break;
    ETCDPP_ASSIGN_OR_RETURN(KeyValueView kv, DecodeKeyValue(c.value()));
    Event ev;
    ev.type = kv.create_revision == 0 ? Event::Type::kDelete : Event::Type::kPut;
    ev.kv = kv.ToOwned();
    if (!fn(ev)) return rk.main;
    ++delivered;
    next = rk.main;
    ETCDPP_ASSIGN_OR_RETURN(found, c.Next());
  }
  // Everything through `next` was delivered; if nothing was, `next` is still from_rev and the
  // caller resumes there (later revisions may simply not exist yet).
  return delivered == 0 ? from_rev : next + 1;
}

Result<uint64_t> ReadView::HistorySize() const { return txn_.Count(store_->rev_db_); }

Result<HashResult> ReadView::HashKV(int64_t rev) const {
  if (rev > 0 && rev <= compact_rev_) return ErrCompacted();
  if (rev > rev_) return ErrFutureRev();
  if (rev <= 0) rev = rev_;
  HashResult out;
  out.rev = rev_;
  out.compact_rev = compact_rev_;
  uLong crc = crc32(0L, Z_NULL, 0);
  ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn_.OpenCursor(store_->rev_db_));
  ETCDPP_ASSIGN_OR_RETURN(Cursor kr, txn_.OpenCursor(store_->key_states_db_));
  ETCDPP_ASSIGN_OR_RETURN(bool found, c.First());
  while (found) {
    RevisionKey rk = DecodeRevisionKey(c.key());
    if (rk.main > rev) break;
    bool include = true;
    if (rk.main <= compact_rev_) {
      // Include only the entry compaction keeps: the key's latest at compact_rev, if a put.
      ETCDPP_ASSIGN_OR_RETURN(KeyValueView kv, DecodeKeyValue(c.value()));
      ETCDPP_ASSIGN_OR_RETURN(bool has_key, kr.SeekExact(kv.key));
      KeyState latest;
      bool existed = false;
      if (has_key) {
        ETCDPP_ASSIGN_OR_RETURN(existed, LatestAtOrBefore(kr, compact_rev_, &latest));
      }
      include = existed && !latest.tombstone && latest.rev == rk;
    }
    if (include) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(c.key().data()),
                  static_cast<uInt>(c.key().size()));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(c.value().data()),
                  static_cast<uInt>(c.value().size()));
    }
    ETCDPP_ASSIGN_OR_RETURN(found, c.Next());
  }
  out.hash = static_cast<uint32_t>(crc);
  return out;
}

Result<std::vector<std::string>> ReadView::KeysWithLease(LeaseId lease) const {
  return LeaseKeys(txn_, store_->lease_keys_db_, lease);
}

// ---------------------------------------------------------------------------------------------
// TxnWrite

TxnWrite::TxnWrite(WriteBatch* batch) : batch_(batch), begin_rev_(batch->current_rev_) {}

Result<int64_t> TxnWrite::RangeEach(std::string_view key, std::string_view end,
                                    const RangeOptions& opts, const KvVisitor& visit) const {
  const Store& s = *batch_->store_;
  int64_t cur = begin_rev_ + (events_.empty() ? 0 : 1);
  return RangeEachAt(batch_->txn_, Dbs{s.rev_db_, s.key_states_db_}, cur, batch_->compact_rev_, key,
                     end, opts, visit);
}

Result<RangeResult> TxnWrite::Range(std::string_view key, std::string_view end,
                                    const RangeOptions& opts) const {
  const Store& s = *batch_->store_;
  int64_t cur = begin_rev_ + (events_.empty() ? 0 : 1);
  return RangeAt(batch_->txn_, Dbs{s.rev_db_, s.key_states_db_}, cur, batch_->compact_rev_, key,
                 end, opts);
}

Result<std::vector<std::string>> TxnWrite::KeysWithLease(LeaseId lease) const {
  return LeaseKeys(batch_->txn_, batch_->store_->lease_keys_db_, lease);
}

Result<int64_t> TxnWrite::Put(std::string_view key, std::string_view value, LeaseId lease) {
  CHECK(!ended_) << "Put on an ended TxnWrite";
  CHECK(!key.empty()) << "empty key must be rejected before apply";
  if (key.size() > kMaxUserKeyBytes) return ErrKeyTooLong();
  const Store& s = *batch_->store_;
  storage::WriteTxn& txn = batch_->txn_;
  const RevisionKey rev{begin_rev_ + 1, static_cast<int64_t>(events_.size())};

  Event ev;
  ev.type = Event::Type::kPut;
  KeyValue& kv = ev.kv;
  kv.key = key;
  kv.value = value;
  kv.create_revision = rev.main;
  kv.mod_revision = rev.main;
  kv.version = 1;
  kv.lease = lease.value();
  {
    // Views into LMDB pages die with the writes below: decode everything first.
    ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn.OpenCursor(s.key_states_db_));
    KeyState old;
    ETCDPP_ASSIGN_OR_RETURN(bool found, SeekCurrentState(c, key, &old));
    if (found && !old.tombstone) {
      kv.create_revision = old.create_revision;
      kv.version = old.version + 1;
      ev.prev_lease = LeaseId(old.lease);
      if (batch_->options_.collect_prev_kv) {
        ETCDPP_ASSIGN_OR_RETURN(KeyValueView prev, ReadRevision(txn, s.rev_db_, old.rev));
        ev.prev_kv = prev.ToOwned();
      }
    }
  }
  std::string& encoded = batch_->encode_buffer_;
  encoded.clear();
  EncodeKeyValue(kv, &encoded);
  ETCDPP_RETURN_IF_ERROR(txn.PutLast(s.rev_db_, EncodeRevisionKey(rev), encoded));
  ETCDPP_RETURN_IF_ERROR(txn.Put(s.key_states_db_, key,
                                 EncodeKeyState({.rev = rev,
                                                 .create_revision = kv.create_revision,
                                                 .version = kv.version,
                                                 .lease = kv.lease})));
  if (ev.prev_lease.value() != kv.lease) {
    if (ev.prev_lease.value() != 0) {
      ETCDPP_RETURN_IF_ERROR(
          txn.DeleteDup(s.lease_keys_db_, EncodeInt64(ev.prev_lease.value()), key).status());
    }
    if (kv.lease != 0) {
      ETCDPP_RETURN_IF_ERROR(txn.Put(s.lease_keys_db_, EncodeInt64(kv.lease), key));
    }
  }
  events_.push_back(std::move(ev));
  return rev.main;
}

Result<DeleteResult> TxnWrite::DeleteRange(std::string_view key, std::string_view end) {
  CHECK(!ended_) << "DeleteRange on an ended TxnWrite";
  const Store& s = *batch_->store_;
  storage::WriteTxn& txn = batch_->txn_;
  KeySpan span = KeySpan::Of(key, end);
  // Collect first: the cursor must not walk pages the deletes below rewrite.
  std::vector<std::pair<std::string, KeyState>> victims;
  {
    ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn.OpenCursor(s.key_states_db_));
    KeyState st;
    if (span.kind == EndKind::kSingle) {
      if (!key.empty() && key.size() <= kMaxUserKeyBytes) {
        ETCDPP_ASSIGN_OR_RETURN(bool found, SeekCurrentState(c, key, &st));
        if (found && !st.tombstone) victims.emplace_back(std::string(key), st);
      }
    } else {
      ETCDPP_ASSIGN_OR_RETURN(bool found, SeekFirstKey(c, key));
      while (found && span.BeforeEnd(c.key())) {
        ETCDPP_RETURN_IF_ERROR(LastState(c, &st));
        if (!st.tombstone) victims.emplace_back(std::string(c.key()), st);
        ETCDPP_ASSIGN_OR_RETURN(found, c.NextKey());
      }
    }
  }
  for (const auto& [k, st] : victims) ETCDPP_RETURN_IF_ERROR(DeleteKey(k, st));
  DeleteResult r;
  r.deleted = static_cast<int64_t>(victims.size());
  r.rev = events_.empty() ? begin_rev_ : begin_rev_ + 1;
  return r;
}

Status TxnWrite::DeleteKey(const std::string& key, const KeyState& state) {
  const Store& s = *batch_->store_;
  storage::WriteTxn& txn = batch_->txn_;
  const RevisionKey rev{begin_rev_ + 1, static_cast<int64_t>(events_.size())};
  Event ev;
  ev.type = Event::Type::kDelete;
  ev.kv.key = key;
  ev.kv.mod_revision = rev.main;
  ev.prev_lease = LeaseId(state.lease);
  if (batch_->options_.collect_prev_kv) {
    ETCDPP_ASSIGN_OR_RETURN(KeyValueView prev, ReadRevision(txn, s.rev_db_, state.rev));
    ev.prev_kv = prev.ToOwned();
  }
  ETCDPP_RETURN_IF_ERROR(txn.PutLast(s.rev_db_, EncodeRevisionKey(rev), EncodeKeyValue(ev.kv)));
  ETCDPP_RETURN_IF_ERROR(
      txn.Put(s.key_states_db_, key, EncodeKeyState({.rev = rev, .tombstone = true})));
  if (state.lease != 0) {
    ETCDPP_RETURN_IF_ERROR(txn.DeleteDup(s.lease_keys_db_, EncodeInt64(state.lease), key).status());
  }
  events_.push_back(std::move(ev));
  return Status::Ok();
}

std::vector<Event> TxnWrite::End() {
  CHECK(!ended_) << "TxnWrite ended twice";
  ended_ = true;
  batch_->txn_open_ = false;
  if (!events_.empty()) {
    batch_->current_rev_ = begin_rev_ + 1;
    batch_->dirty_meta_ = true;
  }
  return std::move(events_);
}

// ---------------------------------------------------------------------------------------------
// WriteBatch

WriteBatch::WriteBatch(Store* store, storage::WriteTxn txn, WriteBatchOptions options)
    : store_(store),
      txn_(std::move(txn)),
      options_(options),
      current_rev_(kInitialRevision),
      compact_rev_(kNeverCompacted),
      finished_compact_rev_(kNeverCompacted) {}

TxnWrite WriteBatch::BeginTxn() {
  CHECK(!txn_open_) << "BeginTxn while another TxnWrite of the batch is open";
  txn_open_ = true;
  return TxnWrite(this);
}

Status WriteBatch::Compact(int64_t rev) {
  if (rev <= compact_rev_) return ErrCompacted();
  if (rev > current_rev_) return ErrFutureRev();
  if (finished_compact_rev_ == compact_rev_) {
    // No compaction in progress: only history after the last finished one needs examining
    // (older keys each have a single surviving entry, superseded only by a later one).
    compact_cursor_ = RevisionKey{std::max<int64_t>(finished_compact_rev_, 0) + 1, 0};
  }
  // While one is in progress, its cursor stays: entries behind it are re-examined when the
  // key shows up again later in history, which is the only way they become superseded.
  compact_rev_ = rev;
  dirty_meta_ = true;
  return Status::Ok();
}

Result<bool> WriteBatch::CompactStep(size_t max_revisions) {
  if (finished_compact_rev_ == compact_rev_) return true;
  const int64_t target = compact_rev_;
  // Work is counted in history entries examined or deleted, so one step stays short even when a
  // single hot key has many superseded revisions.
  size_t work = 0;
  dirty_meta_ = true;
  while (true) {
    std::string key;
    RevisionKey rk;
    {
      ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn_.OpenCursor(store_->rev_db_));
      ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekGE(EncodeRevisionKey(compact_cursor_)));
      if (!found || DecodeRevisionKey(c.key()).main > target) {
        finished_compact_rev_ = target;
        return true;
      }
      if (work >= max_revisions) return false;
      rk = DecodeRevisionKey(c.key());
      ETCDPP_ASSIGN_OR_RETURN(KeyValueView kv, DecodeKeyValue(c.value()));
      key = kv.key;
    }
    ++work;
    ETCDPP_ASSIGN_OR_RETURN(bool key_done, CompactKey(key, target, max_revisions, &work));
    // An unfinished key keeps the cursor where it is: the next step resumes on it.
    if (key_done) compact_cursor_ = RevisionKey{rk.main, rk.sub + 1};
  }
}

// Keeps, of `key`'s entries with main ≤ target, only the latest, and that only if it is not a
// tombstone; deletes the others from key_states and rev, oldest first, while *work < budget.
// Returns true iff nothing is left to delete for this key.
Result<bool> WriteBatch::CompactKey(std::string_view key, int64_t target, size_t budget,
                                    size_t* work) {
  std::vector<KeyState> old;
  bool more = false;
  {
    ETCDPP_ASSIGN_OR_RETURN(Cursor c, txn_.OpenCursor(store_->key_states_db_));
    ETCDPP_ASSIGN_OR_RETURN(bool found, c.SeekExact(key));
    while (found) {
      KeyState e;
      if (!DecodeKeyState(c.value(), &e)) return Corrupt("bad key state of " + std::string(key));
      if (e.rev.main > target) break;
      if (old.size() >= 2 && *work + old.size() > budget) {
        // Over budget (but at least one deletion is made, so steps always progress): this entry
        // and the rest wait for the next step. The last collected entry
        // is not known to be the survivor, so it is kept for now too.
        more = true;
        break;
      }
      old.push_back(e);
      ETCDPP_ASSIGN_OR_RETURN(found, c.NextDup());
    }
  }
  if (old.empty()) return !more;
  if (more || !old.back().tombstone) old.pop_back();
  for (const KeyState& e : old) {
    ETCDPP_ASSIGN_OR_RETURN(bool had,
                            txn_.DeleteDup(store_->key_states_db_, key, EncodeKeyState(e)));
    CHECK(had);
    ETCDPP_ASSIGN_OR_RETURN(had, txn_.Delete(store_->rev_db_, EncodeRevisionKey(e.rev)));
    if (!had) return Corrupt("compaction: revision missing from history");
    ++*work;
  }
  return !more;
}

void WriteBatch::SetConsistentIndex(LogIndex index, Term term) {
  consistent_index_ = index;
  consistent_term_ = term;
  dirty_meta_ = true;
}

void WriteBatch::Acknowledge() {
  CHECK(!txn_open_) << "Acknowledge while a TxnWrite is open";
  if (store_->acknowledged_rev_.load(std::memory_order_relaxed) < current_rev_) {
    store_->acknowledged_rev_.store(current_rev_, std::memory_order_release);
  }
}

Status WriteBatch::Commit() {
  CHECK(!txn_open_) << "Commit while a TxnWrite is open";
  const Store& s = *store_;
  if (dirty_meta_) {
    ETCDPP_RETURN_IF_ERROR(txn_.Put(s.meta_db_, kMetaCurrentRevision, EncodeInt64(current_rev_)));
    ETCDPP_RETURN_IF_ERROR(txn_.Put(s.meta_db_, kMetaCompactRevision, EncodeInt64(compact_rev_)));
    ETCDPP_RETURN_IF_ERROR(
        txn_.Put(s.meta_db_, kMetaFinishedCompactRevision, EncodeInt64(finished_compact_rev_)));
    if (finished_compact_rev_ != compact_rev_) {
      ETCDPP_RETURN_IF_ERROR(
          txn_.Put(s.meta_db_, kMetaCompactCursor, EncodeRevisionKey(compact_cursor_)));
    } else {
      ETCDPP_RETURN_IF_ERROR(txn_.Delete(s.meta_db_, kMetaCompactCursor).status());
    }
    ETCDPP_RETURN_IF_ERROR(txn_.Put(s.meta_db_, kMetaConsistentIndex,
                                    EncodeInt64(static_cast<int64_t>(consistent_index_.value()))));
    ETCDPP_RETURN_IF_ERROR(txn_.Put(s.meta_db_, kMetaConsistentTerm,
                                    EncodeInt64(static_cast<int64_t>(consistent_term_.value()))));
  }
  ETCDPP_RETURN_IF_ERROR(txn_.Commit());
  Acknowledge();
  store_->current_rev_.store(current_rev_, std::memory_order_release);
  store_->compact_rev_.store(compact_rev_, std::memory_order_release);
  store_->finished_compact_rev_.store(finished_compact_rev_, std::memory_order_release);
  store_->consistent_index_.store(consistent_index_.value(), std::memory_order_release);
  return Status::Ok();
}

}  // namespace etcdpp::mvcc
