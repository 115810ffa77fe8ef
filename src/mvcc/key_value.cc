#include "mvcc/key_value.h"

#include "base/varint.h"

namespace etcdpp::mvcc {
namespace {

// Protobuf wire types used by mvccpb.KeyValue.
constexpr uint8_t kVarint = 0;
constexpr uint8_t kFixed64 = 1;
constexpr uint8_t kLengthDelimited = 2;
constexpr uint8_t kFixed32 = 5;

void PutTag(int field, uint8_t wire_type, std::string* out) {
  PutVarint((static_cast<uint64_t>(field) << 3) | wire_type, out);
}

void PutInt64Field(int field, int64_t v, std::string* out) {
  if (v == 0) return;
  PutTag(field, kVarint, out);
  // int64 (not sint64): negative values are sign-extended to 10 bytes, as protobuf does.
  PutVarint(static_cast<uint64_t>(v), out);
}

void PutBytesField(int field, std::string_view v, std::string* out) {
  if (v.empty()) return;
  PutTag(field, kLengthDelimited, out);
  PutVarint(v.size(), out);
  out->append(v);
}

}  // namespace

KeyValue KeyValueView::ToOwned() const {
  return KeyValue{
      std::string(key), std::string(value), create_revision, mod_revision, version, lease};
}

void EncodeKeyValue(const KeyValue& kv, std::string* out) {
  PutBytesField(1, kv.key, out);
  PutInt64Field(2, kv.create_revision, out);
  PutInt64Field(3, kv.mod_revision, out);
  PutInt64Field(4, kv.version, out);
  PutBytesField(5, kv.value, out);
  PutInt64Field(6, kv.lease, out);
}

std::string EncodeKeyValue(const KeyValue& kv) {
  std::string out;
  out.reserve(kv.key.size() + kv.value.size() + 48);
  EncodeKeyValue(kv, &out);
  return out;
}

Result<KeyValueView> DecodeKeyValue(std::string_view bytes) {
  KeyValueView kv;
  std::string_view in = bytes;
  auto malformed = [](const char* what) {
    return DataLoss(std::string("mvcc: malformed KeyValue record: ") + what);
  };
  while (!in.empty()) {
    uint64_t tag;
    if (!GetVarint(&in, &tag)) return malformed("bad tag");
    int field = static_cast<int>(tag >> 3);
    uint8_t wire_type = tag & 7;
    switch (wire_type) {
      case kVarint: {
        uint64_t v;
        if (!GetVarint(&in, &v)) return malformed("bad varint");
        int64_t s = static_cast<int64_t>(v);
        switch (field) {
          case 2:
            kv.create_revision = s;
            break;
          case 3:
            kv.mod_revision = s;
            break;
          case 4:
            kv.version = s;
            break;
          case 6:
            kv.lease = s;
            break;
          default:
            break;  // unknown field
        }
        break;
      }
      case kLengthDelimited: {
        uint64_t n;
        if (!GetVarint(&in, &n)) return malformed("bad length");
        if (n > in.size()) return malformed("truncated bytes field");
        std::string_view v = in.substr(0, n);
        in.remove_prefix(n);
        if (field == 1) kv.key = v;
        if (field == 5) kv.value = v;
        break;
      }
      case kFixed64:
        if (in.size() < 8) return malformed("truncated fixed64");
        in.remove_prefix(8);
        break;
      case kFixed32:
        if (in.size() < 4) return malformed("truncated fixed32");
        in.remove_prefix(4);
        break;
      default:
        return malformed("unknown wire type");
    }
  }
  return kv;
}

}  // namespace etcdpp::mvcc
