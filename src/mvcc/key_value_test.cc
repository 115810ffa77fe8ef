#include "mvcc/key_value.h"

#include <gtest/gtest.h>

#include "mvccpb/kv.pb.h"

namespace etcdpp::mvcc {
namespace {

mvccpb::KeyValue ToProto(const KeyValue& kv) {
  mvccpb::KeyValue p;
  p.set_key(kv.key);
  p.set_value(kv.value);
  p.set_create_revision(kv.create_revision);
  p.set_mod_revision(kv.mod_revision);
  p.set_version(kv.version);
  p.set_lease(kv.lease);
  return p;
}

TEST(KeyValueCodec, BytesEqualProtobufEncoding) {
  std::vector<KeyValue> cases = {
      {},
      {"a", "", 0, 5, 0, 0},  // a tombstone
      {"key", "value", 2, 7, 3, 0x694d71ddcfa1e20b},
      {std::string(300, 'k'), std::string(70000, '\0'), 1LL << 40, (1LL << 40) + 1, 9, -1},
  };
  for (const KeyValue& kv : cases) {
    std::string ours = EncodeKeyValue(kv);
    std::string theirs;
    ASSERT_TRUE(ToProto(kv).SerializeToString(&theirs));
    EXPECT_EQ(ours, theirs);
    auto back = DecodeKeyValue(ours);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->ToOwned(), kv);
  }
}

TEST(KeyValueCodec, DecodesWhatProtobufWritesIncludingUnknownFields) {
  mvccpb::KeyValue p;
  p.set_key("k");
  p.set_value("v");
  p.set_version(4);
  std::string bytes;
  ASSERT_TRUE(p.SerializeToString(&bytes));
  bytes += std::string("\x38\x05", 2);                       // field 7 varint
  bytes += std::string("\x42\x02xy", 4);                     // field 8 bytes
  bytes += std::string("\x49", 1) + std::string(8, '\x01');  // field 9 fixed64
  auto kv = DecodeKeyValue(bytes);
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->key, "k");
  EXPECT_EQ(kv->value, "v");
  EXPECT_EQ(kv->version, 4);
}

TEST(KeyValueCodec, TruncatedBytesFieldIsDataLoss) {
  std::string bytes = EncodeKeyValue({"key", "value", 2, 2, 1, 0});
  bytes.resize(bytes.size() - 2);
  EXPECT_EQ(DecodeKeyValue(bytes).status().code(), Code::kDataLoss);
}

TEST(KeyValueCodec, UnterminatedVarintIsDataLoss) {
  std::string bytes("\x10\xff\xff", 3);
  EXPECT_EQ(DecodeKeyValue(bytes).status().code(), Code::kDataLoss);
}

TEST(KeyValueCodec, OverlongVarintIsDataLoss) {
  std::string bytes = "\x10" + std::string(11, '\xff');
  EXPECT_EQ(DecodeKeyValue(bytes).status().code(), Code::kDataLoss);
}

TEST(KeyValueCodec, UnknownWireTypeIsDataLoss) {
  std::string bytes("\x0b", 1);  // field 1, wire type 3 (start group)
  EXPECT_EQ(DecodeKeyValue(bytes).status().code(), Code::kDataLoss);
}

}  // namespace
}  // namespace etcdpp::mvcc
