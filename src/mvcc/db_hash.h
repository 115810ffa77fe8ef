// HashDatabase: the whole-database hash behind Maintenance.Hash (etcd's `Hash`, which etcd
// documents as a testing aid: a CRC over every bucket of the backend).
//
// What is hashed: every sub-database the Env has opened (mvcc, lease, …), in name order; for
// each, its name, then every key and value in key order (every value of a key for dup-sorted
// ones). Left out: the meta entries that describe this member rather than the data — the
// consistent index and term (etcd leaves out its consistent_index the same way). The walk is
// over the logical content, so the value is unchanged by restarts and by defragmentation, and
// equal on members whose stores hold the same data and compaction progress. Not comparable with
// etcd's value (different storage layout).
//
// Thread: any; runs on the caller's read view. O(database size).
#pragma once

#include "base/result.h"
#include "mvcc/store.h"

namespace etcdpp::mvcc {

// `hash` is a CRC-32 (IEEE); `rev` and `compact_rev` are the view's.
Result<HashResult> HashDatabase(const storage::Env& env, const ReadView& view);

}  // namespace etcdpp::mvcc
