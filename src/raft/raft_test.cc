// Behaviour tests of the raft core beyond the paper's basic rules: single voter, proposal
// forwarding and dropping, pre-vote (thesis §9.6), check-quorum (§6.2), ReadIndex (§6.4),
// leadership transfer (§3.10), snapshots (§5), learners and membership changes (ch. 4),
// fast back-off and flow control. Node-level tests drive the public API (Ready/Advance).
#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "raft/confchange.h"
#include "raft/node.h"
#include "raft/test_util.h"

namespace etcdpp::raft {
namespace {

using testing::AppendTerms;
using testing::MakeMsg;
using testing::N;
using testing::NewConfig;
using testing::NewStorage;
using testing::TestNetwork;

// A small cluster of Nodes that follows the ordering contract: persist, send, apply, advance.
class NodeCluster {
 public:
  NodeCluster(const std::vector<uint64_t>& ids, bool pre_vote = true, bool check_quorum = true) {
    for (uint64_t id : ids) {
      auto& p = peers_[id];
      p.storage = NewStorage(ids);
      Config c = NewConfig(id, 10, 1, p.storage.get());
      c.pre_vote = pre_vote;
      c.check_quorum = check_quorum;
      c.random_seed = id;
      p.node = std::move(Node::Create(c).value());
    }
  }

  Node& node(uint64_t id) { return *peers_.at(id).node; }
  MemoryStorage& storage(uint64_t id) { return *peers_.at(id).storage; }
  const std::vector<std::string>& applied(uint64_t id) { return peers_.at(id).applied; }
  const std::vector<ReadState>& reads(uint64_t id) { return peers_.at(id).reads; }

  // Handles Readies and delivers messages until quiescent.
  void Settle() {
    for (int round = 0; round < 1000; ++round) {
      bool any = false;
      for (auto& [id, p] : peers_) {
        if (!p.node->HasReady()) continue;
        any = true;
        Ready rd = p.node->GetReady();
        if (!rd.snapshot.empty()) {
          ASSERT_TRUE(p.storage->ApplySnapshot(rd.snapshot).ok());
        }
        ASSERT_TRUE(p.storage->Append(rd.entries).ok());
        if (!rd.hard_state.empty()) p.storage->SetHardState(rd.hard_state);
        for (Message& m : rd.messages) {
          if (!cut_.count({m.from.value(), m.to.value()})) queue_.push_back(std::move(m));
        }
        for (const Entry& e : rd.committed_entries) {
          if (e.type == EntryType::kConfChangeV2) {
            auto cc = DecodeConfChangeV2(e.data);
            ASSERT_TRUE(cc.ok());
            (void)p.node->ApplyConfChange(*cc);
          } else if (!e.data.empty()) {
            p.applied.push_back(e.data);
          }
        }
        for (ReadState& rs : rd.read_states) p.reads.push_back(rs);
        p.node->Advance();
      }
      while (!queue_.empty()) {
        any = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        auto it = peers_.find(m.to.value());
        if (it != peers_.end()) (void)it->second.node->Step(std::move(m));
      }
      if (!any) return;
    }
    FAIL() << "cluster did not settle";
  }

  void TickAll(int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, p] : peers_) p.node->Tick();
      Settle();
    }
  }
  void Isolate(uint64_t id) {
    for (auto& [o, p] : peers_) {
      if (o != id) {
        cut_.insert({id, o});
        cut_.insert({o, id});
      }
    }
  }
  void Heal() { cut_.clear(); }

 private:
  struct Peer {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<Node> node;
    std::vector<std::string> applied;
    std::vector<ReadState> reads;
  };
  std::map<uint64_t, Peer> peers_;
  std::deque<Message> queue_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
};

// The server runs a single-node cluster through this library: its proposals must be committed
// in the same Ready that asks to persist them (the caller persists before applying).
TEST(NodeTest, SingleVoterCommitsImmediately) {
  auto storage = NewStorage({1});
  Config c = NewConfig(1, 10, 1, storage.get());
  auto node = std::move(Node::Create(c).value());
  ASSERT_TRUE(node->Campaign().ok());
  Ready rd = node->GetReady();
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, StateType::kLeader);
  ASSERT_TRUE(storage->Append(rd.entries).ok());
  storage->SetHardState(rd.hard_state);
  node->Advance();
  ASSERT_TRUE(node->Propose("hello").ok());
  rd = node->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].data, "hello");
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  EXPECT_EQ(rd.committed_entries[0], rd.entries[0]);
  EXPECT_EQ(rd.hard_state.commit, rd.entries[0].index);
  EXPECT_TRUE(rd.must_sync);
  EXPECT_TRUE(rd.messages.empty());
  ASSERT_TRUE(storage->Append(rd.entries).ok());
  node->Advance();
  EXPECT_FALSE(node->HasReady());
  EXPECT_EQ(node->GetBasicStatus().applied, rd.entries[0].index);
}

// With leader_counts_self_when_stable the leader's own copy counts only once Advance reported
// it stable, so a follower's acknowledgement alone (one durable copy of three) commits nothing.
TEST(NodeTest, LeaderCountingSelfWhenStableNeedsItsOwnPersistOrTwoFollowers) {
  std::map<uint64_t, std::unique_ptr<MemoryStorage>> disks;
  std::map<uint64_t, std::unique_ptr<Node>> nodes;
  for (uint64_t id : {1, 2, 3}) {
    disks[id] = NewStorage({1, 2, 3});
    Config c = NewConfig(id, 10, 1, disks[id].get());
    c.leader_counts_self_when_stable = true;
    nodes[id] = std::move(Node::Create(c).value());
  }
  // Persists, sends and advances until nothing moves (the ordinary contract).
  auto settle = [&] {
    std::deque<Message> q;
    for (int round = 0; round < 100; ++round) {
      for (auto& [id, n] : nodes) {
        while (n->HasReady()) {
          Ready rd = n->GetReady();
          ASSERT_TRUE(disks[id]->Append(rd.entries).ok());
          if (!rd.hard_state.empty()) disks[id]->SetHardState(rd.hard_state);
          for (Message& m : rd.messages) q.push_back(std::move(m));
          n->Advance();
        }
      }
      if (q.empty()) return;
      while (!q.empty()) {
        (void)nodes[q.front().to.value()]->Step(std::move(q.front()));
        q.pop_front();
      }
    }
  };
  ASSERT_TRUE(nodes[1]->Campaign().ok());
  settle();
  ASSERT_EQ(nodes[1]->GetBasicStatus().soft_state.role, StateType::kLeader);
  const LogIndex before = nodes[1]->GetBasicStatus().hard_state.commit;

  // The leader sends its append before persisting it (what the server does).
  ASSERT_TRUE(nodes[1]->Propose("x").ok());
  Ready rd = nodes[1]->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_TRUE(rd.leader_sends_early);
  const LogIndex idx = rd.entries[0].index;
  std::vector<Message> to2;
  for (Message& m : TakeMessagesBeforePersist(&rd)) {
    EXPECT_TRUE(MaySendBeforePersist(rd, m));
    if (m.type == MessageType::kApp && m.to == N(2)) to2.push_back(std::move(m));
  }
  for (const Message& m : rd.messages) EXPECT_FALSE(MaySendBeforePersist(rd, m));
  ASSERT_FALSE(to2.empty());
  for (Message& m : to2) ASSERT_TRUE(nodes[2]->Step(std::move(m)).ok());
  Ready f = nodes[2]->GetReady();
  ASSERT_TRUE(disks[2]->Append(f.entries).ok());
  if (!f.hard_state.empty()) disks[2]->SetHardState(f.hard_state);
  nodes[2]->Advance();
  for (Message& m : f.messages) ASSERT_TRUE(nodes[1]->Step(std::move(m)).ok());
  // Node 2 holds the entry durably, the leader not yet: no quorum of durable copies.
  EXPECT_EQ(nodes[1]->GetBasicStatus().hard_state.commit, before);

  // The leader's persist completes: now two of three hold it.
  ASSERT_TRUE(disks[1]->Append(rd.entries).ok());
  if (!rd.hard_state.empty()) disks[1]->SetHardState(rd.hard_state);
  nodes[1]->Advance();
  EXPECT_EQ(nodes[1]->GetBasicStatus().hard_state.commit, idx);
  ASSERT_TRUE(nodes[1]->HasReady());
  Ready next = nodes[1]->GetReady();
  ASSERT_EQ(next.committed_entries.size(), 1u);
  EXPECT_EQ(next.committed_entries[0].data, "x");
  bool commit_sent = false;  // the new commit index goes to the followers at once
  for (const Message& m : next.messages) {
    if (m.type == MessageType::kApp && m.commit == idx) commit_sent = true;
  }
  EXPECT_TRUE(commit_sent);
}

// A single voter counting itself when stable commits after the persist, and a ReadIndex asked
// before its term's first entry committed waits for that commit.
TEST(NodeTest, SingleVoterCountingSelfWhenStableCommitsAfterPersistAndParksReads) {
  auto storage = NewStorage({1});
  Config c = NewConfig(1, 10, 1, storage.get());
  c.leader_counts_self_when_stable = true;
  auto node = std::move(Node::Create(c).value());
  ASSERT_TRUE(node->Campaign().ok());
  Ready rd = node->GetReady();
  ASSERT_EQ(rd.entries.size(), 1u);  // the new term's empty entry
  EXPECT_TRUE(rd.committed_entries.empty());
  EXPECT_FALSE(rd.leader_sends_early);  // the Ready carries the new term and vote
  ASSERT_TRUE(node->ReadIndex("r").ok());
  EXPECT_TRUE(rd.read_states.empty());
  ASSERT_TRUE(storage->Append(rd.entries).ok());
  storage->SetHardState(rd.hard_state);
  node->Advance();
  ASSERT_TRUE(node->HasReady());
  Ready next = node->GetReady();
  ASSERT_EQ(next.committed_entries.size(), 1u);
  EXPECT_EQ(next.committed_entries[0].index, rd.entries[0].index);
  ASSERT_EQ(next.read_states.size(), 1u);
  EXPECT_EQ(next.read_states[0].index, rd.entries[0].index);
}

// A server outside its configuration may campaign (README, deviation 4), but not while its log
// holds a configuration change it has not applied: the configuration it knows may then be
// stale, and the votes of its (possibly long removed) voters would elect it outside the real
// configuration.
TEST(NodeTest, NonMemberDoesNotCampaignWithAnUnappliedConfigurationChange) {
  for (bool pending_change : {false, true}) {
    auto storage = NewStorage({1});  // a configuration from before node 3 was added
    Entry e;
    e.term = Term(1);
    e.index = LogIndex(1);
    if (pending_change) {
      e.type = EntryType::kConfChangeV2;
      ConfChangeV2 add3;
      add3.changes.push_back({ConfChangeType::kAddNode, N(3)});
      e.data = EncodeConfChangeV2(add3);
    }
    ASSERT_TRUE(storage->Append({e}).ok());
    auto node = std::move(Node::Create(NewConfig(3, 10, 1, storage.get())).value());
    for (int i = 0; i < 40; ++i) node->Tick();
    bool asked_for_votes = false;
    while (node->HasReady()) {
      Ready rd = node->GetReady();
      for (const Message& m : rd.messages) {
        if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) asked_for_votes = true;
      }
      node->Advance();
    }
    EXPECT_EQ(asked_for_votes, !pending_change) << "pending change " << pending_change;
  }
}

TEST(NodeTest, SingleVoterElectsItselfOnTimeout) {
  auto storage = NewStorage({1});
  auto node = std::move(Node::Create(NewConfig(1, 10, 1, storage.get())).value());
  for (int i = 0; i < 20; ++i) node->Tick();
  EXPECT_EQ(node->GetBasicStatus().soft_state.role, StateType::kLeader);
}

TEST(NodeTest, SingleVoterReadIndex) {
  NodeCluster c({1});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  ASSERT_TRUE(c.node(1).Propose("x").ok());
  c.Settle();
  ASSERT_TRUE(c.node(1).ReadIndex("r1").ok());
  c.Settle();
  ASSERT_EQ(c.reads(1).size(), 1u);
  EXPECT_EQ(c.reads(1)[0].request_ctx, "r1");
  EXPECT_EQ(c.reads(1)[0].index.value(), 2u);
}

TEST(NodeTest, ProposalDroppedWithoutLeader) {
  NodeCluster c({1, 2, 3});
  Status s = c.node(1).Propose("x");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(IsProposalDropped(s)) << s.ToString();
  EXPECT_TRUE(IsProposalDropped(c.node(1).ReadIndex("r")));
}

TEST(NodeTest, InvalidConfigRejected) {
  Config c;
  EXPECT_FALSE(Node::Create(c).ok());
}

// Followers forward proposals to the leader (etcd behaviour); every member applies them.
TEST(NodeTest, ProposalForwardingAndReplication) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  ASSERT_EQ(c.node(1).GetBasicStatus().soft_state.role, StateType::kLeader);
  ASSERT_TRUE(c.node(2).Propose("from-follower").ok());
  ASSERT_TRUE(c.node(1).Propose("from-leader").ok());
  c.Settle();
  c.TickAll(2);  // heartbeats carry the commit index to followers
  for (uint64_t id : {1, 2, 3}) {
    // The leader's own proposal is appended first; the forwarded one arrives a hop later.
    EXPECT_EQ(c.applied(id), (std::vector<std::string>{"from-leader", "from-follower"})) << id;
  }
}

TEST(NodeTest, ElectionByTimeoutThenLeaderIsolatedStepsDown) {
  NodeCluster c({1, 2, 3});
  c.TickAll(40);
  int leaders = 0;
  uint64_t lead = 0;
  for (uint64_t id : {1, 2, 3}) {
    if (c.node(id).GetBasicStatus().soft_state.role == StateType::kLeader) {
      ++leaders;
      lead = id;
    }
  }
  ASSERT_EQ(leaders, 1);
  // Check-quorum (thesis §6.2): an isolated leader steps down within an election timeout or two.
  c.Isolate(lead);
  c.TickAll(25);
  EXPECT_NE(c.node(lead).GetBasicStatus().soft_state.role, StateType::kLeader);
  c.Heal();
  c.TickAll(40);
  leaders = 0;
  for (uint64_t id : {1, 2, 3}) {
    leaders += c.node(id).GetBasicStatus().soft_state.role == StateType::kLeader;
  }
  EXPECT_EQ(leaders, 1);
}

// Pre-vote (thesis §9.6): a node partitioned away keeps campaigning without bumping its term,
// so when it rejoins it does not depose the working leader.
TEST(NodeTest, PreVotePreventsDisruptionOnRejoin) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  const Term term = c.node(1).GetBasicStatus().hard_state.term;
  c.Isolate(3);
  c.TickAll(100);
  EXPECT_EQ(c.node(3).GetBasicStatus().hard_state.term, term);
  c.Heal();
  c.TickAll(30);
  EXPECT_EQ(c.node(1).GetBasicStatus().soft_state.role, StateType::kLeader);
  EXPECT_EQ(c.node(1).GetBasicStatus().hard_state.term, term);
}

// Without pre-vote, the same rejoin bumps terms and forces a new election (the problem pre-vote
// solves), which shows the test above can fail.
TEST(NodeTest, WithoutPreVoteRejoinDisrupts) {
  NodeCluster c({1, 2, 3}, /*pre_vote=*/false, /*check_quorum=*/false);
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  const Term term = c.node(1).GetBasicStatus().hard_state.term;
  c.Isolate(3);
  c.TickAll(100);
  EXPECT_GT(c.node(3).GetBasicStatus().hard_state.term, term);
  c.Heal();
  c.TickAll(30);
  EXPECT_GT(c.node(1).GetBasicStatus().hard_state.term, term);
}

// ReadIndex (thesis §6.4): the read is answered at the leader's commit index after a
// heartbeat round; a follower's read is forwarded and answered with the leader's index.
TEST(NodeTest, ReadIndexOnLeaderAndFollower) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  ASSERT_TRUE(c.node(1).Propose("w").ok());
  c.Settle();
  const LogIndex commit = c.node(1).GetBasicStatus().hard_state.commit;
  ASSERT_TRUE(c.node(1).ReadIndex("a").ok());
  ASSERT_TRUE(c.node(1).ReadIndex("b").ok());
  ASSERT_TRUE(c.node(2).ReadIndex("c").ok());
  c.Settle();
  ASSERT_EQ(c.reads(1).size(), 2u);
  EXPECT_EQ(c.reads(1)[0].request_ctx, "a");
  EXPECT_EQ(c.reads(1)[1].request_ctx, "b");
  EXPECT_EQ(c.reads(1)[0].index, commit);
  ASSERT_EQ(c.reads(2).size(), 1u);
  EXPECT_EQ(c.reads(2)[0].index, commit);
}

// A leader that cannot reach a quorum never answers a read (it might be deposed).
TEST(NodeTest, ReadIndexNeedsQuorum) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  c.Isolate(1);
  ASSERT_TRUE(c.node(1).ReadIndex("a").ok());
  c.TickAll(5);
  EXPECT_TRUE(c.reads(1).empty());
}

// Thesis §6.4.1: with lease-based reads the leader answers from its commit index without a
// heartbeat round (relying on check-quorum's lease); the option demands check-quorum.
TEST(RaftTest, LeaseBasedReadIndex) {
  TestNetwork net({1, 2, 3}, [](Config& c) {
    c.check_quorum = true;
    c.read_only_option = ReadOnlyOption::kLeaseBased;
  });
  net.Campaign(1);
  Raft& r = net.raft(1);
  ASSERT_EQ(r.state(), StateType::kLeader);
  net.Isolate(1);
  Message m = MakeMsg(1, 1, MessageType::kReadIndex);
  m.context = "lease";
  ASSERT_TRUE(r.Step(m).ok());
  ASSERT_EQ(r.read_states().size(), 1u);
  EXPECT_EQ(r.read_states()[0].index.value(), r.log().committed());
  Config bad;
  bad.id = N(1);
  MemoryStorage st;
  bad.storage = &st;
  bad.check_quorum = false;
  bad.read_only_option = ReadOnlyOption::kLeaseBased;
  EXPECT_FALSE(bad.Validate().ok());
}

// Batching: several queued reads are confirmed by the acks of one heartbeat round.
TEST(RaftTest, ReadIndexBatching) {
  TestNetwork net({1, 2, 3});
  net.Campaign(1);
  Raft& r = net.raft(1);
  net.Ignore(MessageType::kHeartbeat);
  for (const char* ctx : {"a", "b", "c"}) {
    Message m = MakeMsg(1, 1, MessageType::kReadIndex);
    m.context = ctx;
    ASSERT_TRUE(r.Step(m).ok());
  }
  net.ReadMessages(1);
  EXPECT_TRUE(r.read_states().empty());
  net.Recover();
  // One heartbeat round carrying the newest context confirms all three.
  Message hb = MakeMsg(2, 1, MessageType::kHeartbeatResp, r.term());
  hb.context = "c";
  ASSERT_TRUE(r.Step(hb).ok());
  ASSERT_EQ(r.read_states().size(), 3u);
  EXPECT_EQ(r.read_states()[0].request_ctx, "a");
  EXPECT_EQ(r.read_states()[2].request_ctx, "c");
}

// Thesis §6.4: a new leader answers reads only after committing an entry of its term.
TEST(RaftTest, ReadIndexWaitsForCurrentTermCommit) {
  TestNetwork net({1, 2, 3});
  net.Ignore(MessageType::kApp);
  net.Campaign(1);
  Raft& r = net.raft(1);
  ASSERT_EQ(r.state(), StateType::kLeader);
  Message m = MakeMsg(1, 1, MessageType::kReadIndex);
  m.context = "x";
  ASSERT_TRUE(r.Step(m).ok());
  net.Recover();
  net.SendAll(net.ReadMessages(1));
  EXPECT_TRUE(r.read_states().empty());
  net.Send(MakeMsg(1, 1, MessageType::kBeat));  // replicates the no-op, commits it
  net.Send(MakeMsg(1, 1, MessageType::kBeat));  // confirms the parked read
  ASSERT_EQ(r.read_states().size(), 1u);
  EXPECT_EQ(r.read_states()[0].index.value(), r.log().committed());
}

// Thesis §3.10: transfer to an up-to-date follower completes at once via TimeoutNow.
TEST(NodeTest, LeaderTransfer) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  ASSERT_TRUE(c.node(1).TransferLeader(N(2)).ok());
  c.Settle();
  EXPECT_EQ(c.node(2).GetBasicStatus().soft_state.role, StateType::kLeader);
  EXPECT_EQ(c.node(1).GetBasicStatus().soft_state.leader, N(2));
  EXPECT_FALSE(c.node(3).TransferLeader(N(1)).ok()) << "only the leader accepts transfers";
}

// A transfer to an unreachable node is abandoned after an election timeout; proposals are
// refused while it is in progress and accepted again afterwards.
TEST(RaftTest, LeaderTransferTimesOut) {
  TestNetwork net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  Message t = MakeMsg(3, 1, MessageType::kTransferLeader);
  net.Send(t);
  Raft& r = net.raft(1);
  EXPECT_EQ(r.lead_transferee(), N(3));
  EXPECT_TRUE(IsProposalDropped(net.Propose(1, "x")));
  for (int i = 0; i < 10; ++i) r.Tick();
  net.ReadMessages(1);
  EXPECT_EQ(r.lead_transferee(), kNoNode);
  EXPECT_TRUE(net.Propose(1, "y").ok());
}

// Transfer to a lagging follower: the leader first catches it up, then sends TimeoutNow.
TEST(RaftTest, LeaderTransferToLaggingFollower) {
  TestNetwork net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  ASSERT_TRUE(net.Propose(1, "x").ok());
  net.Recover();
  net.Send(MakeMsg(3, 1, MessageType::kTransferLeader));
  EXPECT_EQ(net.raft(3).state(), StateType::kLeader);
  EXPECT_EQ(net.raft(1).state(), StateType::kFollower);
}

// Fast back-off (thesis §5.3 footnote): a follower with a long divergent tail is fixed in a
// number of round trips bounded by the number of distinct terms, not the number of entries.
TEST(RaftTest, FastBackOffSkipsWholeTerms) {
  TestNetwork net({1, 2, 3});
  // Follower 2 holds 100 entries of term 2 that the leader never had; the leader has term-3
  // entries after index 1.
  auto s2 = NewStorage({1, 2, 3});
  std::vector<uint64_t> t2(100, 2);
  t2.insert(t2.begin(), 1);
  AppendTerms(s2.get(), t2);
  s2->SetHardState(HardState{Term(3), kNoNode, LogIndex(1)});
  net.Add(2, std::move(s2));
  auto s1 = NewStorage({1, 2, 3});
  AppendTerms(s1.get(), {1, 3, 3});
  s1->SetHardState(HardState{Term(3), kNoNode, LogIndex(1)});
  net.Add(1, std::move(s1));
  auto s3 = NewStorage({1, 2, 3});
  AppendTerms(s3.get(), {1, 3, 3});
  s3->SetHardState(HardState{Term(3), kNoNode, LogIndex(1)});
  net.Add(3, std::move(s3));
  net.Campaign(1);
  ASSERT_EQ(net.raft(1).state(), StateType::kLeader);
  EXPECT_EQ(net.raft(2).log().LastIndex(), net.raft(1).log().LastIndex());
  EXPECT_EQ(net.raft(2).log().ZeroTermOnErr(2), 3u);
  // One rejection from 2 (the hint skips all 100 term-2 entries), none from 3.
  EXPECT_LE(net.Delivered(MessageType::kAppResp, /*reject=*/true), 2);
}

// Flow control: in replicate state at most max_inflight appends are outstanding; a full window
// pauses sending, and a heartbeat response frees a slot.
TEST(RaftTest, InflightWindowBoundsAppends) {
  TestNetwork net({1, 2}, [](Config& c) { c.max_inflight_msgs = 3; });
  net.Campaign(1);
  Raft& r = net.raft(1);
  net.Isolate(2);
  net.ReadMessages(1);
  for (int i = 0; i < 10; ++i) {
    Message p = MakeMsg(1, 1, MessageType::kProp);
    p.entries.push_back(Entry{Term(0), LogIndex(0), EntryType::kNormal, "x"});
    ASSERT_TRUE(r.Step(p).ok());
  }
  auto msgs = net.ReadMessages(1);
  EXPECT_EQ(msgs.size(), 3u);
  EXPECT_TRUE(r.tracker().progress.at(N(2)).IsPaused());
  ASSERT_TRUE(r.Step(MakeMsg(2, 1, MessageType::kHeartbeatResp, r.term())).ok());
  EXPECT_EQ(net.ReadMessages(1).size(), 1u);
}

// The leader's uncommitted tail is bounded: proposals beyond the limit are dropped.
TEST(RaftTest, UncommittedSizeLimit) {
  TestNetwork net({1, 2, 3}, [](Config& c) { c.max_uncommitted_entries_size_bytes = 100; });
  net.Campaign(1);
  net.Isolate(1);
  std::string data(40, 'x');
  EXPECT_TRUE(net.Propose(1, data).ok());
  EXPECT_TRUE(net.Propose(1, data).ok());
  EXPECT_TRUE(IsProposalDropped(net.Propose(1, data)));
}

// Snapshots (thesis §5): a follower whose next entry was compacted away is sent a snapshot.
TEST(RaftTest, FarBehindFollowerGetsSnapshot) {
  TestNetwork net({1, 2, 3});
  net.Campaign(1);
  net.Isolate(3);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(1, "x").ok());
  // Leader persists and compacts its log.
  Raft& r = net.raft(1);
  MemoryStorage& st = net.storage(1);
  auto ents = r.log().UnstableEntries();
  ASSERT_TRUE(st.Append(ents).ok());
  r.log().StableTo(ents.back().index.value(), ents.back().term.value());
  const uint64_t commit = r.log().committed();
  ConfState cs = r.tracker().GetConfState();
  ASSERT_TRUE(st.CreateSnapshot(LogIndex(commit), &cs, "state").ok());
  ASSERT_TRUE(st.Compact(LogIndex(commit)).ok());
  net.Recover();
  net.Send(MakeMsg(1, 1, MessageType::kBeat));
  EXPECT_EQ(net.Delivered(MessageType::kSnap, false), 1);
  EXPECT_EQ(net.raft(3).log().committed(), commit);
  ASSERT_TRUE(net.raft(3).log().unstable().snapshot().has_value());
  EXPECT_EQ(net.raft(3).log().unstable().snapshot()->data, "state");
  // The follower acknowledged the snapshot: it is replicating from after it.
  EXPECT_EQ(r.tracker().progress.at(N(3)).state, ProgressState::kReplicate);
  EXPECT_EQ(r.tracker().progress.at(N(3)).match, r.log().LastIndex());
}

// Learners (thesis §4.2.1) receive the log but neither vote nor campaign nor count for commit.
TEST(RaftTest, LearnerDoesNotVoteOrCampaign) {
  TestNetwork net({1, 2});
  net.Add(1, NewStorage({1}, {2}));
  net.Add(2, NewStorage({1}, {2}));
  Raft& learner = net.raft(2);
  for (int i = 0; i < 50; ++i) learner.Tick();
  EXPECT_EQ(learner.state(), StateType::kFollower);
  net.ReadMessages(2);
  net.Campaign(1);
  ASSERT_EQ(net.raft(1).state(), StateType::kLeader);
  ASSERT_TRUE(net.Propose(1, "x").ok());
  EXPECT_EQ(learner.log().LastIndex(), net.raft(1).log().LastIndex());
  EXPECT_TRUE(learner.is_learner());
  // Promotion makes it a voter.
  ConfChangeV2 cc;
  cc.changes.push_back({ConfChangeType::kAddNode, N(2)});
  ASSERT_TRUE(learner.ApplyConfChange(cc).ok());
  EXPECT_FALSE(learner.is_learner());
}

// Thesis §4.3: joint consensus needs majorities of both configurations.
TEST(RaftTest, JointConsensusCommitNeedsBothMajorities) {
  TestNetwork net({1, 2, 3});
  net.Campaign(1);
  Raft& r = net.raft(1);
  // Replace 2,3 with 4,5: (1 4 5) && (1 2 3).
  ConfChangeV2 cc;
  cc.transition = ConfChangeTransition::kJointExplicit;
  cc.changes = {{ConfChangeType::kAddNode, N(4)},
                {ConfChangeType::kAddNode, N(5)},
                {ConfChangeType::kRemoveNode, N(2)},
                {ConfChangeType::kRemoveNode, N(3)}};
  auto cs = r.ApplyConfChange(cc);
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->voters_outgoing.size(), 3u);
  net.ReadMessages(1);
  Message p = MakeMsg(1, 1, MessageType::kProp);
  p.entries.push_back(Entry{Term(0), LogIndex(0), EntryType::kNormal, "x"});
  ASSERT_TRUE(r.Step(p).ok());
  const uint64_t idx = r.log().LastIndex();
  auto ack = [&](uint64_t from) {
    Message m = MakeMsg(from, 1, MessageType::kAppResp, r.term());
    m.index = LogIndex(idx);
    ASSERT_TRUE(r.Step(m).ok());
  };
  ack(2);
  ack(3);  // majority of the old config only
  EXPECT_LT(r.log().committed(), idx);
  ack(4);  // now a majority of (1 4 5) as well
  EXPECT_EQ(r.log().committed(), idx);
  // Leaving requires an explicit empty change here.
  auto left = r.ApplyConfChange(ConfChangeV2{});
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->voters_outgoing.empty());
  EXPECT_EQ(left->voters, (std::vector<NodeId>{N(1), N(4), N(5)}));
}

// Thesis §4.1: only one membership change may be pending; a second is replaced by an empty
// entry. Leaving joint when not joint is likewise refused.
TEST(RaftTest, SecondPendingConfChangeIsRefused) {
  TestNetwork net({1, 2, 3});
  net.Campaign(1);
  Raft& r = net.raft(1);
  auto prop_cc = [&](const ConfChangeV2& cc) {
    Message p = MakeMsg(1, 1, MessageType::kProp);
    p.entries.push_back(
        Entry{Term(0), LogIndex(0), EntryType::kConfChangeV2, EncodeConfChangeV2(cc)});
    ASSERT_TRUE(r.Step(p).ok());
  };
  ConfChangeV2 add4;
  add4.changes.push_back({ConfChangeType::kAddNode, N(4)});
  prop_cc(add4);
  prop_cc(add4);
  auto ents = r.log().Slice(r.log().LastIndex() - 1, r.log().LastIndex() + 1, kNoLimit);
  ASSERT_TRUE(ents.ok());
  EXPECT_EQ((*ents)[0].type, EntryType::kConfChangeV2);
  EXPECT_EQ((*ents)[1].type, EntryType::kNormal);
  EXPECT_TRUE((*ents)[1].data.empty());
}

// Auto-leave: the leader proposes the leave entry itself once the joint config is applied.
TEST(NodeTest, JointConsensusAutoLeave) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  ConfChangeV2 cc;
  cc.transition = ConfChangeTransition::kJointImplicit;
  cc.changes = {{ConfChangeType::kAddLearnerNode, N(3)}};
  ASSERT_TRUE(c.node(1).ProposeConfChange(cc).ok());
  c.Settle();
  c.TickAll(3);
  ConfState cs = c.node(1).tracker().GetConfState();
  EXPECT_TRUE(cs.voters_outgoing.empty());
  EXPECT_EQ(cs.voters, (std::vector<NodeId>{N(1), N(2)}));
  EXPECT_EQ(cs.learners, (std::vector<NodeId>{N(3)}));
  ASSERT_TRUE(c.node(1).Propose("after").ok());
  c.Settle();
  c.TickAll(2);
  EXPECT_EQ(c.applied(3), (std::vector<std::string>{"after"}));
}

// Removing the leader: once a remaining voter has its log it hands over with TimeoutNow and
// steps down (our deviation from etcd, which keeps leading until the application stops it).
TEST(NodeTest, RemovedLeaderStepsDown) {
  NodeCluster c({1, 2, 3});
  ASSERT_TRUE(c.node(1).Campaign().ok());
  c.Settle();
  ConfChangeV2 cc;
  cc.changes = {{ConfChangeType::kRemoveNode, N(1)}};
  ASSERT_TRUE(c.node(1).ProposeConfChange(cc).ok());
  c.Settle();
  EXPECT_NE(c.node(1).GetBasicStatus().soft_state.role, StateType::kLeader);
  c.TickAll(60);
  int leaders = 0;
  for (uint64_t id : {2, 3}) {
    leaders += c.node(id).GetBasicStatus().soft_state.role == StateType::kLeader;
  }
  EXPECT_EQ(leaders, 1);
}

// Thesis §4.2.2 (our deviation 4): a server that is not in its own latest configuration but
// holds the longest log may campaign; otherwise the remaining voter, which still counts it in
// its configuration, could never be elected. It wins with the other's vote, replicates, and
// hands leadership over with TimeoutNow.
TEST(RaftTest, NonMemberWithLongestLogUnblocksElection) {
  TestNetwork net({1, 2});
  auto s1 = NewStorage({2});  // node 1 already applied its own removal
  AppendTerms(s1.get(), {1, 1, 1});
  s1->SetHardState(HardState{Term(1), kNoNode, LogIndex(1)});
  net.Add(1, std::move(s1));
  auto s2 = NewStorage({1, 2});  // node 2 does not know the removal committed
  AppendTerms(s2.get(), {1});
  s2->SetHardState(HardState{Term(1), kNoNode, LogIndex(1)});
  net.Add(2, std::move(s2));
  net.Campaign(2);
  EXPECT_NE(net.raft(2).state(), StateType::kLeader) << "node 1 must refuse: its log is longer";
  net.Campaign(1);
  // Node 1 won, caught node 2 up, and handed leadership over.
  EXPECT_EQ(net.raft(2).state(), StateType::kLeader);
  EXPECT_EQ(net.raft(1).state(), StateType::kFollower);
  EXPECT_GE(net.raft(2).log().LastIndex(), 3u);
}

// A brand-new node with an empty configuration never campaigns (it would "win" alone).
TEST(RaftTest, EmptyConfigurationNeverCampaigns) {
  TestNetwork net({1});
  net.Add(1, std::make_unique<MemoryStorage>());
  for (int i = 0; i < 100; ++i) net.raft(1).Tick();
  EXPECT_EQ(net.raft(1).state(), StateType::kFollower);
  EXPECT_EQ(net.raft(1).term(), 0u);
}

// Deviation 5: a crash between persisting a received snapshot and its hard state leaves a
// commit index below the snapshot; restart accepts it (the snapshot index is committed).
TEST(NodeTest, RestartWithCommitBelowSnapshot) {
  auto storage = std::make_unique<MemoryStorage>();
  Snapshot snap;
  snap.metadata.index = LogIndex(10);
  snap.metadata.term = Term(2);
  snap.metadata.conf_state.voters = {N(1), N(2), N(3)};
  ASSERT_TRUE(storage->ApplySnapshot(snap).ok());
  storage->SetHardState(HardState{Term(1), kNoNode, LogIndex(3)});
  Config c = NewConfig(1, 10, 1, storage.get());
  c.applied = LogIndex(10);
  auto node = Node::Create(c);
  ASSERT_TRUE(node.ok());
  EXPECT_EQ((*node)->GetBasicStatus().hard_state.commit, LogIndex(10));
}

}  // namespace
}  // namespace etcdpp::raft
