#include "server/node.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <optional>
#include <thread>

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
// `commit_gate`, when set, runs at the start of each commit, and its Status is the commit's
// outcome.
class ListStateMachine : public StateMachine {
 public:
  LogIndex applied_index() const override { return applied; }
  Status ApplyBatch(std::span<const raft::Entry> entries,
                    const std::function<void(Results&&)>& release) override {
    ++batches;
    Results results;
    const uint64_t last = pending_last.value_or(applied).value();
    for (const auto& e : entries) {
      EXPECT_EQ(e.index.value(), last + 1 + (&e - entries.data()));
      if (e.data.empty()) continue;
      pending_data.push_back(e.data);
      results.emplace_back(std::stoull(e.data), ApplyResult{});
    }
    pending_last = entries.back().index;
    release(std::move(results));
    return Status::Ok();
  }
  bool has_uncommitted() const override { return pending_last.has_value(); }
  Status CommitApplied() override {
    if (!pending_last) return Status::Ok();
    ++commits;
    Status s = commit_gate ? commit_gate() : Status::Ok();
    if (s.ok()) {
      applied = *pending_last;
      durable_applied.store(applied.value());
      for (auto& d : pending_data) applied_data.push_back(std::move(d));
    }
    pending_data.clear();
    pending_last.reset();
    return s;
  }
  // Any thread (the interface allows it): reads the published copy.
  Result<Position> SyncApplied() override {
    return Position{LogIndex(durable_applied.load()), Term(2)};
  }
  std::atomic<uint64_t> durable_applied{0};
  LogIndex applied;
  int batches = 0;
  int commits = 0;
  std::vector<std::string> applied_data;  // committed
  std::optional<LogIndex> pending_last;   // applied, not committed
  std::vector<std::string> pending_data;
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

TEST_F(HeldCommitTest, WritesQueuedBehindAFailedCommitAreNeitherLoggedNorApplied) {
  ProposeWhileCommitHeld(5);
  std::promise<Status> queued;  // waits while the write thread is held in the commit
  node_.Propose(6, "6", [&](ApplyResult&& r) { queued.set_value(r.status); });
  ReleaseCommit(Status(Code::kInternal, "mdb_txn_commit: Input/output error"));
  EXPECT_EQ(queued.get_future().get().code(), Code::kInternal);
  node_.Stop();
  EXPECT_EQ(log_.log.back().data, "5");  // the write path stopped: 6 was never written
  EXPECT_TRUE(sm_.applied_data.empty());
}

// Waits (bounded) until `pred` holds; the node's threads move on their own.
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 5000 && !pred(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

Node::Options PacedOptions(std::chrono::microseconds interval, size_t max_entries = 10000) {
  Node::Options options{MemberId(1), ClusterId(2)};
  options.commit.interval = interval;
  options.commit.max_entries = max_entries;
  return options;
}

TEST(NodeTest, AnswersWithoutCommittingUntilAReadNeedsTheWrites) {
  MemoryLog log;
  ListStateMachine sm;
  Node node(PacedOptions(std::chrono::hours(1)), &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  const int commits_at_start = sm.commits;  // the replay and the no-op commit at once
  ProposeAndWait(node, 5, "5");
  ProposeAndWait(node, 6, "6");
  EXPECT_LT(node.applied_index(), node.acknowledged_index());
  std::promise<Status> read;
  node.ReadAcknowledged([&](Status s) { read.set_value(s); });
  EXPECT_TRUE(read.get_future().get().ok());  // at once, not after the hour
  EXPECT_EQ(node.applied_index(), node.acknowledged_index());
  node.Stop();
  EXPECT_EQ(sm.commits, commits_at_start + 1);  // both writes in one commit
  EXPECT_EQ(sm.applied_data, (std::vector<std::string>{"5", "6"}));
}

TEST(NodeTest, CommitsAfterTheInterval) {
  MemoryLog log;
  ListStateMachine sm;
  Node node(PacedOptions(std::chrono::milliseconds(20)), &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  ProposeAndWait(node, 5, "5");
  EXPECT_TRUE(Eventually([&] { return node.applied_index() == node.acknowledged_index(); }));
}

TEST(NodeTest, CommitsAtTheEntryLimit) {
  MemoryLog log;
  ListStateMachine sm;
  Node node(PacedOptions(std::chrono::hours(1), /*max_entries=*/3), &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  for (uint64_t id = 1; id <= 3; ++id) ProposeAndWait(node, id, std::to_string(id));
  EXPECT_TRUE(Eventually([&] { return node.applied_index() == node.acknowledged_index(); }));
}

TEST(NodeTest, WritesAppliedBeforeAFailedSaveAreStillCommitted) {
  MemoryLog log;
  ListStateMachine sm;
  Node node(PacedOptions(std::chrono::milliseconds(20)), &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  ProposeAndWait(node, 5, "5");  // applied; its commit waits for the interval
  log.fail_with = Status(Code::kInternal, "fdatasync: Input/output error");
  std::promise<Status> failed;
  node.Propose(6, "6", [&](ApplyResult&& r) { failed.set_value(r.status); });
  EXPECT_EQ(failed.get_future().get().code(), Code::kInternal);
  EXPECT_TRUE(Eventually([&] { return node.applied_index() == node.acknowledged_index(); }));
  node.Stop();
  EXPECT_EQ(sm.applied_data, std::vector<std::string>{"5"});
}

TEST(NodeTest, StopCommitsWhatWasApplied) {
  MemoryLog log;
  ListStateMachine sm;
  Node node(PacedOptions(std::chrono::hours(1)), &log, &sm);
  ASSERT_TRUE(node.Start({}).ok());
  ProposeAndWait(node, 5, "5");
  node.Stop();
  EXPECT_EQ(sm.applied_data, std::vector<std::string>{"5"});
  EXPECT_FALSE(sm.has_uncommitted());
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
  options.commit.interval = std::chrono::microseconds(0);  // compaction follows commits
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
  options.commit.interval = std::chrono::microseconds(0);
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

// Group commit under load (Options::gather_*).
class GatherTest : public ::testing::Test {
 protected:
  // A node that gathers up to `target` proposals for up to `wait` once `min_unanswered` wait.
  void StartNode(std::chrono::microseconds wait, size_t min_unanswered, size_t target,
                 std::chrono::microseconds commit_interval = std::chrono::milliseconds(100)) {
    Node::Options options{MemberId(1), ClusterId(2)};
    options.commit.interval = commit_interval;
    options.gather_wait = wait;
    options.gather_min_unanswered = min_unanswered;
    options.gather_target = target;
    node_ = std::make_unique<Node>(options, &log_, &sm_);
    ASSERT_TRUE(node_->Start({}).ok());
    saves_at_start_ = Saves();
  }
  std::future<void> Propose(uint64_t id) {
    auto done = std::make_shared<std::promise<void>>();
    node_->Propose(id, std::to_string(id), [done](ApplyResult&&) { done->set_value(); });
    return done->get_future();
  }
  int Saves() {
    std::lock_guard lock(log_.mu);
    return log_.saves;
  }
  MemoryLog log_;
  ListStateMachine sm_;
  std::unique_ptr<Node> node_;
  int saves_at_start_ = 0;
};

TEST_F(GatherTest, UnderLoadOneSaveServesTheWholeTarget) {
  StartNode(std::chrono::seconds(30), /*min_unanswered=*/1, /*target=*/3);
  auto first = Propose(1);
  // Long enough for the write thread to take up the first proposal; without the gather it would
  // be saved alone.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  auto second = Propose(2);
  auto third = Propose(3);
  for (auto* f : {&first, &second, &third}) {
    ASSERT_EQ(f->wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  EXPECT_EQ(Saves() - saves_at_start_, 1);
}

TEST_F(GatherTest, TheWaitIsBounded) {
  StartNode(std::chrono::milliseconds(50), /*min_unanswered=*/1, /*target=*/100);
  auto start = std::chrono::steady_clock::now();
  auto only = Propose(1);
  ASSERT_EQ(only.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_EQ(Saves() - saves_at_start_, 1);
}

TEST_F(GatherTest, NoWaitWithFewUnansweredProposals) {
  StartNode(std::chrono::seconds(30), /*min_unanswered=*/2, /*target=*/100);
  auto only = Propose(1);
  EXPECT_EQ(only.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

// Applied writes wait for their commit until a read needs them; that read must not also wait
// out a group-commit wait that started meanwhile.
TEST_F(GatherTest, AReadWaitingForAppliedWritesEndsTheWait) {
  StartNode(std::chrono::seconds(30), /*min_unanswered=*/1, /*target=*/2,
            /*commit_interval=*/std::chrono::seconds(30));
  auto first = Propose(1);
  auto second = Propose(2);  // reaches the target: both are saved and answered, not committed
  for (auto* f : {&first, &second}) {
    ASSERT_EQ(f->wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  auto third = Propose(3);  // below the target: the write thread gathers for 30 s
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto read = std::make_shared<std::promise<Status>>();  // may outlive a failed test body
  node_->ReadAcknowledged([read](Status s) { read->set_value(s); });
  auto got = read->get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(got.get().ok());
  EXPECT_EQ(third.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

TEST_F(GatherTest, StopEndsTheWait) {
  StartNode(std::chrono::seconds(30), /*min_unanswered=*/1, /*target=*/100);
  auto only = Propose(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto start = std::chrono::steady_clock::now();
  node_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(only.wait_for(std::chrono::seconds(0)), std::future_status::ready);
}

}  // namespace
}  // namespace etcdpp::server
