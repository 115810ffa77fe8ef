#include "raft/read_only.h"

#include "base/check.h"

namespace etcdpp::raft {

void ReadOnly::AddRequest(uint64_t index, const Message& req) {
  if (pending_.count(req.context)) return;
  pending_.emplace(req.context, ReadIndexStatus{req, index, {}});
  queue_.push_back(req.context);
}

const std::set<NodeId>* ReadOnly::RecvAck(NodeId id, const std::string& ctx) {
  auto it = pending_.find(ctx);
  if (it == pending_.end()) return nullptr;
  it->second.acks.insert(id);
  return &it->second.acks;
}

std::vector<ReadIndexStatus> ReadOnly::Advance(const std::string& ctx) {
  std::vector<ReadIndexStatus> out;
  if (pending_.count(ctx) == 0) return out;
  while (!queue_.empty()) {
    std::string c = std::move(queue_.front());
    queue_.pop_front();
    auto it = pending_.find(c);
    CHECK(it != pending_.end()) << "read-only queue and map disagree";
    out.push_back(std::move(it->second));
    pending_.erase(it);
    if (c == ctx) break;
  }
  return out;
}

std::string ReadOnly::LastPendingRequestCtx() const {
  return queue_.empty() ? std::string() : queue_.back();
}

}  // namespace etcdpp::raft
