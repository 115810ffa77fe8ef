#include "raft/quorum.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace etcdpp::raft {

uint64_t MajorityConfig::CommittedIndex(const AckedIndexFn& acked) const {
  if (ids_.empty()) return UINT64_MAX;
  // Small clusters dominate; a stack buffer avoids an allocation per MsgAppResp.
  constexpr size_t kStackVoters = 7;
  uint64_t stack[kStackVoters];
  std::vector<uint64_t> heap;
  uint64_t* srt = stack;
  if (ids_.size() > kStackVoters) {
    heap.resize(ids_.size());
    srt = heap.data();
  }
  size_t n = 0;
  for (NodeId id : ids_) {
    auto idx = acked(id);
    srt[n++] = idx.value_or(0);
  }
  // The (n/2+1)-th largest value is acknowledged by a majority.
  std::sort(srt, srt + n);
  return srt[n - (n / 2 + 1)];
}

VoteResult MajorityConfig::Vote(const std::map<NodeId, bool>& votes) const {
  if (ids_.empty()) return VoteResult::kWon;
  size_t yes = 0, missing = 0;
  for (NodeId id : ids_) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++yes;
    }
  }
  const size_t q = ids_.size() / 2 + 1;
  if (yes >= q) return VoteResult::kWon;
  if (yes + missing >= q) return VoteResult::kPending;
  return VoteResult::kLost;
}

std::string MajorityConfig::ToString() const {
  std::ostringstream os;
  os << "(";
  bool first = true;
  for (NodeId id : ids_) {
    if (!first) os << " ";
    first = false;
    os << id;
  }
  os << ")";
  return os.str();
}

uint64_t JointConfig::CommittedIndex(const AckedIndexFn& acked) const {
  return std::min(incoming.CommittedIndex(acked), outgoing.CommittedIndex(acked));
}

VoteResult JointConfig::Vote(const std::map<NodeId, bool>& votes) const {
  VoteResult a = incoming.Vote(votes);
  VoteResult b = outgoing.Vote(votes);
  if (a == b) return a;
  if (a == VoteResult::kLost || b == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

std::set<NodeId> JointConfig::Ids() const {
  std::set<NodeId> out = incoming.ids();
  out.insert(outgoing.ids().begin(), outgoing.ids().end());
  return out;
}

std::string JointConfig::ToString() const {
  if (outgoing.empty()) return incoming.ToString();
  return incoming.ToString() + "&&" + outgoing.ToString();
}

}  // namespace etcdpp::raft
