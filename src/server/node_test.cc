#include "server/node.h"

#include <gtest/gtest.h>

#include <future>
#include <map>

namespace etcdpp::server {
namespace {

// An in-memory durable log: records what was saved, and can be told to fail.
class MemoryLog : public DurableLog {
 public:
  Status Save(const raft::HardState& hs, std::span<const raft::Entry> entries) override {
    std::lock_guard lock(mu);
    if (!fail_with.ok()) return fail_with;
    ++saves;
    hard_state = hs;
    for (const auto& e : entries) log.push_back(e);
    saved_entries += entries.size();
    return Status::Ok();
  }
  Status Compact(LogIndex index, Term) override {
    std::lock_guard lock(mu);
    std::erase_if(log, [&](const raft::Entry& e) { return e.index <= index; });
    compacted_to = index;
    return Status::Ok();
  }
  LogIndex compacted_to;
  std::mutex mu;
  Status fail_with;
  int saves = 0;
  size_t saved_entries = 0;
  raft::HardState hard_state;
  std::vector<raft::Entry> log;
};

// A state machine whose state is the list of applied payloads; a request id is the payload.
// `commit_gate`, when set, runs between releasing a batch's results and its commit, and its
// Status is the commit's outcome.
class ListStateMachine : public StateMachine {
 public:
  LogIndex applied_index() const override { return applied; }
  Status ApplyBatch(std::span<const raft::Entry> entries,
                    const std::function<void(Results&&)>& release) override {
    ++batches;
    Results results;
    std::vector<std::string> data;
    for (const auto& e : entries) {
      EXPECT_EQ(e.index.value(), applied.value() + 1 + (&e - entries.data()));
      if (e.data.empty()) continue;
      data.push_back(e.data);
      results.emplace_back(std::stoull(e.data), ApplyResult{});
    }
    release(std::move(results));
    if (commit_gate) ETCDPP_RETURN_IF_ERROR(commit_gate());
    applied = entries.back().index;
    durable_applied.store(applied.value());
    for (auto& d : data) applied_data.push_back(std::move(d));
    return Status::Ok();
  }
  // Called from the log thread while the apply thread applies: reads the published copy.
  Result<Position> SyncApplied() override {
    return Position{LogIndex(durable_applied.load()), Term(2)};
  }
  std::atomic<uint64_t> durable_applied{0};
  LogIndex applied;
  int batches = 0;
  std::vector<std::string> applied_data;
  std::function<Status()> commit_gate;
};

// Proposes `data` as request `id` and waits until it is applied.
void ProposeAndWait(Node& node, uint64_t id, std::string data) {
  std::promise<void> done;
  node.Propose(id, std::move(data), [&](ApplyResult&&) { done.set_value(); });
  done.get_future().wait();
}

TEST(NodeTest, ConcurrentProposalsAreAllAppliedAndShareSaves) {
  MemoryLog log;
  ListStateMachine sm;
  Node node({MemberId(1), ClusterId(2)}, &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  constexpr int kThreads = 4, kPerThread = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::promise<void>> done(kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t id = t * 1000 + i + 1;
        node.Propose(id, std::to_string(id), [&, i](ApplyResult&& r) {
          if (r.status.ok()) ++ok;
          done[i].set_value();
        });
      }
      for (auto& d : done) d.get_future().wait();
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  node.Stop();
  EXPECT_EQ(sm.applied_data.size(), size_t{kThreads * kPerThread});
  // Start-up saves the leader's no-op; the rest are group commits.
  EXPECT_LE(log.saves, kThreads * kPerThread + 1);
  EXPECT_EQ(log.saved_entries, size_t{kThreads * kPerThread + 1});
  EXPECT_EQ(log.hard_state.commit, LogIndex(kThreads * kPerThread + 1));
  // A clean stop compacts the whole log: a restart has nothing to replay.
  EXPECT_EQ(log.compacted_to, LogIndex(kThreads * kPerThread + 1));
  EXPECT_TRUE(log.log.empty());
}

TEST(NodeTest, ReadIndexWaitsForApply) {
  MemoryLog log;
  ListStateMachine sm;
  Node node({MemberId(1), ClusterId(2)}, &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  ProposeAndWait(node, 7, "7");
  std::promise<Status> read;
  node.ReadIndex([&](Status s) { read.set_value(s); });
  EXPECT_TRUE(read.get_future().get().ok());
  EXPECT_GE(node.applied_index(), node.committed_index());
}

// Holds the state machine's commit until released, recording what happened meanwhile.
struct CommitGate {
  std::promise<void> entered;
  std::promise<Status> release;
  std::shared_future<Status> released = release.get_future().share();
  std::atomic<bool> armed{false};
  Status operator()() {
    if (!armed.exchange(false)) return Status::Ok();
    entered.set_value();
    return released.get();
  }
};

// A started node whose state machine's commits can be held: ProposeWhileCommitHeld returns once
// the proposal is answered and its batch's commit waits for ReleaseCommit.
class HeldCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sm_.commit_gate = [this] { return gate_(); };
    ASSERT_TRUE(node_.Start({}).ok());
  }
  void ProposeWhileCommitHeld(uint64_t id) {
    gate_.armed = true;
    ProposeAndWait(node_, id, std::to_string(id));
    gate_.entered.get_future().wait();
  }
  void ReleaseCommit(Status outcome) { gate_.release.set_value(std::move(outcome)); }

  MemoryLog log_;
  ListStateMachine sm_;
  CommitGate gate_;
  Node node_{{MemberId(1), ClusterId(2)}, &log_, &sm_};
};

TEST_F(HeldCommitTest, AnswersBeforeTheStateMachineCommitsAndReadsWaitForIt) {
  ProposeWhileCommitHeld(5);  // answered although the commit is held
  EXPECT_LT(node_.applied_index(), node_.acknowledged_index());
  std::promise<Status> serializable, linearizable;
  node_.ReadAcknowledged([&](Status s) { serializable.set_value(s); });
  node_.ReadIndex([&](Status s) { linearizable.set_value(s); });
  auto sf = serializable.get_future();
  auto lf = linearizable.get_future();
  EXPECT_EQ(sf.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);
  ReleaseCommit(Status::Ok());
  EXPECT_TRUE(sf.get().ok());
  EXPECT_TRUE(lf.get().ok());
  EXPECT_EQ(sm_.applied_data, std::vector<std::string>{"5"});
  EXPECT_EQ(node_.applied_index(), node_.acknowledged_index());
}

TEST_F(HeldCommitTest, FailedCommitFailsWaitingReadsAndStopsApplying) {
  ProposeWhileCommitHeld(5);
  std::promise<Status> read;
  node_.ReadAcknowledged([&](Status s) { read.set_value(s); });
  ReleaseCommit(Status(Code::kInternal, "mdb_txn_commit: Input/output error"));
  EXPECT_EQ(read.get_future().get().code(), Code::kInternal);
  std::promise<Status> later;
  node_.Propose(6, "6", [&](ApplyResult&& r) { later.set_value(r.status); });
  EXPECT_EQ(later.get_future().get().code(), Code::kInternal);
  std::promise<Status> late_read;
  node_.ReadAcknowledged([&](Status s) { late_read.set_value(s); });
  EXPECT_EQ(late_read.get_future().get().code(), Code::kInternal);
  node_.Stop();
  EXPECT_TRUE(sm_.applied_data.empty());  // nothing after the failed batch was applied
  EXPECT_EQ(log_.log.back().data, "5");   // the acknowledged write stays in the log
}

TEST(NodeTest, FailedSaveIsStickyAndFailsProposers) {
  MemoryLog log;
  ListStateMachine sm;
  Node node({MemberId(1), ClusterId(2)}, &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  log.fail_with = Status(Code::kInternal, "fdatasync: Input/output error");
  std::promise<Status> first;
  node.Propose(1, "1", [&](ApplyResult&& r) { first.set_value(r.status); });
  EXPECT_EQ(first.get_future().get().code(), Code::kInternal);
  log.fail_with = Status::Ok();  // even if the disk recovers, the node does not pretend
  std::promise<Status> second;
  node.Propose(2, "2", [&](ApplyResult&& r) { second.set_value(r.status); });
  EXPECT_EQ(second.get_future().get().message(), "fdatasync: Input/output error");
  EXPECT_TRUE(sm.applied_data.empty());
}

TEST(NodeTest, RecoveryReplaysOnlyUnappliedEntries) {
  MemoryLog log;
  ListStateMachine sm;
  sm.applied = LogIndex(2);
  Node::RecoveredLog rec;
  rec.hard_state = {Term(3), MemberId(1), LogIndex(4)};
  for (uint64_t i = 1; i <= 4; ++i) {
    rec.entries.push_back({Term(3), LogIndex(i), raft::EntryType::kNormal, std::to_string(i + 10)});
  }
  rec.last_index = LogIndex(4);
  Node node({MemberId(1), ClusterId(2)}, &log, &sm);
  ASSERT_TRUE(node.Start(std::move(rec)).ok());
  EXPECT_EQ(sm.applied_data, (std::vector<std::string>{"13", "14"}));
  EXPECT_EQ(node.term(), Term(4));
  EXPECT_EQ(node.applied_index(), LogIndex(5));  // replayed 3..4, then the new term's no-op
}

TEST(NodeTest, CompactsTheLogEverySnapshotCountEntries) {
  MemoryLog log;
  ListStateMachine sm;
  Node::Options options{MemberId(1), ClusterId(2)};
  options.snapshot_count = 10;
  Node node(options, &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  for (uint64_t id = 1; id <= 50; ++id) ProposeAndWait(node, id, std::to_string(id));
  // Compaction runs after a save once 10 more entries were applied: the log keeps only the tail.
  EXPECT_GE(log.compacted_to.value(), 40u);
  EXPECT_LT(log.log.size(), 20u);
  node.Stop();
  EXPECT_EQ(sm.applied_data.size(), 50u);
}

TEST(NodeTest, CompactsTheLogAfterManyBytes) {
  MemoryLog log;
  ListStateMachine sm;
  Node::Options options{MemberId(1), ClusterId(2)};
  options.compact_after_bytes = 100;
  Node node(options, &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  // Payloads of ~60 bytes that still parse as the request id.
  for (uint64_t id = 1; id <= 5; ++id) {
    ProposeAndWait(node, id, std::to_string(id) + std::string(60, ' '));
  }
  // Far fewer than snapshot_count entries, but more than 100 bytes: compacted on the way.
  EXPECT_GE(log.compacted_to.value(), 2u);
  node.Stop();
}

TEST(NodeTest, StopFailsQueuedWork) {
  MemoryLog log;
  ListStateMachine sm;
  auto node = std::make_unique<Node>(Node::Options{MemberId(1), ClusterId(2)}, &log, &sm);
  ASSERT_TRUE(node->Start({}).ok());
  node->Stop();
  std::promise<Status> p;
  node->Propose(1, "1", [&](ApplyResult&& r) { p.set_value(r.status); });
  EXPECT_EQ(p.get_future().get().message(), "etcdserver: server stopped");
}

}  // namespace
}  // namespace etcdpp::server
