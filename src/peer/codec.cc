#include "peer/codec.h"

#include "base/varint.h"

namespace etcdpp::peer {
namespace {

constexpr std::string_view kHelloMagic = "etcdpp-peer/1";
// First payload bytes of the lease frames; raft message types are all below 0x20.
constexpr uint8_t kLeaseRenewTag = 0xE0;
constexpr uint8_t kLeaseRenewResultTag = 0xE1;
// Counts accepted in a message, beyond which it is rejected as malformed. Raft never sends more
// entries than fit in kMaxFrameBytes, and each entry costs at least 4 bytes, so this only bites
// on corrupt input; it keeps a decoder from reserving memory for a forged count.
constexpr uint64_t kMaxEntriesPerMessage = kMaxFrameBytes / 4;
// Members in a configuration (etcd recommends 7 at most; this is a sanity bound).
constexpr uint64_t kMaxConfMembers = 1024;
constexpr uint64_t kMaxUrls = 64;

void PutString(std::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s);
}

// Writes the header for a payload that starts at out[start + kFrameHeaderBytes].
void FinishFrame(size_t start, std::string* out) {
  uint32_t n = static_cast<uint32_t>(out->size() - start - kFrameHeaderBytes);
  (*out)[start] = static_cast<char>(n >> 24);
  (*out)[start + 1] = static_cast<char>(n >> 16);
  (*out)[start + 2] = static_cast<char>(n >> 8);
  (*out)[start + 3] = static_cast<char>(n);
}

void PutIds(const std::vector<raft::NodeId>& ids, std::string* out) {
  PutVarint(ids.size(), out);
  for (raft::NodeId id : ids) PutVarint(id.value(), out);
}

// A cursor over a payload that records the first failure.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  uint64_t U64() {
    uint64_t v = 0;
    if (ok_ && !GetVarint(&in_, &v)) ok_ = false;
    return ok_ ? v : 0;
  }
  std::string Str() {
    uint64_t n = U64();
    if (!ok_ || n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  uint64_t Count(uint64_t max) {
    uint64_t n = U64();
    if (n > max) ok_ = false;
    return ok_ ? n : 0;
  }
  std::vector<raft::NodeId> Ids() {
    std::vector<raft::NodeId> ids;
    uint64_t n = Count(kMaxConfMembers);
    for (uint64_t i = 0; i < n && ok_; ++i) ids.push_back(raft::NodeId(U64()));
    return ids;
  }
  void Fail() { ok_ = false; }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  std::string_view rest() const { return in_; }
  void Skip(size_t n) { in_.remove_prefix(n); }

 private:
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace

uint32_t FrameLength(std::string_view h) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(h[0])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(h[1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(h[2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(h[3]));
}

void AppendHelloFrame(const Hello& hello, std::string* out) {
  size_t start = out->size();
  out->append(kFrameHeaderBytes, '\0');
  out->append(kHelloMagic);
  PutVarint(hello.cluster_id.value(), out);
  PutVarint(hello.from.value(), out);
  PutVarint(hello.to.value(), out);
  PutVarint(hello.client_urls.size(), out);
  for (const auto& u : hello.client_urls) PutString(u, out);
  FinishFrame(start, out);
}

Result<Hello> DecodeHello(std::string_view payload) {
  if (payload.substr(0, kHelloMagic.size()) != kHelloMagic) {
    return DataLoss("peer hello does not start with \"" + std::string(kHelloMagic) + "\"");
  }
  Reader r(payload.substr(kHelloMagic.size()));
  Hello h;
  h.cluster_id = ClusterId(r.U64());
  h.from = MemberId(r.U64());
  h.to = MemberId(r.U64());
  uint64_t n = r.Count(kMaxUrls);
  for (uint64_t i = 0; i < n && r.ok(); ++i) h.client_urls.push_back(r.Str());
  if (!r.ok() || !r.done()) return DataLoss("malformed peer hello");
  return h;
}

void AppendMessageFrame(const raft::Message& m, std::string* out) {
  size_t start = out->size();
  out->append(kFrameHeaderBytes, '\0');
  out->push_back(static_cast<char>(m.type));
  PutVarint(m.to.value(), out);
  PutVarint(m.from.value(), out);
  PutVarint(m.term.value(), out);
  PutVarint(m.log_term.value(), out);
  PutVarint(m.index.value(), out);
  PutVarint(m.commit.value(), out);
  out->push_back(m.reject ? 1 : 0);
  PutVarint(m.reject_hint.value(), out);
  PutString(m.context, out);
  PutVarint(m.entries.size(), out);
  for (const raft::Entry& e : m.entries) {
    PutVarint(e.term.value(), out);
    PutVarint(e.index.value(), out);
    out->push_back(static_cast<char>(e.type));
    PutString(e.data, out);
  }
  if (m.snapshot.has_value()) {
    const raft::Snapshot& s = *m.snapshot;
    out->push_back(1);
    PutString(s.data, out);
    PutVarint(s.metadata.index.value(), out);
    PutVarint(s.metadata.term.value(), out);
    const raft::ConfState& cs = s.metadata.conf_state;
    PutIds(cs.voters, out);
    PutIds(cs.learners, out);
    PutIds(cs.voters_outgoing, out);
    PutIds(cs.learners_next, out);
    out->push_back(cs.auto_leave ? 1 : 0);
  } else {
    out->push_back(0);
  }
  FinishFrame(start, out);
}

Result<raft::Message> DecodeMessage(std::string_view payload) {
  if (payload.empty()) return DataLoss("empty peer message");
  uint8_t type = static_cast<uint8_t>(payload[0]);
  if (type > static_cast<uint8_t>(raft::MessageType::kReadIndexResp)) {
    return DataLoss("unknown raft message type " + std::to_string(type));
  }
  Reader r(payload.substr(1));
  raft::Message m;
  m.type = static_cast<raft::MessageType>(type);
  m.to = raft::NodeId(r.U64());
  m.from = raft::NodeId(r.U64());
  m.term = Term(r.U64());
  m.log_term = Term(r.U64());
  m.index = LogIndex(r.U64());
  m.commit = LogIndex(r.U64());
  auto flag = [&r]() -> bool {
    if (!r.ok() || r.done()) {
      r.Fail();
      return false;
    }
    uint8_t b = static_cast<uint8_t>(r.rest()[0]);
    r.Skip(1);
    if (b > 1) r.Fail();
    return b == 1;
  };
  m.reject = flag();
  m.reject_hint = LogIndex(r.U64());
  m.context = r.Str();
  uint64_t n = r.Count(kMaxEntriesPerMessage);
  m.entries.reserve(std::min<uint64_t>(n, r.rest().size() / 4 + 1));
  for (uint64_t i = 0; i < n && r.ok(); ++i) {
    raft::Entry e;
    e.term = Term(r.U64());
    e.index = LogIndex(r.U64());
    if (r.ok() && r.done()) r.Fail();
    if (!r.ok()) break;
    uint8_t et = static_cast<uint8_t>(r.rest()[0]);
    r.Skip(1);
    if (et > static_cast<uint8_t>(raft::EntryType::kConfChangeV2)) {
      return DataLoss("unknown raft entry type " + std::to_string(et));
    }
    e.type = static_cast<raft::EntryType>(et);
    e.data = r.Str();
    m.entries.push_back(std::move(e));
  }
  if (flag()) {
    raft::Snapshot s;
    s.data = r.Str();
    s.metadata.index = LogIndex(r.U64());
    s.metadata.term = Term(r.U64());
    raft::ConfState& cs = s.metadata.conf_state;
    cs.voters = r.Ids();
    cs.learners = r.Ids();
    cs.voters_outgoing = r.Ids();
    cs.learners_next = r.Ids();
    cs.auto_leave = flag();
    m.snapshot = std::move(s);
  }
  if (!r.ok()) return DataLoss("malformed raft message (truncated or invalid field)");
  if (!r.done()) return DataLoss("malformed raft message (trailing bytes)");
  return m;
}

FrameKind KindOf(std::string_view payload) {
  if (!payload.empty() && static_cast<uint8_t>(payload[0]) == kLeaseRenewTag) {
    return FrameKind::kLeaseRenew;
  }
  if (!payload.empty() && static_cast<uint8_t>(payload[0]) == kLeaseRenewResultTag) {
    return FrameKind::kLeaseRenewResult;
  }
  return FrameKind::kRaftMessage;
}

void AppendLeaseRenewFrame(const LeaseRenew& r, std::string* out) {
  size_t start = out->size();
  out->append(kFrameHeaderBytes, '\0');
  out->push_back(static_cast<char>(kLeaseRenewTag));
  PutVarint(r.request_id, out);
  PutVarint(static_cast<uint64_t>(r.lease_id), out);
  FinishFrame(start, out);
}

void AppendLeaseRenewResultFrame(const LeaseRenewResult& r, std::string* out) {
  size_t start = out->size();
  out->append(kFrameHeaderBytes, '\0');
  out->push_back(static_cast<char>(kLeaseRenewResultTag));
  PutVarint(r.request_id, out);
  out->push_back(static_cast<char>(r.outcome));
  PutVarint(static_cast<uint64_t>(r.ttl_seconds), out);
  FinishFrame(start, out);
}

Result<LeaseRenew> DecodeLeaseRenew(std::string_view payload) {
  if (KindOf(payload) != FrameKind::kLeaseRenew) return DataLoss("not a lease renew frame");
  Reader r(payload.substr(1));
  LeaseRenew out;
  out.request_id = r.U64();
  out.lease_id = static_cast<int64_t>(r.U64());
  if (!r.ok() || !r.done()) return DataLoss("malformed lease renew frame");
  return out;
}

Result<LeaseRenewResult> DecodeLeaseRenewResult(std::string_view payload) {
  if (KindOf(payload) != FrameKind::kLeaseRenewResult) {
    return DataLoss("not a lease renew result frame");
  }
  Reader r(payload.substr(1));
  LeaseRenewResult out;
  out.request_id = r.U64();
  if (!r.ok() || r.done()) return DataLoss("malformed lease renew result frame");
  uint8_t outcome = static_cast<uint8_t>(r.rest()[0]);
  r.Skip(1);
  if (outcome > static_cast<uint8_t>(LeaseRenewOutcome::kNotLeader)) {
    return DataLoss("unknown lease renew outcome " + std::to_string(outcome));
  }
  out.outcome = static_cast<LeaseRenewOutcome>(outcome);
  out.ttl_seconds = static_cast<int64_t>(r.U64());
  if (!r.ok() || !r.done()) return DataLoss("malformed lease renew result frame");
  return out;
}

}  // namespace etcdpp::peer
