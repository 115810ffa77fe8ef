// The peer wire format: how raft messages travel between etcdpp members (not etcd's; mixed
// clusters are out of scope, DESIGN §8).
//
// A connection carries a stream of frames in one direction, from the member that dialed to the
// member that accepted (replies travel on the other member's own connection):
//
//   frame   := length (4 bytes, big-endian) payload[length]
//   first frame (hello): "etcdpp-peer/1" cluster_id from_id to_id n_urls (len url)*n_urls
//   every later frame: one raft message (EncodeMessage below), or a lease keep-alive forwarded
//   by a follower to the leader (tag 0xE0) and its answer (tag 0xE1): etcd serves keep-alives on
//   the leader only, and followers forward them.
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

// A keep-alive a follower forwards to the leader, and the leader's answer.
struct LeaseRenew {
  uint64_t request_id = 0;  // chosen by the follower, echoed in the answer
  int64_t lease_id = 0;
  friend bool operator==(const LeaseRenew&, const LeaseRenew&) = default;
};
enum class LeaseRenewOutcome : uint8_t {
  kRenewed = 0,    // ttl_seconds is the granted TTL
  kNotFound = 1,   // no such lease (or it expired and was revoked): TTL 0 for the client
  kNotLeader = 2,  // the member asked is not the leader (any more)
};
struct LeaseRenewResult {
  uint64_t request_id = 0;
  LeaseRenewOutcome outcome = LeaseRenewOutcome::kNotLeader;
  int64_t ttl_seconds = 0;
  friend bool operator==(const LeaseRenewResult&, const LeaseRenewResult&) = default;
};

// The kind of a payload after the hello, from its first byte.
enum class FrameKind { kRaftMessage, kLeaseRenew, kLeaseRenewResult };
FrameKind KindOf(std::string_view payload);

// Appends one frame (header + payload) to *out.
void AppendHelloFrame(const Hello& hello, std::string* out);
void AppendMessageFrame(const raft::Message& m, std::string* out);
void AppendLeaseRenewFrame(const LeaseRenew& r, std::string* out);
void AppendLeaseRenewResultFrame(const LeaseRenewResult& r, std::string* out);

// Decode one payload (without its header).
Result<Hello> DecodeHello(std::string_view payload);
Result<raft::Message> DecodeMessage(std::string_view payload);
Result<LeaseRenew> DecodeLeaseRenew(std::string_view payload);
Result<LeaseRenewResult> DecodeLeaseRenewResult(std::string_view payload);

// Reads the payload length from a frame header. REQUIRES: header.size() == kFrameHeaderBytes.
uint32_t FrameLength(std::string_view header);

}  // namespace etcdpp::peer
