#include "checker.h"

#include <sstream>

namespace etcdpp::sim {

uint64_t ChainHash(uint64_t prev, const raft::Entry& e) {
  // FNV-1a over (prev, term, index, type, data): order-sensitive, so equal hashes at an index
  // mean equal applied prefixes (up to hash collisions).
  uint64_t h = 1469598103934665603ULL ^ prev;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  mix(e.term.value());
  mix(e.index.value());
  mix(static_cast<uint64_t>(e.type));
  for (unsigned char c : e.data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

void Checker::Fail(const std::string& why, uint64_t now_ms) {
  if (!failure_.empty()) return;
  std::ostringstream os;
  os << "t=" << now_ms << "ms: " << why;
  failure_ = os.str();
}

void Checker::OnLeader(uint64_t node, uint64_t term, uint64_t now_ms) {
  auto [it, inserted] = leaders_.emplace(term, node);
  if (!inserted && it->second != node) {
    std::ostringstream os;
    os << "election safety: nodes " << it->second << " and " << node << " both lead term " << term;
    Fail(os.str(), now_ms);
  }
}

void Checker::OnApply(uint64_t node, const raft::Entry& e, uint64_t node_hash, uint64_t now_ms) {
  const uint64_t idx = e.index.value();
  auto it = applied_.find(idx);
  if (it == applied_.end()) {
    auto snap = snapshot_hashes_.find(idx);
    if (snap != snapshot_hashes_.end() && snap->second != node_hash) {
      std::ostringstream os;
      os << "state machine safety: node " << node << " state at index " << idx
         << " differs from a snapshot taken at that index";
      Fail(os.str(), now_ms);
    }
    applied_.emplace(idx, Applied{e, node_hash});
    return;
  }
  if (!(it->second.entry == e)) {
    std::ostringstream os;
    os << "state machine safety: node " << node << " applied (term " << e.term << ", '" << e.data
       << "') at index " << idx << " where (term " << it->second.entry.term << ", '"
       << it->second.entry.data << "') was applied before";
    Fail(os.str(), now_ms);
  } else if (it->second.hash != node_hash) {
    std::ostringstream os;
    os << "state machine safety: node " << node << " applied sequence up to " << idx
       << " is not a prefix of the agreed sequence (hash mismatch)";
    Fail(os.str(), now_ms);
  }
}

void Checker::OnSnapshotRestore(uint64_t node, uint64_t index, uint64_t hash, uint64_t now_ms) {
  auto it = applied_.find(index);
  if (it != applied_.end() && it->second.hash != hash) {
    std::ostringstream os;
    os << "state machine safety: node " << node << " restored a snapshot at " << index
       << " whose state differs from the agreed sequence";
    Fail(os.str(), now_ms);
  }
  snapshot_hashes_.emplace(index, hash);
}

void Checker::OnAck(const std::string& data, uint64_t index, uint64_t now_ms) {
  acked_.emplace(data, index);
  if (index > max_acked_index_) max_acked_index_ = index;
  auto it = applied_.find(index);
  if (it == applied_.end() || it->second.entry.data != data) {
    Fail("acknowledged proposal '" + data + "' is not the agreed entry at its index", now_ms);
  }
}

void Checker::OnRead(uint64_t node, const std::string& ctx, uint64_t required, uint64_t read_index,
                     uint64_t now_ms) {
  ++reads_;
  if (read_index < required) {
    std::ostringstream os;
    os << "linearizability: read " << ctx << " on node " << node << " got read index " << read_index
       << " but a write was acknowledged at " << required << " before the read began";
    Fail(os.str(), now_ms);
  }
}

void Checker::CheckAcksSurvive() {
  for (const auto& [data, index] : acked_) {
    auto it = applied_.find(index);
    if (it == applied_.end() || it->second.entry.data != data) {
      Fail(
          "durability: acknowledged proposal '" + data + "' lost at index " + std::to_string(index),
          0);
      return;
    }
  }
}

}  // namespace etcdpp::sim
