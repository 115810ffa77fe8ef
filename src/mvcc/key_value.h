// KeyValue and Event: what the MVCC store returns and what the watch hub publishes, plus the
// byte encoding of a KeyValue kept in the `rev` sub-database.
//
// The encoding is exactly the protobuf wire format of mvccpb.KeyValue (fields in number order,
// zero/empty fields omitted, as proto3 and etcd's gogo encoder write them), produced here by
// hand so that mvcc does not depend on libprotobuf and so decoding can return views into the
// LMDB memory map without copying.
//
// A tombstone (the record of a delete) is a KeyValue with only `key` and `mod_revision` set:
// create_revision == 0 never occurs for a live key (revisions start at 1), which is also how
// etcd's watch layer tells a DELETE event from a PUT.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/ids.h"
#include "base/result.h"

namespace etcdpp::mvcc {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  // Number of puts since the key was (re)created; a delete resets it, the next put starts at 1.
  int64_t version = 0;
  int64_t lease = 0;

  bool is_tombstone() const { return create_revision == 0; }
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};

// The same fields as views into an encoded buffer (valid as long as the buffer).
struct KeyValueView {
  std::string_view key;
  std::string_view value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;

  KeyValue ToOwned() const;
};

// Appends the mvccpb.KeyValue wire encoding of `kv` to `out`.
void EncodeKeyValue(const KeyValue& kv, std::string* out);
std::string EncodeKeyValue(const KeyValue& kv);

// Decodes mvccpb.KeyValue wire bytes. Unknown fields are skipped (forward compatibility).
// Returns kDataLoss on truncated or malformed input.
Result<KeyValueView> DecodeKeyValue(std::string_view bytes);

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // kPut: the new KeyValue. kDelete: key and mod_revision (the delete's revision) only.
  KeyValue kv;
  // The key's KeyValue before this change; filled only when the WriteBatch was asked to
  // collect previous values (WriteBatchOptions::collect_prev_kv).
  std::optional<KeyValue> prev_kv;
  // The lease the key was attached to before this change (0 if none or new), always set, so the
  // lessor can detach keys without reading history.
  LeaseId prev_lease;
};

}  // namespace etcdpp::mvcc
