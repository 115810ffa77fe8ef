// Tests that walk through the rules of the Raft paper (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", §5) and the matching sections of the thesis ("Consensus:
// Bridging Theory and Practice", ch. 3). Each test names the section it checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "raft/raft.h"
#include "raft/test_util.h"

namespace etcdpp::raft {
namespace {

using testing::AppendTerms;
using testing::MakeMsg;
using testing::N;
using testing::NewConfig;
using testing::NewStorage;
using testing::TestNetwork;

struct Single {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<Raft> raft;
};

Single MakeRaft(uint64_t id, std::vector<uint64_t> peers, int election = 10, int heartbeat = 1) {
  Single s;
  s.storage = NewStorage(peers);
  s.raft = std::make_unique<Raft>(NewConfig(id, election, heartbeat, s.storage.get()));
  return s;
}

std::vector<Message> Take(Raft& r) {
  std::vector<Message> m = std::move(r.msgs());
  r.msgs().clear();
  return m;
}

// Moves the unstable log to storage, as a caller would after persisting a Ready.
void Persist(Single& s) {
  auto ents = s.raft->log().UnstableEntries();
  ASSERT_TRUE(s.storage->Append(ents).ok());
  if (!ents.empty()) s.raft->log().StableTo(ents.back().index.value(), ents.back().term.value());
}

// §5.1 / thesis §3.3: "If a server receives a request with a stale term number, it rejects
// the request", and "if one server's current term is smaller than the other's, then it updates
// its current term to the larger value. If a candidate or leader discovers that its term is out
// of date, it immediately reverts to follower state."
TEST(RaftPaperTest, UpdateTermFromMessage) {
  for (StateType st : {StateType::kFollower, StateType::kCandidate, StateType::kLeader}) {
    Single s = MakeRaft(1, {1, 2, 3});
    Raft& r = *s.raft;
    if (st == StateType::kCandidate) r.BecomeCandidate();
    if (st == StateType::kLeader) {
      r.BecomeCandidate();
      r.BecomeLeader();
    }
    ASSERT_TRUE(r.Step(MakeMsg(2, 1, MessageType::kApp, 5)).ok());
    EXPECT_EQ(r.term(), 5u) << StateTypeName(st);
    EXPECT_EQ(r.state(), StateType::kFollower) << StateTypeName(st);
    EXPECT_EQ(r.lead(), N(2));
  }
}

// §5.1: a message with a stale term is ignored (no state change).
TEST(RaftPaperTest, RejectStaleTermMessage) {
  Single s = MakeRaft(1, {1, 2, 3});
  Raft& r = *s.raft;
  r.BecomeFollower(2, kNoNode);
  Message m = MakeMsg(2, 1, MessageType::kApp, 1);
  m.entries.push_back(Entry{Term(1), LogIndex(1), EntryType::kNormal, "x"});
  ASSERT_TRUE(r.Step(m).ok());
  EXPECT_EQ(r.log().LastIndex(), 0u);
  EXPECT_EQ(r.term(), 2u);
}

// §5.2 / thesis §3.4: servers start as followers.
TEST(RaftPaperTest, StartAsFollower) {
  Single s = MakeRaft(1, {1, 2, 3});
  EXPECT_EQ(s.raft->state(), StateType::kFollower);
}

// §5.2: "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to
// all followers in order to maintain their authority."
TEST(RaftPaperTest, LeaderBcastBeat) {
  const int hi = 1;
  Single s = MakeRaft(1, {1, 2, 3}, 10, hi);
  Raft& r = *s.raft;
  r.BecomeCandidate();
  r.BecomeLeader();
  Take(r);
  for (int i = 0; i < hi; ++i) r.Tick();
  auto msgs = Take(r);
  ASSERT_EQ(msgs.size(), 2u);
  std::set<uint64_t> to;
  for (const Message& m : msgs) {
    EXPECT_EQ(m.type, MessageType::kHeartbeat);
    EXPECT_EQ(m.term.value(), 1u);
    to.insert(m.to.value());
  }
  EXPECT_EQ(to, (std::set<uint64_t>{2, 3}));
}

// §5.2: "If a follower receives no communication over a period of time called the election
// timeout, then it ... begins an election": increments its term, votes for itself and sends
// RequestVote to every other server.
TEST(RaftPaperTest, NonleaderStartElection) {
  for (StateType st : {StateType::kFollower, StateType::kCandidate}) {
    Single s = MakeRaft(1, {1, 2, 3});
    Raft& r = *s.raft;
    if (st == StateType::kFollower) r.BecomeFollower(1, N(2));
    if (st == StateType::kCandidate) {
      r.BecomeFollower(0, kNoNode);
      r.BecomeCandidate();  // term 1
    }
    for (int i = 1; i < 2 * 10; ++i) r.Tick();
    EXPECT_EQ(r.term(), 2u);
    EXPECT_EQ(r.state(), StateType::kCandidate);
    EXPECT_EQ(r.GetHardState().vote, N(1));
    auto msgs = Take(r);
    ASSERT_EQ(msgs.size(), 2u);
    for (const Message& m : msgs) {
      EXPECT_EQ(m.type, MessageType::kVote);
      EXPECT_EQ(m.term.value(), 2u);
    }
  }
}

// §5.2: "A candidate wins an election if it receives votes from a majority of the servers in
// the full cluster for the same term"; it loses if a majority rejects; otherwise it waits.
TEST(RaftPaperTest, LeaderElectionInOneRoundRPC) {
  struct Case {
    size_t size;
    std::map<uint64_t, bool> votes;
    StateType want;
  };
  std::vector<Case> cases = {
      {1, {}, StateType::kLeader},
      {3, {{2, true}, {3, true}}, StateType::kLeader},
      {3, {{2, true}}, StateType::kLeader},
      {5, {{2, true}, {3, true}, {4, true}, {5, true}}, StateType::kLeader},
      {5, {{2, true}, {3, true}}, StateType::kLeader},
      {3, {{2, false}, {3, false}}, StateType::kFollower},
      {5, {{2, false}, {3, false}, {4, false}, {5, false}}, StateType::kFollower},
      {5, {{2, true}, {3, false}, {4, false}, {5, false}}, StateType::kFollower},
      {3, {}, StateType::kCandidate},
      {5, {{2, true}}, StateType::kCandidate},
      {5, {{2, false}, {3, false}}, StateType::kCandidate},
      {5, {}, StateType::kCandidate},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<uint64_t> ids;
    for (uint64_t id = 1; id <= cases[i].size; ++id) ids.push_back(id);
    Single s = MakeRaft(1, ids);
    Raft& r = *s.raft;
    ASSERT_TRUE(r.Step(MakeMsg(1, 1, MessageType::kHup)).ok());
    for (auto [id, granted] : cases[i].votes) {
      Message m = MakeMsg(id, 1, MessageType::kVoteResp, r.term());
      m.reject = !granted;
      ASSERT_TRUE(r.Step(m).ok());
    }
    EXPECT_EQ(r.state(), cases[i].want) << "case " << i;
    EXPECT_EQ(r.term(), 1u) << "case " << i;
  }
}

// §5.2: "Each server will vote for at most one candidate in a given term, on a first-come-
// first-served basis" (election safety).
TEST(RaftPaperTest, FollowerVote) {
  struct Case {
    uint64_t vote, nvote;
    bool reject;
  };
  std::vector<Case> cases = {{0, 2, false}, {0, 3, false}, {2, 2, false},
                             {3, 3, false}, {2, 3, true},  {3, 2, true}};
  for (const Case& c : cases) {
    Single s = MakeRaft(1, {1, 2, 3});
    Raft& r = *s.raft;
    // Load a hard state with the given vote in term 1.
    s.storage->SetHardState(HardState{Term(1), N(c.vote), LogIndex(0)});
    s.raft = std::make_unique<Raft>(NewConfig(1, 10, 1, s.storage.get()));
    Raft& r2 = *s.raft;
    (void)r;
    ASSERT_TRUE(r2.Step(MakeMsg(c.nvote, 1, MessageType::kVote, 1)).ok());
    auto msgs = Take(r2);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].type, MessageType::kVoteResp);
    EXPECT_EQ(msgs[0].reject, c.reject) << c.vote << "->" << c.nvote;
  }
}

// §5.2: "While waiting for votes, a candidate may receive an AppendEntries RPC from another
// server claiming to be leader. If the leader's term is at least as large as the candidate's
// current term, then the candidate recognizes the leader as legitimate and returns to follower."
TEST(RaftPaperTest, CandidateFallback) {
  for (uint64_t term : {1u, 2u}) {
    Single s = MakeRaft(1, {1, 2, 3});
    Raft& r = *s.raft;
    ASSERT_TRUE(r.Step(MakeMsg(1, 1, MessageType::kHup)).ok());
    ASSERT_EQ(r.state(), StateType::kCandidate);
    ASSERT_TRUE(r.Step(MakeMsg(2, 1, MessageType::kApp, term)).ok());
    EXPECT_EQ(r.state(), StateType::kFollower);
    EXPECT_EQ(r.term(), term);
  }
}

// §5.2: "Raft uses randomized election timeouts ... chosen randomly from a fixed interval."
TEST(RaftPaperTest, ElectionTimeoutRandomized) {
  const int et = 10;
  std::set<int> seen;
  Single s = MakeRaft(1, {1, 2, 3}, et);
  Raft& r = *s.raft;
  for (int round = 0; round < 50 * et; ++round) {
    r.BecomeFollower(r.term() + 1, kNoNode);
    int ticks = 0;
    Take(r);
    while (r.state() == StateType::kFollower) {
      r.Tick();
      ++ticks;
      ASSERT_LT(ticks, 2 * et + 1);
    }
    EXPECT_GE(ticks, et);
    seen.insert(ticks);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(et)) << "all timeouts in [et, 2et) should occur";
}

// §5.3 / thesis §3.5: the leader appends the proposal to its log and issues AppendEntries to
// every follower in parallel.
TEST(RaftPaperTest, LeaderStartReplication) {
  Single s = MakeRaft(1, {1, 2, 3});
  Raft& r = *s.raft;
  r.BecomeCandidate();
  r.BecomeLeader();
  Persist(s);
  // Followers acknowledged the no-op: they are in replicate state.
  for (uint64_t id : {2, 3}) {
    Message m = MakeMsg(id, 1, MessageType::kAppResp, 1);
    m.index = LogIndex(1);
    ASSERT_TRUE(r.Step(m).ok());
  }
  Take(r);
  Message p = MakeMsg(1, 1, MessageType::kProp);
  p.entries.push_back(Entry{Term(0), LogIndex(0), EntryType::kNormal, "some data"});
  ASSERT_TRUE(r.Step(p).ok());
  EXPECT_EQ(r.log().LastIndex(), 2u);
  auto msgs = Take(r);
  ASSERT_EQ(msgs.size(), 2u);
  for (const Message& m : msgs) {
    EXPECT_EQ(m.type, MessageType::kApp);
    EXPECT_EQ(m.index.value(), 1u);
    EXPECT_EQ(m.log_term.value(), 1u);
    ASSERT_EQ(m.entries.size(), 1u);
    EXPECT_EQ(m.entries[0].data, "some data");
    EXPECT_EQ(m.entries[0].index.value(), 2u);
  }
}

// §5.3: "A log entry is committed once the leader that created the entry has replicated it on
// a majority of the servers."
TEST(RaftPaperTest, LeaderAcknowledgeCommit) {
  struct Case {
    size_t size;
    std::set<uint64_t> acceptors;
    bool committed;
  };
  std::vector<Case> cases = {
      {1, {}, true},     {3, {}, false},       {3, {2}, true},
      {3, {2, 3}, true}, {5, {}, false},       {5, {2}, false},
      {5, {2, 3}, true}, {5, {2, 3, 4}, true}, {5, {2, 3, 4, 5}, true},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<uint64_t> ids;
    for (uint64_t id = 1; id <= cases[i].size; ++id) ids.push_back(id);
    Single s = MakeRaft(1, ids);
    Raft& r = *s.raft;
    r.BecomeCandidate();
    r.BecomeLeader();
    Message p = MakeMsg(1, 1, MessageType::kProp);
    p.entries.push_back(Entry{Term(0), LogIndex(0), EntryType::kNormal, "some data"});
    ASSERT_TRUE(r.Step(p).ok());
    for (uint64_t id : cases[i].acceptors) {
      Message m = MakeMsg(id, 1, MessageType::kAppResp, 1);
      m.index = LogIndex(2);
      ASSERT_TRUE(r.Step(m).ok());
    }
    EXPECT_EQ(r.log().committed() >= 2, cases[i].committed) << "case " << i;
  }
}

// §5.3: "When the leader commits an entry, it also commits all preceding entries in its log,
// including entries created by previous leaders."
TEST(RaftPaperTest, LeaderCommitPrecedingEntries) {
  for (std::vector<uint64_t> terms : std::vector<std::vector<uint64_t>>{{}, {2}, {1, 2}, {1}}) {
    auto storage = NewStorage({1, 2, 3});
    AppendTerms(storage.get(), terms);
    storage->SetHardState(HardState{Term(2), kNoNode, LogIndex(0)});
    Raft r(NewConfig(1, 10, 1, storage.get()));
    r.BecomeCandidate();
    r.BecomeLeader();  // term 3
    Message p = MakeMsg(1, 1, MessageType::kProp);
    p.entries.push_back(Entry{Term(0), LogIndex(0), EntryType::kNormal, "x"});
    ASSERT_TRUE(r.Step(p).ok());
    const uint64_t last = r.log().LastIndex();
    Message m = MakeMsg(2, 1, MessageType::kAppResp, 3);
    m.index = LogIndex(last);
    ASSERT_TRUE(r.Step(m).ok());
    EXPECT_EQ(r.log().committed(), last);
  }
}

// §5.3: "Once a follower learns that a log entry is committed, it applies the entry" — the
// follower's commit index follows the leader's, bounded by what it holds.
TEST(RaftPaperTest, FollowerCommitEntry) {
  Single s = MakeRaft(1, {1, 2, 3});
  Raft& r = *s.raft;
  r.BecomeFollower(1, N(2));
  Message m = MakeMsg(2, 1, MessageType::kApp, 1);
  m.entries = {Entry{Term(1), LogIndex(1), EntryType::kNormal, "a"},
               Entry{Term(1), LogIndex(2), EntryType::kNormal, "b"}};
  m.commit = LogIndex(5);  // beyond what the message carries
  ASSERT_TRUE(r.Step(m).ok());
  EXPECT_EQ(r.log().committed(), 2u);
}

// §5.3 log matching: "If the follower does not find an entry in its log with the same index
// and term, then it refuses the new entries."
TEST(RaftPaperTest, FollowerCheckMsgApp) {
  struct Case {
    uint64_t term, index;
    bool reject;
    uint64_t hint;
  };
  // Follower log: (1,1) (2,2).
  std::vector<Case> cases = {
      {0, 0, false, 0}, {1, 1, false, 0}, {2, 2, false, 0}, {1, 2, true, 1}, {3, 3, true, 2}};
  for (const Case& c : cases) {
    auto storage = NewStorage({1, 2, 3});
    AppendTerms(storage.get(), {1, 2});
    Raft r(NewConfig(1, 10, 1, storage.get()));
    r.BecomeFollower(2, N(2));
    Message m = MakeMsg(2, 1, MessageType::kApp, 2);
    m.log_term = Term(c.term);
    m.index = LogIndex(c.index);
    ASSERT_TRUE(r.Step(m).ok());
    auto msgs = Take(r);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].reject, c.reject) << c.term << "/" << c.index;
    if (c.reject) {
      EXPECT_EQ(msgs[0].reject_hint.value(), c.hint);
    }
  }
}

// §5.3: "If an existing entry conflicts with a new one (same index but different terms),
// delete the existing entry and all that follow it; append any new entries not in the log."
TEST(RaftPaperTest, FollowerAppendEntries) {
  struct Case {
    uint64_t index, term;
    std::vector<uint64_t> new_terms;  // new entries start at index+1
    std::vector<uint64_t> want_terms;
  };
  std::vector<Case> cases = {
      {2, 2, {3}, {1, 2, 3}},
      {1, 1, {3, 4}, {1, 3, 4}},
      {0, 0, {1}, {1, 2}},
      {0, 0, {3}, {3}},
  };
  for (const Case& c : cases) {
    auto storage = NewStorage({1, 2, 3});
    AppendTerms(storage.get(), {1, 2});
    Raft r(NewConfig(1, 10, 1, storage.get()));
    r.BecomeFollower(2, N(2));
    Message m = MakeMsg(2, 1, MessageType::kApp, 2);
    m.log_term = Term(c.term);
    m.index = LogIndex(c.index);
    for (size_t i = 0; i < c.new_terms.size(); ++i) {
      m.entries.push_back(
          Entry{Term(c.new_terms[i]), LogIndex(c.index + 1 + i), EntryType::kNormal, {}});
    }
    ASSERT_TRUE(r.Step(m).ok());
    std::vector<uint64_t> got;
    for (uint64_t i = 1; i <= r.log().LastIndex(); ++i) got.push_back(r.log().ZeroTermOnErr(i));
    EXPECT_EQ(got, c.want_terms);
  }
}

// §5.4.1 / thesis §3.6.1 election restriction: a voter denies its vote if its own log is more
// up to date than the candidate's (compare last terms, then lengths).
TEST(RaftPaperTest, VoterRejectsLessUpToDateCandidate) {
  struct Case {
    std::vector<uint64_t> log;
    uint64_t log_term, index;
    bool reject;
  };
  std::vector<Case> cases = {
      {{1}, 1, 1, false}, {{1}, 1, 2, false}, {{1, 1}, 1, 1, true},
      {{1}, 2, 1, false}, {{1}, 2, 2, false}, {{1, 1}, 2, 1, false},
      {{2}, 1, 1, true},  {{2}, 1, 2, true},  {{2, 1}, 1, 1, true},
  };
  for (const Case& c : cases) {
    auto storage = NewStorage({1, 2});
    AppendTerms(storage.get(), c.log);
    Raft r(NewConfig(1, 10, 1, storage.get()));
    Message m = MakeMsg(2, 1, MessageType::kVote, 3);
    m.log_term = Term(c.log_term);
    m.index = LogIndex(c.index);
    ASSERT_TRUE(r.Step(m).ok());
    auto msgs = Take(r);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0].reject, c.reject);
  }
}

// §5.4.2 (figure 8) / thesis §3.6.2: "Raft never commits log entries from previous terms by
// counting replicas." A leader with an entry of an older term replicated on a majority does
// not commit it until an entry of its own term is replicated.
TEST(RaftPaperTest, LeaderOnlyCommitsLogFromCurrentTerm) {
  struct Case {
    uint64_t acked_index;
    uint64_t want_commit;
  };
  // Log: (1,1) (2,2); the leader becomes leader in term 3 and appends its no-op at 3.
  std::vector<Case> cases = {{1, 0}, {2, 0}, {3, 3}};
  for (const Case& c : cases) {
    auto storage = NewStorage({1, 2});
    AppendTerms(storage.get(), {1, 2});
    storage->SetHardState(HardState{Term(2), kNoNode, LogIndex(0)});
    Raft r(NewConfig(1, 10, 1, storage.get()));
    r.BecomeCandidate();
    r.BecomeLeader();
    ASSERT_EQ(r.term(), 3u);
    Message m = MakeMsg(2, 1, MessageType::kAppResp, 3);
    m.index = LogIndex(c.acked_index);
    ASSERT_TRUE(r.Step(m).ok());
    EXPECT_EQ(r.log().committed(), c.want_commit) << "acked " << c.acked_index;
  }
}

// Figure 8 / thesis figure 3.7 played out on a network. S1 (term 1) replicates "A" at index 2
// to S2 only. S5 wins term 2 with S3, S4 and writes a no-op at index 2 that nobody else gets.
// S1 wins term 3; S2 and S3 report holding "A", so a majority holds a term-1 entry — it must
// still not be committed by counting (S5 could win term 4 and overwrite it). It commits only
// once S1's term-3 no-op reaches a majority; S5 then has its index 2 overwritten by "A".
TEST(RaftPaperTest, Figure8) {
  TestNetwork net({1, 2, 3, 4, 5});
  net.Campaign(1);
  ASSERT_EQ(net.raft(1).state(), StateType::kLeader);
  for (uint64_t id : {3, 4, 5}) net.Cut(1, id);
  ASSERT_TRUE(net.Propose(1, "A").ok());
  ASSERT_EQ(net.raft(2).log().LastIndex(), 2u);
  ASSERT_EQ(net.raft(1).log().committed(), 1u);

  net.Recover();
  for (uint64_t a : {1, 2}) {
    for (uint64_t b : {3, 4, 5}) net.Cut(a, b);
  }
  net.Ignore(MessageType::kApp);
  net.Campaign(5);
  ASSERT_EQ(net.raft(5).state(), StateType::kLeader);
  ASSERT_EQ(net.raft(5).term(), 2u);
  ASSERT_EQ(net.raft(5).log().ZeroTermOnErr(2), 2u);

  net.Recover();
  net.Isolate(5);
  net.Ignore(MessageType::kApp);
  net.raft(1).BecomeFollower(2, kNoNode);  // S1 learns of term 2 (e.g. from S5's vote request)
  net.Campaign(1);
  ASSERT_EQ(net.raft(1).state(), StateType::kLeader);
  ASSERT_EQ(net.raft(1).term(), 3u);
  for (uint64_t id : {2, 3}) {
    Message m = MakeMsg(id, 1, MessageType::kAppResp, 3);
    m.index = LogIndex(2);
    ASSERT_TRUE(net.raft(1).Step(m).ok());
  }
  EXPECT_EQ(net.raft(1).log().committed(), 1u) << "a term-1 entry committed by counting";

  net.Recover();
  net.Isolate(5);
  net.Send(MakeMsg(1, 1, MessageType::kBeat));
  EXPECT_EQ(net.raft(1).log().committed(), 3u);

  net.Recover();
  net.Send(MakeMsg(1, 1, MessageType::kBeat));
  EXPECT_EQ(net.raft(5).state(), StateType::kFollower);
  auto e = net.raft(5).log().Slice(2, 3, kNoLimit);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0].data, "A");
  EXPECT_EQ(net.raft(5).log().committed(), 3u);
}

// Leader completeness (§5.4, thesis §3.6.3): a leader elected after a committed entry holds it.
TEST(RaftPaperTest, LeaderCompleteness) {
  TestNetwork net({1, 2, 3, 4, 5});
  net.Campaign(1);
  // Commit an entry with only S1, S2, S3 reachable.
  net.Cut(1, 4);
  net.Cut(1, 5);
  ASSERT_TRUE(net.Propose(1, "committed").ok());
  const uint64_t idx = net.raft(1).log().LastIndex();
  ASSERT_EQ(net.raft(1).log().committed(), idx);
  net.Recover();
  // S1 goes away; S4 (stale log) cannot win, S3 can and keeps the entry.
  net.Isolate(1);
  net.Campaign(4);
  EXPECT_NE(net.raft(4).state(), StateType::kLeader);
  net.Campaign(3);
  ASSERT_EQ(net.raft(3).state(), StateType::kLeader);
  auto e = net.raft(3).log().Slice(idx, idx + 1, kNoLimit);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0].data, "committed");
}

}  // namespace
}  // namespace etcdpp::raft
