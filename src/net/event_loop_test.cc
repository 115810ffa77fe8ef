#include "net/event_loop.h"

#include <gtest/gtest.h>

#include <future>
#include <vector>

namespace etcdpp::net {
namespace {

TEST(EventLoopTest, PostRunsOnLoopThreadInOrder) {
  auto loop = EventLoop::Create("t").value();
  loop->Start();
  std::vector<int> seen;
  std::promise<bool> on_loop;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(loop->Post([&, i] { seen.push_back(i); }));
  ASSERT_TRUE(loop->Post([&] { on_loop.set_value(loop->InLoopThread()); }));
  EXPECT_TRUE(on_loop.get_future().get());
  loop->Stop();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[i], i);
}

// Posts made inside a WakeBatch wake their loops when it ends: none is lost, even for a loop
// that was idle (blocked in epoll_wait) the whole time. (Whether a loop ran tasks early depends
// on where it was when they were posted, so only completion and order are checked here; the
// saving shows in the watch benchmark.)
TEST(EventLoopTest, WakeBatchWakesEveryLoopItPostedToWhenItEnds) {
  auto a = EventLoop::Create("a").value();
  auto b = EventLoop::Create("b").value();
  a->Start();
  b->Start();
  std::vector<int> seen_a, seen_b;
  std::promise<void> a_done, b_done;
  {
    EventLoop::WakeBatch batch;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(a->Post([&, i] { seen_a.push_back(i); }));
      ASSERT_TRUE(b->Post([&, i] { seen_b.push_back(i); }));
    }
    ASSERT_TRUE(a->Post([&] { a_done.set_value(); }));
    ASSERT_TRUE(b->Post([&] { b_done.set_value(); }));
  }
  a_done.get_future().wait();
  b_done.get_future().wait();
  EXPECT_EQ(seen_a, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(seen_b, seen_a);
  a->Stop();
  b->Stop();
}

TEST(EventLoopTest, PostAfterStopIsRefused) {
  auto loop = EventLoop::Create("t").value();
  loop->Start();
  loop->Stop();
  EXPECT_FALSE(loop->Post([] {}));
}

TEST(EventLoopTest, TimersFireInDeadlineOrderAndCancelWorks) {
  auto loop = EventLoop::Create("t").value();
  loop->Start();
  std::promise<std::vector<int>> result;
  auto order = std::make_shared<std::vector<int>>();
  loop->Post([&, order] {
    auto now = EventLoop::Clock::now();
    loop->RunAt(now + std::chrono::milliseconds(3), [order] { order->push_back(3); });
    loop->RunAt(now + std::chrono::milliseconds(1), [order] { order->push_back(1); });
    auto id = loop->RunAt(now + std::chrono::milliseconds(2), [order] { order->push_back(2); });
    loop->CancelTimer(id);
    loop->RunAt(now + std::chrono::milliseconds(4), [&, order] { result.set_value(*order); });
  });
  EXPECT_EQ(result.get_future().get(), (std::vector<int>{1, 3}));
  loop->Stop();
}

TEST(EventLoopTest, TimersWithEqualDeadlinesFireInArmingOrder) {
  auto loop = EventLoop::Create("t").value();  // never started: driven by RunPendingForTesting
  auto when = EventLoop::Clock::now();
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) loop->RunAt(when, [&order, i] { order.push_back(i); });
  loop->RunPendingForTesting();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(EventLoopTest, CancellingAFiredTimerLeavesItsSlotsNextTimerArmed) {
  auto loop = EventLoop::Create("t").value();
  int fired = 0;
  auto first = loop->RunAt(EventLoop::Clock::now(), [&] { ++fired; });
  loop->RunPendingForTesting();
  ASSERT_EQ(fired, 1);
  // The next timer reuses the slot; the old id must not reach it.
  loop->RunAt(EventLoop::Clock::now(), [&] { ++fired; });
  loop->CancelTimer(first);
  loop->CancelTimer(first);
  loop->RunPendingForTesting();
  EXPECT_EQ(fired, 2);
}

TEST(EventLoopTest, CancellingNoTimerDoesNothing) {
  auto loop = EventLoop::Create("t").value();
  int fired = 0;
  loop->RunAt(EventLoop::Clock::now(), [&] { ++fired; });
  loop->CancelTimer(0);
  loop->RunPendingForTesting();
  EXPECT_EQ(fired, 1);
}

TEST(EventLoopTest, ManyCancelledTimersDoNotDisturbTheLiveOnes) {
  // Enough cancellations to make the heap drop its stale entries several times over, between
  // timers that must still fire in deadline order.
  auto loop = EventLoop::Create("t").value();
  auto now = EventLoop::Clock::now();
  std::vector<int> order;
  for (int i = 0; i < 20000; ++i) {
    if (i % 1000 == 0) {
      int due = 20 - i / 1000;  // armed in reverse deadline order
      loop->RunAt(now - std::chrono::milliseconds(due), [&order, due] { order.push_back(due); });
    }
    auto id = loop->RunAt(now + std::chrono::hours(1), [&order] { order.push_back(-1); });
    loop->CancelTimer(id);
  }
  loop->RunPendingForTesting();
  std::vector<int> want;
  for (int due = 20; due >= 1; --due) want.push_back(due);
  EXPECT_EQ(order, want);
}

TEST(EventLoopTest, ATimerMayCancelAndArmTimersWhenItFires) {
  auto loop = EventLoop::Create("t").value();
  auto now = EventLoop::Clock::now();
  std::vector<int> order;
  EventLoop::TimerId later = loop->RunAt(now, [&] { order.push_back(2); });
  loop->RunAt(now - std::chrono::milliseconds(1), [&] {
    order.push_back(1);
    loop->CancelTimer(later);
    loop->RunAt(now, [&] { order.push_back(3); });
  });
  loop->RunPendingForTesting();
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
}

TEST(EventLoopTest, DeferRunsAfterTheCurrentTask) {
  auto loop = EventLoop::Create("t").value();
  loop->Start();
  std::promise<std::vector<int>> result;
  loop->Post([&] {
    auto order = std::make_shared<std::vector<int>>();
    loop->Defer([&, order] {
      order->push_back(2);
      result.set_value(*order);
    });
    order->push_back(1);
  });
  EXPECT_EQ(result.get_future().get(), (std::vector<int>{1, 2}));
  loop->Stop();
}

}  // namespace
}  // namespace etcdpp::net
