#include "mvcc/schema.h"

#include "base/check.h"

namespace etcdpp::mvcc {
namespace {

void PutBigEndian(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBigEndian(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

}  // namespace

void EncodeRevisionKey(RevisionKey r, char* out) {
  CHECK(r.main >= 0 && r.sub >= 0) << "revision (" << r.main << "," << r.sub << ")";
  PutBigEndian(static_cast<uint64_t>(r.main), out);
  PutBigEndian(static_cast<uint64_t>(r.sub), out + 8);
}

FixedBytes<kRevisionKeyBytes> EncodeRevisionKey(RevisionKey r) {
  FixedBytes<kRevisionKeyBytes> out;
  EncodeRevisionKey(r, out.bytes.data());
  return out;
}

RevisionKey DecodeRevisionKey(std::string_view b) {
  CHECK(b.size() >= kRevisionKeyBytes) << "revision key of " << b.size() << " bytes";
  return RevisionKey{static_cast<int64_t>(GetBigEndian(b.data())),
                     static_cast<int64_t>(GetBigEndian(b.data() + 8))};
}

FixedBytes<kKeyStateBytes> EncodeKeyState(const KeyState& s) {
  FixedBytes<kKeyStateBytes> out;
  char* p = out.bytes.data();
  EncodeRevisionKey(s.rev, p);
  p[16] = s.tombstone ? 1 : 0;
  PutBigEndian(static_cast<uint64_t>(s.create_revision), p + 17);
  PutBigEndian(static_cast<uint64_t>(s.version), p + 25);
  PutBigEndian(static_cast<uint64_t>(s.lease), p + 33);
  return out;
}

bool DecodeKeyState(std::string_view b, KeyState* s) {
  if (b.size() != kKeyStateBytes) return false;
  s->rev = DecodeRevisionKey(b);
  s->tombstone = b[16] != 0;
  s->create_revision = static_cast<int64_t>(GetBigEndian(b.data() + 17));
  s->version = static_cast<int64_t>(GetBigEndian(b.data() + 25));
  s->lease = static_cast<int64_t>(GetBigEndian(b.data() + 33));
  return true;
}

bool DecodeSchema1KeyRevEntry(std::string_view b, KeyState* s) {
  if (b.size() != kRevisionKeyBytes + 1) return false;
  *s = KeyState{.rev = DecodeRevisionKey(b), .tombstone = b[kRevisionKeyBytes] != 0};
  return true;
}

std::string EncodeInt64(int64_t v) {
  std::string out(8, '\0');
  PutBigEndian(static_cast<uint64_t>(v), out.data());
  return out;
}

bool DecodeInt64(std::string_view b, int64_t* v) {
  if (b.size() != 8) return false;
  *v = static_cast<int64_t>(GetBigEndian(b.data()));
  return true;
}

}  // namespace etcdpp::mvcc
