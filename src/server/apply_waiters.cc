#include "server/apply_waiters.h"

#include <utility>
#include <vector>

#include "base/check.h"
#include "server/api/errors.h"

namespace etcdpp::server {

void ApplyWaiters::StartAt(uint64_t index) {
  applied_.store(index, std::memory_order_release);
  acknowledged_.store(index, std::memory_order_release);
}

Status ApplyWaiters::AddProposal(uint64_t id, ProposeCallback* done) {
  std::lock_guard lock(mu_);
  if (!closed_.ok()) return closed_;
  if (!write_path_error_.ok()) return write_path_error_;
  if (proposals_.size() >= max_pending_) return api::Err(api::EtcdError::kTooManyRequests);
  CHECK(proposals_.emplace(id, std::move(*done)).second) << "duplicate request id " << id;
  return Status::Ok();
}

void ApplyWaiters::FailProposals(std::span<const uint64_t> ids, const Status& status) {
  std::vector<ProposeCallback> failed;
  {
    std::lock_guard lock(mu_);
    for (uint64_t id : ids) {
      auto it = proposals_.find(id);
      if (it == proposals_.end()) continue;  // answered or failed already
      failed.push_back(std::move(it->second));
      proposals_.erase(it);
    }
  }
  for (auto& cb : failed) cb(ApplyResult{status, nullptr});
}

void ApplyWaiters::FailAllProposals(const Status& status) {
  std::unordered_map<uint64_t, ProposeCallback> failed;
  {
    std::lock_guard lock(mu_);
    failed.swap(proposals_);
  }
  for (auto& [id, cb] : failed) cb(ApplyResult{status, nullptr});
}

void ApplyWaiters::Acknowledge(uint64_t last, Results&& results) {
  acknowledged_.store(last, std::memory_order_release);
  std::vector<std::pair<ProposeCallback, ApplyResult>> completions;
  completions.reserve(results.size());
  {
    std::lock_guard lock(mu_);
    for (auto& [id, r] : results) {
      auto it = proposals_.find(id);
      if (it == proposals_.end()) continue;  // proposed elsewhere or earlier, or failed
      completions.emplace_back(std::move(it->second), std::move(r));
      proposals_.erase(it);
    }
  }
  for (auto& [cb, r] : completions) cb(std::move(r));
}

void ApplyWaiters::MarkApplied(uint64_t last) {
  std::vector<ReadCallback> ready;
  {
    // Raised under the lock: WaitApplied re-checks under it, so no read is left behind.
    std::lock_guard lock(mu_);
    applied_.store(last, std::memory_order_release);
    auto end = reads_.upper_bound(last);
    for (auto it = reads_.begin(); it != end; ++it) ready.push_back(std::move(it->second));
    reads_.erase(reads_.begin(), end);
    UpdateLowestWaitingRead();
  }
  for (auto& cb : ready) cb(Status::Ok());
}

void ApplyWaiters::WaitApplied(uint64_t index, ReadCallback done) {
  if (auto now = WaitAppliedLater(index, &done)) done(*now);
}

std::optional<Status> ApplyWaiters::WaitAppliedLater(uint64_t index, ReadCallback* done) {
  if (applied() >= index) return Status::Ok();
  {
    std::lock_guard lock(mu_);
    if (applied() >= index) return Status::Ok();
    if (!closed_.ok()) return closed_;
    if (!write_path_error_.ok()) return write_path_error_;
    reads_.emplace(index, std::move(*done));
    UpdateLowestWaitingRead();
  }
  if (read_waiting_hook_) read_waiting_hook_();
  return std::nullopt;
}

void ApplyWaiters::UpdateLowestWaitingRead() {
  lowest_waiting_read_.store(reads_.empty() ? UINT64_MAX : reads_.begin()->first,
                             std::memory_order_release);
}

bool ApplyWaiters::SetWritePathError(const Status& status) {
  std::lock_guard lock(mu_);
  if (!write_path_error_.ok()) return false;
  write_path_error_ = status;
  return true;
}

Status ApplyWaiters::write_path_error() const {
  std::lock_guard lock(mu_);
  return write_path_error_;
}

void ApplyWaiters::FailAll(const Status& status) {
  FailAllProposals(status);
  std::multimap<uint64_t, ReadCallback> reads;
  {
    std::lock_guard lock(mu_);
    reads.swap(reads_);
    UpdateLowestWaitingRead();
  }
  for (auto& [index, cb] : reads) cb(status);
}

void ApplyWaiters::Close(const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (closed_.ok()) closed_ = status;
  }
  FailAll(status);
}

}  // namespace etcdpp::server
