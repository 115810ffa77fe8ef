#include "net/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

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

TEST(EventLoopTest, WakeBatchWakesEachLoopOnceItEnds) {
  auto a = EventLoop::Create("a").value();
  auto b = EventLoop::Create("b").value();
  a->Start();
  b->Start();
  std::atomic<int> ran{0};
  std::promise<void> a_done, b_done;
  {
    EventLoop::WakeBatch batch;
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(a->Post([&] { ++ran; }));
      ASSERT_TRUE(b->Post([&] { ++ran; }));
    }
    ASSERT_TRUE(a->Post([&] { a_done.set_value(); }));
    ASSERT_TRUE(b->Post([&] { b_done.set_value(); }));
    // Idle loops are not woken while the batch lasts.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(ran.load(), 0);
  }
  a_done.get_future().wait();
  b_done.get_future().wait();
  EXPECT_EQ(ran.load(), 20);
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
