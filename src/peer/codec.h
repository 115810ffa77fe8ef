// The peer wire format: how raft messages travel between etcdpp members (not etcd's; mixed
// clusters are out of scope, DESIGN §8).
//
// A connection carries a stream of frames in one direction, from the member that dialed to the
// member that accepted (replies travel on the other member's own connection):
//
//   frame   := length (4 bytes, big-endian) payload[length]
//   first frame (hello): "etcdpp-peer/1" cluster_id from_id to_id n_urls (len url)*n_urls
//   every later frame: one raft message (EncodeMessage below)
//
// Every integer in a payload is a varint (base/varint.h); strings are a varint length then the
// bytes. Decoders never trust a length: truncated or trailing bytes, an unknown message or entry
// type, or a count beyond the limits below are errors (kDataLoss) and the connection is closed.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "raft/types.h"

namespace etcdpp::peer {

// Largest frame accepted. Raft puts at most 1 MiB of entries in one append but always at least
// one entry, and one entry may hold a request up to --max-request-bytes (1.5 MiB by default,
// operators raise it to a few MiB); 64 MiB leaves room for that and still bounds what a broken
// or hostile peer can make us allocate.
inline constexpr uint32_t kMaxFrameBytes = 64u << 20;
// Length of the frame header (the big-endian payload length).
inline constexpr size_t kFrameHeaderBytes = 4;

struct Hello {
  ClusterId cluster_id;
  MemberId from;
  MemberId to;
  // The sender's --advertise-client-urls, so that MemberList can show them on every member.
  std::vector<std::string> client_urls;

  friend bool operator==(const Hello&, const Hello&) = default;
};

// Appends one frame (header + payload) to *out.
void AppendHelloFrame(const Hello& hello, std::string* out);
void AppendMessageFrame(const raft::Message& m, std::string* out);

// Decode one payload (without its header).
Result<Hello> DecodeHello(std::string_view payload);
Result<raft::Message> DecodeMessage(std::string_view payload);

// Reads the payload length from a frame header. REQUIRES: header.size() == kFrameHeaderBytes.
uint32_t FrameLength(std::string_view header);

}  // namespace etcdpp::peer
