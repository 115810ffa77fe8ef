#include "lease/lessor.h"

#include <algorithm>

#include "base/check.h"
#include "base/thread_name.h"
#include "mvcc/schema.h"

namespace etcdpp::lease {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

// Lease record layout: a format byte, then the granted TTL and the checkpointed remaining TTL as
// 8-byte big-endian integers. The format byte lets a later version add fields.
constexpr uint8_t kRecordFormat = 1;
constexpr size_t kRecordBytes = 1 + 8 + 8;

void PutBigEndian(std::string* out, int64_t v) {
  auto u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>(u >> shift));
}

int64_t GetBigEndian(std::string_view b) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(b[i]);
  return static_cast<int64_t>(u);
}

// Whole seconds of `d`, truncated toward zero, as Go's int64(d.Seconds()).
int64_t TruncSeconds(nanoseconds d) { return d.count() / 1000000000; }

}  // namespace

std::string EncodeLeaseRecord(const LeaseRecord& r) {
  std::string out;
  out.reserve(kRecordBytes);
  out.push_back(static_cast<char>(kRecordFormat));
  PutBigEndian(&out, r.ttl_seconds);
  PutBigEndian(&out, r.remaining_ttl_seconds);
  return out;
}

Result<LeaseRecord> DecodeLeaseRecord(std::string_view bytes) {
  if (bytes.size() != kRecordBytes) {
    return DataLoss("lease record has " + std::to_string(bytes.size()) + " bytes, want " +
                    std::to_string(kRecordBytes));
  }
  if (static_cast<uint8_t>(bytes[0]) != kRecordFormat) {
    return DataLoss("lease record has unknown format " +
                    std::to_string(static_cast<uint8_t>(bytes[0])));
  }
  LeaseRecord r;
  r.ttl_seconds = GetBigEndian(bytes.substr(1, 8));
  r.remaining_ttl_seconds = GetBigEndian(bytes.substr(9, 8));
  return r;
}

Result<std::unique_ptr<Lessor>> Lessor::Open(storage::Env* env, const Clock* clock,
                                             LessorOptions options) {
  ETCDPP_ASSIGN_OR_RETURN(storage::Dbi dbi, env->OpenDbi(kLeaseDbName, storage::DbiKind::kPlain));
  std::unique_ptr<Lessor> lessor(new Lessor(env, dbi, clock, options));
  ETCDPP_ASSIGN_OR_RETURN(storage::ReadTxn txn, env->BeginRead());
  ETCDPP_ASSIGN_OR_RETURN(storage::Cursor c, txn.OpenCursor(dbi));
  ETCDPP_ASSIGN_OR_RETURN(bool ok, c.First());
  while (ok) {
    int64_t id = 0;
    if (!mvcc::DecodeInt64(c.key(), &id)) {
      return DataLoss("lease sub-database has a key of " + std::to_string(c.key().size()) +
                      " bytes");
    }
    auto rec = DecodeLeaseRecord(c.value());
    if (!rec.ok()) return DataLoss("lease " + std::to_string(id) + ": " + rec.status().message());
    Lease l;
    // As etcd's recovery: a record below the minimum (the election timeout may have grown since
    // the grant) is raised to it.
    l.ttl_seconds = std::max(rec->ttl_seconds, options.min_ttl_seconds);
    l.remaining_ttl_seconds = rec->remaining_ttl_seconds;
    lessor->leases_.emplace(LeaseId(id), std::move(l));
    ETCDPP_ASSIGN_OR_RETURN(ok, c.Next());
  }
  return lessor;
}

Lessor::~Lessor() { Stop(); }

void Lessor::SetProposers(RevokeFn revoke, CheckpointFn checkpoint) {
  revoke_fn_ = std::move(revoke);
  checkpoint_fn_ = std::move(checkpoint);
}

Status Lessor::Persist(storage::WriteTxn& txn, LeaseId id, const Lease& l) {
  return txn.Put(dbi_, mvcc::EncodeInt64(id.value()),
                 EncodeLeaseRecord({l.ttl_seconds, l.remaining_ttl_seconds}));
}

void Lessor::Enqueue(LeaseId id, Lease& l, TimePoint at) {
  Dequeue(id, l);
  l.queued_at = at;
  expiry_queue_.emplace(at, id);
}

void Lessor::Dequeue(LeaseId id, Lease& l) {
  if (l.queued_at == TimePoint::max()) return;
  expiry_queue_.erase({l.queued_at, id});
  l.queued_at = TimePoint::max();
}

void Lessor::Refresh(LeaseId id, Lease& l, nanoseconds extend) {
  TimePoint now = clock_->Now();
  // Saturate far below TimePoint::max() (which means "forever"): MaxLeaseTTL is 9e9 s, close to
  // the 9.2e18 ns a steady_clock time point can hold.
  nanoseconds headroom = (TimePoint::max() - now) - extend - seconds(1);
  int64_t ttl = EffectiveTtl(l);
  if (ttl >= TruncSeconds(headroom)) {
    l.expiry = now + extend + seconds(TruncSeconds(headroom));
  } else {
    l.expiry = now + extend + seconds(ttl);
  }
  Enqueue(id, l, l.expiry);
}

void Lessor::ScheduleCheckpointIfNeeded(LeaseId id, Lease& l) {
  if (!options_.checkpoint_enabled || !primary_) return;
  auto interval = std::chrono::duration_cast<seconds>(options_.checkpoint_interval);
  if (EffectiveTtl(l) <= interval.count()) return;
  // One pending checkpoint per lease (etcd pushes a new heap entry on every checkpoint applied,
  // so a lease renewed every interval accumulates entries).
  if (l.checkpoint_at != TimePoint::max()) checkpoint_queue_.erase({l.checkpoint_at, id});
  l.checkpoint_at = clock_->Now() + options_.checkpoint_interval;
  checkpoint_queue_.emplace(l.checkpoint_at, id);
}

Result<LeaseErrc> Lessor::ApplyGrant(mvcc::WriteBatch& batch, LeaseId id, int64_t ttl_seconds,
                                     int64_t* granted_ttl_seconds) {
  if (id.value() == 0) return LeaseErrc::kNotFound;  // etcd: NoLease cannot be granted
  if (ttl_seconds > kMaxLeaseTtlSeconds) return LeaseErrc::kTtlTooLarge;
  std::lock_guard lock(mu_);
  if (leases_.contains(id)) return LeaseErrc::kExists;
  Lease l;
  l.ttl_seconds = std::max(ttl_seconds, options_.min_ttl_seconds);
  ETCDPP_RETURN_IF_ERROR(Persist(batch.txn(), id, l));
  Lease& stored = leases_.emplace(id, std::move(l)).first->second;
  if (primary_) {
    Refresh(id, stored, nanoseconds(0));
    ScheduleCheckpointIfNeeded(id, stored);
  }
  *granted_ttl_seconds = stored.ttl_seconds;
  return LeaseErrc::kOk;
}

Result<LeaseErrc> Lessor::ApplyRevoke(mvcc::WriteBatch& batch, LeaseId id,
                                      std::vector<mvcc::Event>* events) {
  if (!Exists(id)) return LeaseErrc::kNotFound;
  // All attached keys go in one revision, in key order (mvcc keeps them sorted), so every
  // member produces the same revision and events, as etcd sorts them before deleting.
  mvcc::TxnWrite t = batch.BeginTxn();
  ETCDPP_ASSIGN_OR_RETURN(std::vector<std::string> keys, t.KeysWithLease(id));
  for (const std::string& key : keys) {
    ETCDPP_RETURN_IF_ERROR(t.DeleteRange(key, "").status());
  }
  std::vector<mvcc::Event> changes = t.End();
  if (events != nullptr) {
    for (auto& e : changes) events->push_back(std::move(e));
  }
  ETCDPP_RETURN_IF_ERROR(batch.txn().Delete(dbi_, mvcc::EncodeInt64(id.value())).status());

  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  CHECK(it != leases_.end()) << "lease " << id.value() << " vanished during its revoke";
  Dequeue(id, it->second);
  for (auto& fn : it->second.on_revoked) revoked_callbacks_.push_back(std::move(fn));
  leases_.erase(it);
  return LeaseErrc::kOk;
}

Status Lessor::ApplyCheckpoint(mvcc::WriteBatch& batch, std::span<const Checkpoint> checkpoints) {
  std::lock_guard lock(mu_);
  for (const Checkpoint& cp : checkpoints) {
    auto it = leases_.find(cp.id);
    if (it == leases_.end()) continue;
    it->second.remaining_ttl_seconds = cp.remaining_ttl_seconds;
    // Persisted (etcd 3.4 does so only with --experimental-enable-lease-checkpoint-persist) so
    // that a restart, our most common "leader change", honours the checkpoint too.
    ETCDPP_RETURN_IF_ERROR(Persist(batch.txn(), cp.id, it->second));
    ScheduleCheckpointIfNeeded(cp.id, it->second);
  }
  return Status::Ok();
}

void Lessor::AfterCommit() {
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(mu_);
    if (revoked_callbacks_.empty()) return;
    callbacks.swap(revoked_callbacks_);
  }
  for (auto& fn : callbacks) fn();
}

bool Lessor::Exists(LeaseId id) const {
  std::lock_guard lock(mu_);
  return leases_.contains(id);
}

size_t Lessor::size() const {
  std::lock_guard lock(mu_);
  return leases_.size();
}

bool Lessor::is_primary() const {
  std::lock_guard lock(mu_);
  return primary_;
}

std::optional<LeaseInfo> Lessor::Lookup(LeaseId id) const {
  std::lock_guard lock(mu_);
  auto it = leases_.find(id);
  if (it == leases_.end()) return std::nullopt;
  LeaseInfo info;
  info.id = id;
  info.granted_ttl_seconds = it->second.ttl_seconds;
  if (it->second.expiry == TimePoint::max()) {
    info.remaining_seconds = TruncSeconds(nanoseconds::max());
  } else {
    info.remaining_seconds = TruncSeconds(it->second.expiry - clock_->Now());
  }
  return info;
}

std::vector<LeaseId> Lessor::Leases() const {
  std::vector<std::pair<TimePoint, LeaseId>> all;
  {
    std::lock_guard lock(mu_);
    all.reserve(leases_.size());
    for (const auto& [id, l] : leases_) all.emplace_back(l.expiry, id);
  }
  std::sort(all.begin(), all.end());
  std::vector<LeaseId> out;
  out.reserve(all.size());
  for (const auto& [expiry, id] : all) out.push_back(id);
  return out;
}

Lessor::RenewResult Lessor::Renew(LeaseId id, std::function<void()> on_revoked) {
  bool clear_checkpoint = false;
  int64_t ttl = 0;
  {
    std::lock_guard lock(mu_);
    if (!primary_) return {RenewOutcome::kNotPrimary};
    auto it = leases_.find(id);
    if (it == leases_.end()) return {RenewOutcome::kNotFound};
    Lease& l = it->second;
    if (l.expiry <= clock_->Now()) {
      // As etcd: an expired lease is not brought back; the answer waits for its revocation so
      // the client sees TTL 0 only once the keys are gone.
      if (on_revoked) l.on_revoked.push_back(std::move(on_revoked));
      return {RenewOutcome::kExpired};
    }
    // A renewed lease must not fall back to an old checkpoint after a restart: clear it (in
    // memory now, durably through the log).
    clear_checkpoint = options_.checkpoint_enabled && l.remaining_ttl_seconds > 0;
    l.remaining_ttl_seconds = 0;
    Refresh(id, l, nanoseconds(0));
    ttl = l.ttl_seconds;
  }
  if (clear_checkpoint && checkpoint_fn_) checkpoint_fn_({Checkpoint{id, 0}});
  return {RenewOutcome::kRenewed, ttl};
}

void Lessor::Promote(nanoseconds extend) {
  std::lock_guard lock(mu_);
  primary_ = true;
  for (auto& [id, l] : leases_) {
    Refresh(id, l, extend);
    ScheduleCheckpointIfNeeded(id, l);
  }
  // A burst of leases due at the same time (e.g. all leases of a cluster that was down for
  // longer than their TTLs) would all expire in the first second. Spread them so that at most
  // target_expiries_per_second expire per second, later ones delayed proportionally, as etcd's
  // Promote does; fewer leases than the revoke rate cannot pile up.
  if (leases_.size() < 2 * options_.revokes_per_tick) return;
  std::vector<std::pair<TimePoint, LeaseId>> by_expiry;
  by_expiry.reserve(leases_.size());
  for (const auto& [id, l] : leases_) by_expiry.emplace_back(l.expiry, id);
  std::sort(by_expiry.begin(), by_expiry.end());
  const auto target = static_cast<double>(options_.target_expiries_per_second);
  TimePoint base = by_expiry.front().first;
  TimePoint next_window = base + seconds(1);
  size_t expires = 0;
  for (const auto& [expiry, id] : by_expiry) {
    if (expiry > next_window) {
      base = expiry;
      next_window = base + seconds(1);
      expires = 1;
      continue;
    }
    ++expires;
    if (static_cast<double>(expires) <= target) continue;
    // A lease already `expiry - base` after the window start needs only the rest of the delay.
    auto delay = nanoseconds(static_cast<int64_t>(1e9 * (static_cast<double>(expires) / target))) -
                 (expiry - base);
    next_window = base + delay;
    Lease& l = leases_.at(id);
    Refresh(id, l, delay + extend);
  }
}

void Lessor::Demote() {
  std::lock_guard lock(mu_);
  primary_ = false;
  for (auto& [id, l] : leases_) {
    l.expiry = TimePoint::max();
    l.queued_at = TimePoint::max();
    l.checkpoint_at = TimePoint::max();
  }
  expiry_queue_.clear();
  checkpoint_queue_.clear();
}

std::vector<LeaseId> Lessor::FindExpired(size_t limit) {
  std::vector<LeaseId> out;
  std::lock_guard lock(mu_);
  if (!primary_) return out;
  TimePoint now = clock_->Now();
  while (!expiry_queue_.empty() && out.size() < limit) {
    auto [at, id] = *expiry_queue_.begin();
    if (at > now) break;
    Lease& l = leases_.at(id);  // invariant: queued leases exist
    CHECK(l.expiry <= now) << "lease " << id.value() << " queued before its expiry";
    out.push_back(id);
    // Hand it out again if its revoke has not been applied by then (dropped proposal).
    Enqueue(id, l, now + kExpiredRetryInterval);
  }
  return out;
}

std::vector<Checkpoint> Lessor::FindDueCheckpoints(size_t limit) {
  std::vector<Checkpoint> out;
  std::lock_guard lock(mu_);
  if (!primary_ || !options_.checkpoint_enabled) return out;
  TimePoint now = clock_->Now();
  while (!checkpoint_queue_.empty() && out.size() < limit) {
    auto [at, id] = *checkpoint_queue_.begin();
    if (at > now) break;
    checkpoint_queue_.erase(checkpoint_queue_.begin());
    auto it = leases_.find(id);
    if (it == leases_.end()) continue;
    Lease& l = it->second;
    l.checkpoint_at = TimePoint::max();
    if (l.expiry <= now) continue;
    // Round up: a checkpoint may lengthen a lease by under a second, never shorten it.
    auto left = l.expiry - now;
    int64_t remaining = TruncSeconds(left) + ((left % seconds(1)).count() > 0 ? 1 : 0);
    if (remaining >= l.ttl_seconds) {
      // Renewed within the last second: nothing worth recording. Unlike etcd (which then stops
      // checkpointing the lease until the next promotion), look again one interval later.
      l.checkpoint_at = now + options_.checkpoint_interval;
      checkpoint_queue_.emplace(l.checkpoint_at, id);
      continue;
    }
    out.push_back({id, remaining});
  }
  return out;
}

void Lessor::Tick() {
  std::vector<LeaseId> expired = FindExpired(options_.revokes_per_tick);
  if (revoke_fn_) {
    for (LeaseId id : expired) revoke_fn_(id);
  }
  for (size_t i = 0; i < kCheckpointBatchesPerTick; ++i) {
    std::vector<Checkpoint> cps = FindDueCheckpoints(kMaxCheckpointBatch);
    size_t n = cps.size();
    if (n != 0 && checkpoint_fn_) checkpoint_fn_(std::move(cps));
    if (n < kMaxCheckpointBatch) break;
  }
}

void Lessor::Start() {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = NamedThread("lease-expiry", [this] {
    std::unique_lock lock(thread_mu_);
    while (!stopping_) {
      thread_cv_.wait_for(lock, kTickInterval, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      Tick();
      lock.lock();
    }
  });
}

void Lessor::Stop() {
  {
    std::lock_guard lock(thread_mu_);
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Waiting renewals are dropped: their streams end with the server.
  std::lock_guard lock(mu_);
  revoked_callbacks_.clear();
  for (auto& [id, l] : leases_) l.on_revoked.clear();
}

}  // namespace etcdpp::lease
