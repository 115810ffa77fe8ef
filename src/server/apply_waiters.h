// ApplyWaiters: what a member owes its callers until entries are applied — the completion of
// every proposal made on this member (keyed by request id) and every read waiting for an applied
// index — together with the applied and acknowledged indexes and the sticky write-path error.
// Node and ClusterNode both answer their callers through one of these.
//
// Thread safety: every method may be called from any thread. Callbacks run outside the lock, on
// the thread that releases them: the applying thread (Acknowledge, MarkApplied), or the caller's
// when the answer is known at once. A node may hold its own mutex while calling AddProposal (so
// that admitting a proposal and queueing it are one step); ApplyWaiters never calls back into
// the node with its lock held.
//
// Invariants: applied() <= acknowledged(). A proposal's callback runs exactly once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "server/consensus.h"

namespace etcdpp::server {

class ApplyWaiters {
 public:
  using ProposeCallback = Consensus::ProposeCallback;
  using ReadCallback = Consensus::ReadCallback;
  // (request id, result) of applied entries; the same type as StateMachine::Results.
  using Results = std::vector<std::pair<uint64_t, ApplyResult>>;

  // Beyond `max_pending_proposals` waiting proposals, AddProposal refuses with etcd's
  // "etcdserver: too many requests".
  explicit ApplyWaiters(size_t max_pending_proposals) : max_pending_(max_pending_proposals) {}

  // Start-up: everything up to `index` is applied.
  void StartAt(uint64_t index);

  // Keeps `*done` (moving it out) as the completion of proposal `id`; or, refusing, leaves it
  // and returns why: closed, the write path failed, or too many proposals wait.
  Status AddProposal(uint64_t id, ProposeCallback* done);
  // Runs the completions of the proposals among `ids` that still wait, with `status`.
  void FailProposals(std::span<const uint64_t> ids, const Status& status);
  void FailAllProposals(const Status& status);

  // Apply thread, when a batch's results are final: raises the acknowledged index to `last`
  // (first, so that a read a client starts after its answer waits for the batch), then answers
  // the proposals made here among `results`.
  void Acknowledge(uint64_t last, Results&& results);
  // Apply thread, once the batch is visible to reads: raises the applied index to `last` and
  // runs the reads waiting for it.
  void MarkApplied(uint64_t last);

  // Runs `done(OK)` once applied() >= index: now if it already is, else from MarkApplied. Runs
  // `done(error)` now when closed or after a write-path error (what waits may never apply).
  void WaitApplied(uint64_t index, ReadCallback done);
  // As WaitApplied, but never runs `done`: returns nullopt once it took `*done`, or the status
  // to run it with (OK: applied already; else refused), leaving `*done` to the caller.
  std::optional<Status> WaitAppliedLater(uint64_t index, ReadCallback* done);

  uint64_t applied() const { return applied_.load(std::memory_order_acquire); }
  // The lowest index a read waits for; UINT64_MAX when none waits. The applying thread commits
  // early when a read waits for something it applied (see CommitPacer).
  uint64_t lowest_waiting_read() const {
    return lowest_waiting_read_.load(std::memory_order_acquire);
  }
  // Runs `hook` (outside the lock, on the waiting caller's thread) whenever a read starts to
  // wait. REQUIRES: set before any read waits.
  void SetReadWaitingHook(std::function<void()> hook) { read_waiting_hook_ = std::move(hook); }
  // Proposals added and not yet answered.
  size_t unanswered_proposals() const {
    std::lock_guard lock(mu_);
    return proposals_.size();
  }
  uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_acquire); }

  // Records the first write-path error; later ones are ignored. Returns true for the first.
  bool SetWritePathError(const Status& status);
  Status write_path_error() const;

  // Runs every waiting completion and read with `status`.
  void FailAll(const Status& status);
  // FailAll, and refuses everything later with `status` (the node stopped).
  void Close(const Status& status);

 private:
  // REQUIRES: mu_ held.
  void UpdateLowestWaitingRead();

  const size_t max_pending_;
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> acknowledged_{0};
  std::atomic<uint64_t> lowest_waiting_read_{UINT64_MAX};  // written under mu_
  std::function<void()> read_waiting_hook_;

  mutable std::mutex mu_;  // guards everything below
  Status closed_;          // OK while open
  Status write_path_error_;
  std::unordered_map<uint64_t, ProposeCallback> proposals_;  // request id → completion
  std::multimap<uint64_t, ReadCallback> reads_;              // applied index → read
};

}  // namespace etcdpp::server
