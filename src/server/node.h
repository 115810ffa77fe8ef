// Node: the write pipeline of one etcdpp member — propose → log (fdatasync) → apply → respond —
// and the linearizable-read barrier.
//
// Threads and ownership (DESIGN §2, §3):
//  - Callers (loop threads) call Propose() and ReadIndex() from any thread. They never block:
//    the request is queued and `done` runs later.
//  - One write thread ("wal-apply") owns the consensus state, the durable log and the state
//    machine's write side. Each wake-up it drains every queued proposal into one batch of
//    entries, saves them with one Save() (one fdatasync: group commit), applies them into the
//    state machine's open transaction and runs the proposals' `done` callbacks as soon as the
//    batch's results are known: the entries are already durable in the log, so the state
//    machine's commit and its fdatasync stay off the acknowledgement path. It commits when its
//    CommitPacer says so (an interval, a size limit, or a read waiting for an applied entry),
//    then releases the read barriers whose index is now applied. A single member has no
//    followers to wait for, so a separate apply thread would only add a hand-off (a thread
//    wake-up) to every write; see docs/benchmarks.md, the seventh session.
//  - Callbacks therefore run on the write thread; they must be quick and must not call back
//    into the Node synchronously (post to a loop thread instead).
//
// Invariants: applied_index <= acknowledged_index <= committed_index <= last durable log index.
// An entry is applied only after it is durable. A proposal's `done` may run before the state
// machine's commit makes the entry visible to reads, so every read first waits for a barrier:
// linearizable reads until everything committed is applied (ReadIndex), serializable reads
// until everything acknowledged is applied (ReadAcknowledged). Either way a read that starts
// after a client saw a response observes that write. If the commit then fails, the write is
// still in the log (a restart replays it) and the write path stops; waiting reads fail.
#pragma once

#include <google/protobuf/message.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "base/status.h"
#include "raft/types.h"
#include "server/apply_waiters.h"
#include "server/commit_pacer.h"
#include "server/consensus.h"

namespace etcdpp::server {

// The state machine the node drives. Implemented over mvcc + the KV applier.
// Thread: all methods are called on the thread that applies (Node's write thread, ClusterNode's
// apply thread) only, except applied_index() at start-up and SyncApplied().
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // The index of the last entry whose effects are durable in the state machine. Recovery replays
  // log entries after it.
  virtual LogIndex applied_index() const = 0;
  // (request id, result) of every entry of a batch that carried a proposal, in log order.
  using Results = std::vector<std::pair<uint64_t, ApplyResult>>;
  // Applies `entries` (consecutive, following the last entry applied) into the open transaction,
  // beginning one if none is open, and records the last index in it. Calls `release(results)`
  // exactly once when returning OK, once every result of the batch is final: before the
  // transaction commits, or after committing it when the batch must be visible before anyone
  // hears of it (then nothing is left uncommitted). A non-OK return is fatal for the write path
  // (disk error); what was applied since the last commit is dropped.
  virtual Status ApplyBatch(std::span<const raft::Entry> entries,
                            const std::function<void(Results&&)>& release) = 0;
  // True while entries applied by ApplyBatch wait for CommitApplied.
  virtual bool has_uncommitted() const = 0;
  // Commits the open transaction, if any: what was applied becomes visible to reads and
  // applied_index() reaches it. A non-OK return is fatal for the write path.
  virtual Status CommitApplied() = 0;
  // Any thread. Makes every applied entry durable in the state machine (not just committed to
  // it) and returns the position of the last one: the log may then drop entries up to it.
  struct Position {
    LogIndex index;
    Term term;
  };
  virtual Result<Position> SyncApplied() = 0;
};

// The apply step, shared by Node (on its write thread) and ClusterNode (on its apply thread):
// applies committed batches to the state machine, answers their proposals, and commits when the
// CommitPacer says so, raising the applied index of `waiters` once the entries are visible to
// reads.
// Thread: the one thread that applies (one PacedApply per node).
class PacedApply {
 public:
  // `sm` and `waiters` must outlive it.
  PacedApply(StateMachine* sm, ApplyWaiters* waiters, CommitPacer::Options options)
      : sm_(sm), waiters_(waiters), pacer_(options) {}

  // The read-waiting hook a node installs in its ApplyWaiters (before any read waits): wakes its
  // applying thread, waiting on `cv` under `mu`, since a waiting read may make the commit due.
  static std::function<void()> WakeOnWaitingRead(std::mutex* mu, std::condition_variable* cv) {
    return [mu, cv] {
      { std::lock_guard lock(*mu); }
      cv->notify_one();
    };
  }

  // Waits on `cv` (`lock` held) until `has_work()` or the pending commit is due.
  template <typename HasWork>
  void Wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, HasWork has_work) {
    auto ready = [&] { return has_work() || Due(); };
    if (pacer_.pending()) {
      cv.wait_until(lock, pacer_.deadline(), ready);
    } else {
      cv.wait(lock, ready);
    }
  }

  // Applies `batch` (may be empty), then commits what is pending if `stop` or the commit is due.
  // A non-OK return is fatal for the write path; nothing uncommitted is left then.
  Status Run(std::span<const raft::Entry> batch, bool stop);
  // Whether what was applied should be committed now (the CommitPacer's limits, or a read
  // waiting for an applied entry).
  bool Due() const;

 private:
  Status Apply(std::span<const raft::Entry> batch);
  Status Commit();

  StateMachine* const sm_;
  ApplyWaiters* const waiters_;
  CommitPacer pacer_;
};

// The durable log the node appends to. Implemented over wal::Wal.
// Thread: the thread that writes the log only (Node's write thread, ClusterNode's raft thread).
class DurableLog {
 public:
  virtual ~DurableLog() = default;
  // Appends entries and the hard state with one write and one fdatasync. Returns OK iff durable.
  virtual Status Save(const raft::HardState& hs, std::span<const raft::Entry> entries) = 0;
  // Records that the state machine durably holds everything up to `index` (of `term`) and drops
  // the log before it. Recovery then starts from there.
  virtual Status Compact(LogIndex index, Term term) = 0;
};

class Node : public Consensus {
 public:

  struct Options {
    MemberId member_id;
    ClusterId cluster_id;
    // Proposals queued but not yet applied, beyond which Propose fails fast with etcd's
    // "etcdserver: too many requests" (etcd allows 5000 between commit and apply).
    size_t max_pending_proposals = 5000;
    // Applied entries after which the log is compacted up to the applied index (etcd's
    // --snapshot-count, default 100000): bounds the log's disk use and the replay at start-up.
    uint64_t snapshot_count = 100000;
    // Log bytes after which the log is compacted even before snapshot_count entries: big
    // entries (txns of many puts) would otherwise make restart after a crash read hundreds of
    // megabytes. One WAL segment.
    uint64_t compact_after_bytes = 64ull << 20;
    // When applied entries are committed to the state machine (--backend-batch-interval/-limit).
    CommitPacer::Options commit{};
    // Group commit under load. When the write thread wakes to fewer than `gather_target` queued
    // proposals while at least `gather_min_unanswered` proposals wait for their answer, it waits
    // up to `gather_wait` for more before writing: one write, one fdatasync and one wake-up of
    // the thread then serve a larger batch. Each hand-off wakes a sleeping thread,
    // which on a VM costs about as much CPU as a small put. The wait only happens when that
    // many clients already wait on the server, and adds at most `gather_wait` to their latency
    // (docs/benchmarks.md: -8 to -12% server CPU per put at 1000 clients). Zero disables it.
    std::chrono::microseconds gather_wait{500};
    size_t gather_min_unanswered = 32;
    size_t gather_target = 256;
  };

  // Recovered state of the log: the hard state and every entry after the state machine's applied
  // index (they are re-applied before the node serves).
  struct RecoveredLog {
    raft::HardState hard_state;
    std::vector<raft::Entry> entries;  // consecutive; may be empty
    LogIndex last_index;               // last index in the log (== applied index when empty)
  };

  // The node does not own `log` and `sm`; they must outlive it.
  Node(Options options, DurableLog* log, StateMachine* sm);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Re-applies recovered entries, then starts the write thread.
  Status Start(RecoveredLog recovered);
  // Stops the write thread after it committed what it applied. Pending proposals and reads
  // complete with "etcdserver: server stopped".
  void Stop();

  // Any thread. `data` is an encoded request that carries `request_id`; `done` runs on the write
  // thread with the result, or with an error if the proposal could not be committed.
  void Propose(uint64_t request_id, std::string data, ProposeCallback done);

  // Any thread. `done(OK)` runs once every entry committed before this call has been applied
  // (Raft thesis §6.4: a read served after that is linearizable); on the caller's thread if that
  // is already true, else on the write thread.
  void ReadIndex(ReadCallback done);
  // Any thread. The serializable-read barrier: `done(OK)` runs once every write already
  // acknowledged to a client is visible to reads; at once if that is already true.
  void ReadAcknowledged(ReadCallback done);

  // Unique ids for requests, as etcd generates them: member id bits in the top, a counter below.
  uint64_t NextRequestId();

  MemberId member_id() const { return options_.member_id; }
  ClusterId cluster_id() const { return options_.cluster_id; }
  Term term() const { return Term(term_.load(std::memory_order_acquire)); }
  MemberId leader() const { return options_.member_id; }  // single member: always itself
  LogIndex committed_index() const { return LogIndex(committed_.load(std::memory_order_acquire)); }
  LogIndex applied_index() const { return LogIndex(waiters_.applied()); }
  LogIndex acknowledged_index() const { return LogIndex(waiters_.acknowledged()); }
  // The sticky error of the write path (e.g. a failed fdatasync), OK while healthy.
  Status write_path_error() const;

 private:
  struct Proposal {
    uint64_t request_id;
    std::string data;
  };
  void WriteThreadMain();
  // Write thread, `lock` held, proposals_ not empty: the group-commit wait (Options::gather_wait).
  // It ends early when `apply`'s commit falls due, so that a read waiting for an applied entry
  // is not held up by the wait for more writes.
  void GatherProposals(std::unique_lock<std::mutex>& lock, const PacedApply& apply);
  // Write thread: turns `batch` into entries and saves them; on success `entries` holds them,
  // durable and committed. Otherwise (now or earlier) the write path stopped: `entries` stays
  // empty and the batch's proposers get the error.
  void WriteBatch(std::vector<Proposal>& batch, std::vector<raft::Entry>* entries);
  // Compacts the log up to the applied index if at least `min_entries` were applied since the
  // last compaction. Write thread, or after it stopped.
  void MaybeCompactLog(uint64_t min_entries);
  void SetWritePathError(const Status& status);

  const Options options_;
  RequestIds request_ids_{options_.member_id};
  DurableLog* const log_;
  StateMachine* const sm_;

  std::atomic<uint64_t> term_{0};
  std::atomic<uint64_t> committed_{0};
  // Proposals and reads waiting to be answered; the applied and acknowledged indexes.
  ApplyWaiters waiters_{options_.max_pending_proposals};

  // Guards everything below up to the thread.
  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the write thread
  bool stopping_ = false;
  bool started_ = false;  // set by Start before the thread exists; read by Stop after it ends
  std::vector<Proposal> proposals_;  // waiting for the write thread
  // Propose wakes the write thread when proposals_ reaches this size: 1, or the gather target
  // while the write thread gathers.
  size_t wake_at_ = 1;

  // Owned by the write thread.
  uint64_t last_index_ = 0;
  uint64_t compacted_index_ = 0;
  uint64_t bytes_since_compaction_ = 0;
  raft::HardState hard_state_;

  std::thread write_thread_;
};

}  // namespace etcdpp::server
