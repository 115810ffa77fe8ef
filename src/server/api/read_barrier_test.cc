// OnSnapshot answers on the caller's thread only when the barrier is passed right away; when
// another thread passes it (the apply or raft thread), the answer must move to the call's loop
// and never run on that thread, even if it passes the barrier before ReadIndex has returned.
#include "server/api/read_barrier.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "mvcc/store_test_util.h"

namespace etcdpp::server {
namespace {

// A consensus whose barriers pass either inline or on a thread of their own that has finished
// before ReadIndex/ReadAcknowledged return.
class BarrierNode : public Consensus {
 public:
  bool pass_on_other_thread = false;
  std::thread::id barrier_thread;

  void ReadIndex(ReadCallback done) override { Pass(std::move(done)); }
  void ReadAcknowledged(ReadCallback done) override { Pass(std::move(done)); }
  void Propose(uint64_t, std::string, ProposeCallback) override {}
  uint64_t NextRequestId() override { return 1; }
  MemberId member_id() const override { return MemberId(1); }
  ClusterId cluster_id() const override { return ClusterId(1); }
  Term term() const override { return Term(1); }
  MemberId leader() const override { return MemberId(1); }
  LogIndex committed_index() const override { return LogIndex(1); }
  LogIndex applied_index() const override { return LogIndex(0); }  // a serializable read waits
  LogIndex acknowledged_index() const override { return LogIndex(1); }
  Status write_path_error() const override { return Status::Ok(); }

 private:
  void Pass(ReadCallback done) {
    if (!pass_on_other_thread) {
      barrier_thread = std::this_thread::get_id();
      done(Status::Ok());
      return;
    }
    std::thread t([&] {
      barrier_thread = std::this_thread::get_id();
      done(Status::Ok());
    });
    t.join();
  }
};

class ReadBarrierTest : public ::testing::TestWithParam<bool> {
 protected:
  ReadBarrierTest() {
    ctx_.node = &node_;
    ctx_.store = &ts_.store();
  }

  // Runs OnSnapshot with a responder whose call is gone (RunOnLoop drops the work, as for a
  // cancelled call); returns the threads the answer ran on.
  std::vector<std::thread::id> AnswerThreads() {
    std::vector<std::thread::id> ran;
    std::mutex mu;
    OnSnapshot<etcdserverpb::RangeResponse>(
        &ctx_, /*serializable=*/GetParam(), grpc::TypedResponder<etcdserverpb::RangeResponse>(),
        [&](mvcc::ReadView&, grpc::TypedResponder<etcdserverpb::RangeResponse>&) {
          std::lock_guard<std::mutex> l(mu);
          ran.push_back(std::this_thread::get_id());
        });
    return ran;
  }

  mvcc::testing::TempStore ts_;
  BarrierNode node_;
  ApiContext ctx_;
};

TEST_P(ReadBarrierTest, ABarrierPassedAtOnceAnswersOnTheCallersThread) {
  node_.pass_on_other_thread = false;
  EXPECT_EQ(AnswerThreads(), std::vector<std::thread::id>{std::this_thread::get_id()});
}

TEST_P(ReadBarrierTest, ABarrierPassedOnAnotherThreadNeverAnswersThere) {
  node_.pass_on_other_thread = true;
  std::vector<std::thread::id> ran = AnswerThreads();
  for (const auto& id : ran) EXPECT_NE(id, node_.barrier_thread);
  EXPECT_TRUE(ran.empty()) << "the call is gone, so its loop was never given the answer";
}

INSTANTIATE_TEST_SUITE_P(LinearizableAndSerializable, ReadBarrierTest, ::testing::Bool());

}  // namespace
}  // namespace etcdpp::server
