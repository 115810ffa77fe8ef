// KvApplier::RangeEncoded: the etcdserverpb.RangeResponse wire encoding written by hand, straight
// from the LMDB snapshot into a ChunkedBuffer, for full reads of large ranges (issue 8: a read of
// 100k x 1 KiB must add at most one response's size to RSS). Building the RangeResponse message
// first and serializing it afterwards held the data three times (values in the message, the
// serialized string, the framed copy). A large range is not even held once: past a buffer's
// worth, the first walk only counts (the gRPC length prefix needs the size up front), and
// RangeRemainder encodes the rest from the same snapshot while the client reads.
//
// Wire layout (proto/etcdserverpb/rpc.proto, fields in number order, as protobuf writes them):
//   1 header  (message, always present: Range always sets it)
//   2 kvs     (repeated mvccpb.KeyValue, each length-delimited; proto/mvccpb/kv.proto)
//   3 more    (bool, omitted when false)
//   4 count   (int64, omitted when 0)
// and inside KeyValue: 1 key, 2 create_revision, 3 mod_revision, 4 version, 5 value, 6 lease,
// each omitted when empty/zero. int64 fields are plain varints of the two's complement (a
// negative value takes 10 bytes), as protobuf encodes int64.
#include <algorithm>
#include <string>

#include "base/varint.h"
#include "mvcc/errors.h"
#include "server/api/errors.h"
#include "server/apply/kv_apply.h"

namespace etcdpp::apply {
namespace {

using etcdserverpb::RangeRequest;

constexpr uint8_t kWireVarint = 0;
constexpr uint8_t kWireBytes = 2;

constexpr char Tag(int field, uint8_t wire_type) {
  return static_cast<char>((field << 3) | wire_type);
}

// Field tags used below; every field number is < 16, so each tag is one byte.
constexpr char kTagHeader = Tag(1, kWireBytes);
constexpr char kTagKvs = Tag(2, kWireBytes);
constexpr char kTagMore = Tag(3, kWireVarint);
constexpr char kTagCount = Tag(4, kWireVarint);
constexpr char kTagKey = Tag(1, kWireBytes);
constexpr char kTagCreateRevision = Tag(2, kWireVarint);
constexpr char kTagModRevision = Tag(3, kWireVarint);
constexpr char kTagVersion = Tag(4, kWireVarint);
constexpr char kTagValue = Tag(5, kWireBytes);
constexpr char kTagLease = Tag(6, kWireVarint);

size_t Int64FieldSize(int64_t v) {
  return v == 0 ? 0 : 1 + VarintSize(static_cast<uint64_t>(v));
}

size_t BytesFieldSize(size_t n) { return n == 0 ? 0 : 1 + VarintSize(n) + n; }

// Small fixed-capacity scratch for tags and varints, flushed to the buffer in one Append.
class Scratch {
 public:
  void Byte(char c) { buf_[n_++] = c; }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      buf_[n_++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf_[n_++] = static_cast<char>(v);
  }
  void Int64Field(char tag, int64_t v) {
    if (v == 0) return;
    Byte(tag);
    Varint(static_cast<uint64_t>(v));
  }
  void FlushTo(ChunkedBuffer* out) {
    out->Append(std::string_view(buf_, n_));
    n_ = 0;
  }
  std::string_view bytes() const { return std::string_view(buf_, n_); }

 private:
  // The longest run between flushes: kvs tag + length + key tag + length, or three int64
  // fields + value tag + length, or lease: at most 4 * (1 + kMaxVarintBytes) bytes.
  char buf_[4 * (1 + kMaxVarintBytes)];
  size_t n_ = 0;
};

// The size of one KeyValue's encoding (without the `kvs` tag and length in front of it).
size_t KvBodySize(const mvcc::KeyValueView& kv, bool with_value) {
  return BytesFieldSize(kv.key.size()) + Int64FieldSize(kv.create_revision) +
         Int64FieldSize(kv.mod_revision) + Int64FieldSize(kv.version) +
         (with_value ? BytesFieldSize(kv.value.size()) : 0) + Int64FieldSize(kv.lease);
}

// The size of one `kvs` entry: tag, length, then a KeyValue of `body` bytes.
size_t KvEntrySize(size_t body) { return 1 + VarintSize(body) + body; }

// Appends one `kvs` entry: tag, length (= body, from KvBodySize), then the KeyValue.
void AppendKv(const mvcc::KeyValueView& kv, bool with_value, size_t body, ChunkedBuffer* out) {
  Scratch s;
  s.Byte(kTagKvs);
  s.Varint(body);
  if (!kv.key.empty()) {
    s.Byte(kTagKey);
    s.Varint(kv.key.size());
  }
  s.FlushTo(out);
  out->Append(kv.key);
  s.Int64Field(kTagCreateRevision, kv.create_revision);
  s.Int64Field(kTagModRevision, kv.mod_revision);
  s.Int64Field(kTagVersion, kv.version);
  if (with_value && !kv.value.empty()) {
    s.Byte(kTagValue);
    s.Varint(kv.value.size());
    s.FlushTo(out);
    out->Append(kv.value);
  }
  s.Int64Field(kTagLease, kv.lease);
  s.FlushTo(out);
}

bool Streamable(const RangeRequest& r) {
  const bool sorted = r.sort_order() != RangeRequest::NONE || r.sort_target() != RangeRequest::KEY;
  const bool filtered = r.min_mod_revision() != 0 || r.max_mod_revision() != 0 ||
                        r.min_create_revision() != 0 || r.max_create_revision() != 0;
  return !sorted && !filtered;
}

// What RangeEncoded answers when the walk went past its budget.
EncodedRange OverBudget() {
  EncodedRange r;
  r.over_budget = true;
  return r;
}

// The closing fields: `more` (when true) and `count` (when not 0).
std::string ClosingFields(bool more, int64_t count) {
  Scratch s;
  if (more) {
    s.Byte(kTagMore);
    s.Varint(1);
  }
  if (count != 0) {
    s.Byte(kTagCount);
    s.Varint(static_cast<uint64_t>(count));
  }
  return std::string(s.bytes());
}

}  // namespace

Result<EncodedRange> KvApplier::RangeEncoded(const mvcc::ReadView& view, const RangeRequest& r,
                                             const HeaderFields& header,
                                             const RangeEncodeLimits& limits,
                                             ChunkedBuffer* out) const {
  const size_t max_message_bytes = limits.max_message_bytes;
  const size_t start = out->size();
  if (!Streamable(r)) {
    auto resp = Range(view, r, limits.walk_budget);
    if (mvcc::IsWalkBudget(resp.status())) return OverBudget();
    if (!resp.ok()) return resp.status();
    FillHeader(header, resp->mutable_header());
    EncodedRange result;
    result.size = resp->ByteSizeLong();
    if (result.size > max_message_bytes) return result;
    // Sorted and filtered ranges already hold every KeyValue in memory (they need all of them
    // before answering); one more serialized copy is what the streamed path avoids.
    out->Append(resp->SerializeAsString());
    return result;
  }

  etcdserverpb::ResponseHeader h;
  FillHeader(header, &h);
  h.set_revision(view.rev());
  const std::string header_bytes = h.SerializeAsString();
  Scratch s;
  s.Byte(kTagHeader);
  s.Varint(header_bytes.size());
  s.FlushTo(out);
  out->Append(header_bytes);

  // KeyValues are appended until the buffer holds buffer_bytes (at least one is, so a single-key
  // range never has a remainder) or the message outgrew max_message_bytes; the rest are counted
  // into the remainder.
  const size_t store_limit = std::min(limits.buffer_bytes, max_message_bytes);
  RangeRemainder rest;
  bool buffering = true;
  mvcc::RangeOptions opts;
  // One more than asked tells whether there are more (etcd's applier does the same).
  opts.limit = r.limit() > 0 ? r.limit() + 1 : r.limit();
  opts.rev = r.revision();
  opts.count_only = r.count_only();
  opts.keys_only = r.keys_only();
  opts.walk_budget = limits.walk_budget;
  const bool with_value = !r.keys_only();
  int64_t visited = 0;
  bool more = false;
  auto count = view.RangeEach(r.key(), r.range_end(), opts, [&](const mvcc::KeyValueView& kv) {
    if (r.limit() > 0 && visited == r.limit()) {
      more = true;
      return;
    }
    ++visited;
    const size_t body = KvBodySize(kv, with_value);
    const size_t n = KvEntrySize(body);
    if (buffering && visited > 1 && out->size() - start >= store_limit) {
      buffering = false;
      rest.next_key_ = kv.key;
    }
    if (buffering) {
      AppendKv(kv, with_value, body, out);
    } else {
      ++rest.kvs_left_;
      rest.bytes_left_ += n;
    }
  });
  if (!count.ok()) {
    out->Truncate(start);
    if (mvcc::IsWalkBudget(count.status())) return OverBudget();
    return api::ToClientStatus(count.status());
  }
  const std::string closing = ClosingFields(more, *count);
  EncodedRange result;
  result.size = out->size() - start + rest.bytes_left_ + closing.size();
  if (result.size > max_message_bytes) {
    out->Truncate(start);
    return result;
  }
  if (buffering) {
    out->Append(closing);
    return result;
  }
  rest.range_end_ = r.range_end();
  rest.rev_ = r.revision();
  rest.keys_only_ = r.keys_only();
  rest.closing_ = closing;
  rest.bytes_left_ += closing.size();
  result.rest = std::move(rest);
  return result;
}

Status RangeRemainder::Next(const mvcc::ReadView& view, size_t hint, ChunkedBuffer* out) {
  CHECK(!done());
  const size_t kv_bytes_left = bytes_left_ - closing_.size();
  if (kvs_left_ > 0) {
    mvcc::RangeOptions opts;
    const size_t average = std::max<size_t>(1, kv_bytes_left / static_cast<size_t>(kvs_left_));
    opts.limit = std::clamp<int64_t>(static_cast<int64_t>(hint / average), 1, kvs_left_);
    opts.stop_at_limit = true;
    opts.rev = rev_;
    opts.keys_only = keys_only_;
    size_t appended = 0;
    std::string last_key;
    auto visited = view.RangeEach(next_key_, range_end_, opts, [&](const mvcc::KeyValueView& kv) {
      const size_t body = KvBodySize(kv, !keys_only_);
      appended += KvEntrySize(body);
      if (appended <= kv_bytes_left) AppendKv(kv, !keys_only_, body, out);
      last_key = kv.key;
    });
    if (!visited.ok()) return visited.status();
    if (*visited == 0 || appended > kv_bytes_left) {
      return Internal("range: the snapshot yields other KeyValues than it counted");
    }
    kvs_left_ -= *visited;
    bytes_left_ -= appended;
    // The smallest key after last_key: the next piece starts there.
    next_key_ = std::move(last_key);
    next_key_.push_back('\0');
  }
  if (kvs_left_ == 0) {
    if (bytes_left_ != closing_.size()) {
      return Internal("range: the snapshot yields other KeyValues than it counted");
    }
    out->Append(closing_);
    bytes_left_ = 0;
  }
  return Status::Ok();
}

}  // namespace etcdpp::apply
