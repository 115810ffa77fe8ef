// Base-128 varints as protobuf encodes them (little-endian groups of 7 bits, high bit = more).
// Shared by every hand-written encoder: mvcc's KeyValue codec, the watch response encoder, the
// raft ConfChangeV2 encoding and test servers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace etcdpp {

// A 64-bit varint takes at most 10 bytes.
inline constexpr int kMaxVarintBytes = 10;

inline size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Appends in one call: a put encodes a dozen varints, and a push_back per byte showed in
// profiles.
inline void PutVarint(uint64_t v, std::string* out) {
  char buf[kMaxVarintBytes];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

// Reads one varint from the front of *in and consumes it. Returns false (leaving *v unset) on
// truncated input or more than kMaxVarintBytes bytes.
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (int i = 0; i < kMaxVarintBytes; ++i) {
    if (in->empty()) return false;
    uint8_t b = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

}  // namespace etcdpp
