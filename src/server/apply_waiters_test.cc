#include "server/apply_waiters.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace etcdpp::server {
namespace {

// Records what a proposal's completion was called with.
struct Answer {
  std::optional<Status> status;
  ApplyWaiters::ProposeCallback Callback() {
    return [this](ApplyResult&& r) { status = r.status; };
  }
};

TEST(ApplyWaitersTest, AnswersProposalsWhenAcknowledgedAndOnlyThose) {
  ApplyWaiters w(10);
  w.StartAt(4);
  Answer a, b;
  auto cb = a.Callback();
  ASSERT_TRUE(w.AddProposal(1, &cb).ok());
  EXPECT_FALSE(cb);  // taken
  cb = b.Callback();
  ASSERT_TRUE(w.AddProposal(2, &cb).ok());
  ApplyWaiters::Results results;
  results.emplace_back(1, ApplyResult{Status::Ok(), nullptr});
  results.emplace_back(99, ApplyResult{Status::Ok(), nullptr});  // proposed elsewhere
  w.Acknowledge(7, std::move(results));
  EXPECT_EQ(w.acknowledged(), 7u);
  EXPECT_EQ(w.applied(), 4u);  // visible only after MarkApplied
  ASSERT_TRUE(a.status.has_value());
  EXPECT_TRUE(a.status->ok());
  EXPECT_FALSE(b.status.has_value());
}

TEST(ApplyWaitersTest, RefusesBeyondTheLimitAfterAnErrorAndOnceClosed) {
  ApplyWaiters w(1);
  Answer a;
  auto cb = a.Callback();
  ASSERT_TRUE(w.AddProposal(1, &cb).ok());
  auto more = Answer().Callback();
  EXPECT_EQ(w.AddProposal(2, &more).message(), "etcdserver: too many requests");
  EXPECT_TRUE(more);  // left to the caller

  ApplyWaiters broken(10);
  EXPECT_TRUE(broken.SetWritePathError(Status(Code::kInternal, "fdatasync failed")));
  EXPECT_FALSE(broken.SetWritePathError(Status(Code::kInternal, "later")));
  cb = Answer().Callback();
  EXPECT_EQ(broken.AddProposal(1, &cb).message(), "fdatasync failed");

  ApplyWaiters closed(10);
  closed.Close(Status(Code::kUnavailable, "etcdserver: server stopped"));
  cb = Answer().Callback();
  EXPECT_EQ(closed.AddProposal(1, &cb).message(), "etcdserver: server stopped");
}

TEST(ApplyWaitersTest, ReadsRunOnceTheirIndexIsApplied) {
  ApplyWaiters w(10);
  w.StartAt(5);
  std::vector<int> ran;
  w.WaitApplied(5, [&](Status s) { ran.push_back(s.ok() ? 5 : -5); });
  EXPECT_EQ(ran, std::vector<int>{5});  // at once
  w.WaitApplied(8, [&](Status s) { ran.push_back(s.ok() ? 8 : -8); });
  w.WaitApplied(7, [&](Status s) { ran.push_back(s.ok() ? 7 : -7); });
  w.MarkApplied(7);
  EXPECT_EQ(ran, (std::vector<int>{5, 7}));
  w.MarkApplied(9);
  EXPECT_EQ(ran, (std::vector<int>{5, 7, 8}));

  // WaitAppliedLater never runs the callback itself.
  ApplyWaiters::ReadCallback later = [&](Status) { ran.push_back(0); };
  std::optional<Status> now = w.WaitAppliedLater(9, &later);
  ASSERT_TRUE(now.has_value());
  EXPECT_TRUE(now->ok());
  EXPECT_TRUE(later);
  EXPECT_FALSE(w.WaitAppliedLater(10, &later).has_value());
  w.MarkApplied(10);
  EXPECT_EQ(ran.back(), 0);
}

TEST(ApplyWaitersTest, FailuresReachEveryoneWaiting) {
  ApplyWaiters w(10);
  Answer a, b, c;
  for (auto [id, ans] : {std::pair{1, &a}, std::pair{2, &b}, std::pair{3, &c}}) {
    auto cb = ans->Callback();
    ASSERT_TRUE(w.AddProposal(id, &cb).ok());
  }
  const uint64_t timed_out[] = {2, 42};
  w.FailProposals(timed_out, Status(Code::kUnavailable, "etcdserver: request timed out"));
  EXPECT_EQ(b.status->message(), "etcdserver: request timed out");
  EXPECT_FALSE(a.status.has_value());

  std::optional<Status> read;
  w.WaitApplied(3, [&](Status s) { read = s; });
  Status disk(Code::kInternal, "mdb_txn_commit failed");
  w.SetWritePathError(disk);
  w.FailAll(disk);
  EXPECT_EQ(a.status->message(), "mdb_txn_commit failed");
  EXPECT_EQ(c.status->message(), "mdb_txn_commit failed");
  EXPECT_EQ(read->message(), "mdb_txn_commit failed");
  // What comes after the failure is refused at once: it may never be applied.
  std::optional<Status> late;
  w.WaitApplied(4, [&](Status s) { late = s; });
  EXPECT_EQ(late->message(), "mdb_txn_commit failed");
}

}  // namespace
}  // namespace etcdpp::server
