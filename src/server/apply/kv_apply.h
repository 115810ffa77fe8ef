// KvApplier: etcd's KV semantics (etcdserver/apply.go of etcd 3.4) on the MVCC store, taking and
// producing the etcdserverpb messages.
//
// Two kinds of entry points:
//  - Apply*: on the apply thread, for committed raft entries, on the batch's LMDB write
//    transaction. A write request is one mvcc revision; its change events are appended to
//    `events` for the watch hub (and the lessor).
//  - Range / ReadOnlyTxn on a ReadView: from any thread, for serializable reads and for
//    linearizable reads once the applied index has reached the read index. etcd serves Range and
//    read-only Txn this way, never through raft.
// Requests must have passed validate.h first (on the loop thread, before proposing); Apply*
// still returns the errors etcd's applier returns (key not found for ignore_value/ignore_lease,
// lease not found, compacted/future revisions).
//
// Response headers: Apply*/Range set `revision` exactly as etcd does; cluster_id, member_id and
// raft_term belong to the server (FillHeader). Only the top-level header is filled that way: as
// in etcd, headers inside a Txn's responses carry just their revision, nested TxnResponses an
// empty header.
//
// Error contract: a non-OK Status from Apply* is either a client error from server/api/errors.h
// (nothing was written; the batch remains usable) or, for storage failures (map full, I/O), a
// Status that makes the whole WriteBatch unusable — the caller must abort the batch.
// api::ToClientStatus() turns either into what the client sees.
//
// Thread safety: a KvApplier is immutable after construction; its methods may run on any thread
// under the per-method rules above.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/chunked_buffer.h"
#include "base/ids.h"
#include "base/result.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/store.h"

namespace etcdpp::apply {

struct HeaderFields {
  ClusterId cluster_id;
  MemberId member_id;
  Term raft_term;
};

// Sets cluster_id, member_id and raft_term (leaves revision) as etcd's header filler does.
void FillHeader(const HeaderFields& h, etcdserverpb::ResponseHeader* header);

struct ApplierHooks {
  // Returns true iff the lease exists (the lessor's Lookup). Consulted for puts with a
  // non-zero lease. Unset: no lease exists, as in a server where none was granted.
  std::function<bool(LeaseId)> lease_exists;
};

// What KvApplier::RangeEncoded left out of its buffer: the message's remaining KeyValues, then
// its closing fields (`more`, `count`), encoded piece by piece while the client reads. A plain
// value; every Next must be given the snapshot RangeEncoded read.
class RangeRemainder {
 public:
  // Appends the next whole KeyValues, about `hint` bytes of them and at least one, and after the
  // last of them the closing fields. Internal if the snapshot yields other bytes than it counted
  // (a snapshot does not change: a bug). REQUIRES: !done().
  Status Next(const mvcc::ReadView& view, size_t hint, ChunkedBuffer* out);
  bool done() const { return bytes_left_ == 0; }
  size_t bytes_left() const { return bytes_left_; }

 private:
  friend class KvApplier;
  std::string next_key_;  // the first key not yet encoded
  std::string range_end_;
  int64_t rev_ = 0;
  bool keys_only_ = false;
  int64_t kvs_left_ = 0;
  size_t bytes_left_ = 0;  // of the KeyValues left and closing_
  std::string closing_;
};

struct RangeEncodeLimits {
  size_t max_message_bytes = SIZE_MAX;
  // Past this many bytes in the buffer, the KeyValues after are left to EncodedRange::rest.
  size_t buffer_bytes = SIZE_MAX;
  // > 0: give up once the walk passed this many keys (EncodedRange::over_budget), so that a
  // loop thread hands a large range to another thread.
  int64_t walk_budget = 0;
};

struct EncodedRange {
  size_t size = 0;                     // of the whole message
  std::optional<RangeRemainder> rest;  // set iff the buffer holds only the message's beginning
  bool over_budget = false;            // the walk gave up: nothing stored, nothing counted
};

class KvApplier {
 public:
  explicit KvApplier(ApplierHooks hooks = {}) : hooks_(std::move(hooks)) {}

  // --- apply thread: one request on the batch -----------------------------------------------
  Result<etcdserverpb::PutResponse> ApplyPut(mvcc::WriteBatch& batch,
                                             const etcdserverpb::PutRequest& r,
                                             std::vector<mvcc::Event>* events) const;
  Result<etcdserverpb::DeleteRangeResponse> ApplyDeleteRange(
      mvcc::WriteBatch& batch, const etcdserverpb::DeleteRangeRequest& r,
      std::vector<mvcc::Event>* events) const;
  Result<etcdserverpb::TxnResponse> ApplyTxn(mvcc::WriteBatch& batch,
                                             const etcdserverpb::TxnRequest& r,
                                             std::vector<mvcc::Event>* events) const;
  // A Range that went through raft (etcd does this only for old clients; kept for
  // completeness): reads the batch's current state.
  Result<etcdserverpb::RangeResponse> ApplyRange(mvcc::WriteBatch& batch,
                                                 const etcdserverpb::RangeRequest& r) const;
  // Records the compaction (see mvcc::WriteBatch::Compact). With r.physical(), the caller
  // answers only once store.finished_compact_rev() ≥ r.revision(), as etcd waits for the
  // physical deletion.
  Result<etcdserverpb::CompactionResponse> ApplyCompaction(
      mvcc::WriteBatch& batch, const etcdserverpb::CompactionRequest& r) const;

  // --- any thread: reads on a snapshot --------------------------------------------------------
  // With walk_budget > 0: mvcc::ErrWalkBudget past that many keys (RangeOptions::walk_budget).
  Result<etcdserverpb::RangeResponse> Range(const mvcc::ReadView& view,
                                            const etcdserverpb::RangeRequest& r,
                                            int64_t walk_budget = 0) const;
  // The same read as Range, answered as bytes: appends to *out exactly what protobuf would
  // serialize for Range(view, r) with FillHeader(header) applied (a test holds the two equal).
  // Ranges without sorting or revision filters are encoded straight from the snapshot's cursor,
  // so every value is copied once, into *out; the others go through Range and protobuf.
  // Returns the message's size in bytes:
  //  - A message larger than limits.max_message_bytes is not stored (*out is left as it was on
  //    entry) but its full size is still returned, so the caller can refuse it as etcd does
  //    (grpc::SendTooLarge) without having held it in memory.
  //  - Once a streamed range has appended more than limits.buffer_bytes, the KeyValues after it
  //    are only counted: `rest` then produces them, and the closing fields, from the same
  //    snapshot.
  //  - Past limits.walk_budget keys, over_budget and nothing stored.
  Result<EncodedRange> RangeEncoded(const mvcc::ReadView& view, const etcdserverpb::RangeRequest& r,
                                    const HeaderFields& header, const RangeEncodeLimits& limits,
                                    ChunkedBuffer* out) const;
  // REQUIRES: IsTxnReadOnly(r) (validate.h). With walk_budget > 0: mvcc::ErrWalkBudget once any
  // of its ranges walks past that many keys.
  Result<etcdserverpb::TxnResponse> ReadOnlyTxn(const mvcc::ReadView& view,
                                                const etcdserverpb::TxnRequest& r,
                                                int64_t walk_budget = 0) const;

 private:
  ApplierHooks hooks_;
};

}  // namespace etcdpp::apply
