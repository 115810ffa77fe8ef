// Clock: the monotonic time source of the lessor, injectable so unit tests drive expiry with a
// fake clock instead of sleeping.
//
// Thread safety: Now() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>

namespace etcdpp::lease {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// The real clock: std::chrono::steady_clock (never jumps with wall-clock changes, so an NTP step
// cannot expire every lease at once).
class SteadyClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  static const SteadyClock* Get() {
    static const SteadyClock clock;
    return &clock;
  }
};

// A clock that moves only when told to. For tests.
class FakeClock : public Clock {
 public:
  TimePoint Now() const override {
    return TimePoint(std::chrono::nanoseconds(now_ns_.load(std::memory_order_acquire)));
  }
  void Advance(std::chrono::nanoseconds d) {
    now_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

 private:
  // Starts well away from zero so "now - x" never underflows in tests.
  std::atomic<int64_t> now_ns_{int64_t{1000} * 1000 * 1000 * 1000};
};

}  // namespace etcdpp::lease
