// RangeBody: the streamed rest of a Range answer must add up to the whole answer however it is
// pulled, spilled to memory or not, and must let go of its snapshot once read, once spilled, or
// once the hold timer fired for a client that stopped reading.
#include "server/api/range_body.h"

#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "mvcc/store_test_util.h"

namespace etcdpp::server {
namespace {

constexpr size_t kNoLimit = SIZE_MAX;

class RangeBodyTest : public ::testing::Test {
 protected:
  RangeBodyTest() {
    for (int i = 0; i < 200; ++i) {
      ts_.Put("k" + std::to_string(1000 + i), std::string(100 + i, static_cast<char>('a' + i % 26)));
    }
    request_.set_key("k");
    request_.set_range_end("l");
  }

  std::string Whole() {
    auto view = ts_.store().Read();
    CHECK(view.ok());
    ChunkedBuffer out;
    auto n = applier_.RangeEncoded(*view, request_, {}, {}, &out);
    CHECK(n.ok() && !n->rest.has_value());
    return out.ToString();
  }

  // The answer's first ~1000 bytes in *head and a body for the rest, on `loop`.
  std::unique_ptr<RangeBody> Split(net::EventLoop* loop, std::string* head,
                                   std::chrono::milliseconds hold = RangeBody::kMaxSnapshotHold) {
    auto view = ts_.store().Read();
    CHECK(view.ok());
    ChunkedBuffer out;
    auto n = applier_.RangeEncoded(*view, request_, {}, {.buffer_bytes = 1000}, &out);
    CHECK(n.ok() && n->rest.has_value());
    *head = out.ToString();
    StreamingSlot slot;
    CHECK(slot.held());
    return RangeBody::Start(loop, std::move(*view), std::move(*n->rest), std::move(slot), hold);
  }

  static Status Drain(RangeBody& body, size_t hint, std::string* out) {
    for (int i = 0; !body.done(); ++i) {
      if (i > 100000) return Internal("the body does not end");
      std::vector<std::string> pieces;
      ETCDPP_RETURN_IF_ERROR(body.Next(hint, &pieces));
      if (pieces.empty()) return Internal("Next appended nothing");
      for (const auto& p : pieces) *out += p;
    }
    return Status::Ok();
  }

  // Runs fn on the loop thread and waits for it.
  template <typename Fn>
  void OnLoop(Fn fn) {
    std::promise<void> done;
    loop_->Post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void SetUp() override {
    auto loop = net::EventLoop::Create("test-loop");
    ASSERT_TRUE(loop.ok());
    loop_ = *loop;
    loop_->Start();
  }
  void TearDown() override { loop_->Stop(); }

  mvcc::testing::TempStore ts_;
  apply::KvApplier applier_;
  etcdserverpb::RangeRequest request_;
  std::shared_ptr<net::EventLoop> loop_;
};

TEST_F(RangeBodyTest, PiecesAddUpToTheWholeAnswerAndTheSnapshotIsReleasedWhenRead) {
  const std::string whole = Whole();
  for (size_t hint : {size_t{1}, size_t{700}, kNoLimit}) {
    OnLoop([&] {
      std::string got;
      auto body = Split(loop_.get(), &got);
      EXPECT_TRUE(body->holds_snapshot());
      ASSERT_TRUE(Drain(*body, hint, &got).ok());
      EXPECT_EQ(got, whole) << hint;
      EXPECT_FALSE(body->holds_snapshot());
    });
  }
}

TEST_F(RangeBodyTest, SpillingHalfWayKeepsTheAnswerAndReleasesTheSnapshot) {
  const std::string whole = Whole();
  OnLoop([&] {
    std::string got;
    auto body = Split(loop_.get(), &got);
    std::vector<std::string> first;
    ASSERT_TRUE(body->Next(2000, &first).ok());
    for (const auto& p : first) got += p;
    ts_.Put("k1100", "written after the snapshot");  // must not show in the answer
    body->Spill();
    EXPECT_FALSE(body->holds_snapshot());
    ASSERT_TRUE(Drain(*body, 10, &got).ok());
    EXPECT_EQ(got, whole);
  });
}

// A client that stops reading: the hold timer spills the rest and releases the snapshot; what
// the client reads later is still the answer of the snapshot.
TEST_F(RangeBodyTest, TheHoldTimerReleasesTheSnapshotOfAnAnswerNobodyReads) {
  const std::string whole = Whole();
  std::unique_ptr<RangeBody> body;
  std::string got;
  OnLoop([&] { body = Split(loop_.get(), &got, std::chrono::milliseconds(20)); });
  ts_.Put("k1100", "written after the snapshot");
  bool held = true;
  for (int i = 0; i < 500 && held; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    OnLoop([&] { held = body->holds_snapshot(); });
  }
  EXPECT_FALSE(held) << "the snapshot is still held after 5 s";
  OnLoop([&] {
    ASSERT_TRUE(Drain(*body, 100, &got).ok());
    body.reset();
  });
  EXPECT_EQ(got, whole);
}

// The timer of a body the transport already dropped finds nothing to do.
TEST_F(RangeBodyTest, TheHoldTimerOfADroppedBodyIsHarmless) {
  OnLoop([&] {
    std::string head;
    Split(loop_.get(), &head, std::chrono::milliseconds(1)).reset();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  OnLoop([] {});
}

TEST(StreamingSlotTest, AtMostTheLimitAreHeldAndReleasedSlotsAreReused) {
  std::vector<StreamingSlot> slots;
  for (int i = 0; i < StreamingSlot::kMaxStreamedRanges; ++i) {
    slots.emplace_back();
    ASSERT_TRUE(slots.back().held()) << i;
  }
  EXPECT_FALSE(StreamingSlot().held());
  slots.pop_back();
  StreamingSlot again;
  EXPECT_TRUE(again.held());
  StreamingSlot moved(std::move(again));
  EXPECT_TRUE(moved.held());
  EXPECT_FALSE(again.held());  // NOLINT(bugprone-use-after-move): moved-from gives its slot up
  EXPECT_FALSE(StreamingSlot().held());
}

}  // namespace
}  // namespace etcdpp::server
