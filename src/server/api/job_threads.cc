#include "server/api/job_threads.h"

#include "base/thread_name.h"

namespace etcdpp::server {

bool JobThreads::Start(Job job) {
  std::lock_guard lock(mu_);
  if (stopped_) return false;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (it->done) {
      it->thread.join();  // it has returned from its job; only the thread exit is left
      it = jobs_.erase(it);
    } else {
      ++it;
    }
  }
  if (jobs_.size() >= max_jobs_) return false;
  Running& slot = jobs_.emplace_back();
  slot.thread = NamedThread(thread_name_, [this, &slot, job = std::move(job)] {
    job(stopping_);
    std::lock_guard done_lock(mu_);
    slot.done = true;
  });
  return true;
}

void JobThreads::Stop() {
  std::list<Running> jobs;
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
    stopping_.store(true, std::memory_order_release);
    jobs.swap(jobs_);
  }
  // The threads write `done` into their (moved, still live) list nodes under mu_; harmless.
  for (Running& r : jobs) r.thread.join();
}

}  // namespace etcdpp::server
