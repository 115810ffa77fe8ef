// The on-disk schema of the MVCC store: sub-database names and the byte layout of their keys and
// values. Everything that knows a byte offset lives here.
//
// Sub-databases (DESIGN §4.1, refined — see "Why this layout" below):
//
//   rev     RevisionKey (main, sub), 16 bytes big-endian  →  mvccpb.KeyValue bytes (key_value.h);
//           a tombstone has create_revision == 0. The full history, what watchers replay.
//   key     user key  →  KeyState, 40 bytes: the key's live state. Only keys that exist at the
//           current revision have an entry (a delete removes it).
//   keyrev  user key  →  set of KeyRevEntry, 17 bytes each (MDB_DUPSORT|MDB_DUPFIXED), sorted by
//           revision: every revision of the key still in history, tombstones marked.
//   meta    name  →  8-byte big-endian numbers (see kMeta* below).
//   lease_keys  lease id, 8 bytes big-endian  →  set of user keys (MDB_DUPSORT): the live keys
//           attached to each lease, so revoking a lease (and rebuilding the lessor at start-up)
//           never scans the key space.
//
// Worked example. put a=1 (rev 2), put b=1 (rev 3), put a=2 (rev 4), delete a (rev 5):
//   rev:    (2,0)→{a,1,c2,m2,v1}  (3,0)→{b,1,c3,m3,v1}  (4,0)→{a,2,c2,m4,v2}  (5,0)→{a,m5}
//   key:    b→{create 3, mod (3,0), version 1, lease 0}          (a is gone: deleted)
//   keyrev: a→[(2,0,put) (4,0,put) (5,0,tomb)]   b→[(3,0,put)]
// Reading a at revision 4: the last keyrev entry of a with main ≤ 4 is (4,0,put) → rev (4,0).
// At revision 5 it is the tombstone: a does not exist. Compacting at 4 keeps, per key, the last
// entry ≤ 4 unless it is a tombstone: it drops a's (2,0) from keyrev and rev.
//
// Why this layout:
//  - `key` answers reads at the current revision (the common case) with one B-tree walk over
//    live keys only, and KeyState carries everything but the value, so count_only and
//    keys_only never touch `rev`.
//  - `keyrev` as a dup-sorted set rather than "user key ‖ revision" in a plain database:
//    concatenating a variable-length key with a revision is ambiguous ("a"‖rev can sort between
//    entries of "a\0…"), while a dup set keeps each key's revisions apart and finds "latest
//    revision ≤ R of key k" with one MDB_GET_BOTH_RANGE seek.
//  - The tombstone flag in KeyRevEntry lets historic reads skip deleted keys without reading
//    `rev`.
//  - Nothing needs rebuilding at start-up: opening the store reads four meta numbers.
//
// Limit: LMDB keys are at most storage::kMaxKeyBytes (511) bytes, so user keys longer than that
// cannot be stored (see kMaxUserKeyBytes). etcd itself accepts longer keys; Kubernetes keys stay
// well below. TODO(mvcc): an overflow encoding (prefix ‖ hash, full key in the value) would lift
// this; it needs range scans to re-sort keys that share a 500-byte prefix.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/ids.h"
#include "storage/txn.h"

namespace etcdpp::mvcc {

inline constexpr std::string_view kRevDbName = "rev";
inline constexpr std::string_view kKeyDbName = "key";
inline constexpr std::string_view kKeyRevDbName = "keyrev";
inline constexpr std::string_view kMetaDbName = "meta";
inline constexpr std::string_view kLeaseKeysDbName = "lease_keys";

// The longest user key the store accepts (LMDB's key limit).
inline constexpr size_t kMaxUserKeyBytes = storage::kMaxKeyBytes;

// meta names. Missing entries mean the initial value given.
inline constexpr std::string_view kMetaSchemaVersion = "schema_version";  // kSchemaVersion
inline constexpr std::string_view kMetaCurrentRevision =
    "current_revision";  // 1 (etcd starts at 1)
inline constexpr std::string_view kMetaCompactRevision = "compact_revision";  // -1: never compacted
// The compaction target all physical deletion is done for; < compact_revision while a
// compaction is in progress.
inline constexpr std::string_view kMetaFinishedCompactRevision = "finished_compact_revision";
// While compaction is in progress: the next `rev` entry to examine (16-byte RevisionKey).
inline constexpr std::string_view kMetaCompactCursor = "compact_cursor";
inline constexpr std::string_view kMetaConsistentIndex = "consistent_index";  // 0
inline constexpr std::string_view kMetaConsistentTerm = "consistent_term";    // 0

inline constexpr int64_t kSchemaVersion = 1;
inline constexpr int64_t kInitialRevision = 1;
inline constexpr int64_t kNeverCompacted = -1;

// A revision as etcd assigns it: `main` is bumped once per write transaction, `sub` numbers the
// changes within it (0, 1, 2…).
struct RevisionKey {
  int64_t main = 0;
  int64_t sub = 0;
  auto operator<=>(const RevisionKey&) const = default;
};

// A fixed-size encoding, returned on the stack (each put encodes three of them); it converts to
// the string_view the storage layer takes.
template <size_t N>
struct FixedBytes {
  std::array<char, N> bytes;
  operator std::string_view() const { return {bytes.data(), N}; }
};

inline constexpr size_t kRevisionKeyBytes = 16;
// Big-endian so memcmp order is (main, sub) order. REQUIRES: main, sub ≥ 0.
FixedBytes<kRevisionKeyBytes> EncodeRevisionKey(RevisionKey r);
void EncodeRevisionKey(RevisionKey r, char* out);
RevisionKey DecodeRevisionKey(std::string_view b);  // REQUIRES: b.size() ≥ 16

struct KeyState {
  int64_t create_revision = 0;
  RevisionKey mod;
  int64_t version = 0;
  int64_t lease = 0;
};
inline constexpr size_t kKeyStateBytes = 40;
FixedBytes<kKeyStateBytes> EncodeKeyState(const KeyState& s);
// Returns false iff `b` is not a KeyState (wrong size).
bool DecodeKeyState(std::string_view b, KeyState* s);

struct KeyRevEntry {
  RevisionKey rev;
  bool tombstone = false;
};
inline constexpr size_t kKeyRevEntryBytes = 17;
FixedBytes<kKeyRevEntryBytes> EncodeKeyRevEntry(const KeyRevEntry& e);
bool DecodeKeyRevEntry(std::string_view b, KeyRevEntry* e);

std::string EncodeInt64(int64_t v);
bool DecodeInt64(std::string_view b, int64_t* v);

}  // namespace etcdpp::mvcc
