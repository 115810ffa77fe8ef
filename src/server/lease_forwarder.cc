#include "server/lease_forwarder.h"

#include "base/thread_name.h"
#include "server/api/errors.h"

namespace etcdpp::server {
namespace {
using Clock = std::chrono::steady_clock;
// How often the timer thread looks for requests past their deadline.
constexpr auto kTimerPeriod = std::chrono::milliseconds(100);
}  // namespace

LeaseForwarder::LeaseForwarder(Consensus* node, peer::Transport* transport, lease::Lessor* lessor,
                               std::chrono::milliseconds timeout)
    : node_(node), transport_(transport), lessor_(lessor), timeout_(timeout) {}

LeaseForwarder::~LeaseForwarder() { Stop(); }

void LeaseForwarder::Start() {
  started_ = true;
  timer_ = NamedThread("lease-forward", [this] { TimerMain(); });
}

void LeaseForwarder::Stop() {
  std::unordered_map<uint64_t, Pending> pending;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    pending.swap(pending_);
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
  for (auto& [id, p] : pending) p.done(api::Err(api::EtcdError::kStopped));
}

void LeaseForwarder::Forward(LeaseId id, Done done) {
  MemberId leader = node_->leader();
  if (leader == MemberId(0)) {
    done(api::Err(api::EtcdError::kNoLeader));
    return;
  }
  uint64_t request_id;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      done(api::Err(api::EtcdError::kStopped));
      return;
    }
    request_id = next_id_++;
    pending_.emplace(request_id, Pending{std::move(done), Clock::now() + timeout_});
  }
  transport_->SendLeaseRenew(leader, peer::LeaseRenew{request_id, id.value()});
}

void LeaseForwarder::OnRequest(MemberId from, const peer::LeaseRenew& r) {
  using Outcome = lease::Lessor::RenewOutcome;
  peer::LeaseRenewResult res;
  res.request_id = r.request_id;
  // For a lease that expired but whose revocation is not applied yet, answer once it is (as the
  // leader's own keep-alive stream does): the client then never sees the lease alive after it
  // saw TTL 0.
  auto on_revoked = [transport = transport_, from, res]() mutable {
    res.outcome = peer::LeaseRenewOutcome::kNotFound;
    transport->SendLeaseRenewResult(from, res);
  };
  auto rr = lessor_->Renew(LeaseId(r.lease_id), std::move(on_revoked));
  switch (rr.outcome) {
    case Outcome::kRenewed:
      res.outcome = peer::LeaseRenewOutcome::kRenewed;
      res.ttl_seconds = rr.ttl_seconds;
      break;
    case Outcome::kNotFound:
      res.outcome = peer::LeaseRenewOutcome::kNotFound;
      break;
    case Outcome::kExpired:
      return;  // answered by on_revoked
    case Outcome::kNotPrimary:
      res.outcome = peer::LeaseRenewOutcome::kNotLeader;
      break;
  }
  transport_->SendLeaseRenewResult(from, res);
}

void LeaseForwarder::OnResult(const peer::LeaseRenewResult& r) {
  Done done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(r.request_id);
    if (it == pending_.end()) return;  // timed out already
    done = std::move(it->second.done);
    pending_.erase(it);
  }
  switch (r.outcome) {
    case peer::LeaseRenewOutcome::kRenewed:
      done(r.ttl_seconds);
      return;
    case peer::LeaseRenewOutcome::kNotFound:
      done(int64_t{0});
      return;
    case peer::LeaseRenewOutcome::kNotLeader:
      // Leadership moved while the request travelled; the client retries.
      done(api::Err(api::EtcdError::kLeaderChanged));
      return;
  }
}

void LeaseForwarder::TimerMain() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, kTimerPeriod, [&] { return stopping_; });
    if (stopping_) return;
    Clock::time_point now = Clock::now();
    std::vector<Done> expired;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    for (auto& d : expired) d(api::Err(api::EtcdError::kTimeout));
    lock.lock();
  }
}

}  // namespace etcdpp::server
