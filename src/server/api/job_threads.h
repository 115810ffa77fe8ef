// JobThreads: calls whose work takes time proportional to the database (maintenance calls,
// large Range answers) run on threads of their own, so that no loop thread is held up by them.
// Each job runs on a new thread; at most `max_jobs` at once.
//
// Owned by EtcdServer, which stops it after the transport and before the node and the store.
// Thread safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace etcdpp::server {

class JobThreads {
 public:
  // A job sees `stopping` become true when the server stops; it should then end its call soon.
  using Job = std::function<void(const std::atomic<bool>& stopping)>;

  // `thread_name` names every job's thread (top -H, perf).
  JobThreads(std::string thread_name, size_t max_jobs)
      : thread_name_(std::move(thread_name)), max_jobs_(max_jobs) {}
  ~JobThreads() { Stop(); }
  JobThreads(const JobThreads&) = delete;
  JobThreads& operator=(const JobThreads&) = delete;

  // Runs `job` on a new thread. Returns false (and does not run it) when max_jobs are running
  // or Stop() was called.
  bool Start(Job job);
  // Raises `stopping` and waits for every running job to return. Idempotent.
  void Stop();

 private:
  struct Running {
    std::thread thread;
    bool done = false;  // guarded by mu_
  };

  const std::string thread_name_;
  const size_t max_jobs_;
  std::mutex mu_;
  bool stopped_ = false;     // guarded by mu_
  std::list<Running> jobs_;  // guarded by mu_; finished ones are joined by the next Start
  std::atomic<bool> stopping_{false};
};

}  // namespace etcdpp::server
