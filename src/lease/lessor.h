// Lessor: etcd's leases — TTLs granted to clients, the keys attached to them, and their expiry.
//
// What lives where:
//  - Durable state (which leases exist, their granted TTL and last checkpointed remaining TTL) is
//    in the LMDB sub-database `lease` (8-byte big-endian id → LeaseRecord), written on the apply
//    thread inside the batch's write transaction, so a grant/revoke commits atomically with the
//    KV changes and the consistent index. Which keys are attached to a lease is kept by mvcc
//    (`lease_keys`, updated by every put and delete), not here.
//  - Expiry is volatile and belongs to the primary (the leader). A lease's expiry is "forever"
//    until Promote() gives every lease now + extend + its remaining TTL (the checkpointed one if
//    set, else the granted TTL), so after a restart or a leader change no lease expires earlier
//    than its TTL allows (etcd's lessor does the same).
//  - Expiry never deletes anything by itself. Tick() (every kTickInterval, from the lessor's
//    thread or a test) finds expired leases and hands them to the RevokeFn, which proposes a
//    LeaseRevoke through the log; at most kRevokesPerTick per tick (etcd's leaseRevokeRate of
//    1000/s), so an expiry storm cannot flood the log and stall client writes. An expired lease
//    that has not been revoked after kExpiredRetryInterval is handed out again.
//  - Checkpoints (etcd's lease checkpointing): a lease whose TTL exceeds the checkpoint interval
//    gets its remaining TTL proposed (CheckpointFn) every interval, and persisted when applied,
//    so a long lease does not get a fresh full TTL on every restart or leader change. A renewal
//    clears a set remaining TTL through the log (at most two log entries per lease per interval).
//
// Threads: Apply*() and AfterCommit() on the node's apply thread; Renew/Lookup/Leases/Exists
// from any thread (loop threads, the apply thread through the KV applier's lease_exists hook);
// Tick() from the lessor thread. One mutex guards the in-memory state; the RevokeFn,
// CheckpointFn and revocation callbacks are always called without it held.
//
// Invariants: every lease in leases_ has a durable record (committed, or in the open batch);
// while primary, every lease has exactly one entry in expiry_queue_ (at its `queued_at`).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "base/status.h"
#include "lease/clock.h"
#include "mvcc/store.h"
#include "storage/env.h"

namespace etcdpp::lease {

// etcd's MaxLeaseTTL: the largest TTL (seconds) a grant may ask for.
inline constexpr int64_t kMaxLeaseTtlSeconds = 9000000000;
// How often the lessor looks for expired leases and due checkpoints (etcd's runLoop period).
inline constexpr std::chrono::milliseconds kTickInterval{500};
// Revocations handed out per tick: etcd's leaseRevokeRate (1000/s) over two ticks a second.
inline constexpr size_t kRevokesPerTick = 500;
// An expired lease whose revoke has not been applied after this long is handed out again
// (etcd's defaultExpiredleaseRetryInterval), e.g. when the proposal was dropped.
inline constexpr std::chrono::seconds kExpiredRetryInterval{3};
// etcd's defaultLeaseCheckpointInterval.
inline constexpr std::chrono::minutes kDefaultCheckpointInterval{5};
// Checkpoints per proposal (etcd's maxLeaseCheckpointBatchSize) and proposals per tick
// (etcd's leaseCheckpointRate of 1000/s over two ticks).
inline constexpr size_t kMaxCheckpointBatch = 1000;
inline constexpr size_t kCheckpointBatchesPerTick = 500;
// Promote spreads expiries so that at most this many leases expire in any one second (etcd:
// three quarters of the revoke rate, leaving room for leases that expire normally).
inline constexpr size_t kTargetExpiriesPerSecond = 750;
// The LMDB sub-database holding lease records.
inline constexpr std::string_view kLeaseDbName = "lease";

// Outcome of an apply-side operation that the client sees (storage failures are the Result's
// error instead).
enum class LeaseErrc {
  kOk,
  kNotFound,     // etcd's ErrLeaseNotFound (also a grant with id 0)
  kExists,       // ErrLeaseExists
  kTtlTooLarge,  // ErrLeaseTTLTooLarge
};

struct Checkpoint {
  LeaseId id;
  int64_t remaining_ttl_seconds = 0;  // 0 clears the checkpoint
};

// What Lookup returns.
struct LeaseInfo {
  LeaseId id;
  int64_t granted_ttl_seconds = 0;
  // etcd's int64(Remaining().Seconds()): truncated toward zero, negative once expired but not
  // yet revoked, about 9.2e9 while not primary (expiry "forever").
  int64_t remaining_seconds = 0;
};

struct LessorOptions {
  // etcd: ceil(((3 * election_ticks) / 2) * heartbeat) seconds; 2 s with etcd's defaults
  // (10 ticks of 100 ms → 1.5 s, rounded up). Grants and recovered leases are raised to it.
  int64_t min_ttl_seconds = 2;
  bool checkpoint_enabled = true;
  std::chrono::milliseconds checkpoint_interval = kDefaultCheckpointInterval;
  // Limits (defaults above); tests lower them.
  size_t revokes_per_tick = kRevokesPerTick;
  size_t target_expiries_per_second = kTargetExpiriesPerSecond;
};

// Durable form of a lease (etcd persists leasepb.Lease{ID, TTL, RemainingTTL}).
struct LeaseRecord {
  int64_t ttl_seconds = 0;
  int64_t remaining_ttl_seconds = 0;
};
std::string EncodeLeaseRecord(const LeaseRecord& r);
Result<LeaseRecord> DecodeLeaseRecord(std::string_view bytes);

class Lessor {
 public:
  // Proposes the revocation of an expired lease (through the log). Must not block.
  using RevokeFn = std::function<void(LeaseId)>;
  // Proposes a batch of checkpoints (through the log). Must not block.
  using CheckpointFn = std::function<void(std::vector<Checkpoint>)>;

  // Opens (creating) the `lease` sub-database of `env` and loads every lease record, expiry
  // "forever" (not primary). `env` and `clock` must outlive the lessor. Call before the node
  // replays its log (replayed grants and puts consult the lessor).
  static Result<std::unique_ptr<Lessor>> Open(storage::Env* env, const Clock* clock,
                                              LessorOptions options = {});
  ~Lessor();
  Lessor(const Lessor&) = delete;
  Lessor& operator=(const Lessor&) = delete;

  // Must be set before Promote()/Start(). Called without the lessor's lock.
  void SetProposers(RevokeFn revoke, CheckpointFn checkpoint);

  // --- apply thread ---------------------------------------------------------------------------
  // etcd's lessor.Grant. On kOk, *granted_ttl_seconds is the TTL actually granted (raised to the
  // minimum). Writes the record into batch.txn().
  Result<LeaseErrc> ApplyGrant(mvcc::WriteBatch& batch, LeaseId id, int64_t ttl_seconds,
                               int64_t* granted_ttl_seconds);
  // etcd's lessor.Revoke: deletes every key attached to the lease in one revision (its events
  // are appended to `events`) and the lease record. Renewals waiting on the lease are answered
  // by AfterCommit(). A non-OK Result leaves the batch unusable (abort it).
  Result<LeaseErrc> ApplyRevoke(mvcc::WriteBatch& batch, LeaseId id,
                                std::vector<mvcc::Event>* events);
  // etcd's lessor.Checkpoint for each entry: unknown leases are skipped.
  Status ApplyCheckpoint(mvcc::WriteBatch& batch, std::span<const Checkpoint> checkpoints);
  // After the batch holding ApplyRevoke()s committed: runs the revocation callbacks of
  // Renew() calls that found their lease expired.
  void AfterCommit();

  // --- any thread -----------------------------------------------------------------------------
  bool Exists(LeaseId id) const;
  std::optional<LeaseInfo> Lookup(LeaseId id) const;
  // Every lease, soonest expiry first (etcd's Leases()).
  std::vector<LeaseId> Leases() const;
  size_t size() const;

  enum class RenewOutcome {
    kRenewed,     // ttl_seconds is the granted TTL; the lease expires ttl_seconds from now
    kNotFound,    // no such lease (client sees TTL 0)
    kExpired,     // expired, revoke pending: `on_revoked` runs once it is applied
    kNotPrimary,  // not the leader (a follower would forward to the leader)
  };
  struct RenewResult {
    RenewOutcome outcome;
    int64_t ttl_seconds = 0;
  };
  // etcd's lessor.Renew. `on_revoked` is kept only for kExpired and runs on the apply thread
  // (from AfterCommit); it must not block.
  RenewResult Renew(LeaseId id, std::function<void()> on_revoked);

  // Becomes primary: every lease expires `extend` + its remaining TTL from now, spread so that
  // no more than target_expiries_per_second expire in one second. Schedules checkpoints.
  void Promote(std::chrono::nanoseconds extend);
  // Stops being primary: expiries become "forever", pending checkpoints are dropped.
  void Demote();
  bool is_primary() const;

  // One round of the expiry/checkpoint loop: proposes revocations of up to revokes_per_tick
  // expired leases and the due checkpoints. Called by the lessor thread every kTickInterval;
  // tests call it directly with a fake clock.
  void Tick();

  // Starts/stops the thread that calls Tick() every kTickInterval. Stop() also drops pending
  // revocation callbacks (their streams end with the server).
  void Start();
  void Stop();

 private:
  using TimePoint = Clock::TimePoint;
  struct Lease {
    int64_t ttl_seconds = 0;
    int64_t remaining_ttl_seconds = 0;  // last checkpoint; 0 = unset
    TimePoint expiry = TimePoint::max();
    TimePoint queued_at = TimePoint::max();      // its key in expiry_queue_ (max: not queued)
    TimePoint checkpoint_at = TimePoint::max();  // its key in checkpoint_queue_ (max: none)
    std::vector<std::function<void()>> on_revoked;
  };

  Lessor(storage::Env* env, storage::Dbi dbi, const Clock* clock, LessorOptions options)
      : env_(env), dbi_(dbi), clock_(clock), options_(options) {}

  // REQUIRES: mu_ held.
  int64_t EffectiveTtl(const Lease& l) const {
    return l.remaining_ttl_seconds > 0 ? l.remaining_ttl_seconds : l.ttl_seconds;
  }
  void Refresh(LeaseId id, Lease& l, std::chrono::nanoseconds extend);
  void Enqueue(LeaseId id, Lease& l, TimePoint at);
  void Dequeue(LeaseId id, Lease& l);
  void ScheduleCheckpointIfNeeded(LeaseId id, Lease& l);
  std::vector<LeaseId> FindExpired(size_t limit);
  std::vector<Checkpoint> FindDueCheckpoints(size_t limit);
  Status Persist(storage::WriteTxn& txn, LeaseId id, const Lease& l);

  storage::Env* const env_;
  const storage::Dbi dbi_;
  const Clock* const clock_;
  const LessorOptions options_;

  RevokeFn revoke_fn_;
  CheckpointFn checkpoint_fn_;

  mutable std::mutex mu_;
  bool primary_ = false;
  std::unordered_map<LeaseId, Lease> leases_;
  // (expiry or retry time, lease): the primary's expiry order.
  std::set<std::pair<TimePoint, LeaseId>> expiry_queue_;
  // (due time, lease): at most one entry per lease (its checkpoint_at); entries of revoked
  // leases are skipped when due.
  std::set<std::pair<TimePoint, LeaseId>> checkpoint_queue_;
  // Callbacks of revoked leases, run by AfterCommit() (apply thread only: no lock needed, but
  // kept under mu_ for Stop()).
  std::vector<std::function<void()>> revoked_callbacks_;

  // The Tick thread.
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace etcdpp::lease
