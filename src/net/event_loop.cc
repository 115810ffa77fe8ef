#include "net/event_loop.h"

#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/check.h"
#include "base/thread_name.h"

namespace etcdpp::net {
namespace {
// Events handled per epoll_wait call; more are picked up by the next call.
constexpr int kMaxEventsPerWait = 256;
thread_local EventLoop* current_loop = nullptr;
// The WakeBatch alive on this thread, if any (EventLoop::WakeBatch).
thread_local EventLoop::WakeBatch* current_wake_batch = nullptr;
}  // namespace

EventLoop* EventLoop::Current() { return current_loop; }

Result<std::shared_ptr<EventLoop>> EventLoop::Create(std::string name) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return Internal(std::string("epoll_create1: ") + strerror(errno));
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    close(ep);
    return Internal(std::string("eventfd: ") + strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up fd.
  if (epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev) != 0) {
    close(ep);
    close(wake);
    return Internal(std::string("epoll_ctl(eventfd): ") + strerror(errno));
  }
  return std::shared_ptr<EventLoop>(new EventLoop(std::move(name), ep, wake));
}

EventLoop::EventLoop(std::string name, int epoll_fd, int wake_fd)
    : name_(std::move(name)), epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}

EventLoop::~EventLoop() {
  if (thread_.joinable()) {
    CHECK(!InLoopThread()) << "EventLoop destroyed on its own thread";
    Stop();
  }
  close(epoll_fd_);
  close(wake_fd_);
}

void EventLoop::Start() {
  CHECK(!thread_.joinable());
  thread_ = NamedThread(name_, [this] {
    thread_id_.store(std::this_thread::get_id());
    current_loop = this;
    Run();
    current_loop = nullptr;
  });
}

void EventLoop::Stop() {
  CHECK(!InLoopThread()) << "EventLoop::Stop called from its own thread";
  stop_requested_.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  std::vector<std::function<void()>> rest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    rest.swap(posted_);
  }
  // Tasks posted before Stop still run (on this thread, the loop is gone) so that resources they
  // capture are released in order; tasks posted after are refused by Post().
  for (auto& fn : rest) fn();
}

bool EventLoop::Post(std::function<void()> fn) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return false;
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  // Only the first task of a batch needs to wake the loop; the rest ride along. The loop thread
  // itself drains the queue every iteration, so it never needs the wake-up.
  if (InLoopThread()) return true;
  if (current_wake_batch != nullptr) {
    current_wake_batch->Posted(this);
  } else if (was_empty) {
    Wake();
  }
  return true;
}

void EventLoop::Wake() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

EventLoop::WakeBatch::WakeBatch() {
  CHECK(current_wake_batch == nullptr) << "nested EventLoop::WakeBatch";
  current_wake_batch = this;
}

void EventLoop::WakeBatch::Posted(EventLoop* loop) {
  auto it = std::find_if(loops_.begin(), loops_.end(),
                         [loop](const Pending& p) { return p.loop.get() == loop; });
  if (it == loops_.end()) it = loops_.insert(loops_.end(), Pending{loop->shared_from_this(), 0});
  if (++it->posts >= kPostsPerWake) {
    it->loop->Wake();
    it->posts = 0;
  }
}

EventLoop::WakeBatch::~WakeBatch() {
  current_wake_batch = nullptr;
  for (auto& p : loops_) {
    if (p.posts > 0) p.loop->Wake();
  }
}

bool EventLoop::Dispatch(std::function<void()> fn) {
  if (InLoopThread()) {
    fn();
    return true;
  }
  return Post(std::move(fn));
}

Status EventLoop::Add(int fd, uint32_t events, FdHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Internal(std::string("epoll_ctl(ADD): ") + strerror(errno));
  }
  return Status::Ok();
}

Status EventLoop::Modify(int fd, uint32_t events, FdHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) {
    return Internal(std::string("epoll_ctl(MOD): ") + strerror(errno));
  }
  return Status::Ok();
}

void EventLoop::Remove(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

EventLoop::TimerId EventLoop::RunAfter(std::chrono::milliseconds delay, std::function<void()> fn) {
  return RunAt(Clock::now() + delay, std::move(fn));
}

bool EventLoop::FiresLater(const TimerEntry& a, const TimerEntry& b) {
  return a.when != b.when ? a.when > b.when : a.sequence > b.sequence;
}

EventLoop::TimerId EventLoop::RunAt(Clock::time_point when, std::function<void()> fn) {
  uint32_t slot;
  if (!free_timer_slots_.empty()) {
    slot = free_timer_slots_.back();
    free_timer_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(timer_slots_.size());
    timer_slots_.emplace_back();
  }
  TimerSlot& s = timer_slots_[slot];
  s.fn = std::move(fn);
  s.armed = true;
  ++s.generation;
  ++armed_timers_;
  timer_heap_.push_back(TimerEntry{when, next_timer_sequence_++, slot, s.generation});
  std::push_heap(timer_heap_.begin(), timer_heap_.end(), FiresLater);
  return (static_cast<uint64_t>(s.generation) << 32) | (slot + 1);
}

std::function<void()> EventLoop::ReleaseTimerSlot(uint32_t slot) {
  TimerSlot& s = timer_slots_[slot];
  std::function<void()> fn = std::move(s.fn);
  s.fn = nullptr;
  s.armed = false;
  free_timer_slots_.push_back(slot);
  --armed_timers_;
  return fn;
}

void EventLoop::CancelTimer(TimerId id) {
  const uint64_t low = id & 0xffffffffu;
  if (low == 0 || low > timer_slots_.size()) return;
  const auto slot = static_cast<uint32_t>(low - 1);
  const TimerSlot& s = timer_slots_[slot];
  if (!s.armed || s.generation != static_cast<uint32_t>(id >> 32)) return;  // fired or cancelled
  std::function<void()> fn = ReleaseTimerSlot(slot);
  // Stale entries are harmless but cost memory: calls with long deadlines that finish at once
  // would pile them up, so rebuild the heap when they clearly outnumber the live ones.
  if (timer_heap_.size() > 2 * armed_timers_ + 1024) {
    std::erase_if(timer_heap_, [this](const TimerEntry& e) { return !IsLive(e); });
    std::make_heap(timer_heap_.begin(), timer_heap_.end(), FiresLater);
  }
  fn = nullptr;  // its captures are released last: they may arm or cancel timers
}

void EventLoop::DropStaleTimers() {
  while (!timer_heap_.empty() && !IsLive(timer_heap_.front())) {
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), FiresLater);
    timer_heap_.pop_back();
  }
}

void EventLoop::Defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

int EventLoop::NextTimeoutMs() {
  if (!deferred_.empty()) return 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!posted_.empty()) return 0;
  }
  DropStaleTimers();
  if (timer_heap_.empty()) return -1;
  auto now = Clock::now();
  auto first = timer_heap_.front().when;
  if (first <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(first - now).count();
  return static_cast<int>(std::min<int64_t>(ms, 60'000));
}

void EventLoop::RunPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::RunTimers() {
  auto now = Clock::now();
  for (;;) {
    DropStaleTimers();
    if (timer_heap_.empty() || timer_heap_.front().when > now) return;
    const uint32_t slot = timer_heap_.front().slot;
    std::pop_heap(timer_heap_.begin(), timer_heap_.end(), FiresLater);
    timer_heap_.pop_back();
    std::function<void()> fn = ReleaseTimerSlot(slot);
    fn();
  }
}

void EventLoop::RunDeferred() {
  // Deferred callbacks may defer more work (a flush that unblocks another stream); loop until
  // quiet, but each round only runs what was queued before it started.
  for (int round = 0; round < 16 && !deferred_.empty(); ++round) {
    std::vector<std::function<void()>> batch;
    batch.swap(deferred_);
    for (auto& fn : batch) fn();
  }
}

void EventLoop::RunPendingForTesting() {
  CHECK(!thread_.joinable()) << "RunPendingForTesting on a started loop";
  for (int round = 0; round < 64; ++round) {
    RunPosted();
    RunTimers();
    RunDeferred();
    std::lock_guard<std::mutex> lock(mu_);
    if (posted_.empty() && deferred_.empty()) break;
  }
}

void EventLoop::Run() {
  epoll_event events[kMaxEventsPerWait];
  while (!stop_requested_.load()) {
    int n = epoll_wait(epoll_fd_, events, kMaxEventsPerWait, NextTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("event loop {}: epoll_wait failed: {}", name_, strerror(errno));
      CHECK(false) << "epoll_wait: " << strerror(errno);
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &v, sizeof(v));
        continue;
      }
      static_cast<FdHandler*>(events[i].data.ptr)->OnEvents(events[i].events);
    }
    RunPosted();
    RunTimers();
    RunDeferred();
  }
  // Drain what was posted before the stop so completions are not lost silently.
  RunPosted();
  RunDeferred();
  thread_id_.store(std::thread::id());
}

Result<std::unique_ptr<EventLoopGroup>> EventLoopGroup::Create(size_t num_loops,
                                                               std::string prefix) {
  if (num_loops == 0) num_loops = std::max(1u, std::thread::hardware_concurrency());
  auto group = std::make_unique<EventLoopGroup>();
  for (size_t i = 0; i < num_loops; ++i) {
    ETCDPP_ASSIGN_OR_RETURN(auto loop, EventLoop::Create(prefix + std::to_string(i)));
    group->loops_.push_back(std::move(loop));
  }
  for (auto& l : group->loops_) l->Start();
  return group;
}

EventLoopGroup::~EventLoopGroup() { Stop(); }

void EventLoopGroup::Stop() {
  for (auto& l : loops_) l->Stop();
}

EventLoop& EventLoopGroup::Next() { return *loops_[next_.fetch_add(1) % loops_.size()]; }

}  // namespace etcdpp::net
