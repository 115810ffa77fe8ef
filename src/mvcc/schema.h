// The on-disk schema of the MVCC store: sub-database names and the byte layout of their keys and
// values. Everything that knows a byte offset lives here.
//
// Sub-databases (DESIGN §4.1, refined — see "Why this layout" below):
//
//   rev     RevisionKey (main, sub), 16 bytes big-endian  →  mvccpb.KeyValue bytes (key_value.h);
//           a tombstone has create_revision == 0. The full history, what watchers replay.
//   key_states  user key  →  set of KeyState, 41 bytes each (MDB_DUPSORT|MDB_DUPFIXED), sorted
//           by revision: the key's state after each of its revisions still in history. The last
//           one is its current state; a key that does not exist now ends in a tombstone (or,
//           once compacted, has no entry at all).
//   meta    name  →  8-byte big-endian numbers (see kMeta* below).
//   lease_keys  lease id, 8 bytes big-endian  →  set of user keys (MDB_DUPSORT): the live keys
//           attached to each lease, so revoking a lease (and rebuilding the lessor at start-up)
//           never scans the key space.
//
// Worked example. put a=1 (rev 2), put b=1 (rev 3), put a=2 (rev 4), delete a (rev 5):
//   rev:        (2,0)→{a,1,c2,m2,v1}  (3,0)→{b,1,c3,m3,v1}  (4,0)→{a,2,c2,m4,v2}  (5,0)→{a,m5}
//   key_states: a→[(2,0) c2 v1, (4,0) c2 v2, (5,0) tombstone]   b→[(3,0) c3 v1]
// Reading a at revision 4: the last entry of a with main ≤ 4 is (4,0) → version 2, value from
// rev (4,0). Now (revision 5) it is the tombstone: a does not exist. Compacting at 4 keeps, per
// key, the last entry ≤ 4 unless it is a tombstone: it drops a's (2,0) from key_states and rev.
//
// Why this layout:
//  - One B-tree answers both current and historic reads, and a put walks and rewrites one
//    random-access B-tree, not two (schema 1 kept the live state in a separate `key` table; a
//    put then dirtied two random leaves, which is most of what a commit writes). `rev` is
//    appended in order, so it costs a put almost nothing.
//  - KeyState carries everything but the value, so count_only and keys_only never touch `rev`,
//    and historic reads skip deleted keys without reading it.
//  - A dup-sorted set rather than "user key ‖ revision" in a plain database: concatenating a
//    variable-length key with a revision is ambiguous ("a"‖rev can sort between entries of
//    "a\0…"), while a dup set keeps each key's revisions apart and finds "latest revision ≤ R
//    of key k" with one MDB_GET_BOTH_RANGE seek, and the current state with MDB_LAST_DUP.
//  - Nothing needs rebuilding at start-up: opening the store reads four meta numbers.
//
// Schema history: version 1 had `key` (user key → the live state, 40 bytes) and `keyrev` (user
// key → 17-byte entries: revision ‖ tombstone flag). Store::Open migrates it (MigrateSchema1).
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
inline constexpr std::string_view kKeyStatesDbName = "key_states";
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

inline constexpr int64_t kSchemaVersion = 2;
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

// A key's state after one of its revisions.
struct KeyState {
  RevisionKey rev;         // the revision that wrote this state (the key's mod_revision)
  bool tombstone = false;  // the revision deleted the key; the fields below are then 0
  int64_t create_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};
// rev (16, so that memcmp order is revision order) ‖ tombstone (1) ‖ create_revision, version,
// lease (8 each).
inline constexpr size_t kKeyStateBytes = 41;
FixedBytes<kKeyStateBytes> EncodeKeyState(const KeyState& s);
// Returns false iff `b` is not a KeyState (wrong size).
bool DecodeKeyState(std::string_view b, KeyState* s);

// Schema version 1, read only by the migration (Store::MigrateSchema1): `key` (user key → the
// live state, 40 bytes) and `keyrev` (user key → a DUPFIXED set of 17-byte entries: revision ‖
// tombstone flag).
inline constexpr std::string_view kSchema1KeyDbName = "key";
inline constexpr std::string_view kSchema1KeyRevDbName = "keyrev";
// Fills the revision and tombstone flag of `s` from a schema-1 `keyrev` entry (the rest of a
// live state is in its `rev` record). Returns false iff `b` is not such an entry.
bool DecodeSchema1KeyRevEntry(std::string_view b, KeyState* s);

std::string EncodeInt64(int64_t v);
bool DecodeInt64(std::string_view b, int64_t* v);

}  // namespace etcdpp::mvcc
