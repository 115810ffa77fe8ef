// CommitPacer: decides when the applying thread commits the entries it has applied (the state
// machine's open LMDB transaction), etcd's --backend-batch-interval and --backend-batch-limit.
//
// Why commits are paced: an entry is durable once it is in the WAL, and its proposer is answered
// as soon as it is applied, so the state machine's commit only makes it visible to reads and
// lets the WAL be compacted. Every commit rewrites each B+tree page the batch touched and costs
// an fdatasync: with random keys, committing after every small batch wrote several KiB of pages
// per put and put a second fdatasync beside every WAL sync. Committing at most once per interval
// lets one page write serve many puts. A read that waits for an applied entry (the read barrier
// of linearizable and serializable reads, Hash, Snapshot) makes the commit due at once, so reads
// never wait for the interval. Watch events do not wait for it either: they are published as
// soon as the entries are applied (WatchHub::Publish).
//
// Thread: the applying thread only (a plain value; no locking).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace etcdpp::server {

class CommitPacer {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // Longest time an applied entry waits for its commit when no read waits for it. etcd's
    // --backend-batch-interval, with etcd's default.
    std::chrono::microseconds interval{std::chrono::milliseconds(100)};
    // Applied entries, and bytes of entry data, after which the commit is due at once: they
    // bound the dirty pages an open transaction holds in memory (LMDB also caps them, at 128Ki
    // pages, and would fail the transaction beyond). etcd's --backend-batch-limit (10000) is
    // the entry count.
    size_t max_entries = 10000;
    size_t max_bytes = 16 << 20;
  };

  explicit CommitPacer(Options options) : options_(options) {}

  // ApplyBatch left `entries` more entries (`bytes` of entry data), up to index `last`,
  // uncommitted. REQUIRES: entries > 0.
  void Applied(uint64_t last, size_t entries, size_t bytes, Clock::time_point now) {
    if (entries_ == 0) first_ = now;
    entries_ += entries;
    bytes_ += bytes;
    last_ = last;
  }
  bool pending() const { return entries_ != 0; }
  // The last applied but uncommitted index. REQUIRES: pending().
  uint64_t pending_last() const { return last_; }
  // When the pending entries are due at the latest. REQUIRES: pending().
  Clock::time_point deadline() const { return first_ + options_.interval; }
  // True iff pending() and the commit is due: a read waits for an index ≤ pending_last() (reads
  // waiting for later entries are served by a later commit), the interval has passed since the
  // first uncommitted apply, or a limit is reached.
  bool Due(Clock::time_point now, uint64_t lowest_waiting_read) const {
    return pending() && (lowest_waiting_read <= last_ || now >= deadline() ||
                         entries_ >= options_.max_entries || bytes_ >= options_.max_bytes);
  }
  void Committed() {
    entries_ = 0;
    bytes_ = 0;
    last_ = 0;
  }

 private:
  const Options options_;
  size_t entries_ = 0;
  size_t bytes_ = 0;
  uint64_t last_ = 0;
  Clock::time_point first_;
};

}  // namespace etcdpp::server
