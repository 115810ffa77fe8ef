#include "grpc/framing.h"

#include <zlib.h>

#include <cstring>

#include "base/check.h"

namespace etcdpp::grpc {

void AppendMessage(std::string_view message, std::string* out) {
  uint32_t len = static_cast<uint32_t>(message.size());
  char prefix[kMessagePrefixBytes] = {0, static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                                      static_cast<char>(len >> 8), static_cast<char>(len)};
  out->append(prefix, kMessagePrefixBytes);
  out->append(message);
}

Status SendTooLarge(size_t message_bytes) {
  return ResourceExhausted("grpc: trying to send message larger than max (" +
                           std::to_string(message_bytes) + " vs. " +
                           std::to_string(kMaxSendMessageBytes) + ")");
}

std::string MessagePrefix(size_t message_bytes) {
  CHECK(message_bytes <= kMaxSendMessageBytes) << message_bytes;
  uint32_t len = static_cast<uint32_t>(message_bytes);
  return std::string{0, static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                     static_cast<char>(len >> 8), static_cast<char>(len)};
}

std::string EncodeMessage(std::string_view message) {
  std::string out;
  out.reserve(kMessagePrefixBytes + message.size());
  AppendMessage(message, &out);
  return out;
}

Status MessageReader::Feed(std::string_view data) {
  if (too_large_) return InvalidArgument("message too large");
  if (consumed_ > 0 && consumed_ == buf_.size()) {
    buf_.clear();
    consumed_ = 0;
  }
  buf_.append(data);
  // Check every complete prefix now so an oversized message is refused before it is buffered.
  size_t pos = consumed_;
  while (pos + kMessagePrefixBytes <= buf_.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + pos);
    uint32_t len = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
    if (len > max_bytes_) {
      too_large_ = true;
      buf_.clear();
      consumed_ = 0;
      return InvalidArgument("message of " + std::to_string(len) + " bytes exceeds the limit of " +
                             std::to_string(max_bytes_));
    }
    pos += kMessagePrefixBytes + len;
  }
  return Status::Ok();
}

std::optional<MessageReader::Message> MessageReader::Next() {
  if (too_large_ || buf_.size() - consumed_ < kMessagePrefixBytes) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + consumed_);
  uint32_t len = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | p[4];
  if (buf_.size() - consumed_ - kMessagePrefixBytes < len) return std::nullopt;
  Message m;
  m.compressed = p[0] != 0;
  m.bytes.assign(buf_.data() + consumed_ + kMessagePrefixBytes, len);
  consumed_ += kMessagePrefixBytes + len;
  if (consumed_ == buf_.size()) {
    buf_.clear();
    consumed_ = 0;
  } else if (consumed_ > 64 * 1024 && consumed_ > buf_.size() / 2) {
    buf_.erase(0, consumed_);
    consumed_ = 0;
  }
  return m;
}

std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  int64_t n = 0;
  for (size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] < '0' || v[i] > '9') return std::nullopt;
    n = n * 10 + (v[i] - '0');
  }
  using namespace std::chrono;
  // 8 digits of hours would overflow int64 nanoseconds (and now() + timeout); such timeouts
  // mean "never" in practice, so they are capped at kMaxGrpcTimeout.
  constexpr int64_t kMaxSeconds = duration_cast<seconds>(kMaxGrpcTimeout).count();
  auto capped = [&](int64_t secs) {
    return secs >= kMaxSeconds ? nanoseconds(kMaxGrpcTimeout) : nanoseconds(seconds(secs));
  };
  switch (v.back()) {
    case 'H':
      return capped(n * 3600);
    case 'M':
      return capped(n * 60);
    case 'S':
      return capped(n);
    case 'm':
      return duration_cast<nanoseconds>(milliseconds(n));
    case 'u':
      return duration_cast<nanoseconds>(microseconds(n));
    case 'n':
      return nanoseconds(n);
    default:
      return std::nullopt;
  }
}

std::string PercentEncode(std::string_view m) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(m.size());
  for (unsigned char c : m) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string PercentDecode(std::string_view e) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] == '%' && i + 2 < e.size() && hex(e[i + 1]) >= 0 && hex(e[i + 2]) >= 0) {
      out += static_cast<char>(hex(e[i + 1]) * 16 + hex(e[i + 2]));
      i += 2;
    } else {
      out += e[i];
    }
  }
  return out;
}

Result<std::string> GzipDecompress(std::string_view data, size_t max_bytes) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header (what grpc's "gzip" encoding is).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Internal("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Internal("grpc: failed to decompress the received message: corrupt gzip data");
    }
    out.append(chunk, sizeof(chunk) - zs.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&zs);
      return ResourceExhausted("decompressed message exceeds the limit");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return Internal("grpc: failed to decompress the received message: truncated gzip data");
    }
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

std::string GzipCompress(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out;
  out.resize(deflateBound(&zs, data.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string Base64Encode(std::string_view in) {
  static const char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += kChars[(v >> 6) & 63];
    out += kChars[v & 63];
    i += 3;
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kChars[v >> 18];
    out += kChars[(v >> 12) & 63];
    out += i + 1 < in.size() ? kChars[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  if (in.size() % 4 == 1) return InvalidArgument("bad base64 length");
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) return InvalidArgument("bad base64 character");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

}  // namespace etcdpp::grpc
