// gRPC over HTTP/2 wire details that need no connection: the 5-byte message prefix, the
// grpc-timeout header, percent-encoding of grpc-message, gzip message decoding, base64 for
// "-bin" metadata. Pure functions and one incremental decoder; all are thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace etcdpp::grpc {

// Length prefix: 1 byte "compressed" flag + 4 bytes big-endian length.
constexpr size_t kMessagePrefixBytes = 5;

// Largest message a server sends, as grpc-go's server in etcd 3.4 (grpc.MaxSendMsgSize(
// math.MaxInt32)): a larger response fails with SendTooLarge instead of reaching the client.
constexpr size_t kMaxSendMessageBytes = 0x7fffffff;

// The status etcd (grpc-go) answers for a response of message_bytes > kMaxSendMessageBytes:
// ResourceExhausted "grpc: trying to send message larger than max (N vs. 2147483647)".
Status SendTooLarge(size_t message_bytes);

// The 5-byte prefix of an uncompressed message of message_bytes bytes.
// REQUIRES: message_bytes ≤ kMaxSendMessageBytes.
std::string MessagePrefix(size_t message_bytes);

// Returns prefix + message (uncompressed).
std::string EncodeMessage(std::string_view message);
// Appends prefix + message to *out.
void AppendMessage(std::string_view message, std::string* out);

// Splits a byte stream of length-prefixed messages. Feed() any chunking of the stream; complete
// messages come out of Next() in order. A message whose declared length exceeds max_bytes is
// refused from its prefix alone, before any of it is buffered.
class MessageReader {
 public:
  struct Message {
    bool compressed = false;
    std::string bytes;
  };

  explicit MessageReader(size_t max_message_bytes) : max_bytes_(max_message_bytes) {}

  // Returns a non-OK status (InvalidArgument with message_too_large() true) when a declared
  // message length exceeds the limit; the reader is then unusable.
  Status Feed(std::string_view data);
  // Pops the next complete message, if any.
  std::optional<Message> Next();
  // True iff bytes of an incomplete message are buffered (a stream ending here is truncated).
  bool HasPartial() const { return buf_.size() > consumed_; }
  // Bytes fed but not yet returned by Next() (prefixes included).
  size_t buffered_bytes() const { return buf_.size() - consumed_; }
  bool message_too_large() const { return too_large_; }

 private:
  size_t max_bytes_;
  std::string buf_;
  size_t consumed_ = 0;
  bool too_large_ = false;
};

// Longest deadline we keep: ten years (longer grpc-timeout values are capped to it).
inline constexpr std::chrono::hours kMaxGrpcTimeout{24 * 365 * 10};

// Parses a grpc-timeout value ("<1-8 digits><H|M|S|m|u|n>"). nullopt if malformed.
std::optional<std::chrono::nanoseconds> ParseGrpcTimeout(std::string_view value);

// Percent-encodes grpc-message per the gRPC HTTP/2 spec: bytes outside 0x20-0x7E and '%' become
// %XX (upper-case hex) of their UTF-8 encoding.
std::string PercentEncode(std::string_view message);
// Decodes %XX sequences; malformed sequences are kept as they are (the spec's lenient rule).
std::string PercentDecode(std::string_view encoded);

// Inflates a gzip-compressed message, refusing output beyond max_bytes.
Result<std::string> GzipDecompress(std::string_view data, size_t max_bytes);
// Compresses with gzip (tests, clients).
std::string GzipCompress(std::string_view data);

std::string Base64Encode(std::string_view data);
// Accepts padded and unpadded input (gRPC "-bin" values may omit padding).
Result<std::string> Base64Decode(std::string_view data);

}  // namespace etcdpp::grpc
