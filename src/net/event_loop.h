// EventLoop: one epoll loop running on its own thread, plus a group of them.
//
// Ownership and threads: every fd registered with a loop, and every object that handles its
// events, belongs to that loop's thread. Other threads talk to a loop only through Post(), which
// appends to a mutex-protected queue and wakes the loop through an eventfd. Timers and deferred
// ("end of batch") callbacks are loop-thread-only.
//
// Why "end of batch" callbacks: a connection that received many frames in one wake-up, or many
// completions posted from other threads, should write once, not once per frame; connections mark
// themselves dirty and flush in a deferred callback after the whole epoll batch was handled.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace etcdpp::net {

// Receives epoll events for one fd. Called on the owning loop's thread only.
class FdHandler {
 public:
  virtual ~FdHandler() = default;
  virtual void OnEvents(uint32_t events) = 0;
};

class EventLoop : public std::enable_shared_from_this<EventLoop> {
 public:
  using Clock = std::chrono::steady_clock;
  using TimerId = uint64_t;

  // Creates the epoll fd and the wake-up eventfd; the thread starts in Start().
  static Result<std::shared_ptr<EventLoop>> Create(std::string name);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Starts the loop thread. REQUIRES: not started yet.
  void Start();
  // Asks the loop to stop, runs the already-posted tasks, and joins the thread. Idempotent.
  // REQUIRES: not called from the loop thread.
  void Stop();

  // Thread-safe. Queues fn to run on the loop thread. Returns false (and drops fn) iff the loop
  // has stopped; callers treat that as "the connection is gone".
  bool Post(std::function<void()> fn);
  // While a WakeBatch lives on a thread, Post() from that thread wakes a loop once per
  // kPostsPerWake tasks and once more when the batch ends, instead of at the first task after
  // each drain: a burst of posts to many connections (a watch revision fanned out to thousands
  // of streams) then costs a few wake-ups per loop rather than a race of wake-ups and context
  // switches with the loops draining it, while the loops still start sending before the burst
  // is over. Not nestable.
  class WakeBatch {
   public:
    WakeBatch();
    ~WakeBatch();
    WakeBatch(const WakeBatch&) = delete;
    WakeBatch& operator=(const WakeBatch&) = delete;

   private:
    friend class EventLoop;
    static constexpr int kPostsPerWake = 64;
    void Posted(EventLoop* loop);
    struct Pending {
      std::shared_ptr<EventLoop> loop;
      int posts = 0;  // since its last wake-up
    };
    std::vector<Pending> loops_;  // a few: one per loop posted to
  };
  // Runs fn now if called on the loop thread, else posts it. Returns false iff dropped.
  bool Dispatch(std::function<void()> fn);
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_.load(); }
  // The loop running on the calling thread, or nullptr.
  static EventLoop* Current();

  // Loop thread only. Registers fd with the given epoll events; handler must outlive the
  // registration (Remove before destroying it).
  Status Add(int fd, uint32_t events, FdHandler* handler);
  Status Modify(int fd, uint32_t events, FdHandler* handler);
  void Remove(int fd);

  // Loop thread only. Runs fn once after delay (never from inside the call).
  TimerId RunAfter(std::chrono::milliseconds delay, std::function<void()> fn);
  TimerId RunAt(Clock::time_point when, std::function<void()> fn);
  // Ignores 0 (no timer: ids are never 0) and timers that already fired or were cancelled, so
  // a holder may cancel its id whatever state it is in, e.g. CancelTimer(std::exchange(id, 0)).
  void CancelTimer(TimerId id);

  // Loop thread only. Runs fn after the current batch of events and posted tasks.
  void Defer(std::function<void()> fn);

  const std::string& name() const { return name_; }

  // For fuzzers and single-threaded tests of a loop that was never started: runs posted tasks,
  // due timers and deferred callbacks on the calling thread until none are left (bounded).
  // REQUIRES: Start() was not called.
  void RunPendingForTesting();

 private:
  EventLoop(std::string name, int epoll_fd, int wake_fd);
  void Run();
  void RunPosted();
  void RunTimers();
  void RunDeferred();
  int NextTimeoutMs();
  void Wake();

  const std::string name_;
  const int epoll_fd_;
  const int wake_fd_;
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<bool> stop_requested_{false};

  std::mutex mu_;  // Guards posted_ and stopped_.
  std::vector<std::function<void()>> posted_;
  bool stopped_ = false;

  // Timers (loop thread only). Every gRPC call with a deadline arms one and almost always
  // cancels it, so neither may allocate once the tables have grown: a timer lives in a reused
  // slot, and a min-heap orders (deadline, sequence) entries. Cancelling frees the slot at once
  // and leaves its heap entry stale (the slot's generation moved on); stale entries are dropped
  // when they reach the top, or all at once when they outnumber the live timers.
  // TimerId = generation << 32 | (slot + 1), never 0.
  struct TimerSlot {
    std::function<void()> fn;
    uint32_t generation = 0;
    bool armed = false;
  };
  struct TimerEntry {
    Clock::time_point when;
    uint64_t sequence;  // orders timers with equal deadlines by arming order
    uint32_t slot;
    uint32_t generation;
  };
  // The heap's order: std::push_heap/pop_heap keep the largest element first, and "later" is
  // "larger" here, so the earliest deadline (then the earliest armed) is at the front.
  static bool FiresLater(const TimerEntry& a, const TimerEntry& b);
  bool IsLive(const TimerEntry& e) const {
    return timer_slots_[e.slot].armed && timer_slots_[e.slot].generation == e.generation;
  }
  // Disarms the slot and returns its callback (to be run or destroyed by the caller, after the
  // tables are consistent: either may arm or cancel timers).
  std::function<void()> ReleaseTimerSlot(uint32_t slot);
  void DropStaleTimers();

  std::vector<TimerSlot> timer_slots_;
  std::vector<uint32_t> free_timer_slots_;
  std::vector<TimerEntry> timer_heap_;
  size_t armed_timers_ = 0;
  uint64_t next_timer_sequence_ = 0;
  std::vector<std::function<void()>> deferred_;
};

// A fixed set of started loops; connections are spread over them round-robin.
class EventLoopGroup {
 public:
  // num_loops == 0 means "number of cores".
  static Result<std::unique_ptr<EventLoopGroup>> Create(size_t num_loops, std::string prefix);
  ~EventLoopGroup();
  void Stop();
  EventLoop& Next();
  const std::vector<std::shared_ptr<EventLoop>>& loops() const { return loops_; }
  std::shared_ptr<EventLoop> At(size_t i) const { return loops_[i]; }
  size_t size() const { return loops_.size(); }

 private:
  std::vector<std::shared_ptr<EventLoop>> loops_;
  std::atomic<size_t> next_{0};
};

}  // namespace etcdpp::net
