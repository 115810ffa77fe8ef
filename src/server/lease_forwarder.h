// LeaseForwarder: LeaseKeepAlive on a follower. Only the leader's lessor renews leases (it is
// the one that expires them), so a follower forwards each keep-alive to the leader over the peer
// transport and relays the answer, as etcd's followers do over their peer HTTP API.
//
// Threads: Forward from loop threads; OnRequest/OnResult from transport reader threads; answers
// run on a reader thread (or the timer thread on timeout, or the apply thread for a lease whose
// revocation the leader waited for). A small timer thread fails requests the leader did not
// answer in time (a leader that just died).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "base/ids.h"
#include "base/result.h"
#include "lease/lessor.h"
#include "peer/transport.h"
#include "server/consensus.h"

namespace etcdpp::server {

class LeaseForwarder {
 public:
  // The TTL granted by the leader (0: no such lease), or the client-visible error.
  using Done = std::function<void(Result<int64_t>)>;

  // None of the pointers is owned; all must outlive the forwarder.
  LeaseForwarder(Consensus* node, peer::Transport* transport, lease::Lessor* lessor,
                 std::chrono::milliseconds timeout);
  ~LeaseForwarder();

  void Start();
  void Stop();  // fails pending requests with "etcdserver: server stopped"

  // Follower: asks the leader to renew `id`.
  void Forward(LeaseId id, Done done);
  // Leader: a follower's request; answers it through the transport.
  void OnRequest(MemberId from, const peer::LeaseRenew& r);
  // Follower: the leader's answer.
  void OnResult(const peer::LeaseRenewResult& r);

 private:
  struct Pending {
    Done done;
    std::chrono::steady_clock::time_point deadline;
  };
  void TimerMain();

  Consensus* const node_;
  peer::Transport* const transport_;
  lease::Lessor* const lessor_;
  const std::chrono::milliseconds timeout_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  uint64_t next_id_ = 1;
  // Requests waiting for the leader. Bounded by the keep-alive streams' own flow (one request in
  // flight per client request); entries leave on answer or timeout.
  std::unordered_map<uint64_t, Pending> pending_;
  std::thread timer_;
};

}  // namespace etcdpp::server
