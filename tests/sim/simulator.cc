#include "simulator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "checker.h"
#include "raft/confchange.h"
#include "raft/node.h"

namespace etcdpp::sim {
namespace {

using raft::ConfChangeSingle;
using raft::ConfChangeTransition;
using raft::ConfChangeType;
using raft::ConfChangeV2;
using raft::ConfState;
using raft::Entry;
using raft::EntryType;
using raft::Message;
using raft::MessageType;
using raft::NodeId;
using raft::Ready;
using raft::StateType;

// Deterministic PRNG (splitmix64). std:: distributions are not portable across libraries, so
// every random choice goes through these helpers.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t Uniform(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo + 1); }  // [lo,hi]
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }
  double Real(double lo, double hi) {
    return lo + (hi - lo) * (static_cast<double>(Next() >> 11) * 0x1.0p-53);
  }

 private:
  uint64_t s_;
};

constexpr uint64_t kTickBaseMs = 10;
// Members never exceed this many (voters + learners); bounds the cost of a seed.
constexpr size_t kMaxMembers = 7;

enum class EventType : uint8_t { kTick, kDeliver, kPersistDone, kChaos, kClient, kResume };

struct Event {
  EventType type;
  uint64_t node = 0;
  uint64_t incarnation = 0;  // ticks/persists of a crashed incarnation are ignored
  Message msg;
};

struct AppState {
  uint64_t applied = 0;
  uint64_t hash = 0;
  ConfState conf;
};

struct SimNode {
  uint64_t id = 0;
  raft::MemoryStorage disk;          // survives crashes
  std::unique_ptr<raft::Node> node;  // null while down
  uint64_t incarnation = 0;
  bool paused = false;
  bool removed = false;  // applied its own removal (it keeps running, see Apply)
  uint64_t tick_ms = kTickBaseMs;
  std::optional<Ready> inflight;  // the Ready being persisted
  AppState app;
  uint64_t last_snapshot_index = 0;
  uint64_t snapshot_every = 20;
  std::vector<Event> backlog;  // events that arrived while paused
  // Client requests issued on this node, resolved when applied / read state arrives.
  std::map<std::string, uint64_t> pending_reads;  // ctx -> required index
  std::set<std::string> pending_props;
};

std::string EncodeSnapshotData(const AppState& s) {
  return std::to_string(s.applied) + ":" + std::to_string(s.hash);
}

AppState DecodeSnapshotData(const raft::Snapshot& snap) {
  AppState s;
  const std::string& d = snap.data;
  auto colon = d.find(':');
  s.applied = std::stoull(d.substr(0, colon));
  s.hash = std::stoull(d.substr(colon + 1));
  s.conf = snap.metadata.conf_state;
  return s;
}

class Sim {
 public:
  explicit Sim(const SimOptions& o) : o_(o), rng_(o.seed) {}
  SimResult Run();

 private:
  void Schedule(uint64_t at, Event e) { events_.emplace(std::make_pair(at, seq_++), std::move(e)); }
  void Log(const std::string& s) {
    if (o_.verbose) std::printf("[%6llu] %s\n", static_cast<unsigned long long>(now_), s.c_str());
  }

  void Bootstrap();
  void StartNode(SimNode& n);
  void Crash(SimNode& n, const char* why);
  void AfterEvent(SimNode& n);
  void OnPersistDone(SimNode& n);
  void Apply(SimNode& n, const Entry& e);
  void MaybeSnapshot(SimNode& n);
  void Send(SimNode& from, Message m);
  void Deliver(Event& e);
  void Chaos();
  void Client();
  void Heal();
  bool Blocked(uint64_t from, uint64_t to) const { return cut_.count({from, to}) > 0; }
  SimNode* Leader();
  std::vector<uint64_t> UpNodes() const;
  bool LivenessDone();

  SimOptions o_;
  Rng rng_;
  Checker checker_;
  SimResult res_;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, Event> events_;
  std::map<uint64_t, SimNode> nodes_;
  uint64_t next_id_ = 1;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  // Fault profile of this seed.
  double loss_ = 0, dup_ = 0;
  int election_ticks_ = 10, heartbeat_ticks_ = 1;
  bool pre_vote_ = true, check_quorum_ = true;
  // Leaders send appends and heartbeats before persisting the Ready and count themselves only
  // once it is stable (raft::Config::leader_counts_self_when_stable), as the server does.
  bool early_send_ = true;
  uint64_t max_delay_ms_ = 5;
  double p_crash_ = 0, p_pause_ = 0, p_partition_ = 0, p_disk_fail_ = 0, p_conf_ = 0,
         p_transfer_ = 0, p_leader_fault_ = 0;
  bool faults_on_ = true;
  uint64_t client_seq_ = 0;
  // Liveness phase.
  bool healed_ = false;
  uint64_t heal_time_ = 0;
  std::string final_prop_;
  uint64_t final_index_ = 0;
  uint64_t final_proposed_at_ = 0;
  uint64_t last_liveness_check_ = 0;
};

void Sim::Bootstrap() {
  int n = o_.nodes;
  if (n == 0) {
    static const int kSizes[] = {1, 3, 3, 3, 4, 5, 5};
    n = kSizes[rng_.Uniform(0, 6)];
  }
  loss_ = rng_.Chance(0.3) ? 0 : rng_.Real(0, 0.2);
  dup_ = rng_.Chance(0.5) ? 0 : rng_.Real(0, 0.05);
  max_delay_ms_ = rng_.Uniform(1, 30);
  p_crash_ = rng_.Real(0, 0.15);
  p_pause_ = rng_.Real(0, 0.1);
  p_partition_ = rng_.Real(0, 0.2);
  p_disk_fail_ = rng_.Chance(0.5) ? 0 : rng_.Real(0, 0.02);
  p_conf_ = rng_.Real(0, 0.15);
  p_transfer_ = rng_.Real(0, 0.1);
  p_leader_fault_ = rng_.Chance(0.5) ? 0 : rng_.Real(0, 0.3);
  // Timer and protocol options are per cluster (members must agree on them). Most seeds use
  // the defaults; some turn pre-vote or check-quorum off, as etcd's raft allows.
  election_ticks_ = static_cast<int>(rng_.Uniform(5, 20));
  heartbeat_ticks_ = static_cast<int>(rng_.Uniform(1, std::min<uint64_t>(3, election_ticks_ - 1)));
  pre_vote_ = !rng_.Chance(0.2);
  check_quorum_ = !rng_.Chance(0.2);
  early_send_ = !rng_.Chance(0.25);
  {
    std::ostringstream os;
    os << "seed " << o_.seed << ": " << n << " nodes, loss " << loss_ << ", dup " << dup_
       << ", delay<=" << max_delay_ms_ << "ms, crash " << p_crash_ << ", pause " << p_pause_
       << ", partition " << p_partition_ << ", diskfail " << p_disk_fail_ << ", conf " << p_conf_
       << ", transfer " << p_transfer_ << ", election/heartbeat ticks " << election_ticks_ << "/"
       << heartbeat_ticks_ << (pre_vote_ ? "" : ", no pre-vote")
       << (check_quorum_ ? "" : ", no check-quorum")
       << (early_send_ ? "" : ", leader persists before sending");
    Log(os.str());
  }
  // Every initial member starts from the same bootstrap snapshot at index 1 holding the
  // configuration, so that members added later learn the full history through a snapshot.
  raft::Snapshot boot;
  boot.metadata.index = LogIndex(1);
  boot.metadata.term = Term(1);
  for (int i = 0; i < n; ++i) boot.metadata.conf_state.voters.push_back(NodeId(i + 1));
  AppState boot_state;
  boot_state.applied = 1;
  boot_state.conf = boot.metadata.conf_state;
  boot.data = EncodeSnapshotData(boot_state);
  for (int i = 0; i < n; ++i) {
    SimNode& sn = nodes_[next_id_];
    sn.id = next_id_++;
    CHECK(sn.disk.ApplySnapshot(boot).ok());
    StartNode(sn);
  }
  checker_.OnSnapshotRestore(0, 1, boot_state.hash, 0);
}

void Sim::StartNode(SimNode& n) {
  auto snap = n.disk.GetSnapshot();
  CHECK(snap.ok());
  raft::Config c;
  c.id = NodeId(n.id);
  c.election_tick = election_ticks_;
  c.heartbeat_tick = heartbeat_ticks_;
  c.pre_vote = pre_vote_;
  c.check_quorum = check_quorum_;
  c.leader_counts_self_when_stable = early_send_;
  c.storage = &n.disk;
  c.random_seed = o_.seed * 1000003 + n.id * 7919 + n.incarnation;
  // Small messages (one or two entries each) mean more pipelining and partial replication.
  c.max_size_per_msg_bytes = rng_.Chance(0.5) ? rng_.Uniform(1, 64) : 1 << 20;
  c.max_inflight_msgs = rng_.Uniform(1, 16);
  c.max_inflight_bytes = rng_.Chance(0.5) ? 0 : rng_.Uniform(64, 4096);
  c.max_committed_size_per_ready_bytes = rng_.Chance(0.5) ? 64 : 1 << 20;
  if (!snap->empty()) {
    n.app = DecodeSnapshotData(*snap);
    c.applied = snap->metadata.index;
    n.last_snapshot_index = snap->metadata.index.value();
  } else {
    n.app = AppState{};
  }
  n.snapshot_every = rng_.Uniform(5, 60);
  n.tick_ms = kTickBaseMs + rng_.Uniform(0, 2) - 1;  // 9..11 ms: drifting clocks
  auto node = raft::Node::Create(c);
  CHECK(node.ok()) << node.status().ToString();
  n.node = std::move(node).value();
  ++n.incarnation;
  n.paused = false;
  n.inflight.reset();
  n.backlog.clear();
  n.pending_reads.clear();
  n.pending_props.clear();
  Event t{EventType::kTick, n.id, n.incarnation, {}};
  Schedule(now_ + rng_.Uniform(1, n.tick_ms), std::move(t));
  Log("start node " + std::to_string(n.id) + " applied=" + std::to_string(n.app.applied));
}

void Sim::Crash(SimNode& n, const char* why) {
  if (!n.node) return;
  Log(std::string("crash node ") + std::to_string(n.id) + " (" + why + ")");
  n.node.reset();
  n.inflight.reset();
  // Messages queued while the node was paused die with it. A real transport reports a failed
  // snapshot stream to the sender; do the same, or the sender waits in snapshot state forever.
  for (Event& e : n.backlog) {
    if (e.type != EventType::kDeliver || e.msg.type != MessageType::kSnap) continue;
    auto s = nodes_.find(e.msg.from.value());
    if (s != nodes_.end() && s->second.node) {
      s->second.node->ReportSnapshot(e.msg.to, raft::SnapshotStatus::kFailure);
      AfterEvent(s->second);
    }
  }
  n.backlog.clear();
  n.pending_reads.clear();
  n.pending_props.clear();
  n.paused = false;
  ++n.incarnation;
  ++res_.crashes;
}

std::vector<uint64_t> Sim::UpNodes() const {
  std::vector<uint64_t> out;
  for (const auto& [id, n] : nodes_) {
    if (n.node && !n.paused) out.push_back(id);
  }
  return out;
}

SimNode* Sim::Leader() {
  SimNode* best = nullptr;
  uint64_t best_term = 0;
  for (auto& [id, n] : nodes_) {
    if (!n.node || n.paused) continue;
    auto st = n.node->GetBasicStatus();
    if (st.soft_state.role == StateType::kLeader && st.hard_state.term.value() >= best_term) {
      best = &n;
      best_term = st.hard_state.term.value();
    }
  }
  return best;
}

// After anything happened on a node: check leadership and start persisting the next Ready.
void Sim::AfterEvent(SimNode& n) {
  if (!n.node) return;
  auto st = n.node->GetBasicStatus();
  // Leadership counts once the term it was won in is durable: a single voter elects itself in
  // memory, and a crash before that Ready is written erases the election (nothing was sent or
  // applied), after which another node may legitimately win the same term.
  if (st.soft_state.role == StateType::kLeader && n.disk.hard_state().term == st.hard_state.term) {
    checker_.OnLeader(n.id, st.hard_state.term.value(), now_);
  }
  if (n.inflight || !n.node->HasReady()) return;
  n.inflight = n.node->GetReady();
  if (o_.verbose && n.inflight->soft_state) {
    Log("node " + std::to_string(n.id) + " is " +
        raft::StateTypeName(n.inflight->soft_state->role) + " term " +
        std::to_string(st.hard_state.term.value()) + " leader " +
        std::to_string(n.inflight->soft_state->leader.value()));
  }
  // What needs nothing from this Ready to be durable goes out now, while the disk writes (as
  // the server does): forwarded proposals, and with early_send_ a leader's appends and
  // heartbeats.
  for (Message& m : raft::TakeMessagesBeforePersist(&*n.inflight)) Send(n, std::move(m));
  // Disk latency; zero is common (a batch that is already written).
  uint64_t lat = rng_.Chance(0.5) ? 0 : rng_.Uniform(1, 5);
  Event e{EventType::kPersistDone, n.id, n.incarnation, {}};
  Schedule(now_ + lat, std::move(e));
}

void Sim::OnPersistDone(SimNode& n) {
  Ready rd = std::move(*n.inflight);
  n.inflight.reset();
  // 1. Persist: snapshot, entries, hard state, in the WAL's order.
  const bool fail = faults_on_ && rng_.Chance(p_disk_fail_);
  if (!rd.snapshot.empty()) {
    if (fail && rng_.Chance(0.5)) {
      ++res_.disk_failures;
      Crash(n, "disk write failure before snapshot");
      return;
    }
    Status s = n.disk.ApplySnapshot(rd.snapshot);
    CHECK(s.ok()) << s.ToString();
  }
  if (fail) {
    // A torn write: a prefix of the entries reaches the disk, the hard state does not.
    size_t keep = rd.entries.empty() ? 0 : rng_.Uniform(0, rd.entries.size() - 1);
    std::vector<Entry> prefix(rd.entries.begin(), rd.entries.begin() + keep);
    CHECK(n.disk.Append(prefix).ok());
    ++res_.disk_failures;
    Crash(n, "disk write failure");
    return;
  }
  CHECK(n.disk.Append(rd.entries).ok());
  if (!rd.hard_state.empty()) n.disk.SetHardState(rd.hard_state);
  // 2. Send (what was not sent before the persist).
  for (Message& m : rd.messages) Send(n, std::move(m));
  // 3. Apply.
  if (!rd.snapshot.empty()) {
    AppState s = DecodeSnapshotData(rd.snapshot);
    if (s.applied > n.app.applied) {
      n.app = s;
      n.last_snapshot_index = s.applied;
      checker_.OnSnapshotRestore(n.id, s.applied, s.hash, now_);
      Log("node " + std::to_string(n.id) + " installed snapshot at " + std::to_string(s.applied));
    }
  }
  for (const Entry& e : rd.committed_entries) {
    Apply(n, e);
    if (!n.node) return;  // removed itself
  }
  // 4. Reads: the read index is known; the read is served once applied reaches it, which for
  // the checker is equivalent to checking the index now.
  for (const raft::ReadState& rs : rd.read_states) {
    auto it = n.pending_reads.find(rs.request_ctx);
    if (it == n.pending_reads.end()) continue;
    checker_.OnRead(n.id, rs.request_ctx, it->second, rs.index.value(), now_);
    n.pending_reads.erase(it);
  }
  n.node->Advance();
  MaybeSnapshot(n);
}

void Sim::Apply(SimNode& n, const Entry& e) {
  if (e.index.value() <= n.app.applied) return;  // replay below a restored snapshot
  CHECK_EQ(e.index.value(), n.app.applied + 1) << "node " << n.id << " apply gap";
  n.app.hash = ChainHash(n.app.hash, e);
  n.app.applied = e.index.value();
  checker_.OnApply(n.id, e, n.app.hash, now_);
  ++res_.commits;
  if (e.type == EntryType::kConfChangeV2) {
    auto cc = raft::DecodeConfChangeV2(e.data);
    CHECK(cc.ok()) << cc.status().ToString();
    auto member = [&n](const ConfState& c) {
      for (const auto* v : {&c.voters, &c.learners, &c.voters_outgoing}) {
        for (NodeId id : *v) {
          if (id.value() == n.id) return true;
        }
      }
      return false;
    };
    const bool was_member = member(n.app.conf);
    auto cs = n.node->ApplyConfChange(*cc);
    if (cs.ok()) {
      n.app.conf = *cs;
      // A member that applied its own removal is told so; it keeps running as a non-member
      // (it cannot campaign) because the others may still need its vote until they learn the
      // removal is committed: stopping at once deadlocks a 2 -> 1 voter change. The server
      // must likewise stop a removed member only after a grace period.
      if (was_member && !member(*cs)) {
        Log("node " + std::to_string(n.id) + " removed from the configuration");
        n.removed = true;
      }
    }
  } else if (n.pending_props.erase(e.data)) {
    checker_.OnAck(e.data, e.index.value(), now_);
    ++res_.acks;
  }
  if (e.data == final_prop_ && !final_prop_.empty()) final_index_ = e.index.value();
}

void Sim::MaybeSnapshot(SimNode& n) {
  if (n.app.applied < n.last_snapshot_index + n.snapshot_every) return;
  ConfState cs = n.app.conf;
  auto snap = n.disk.CreateSnapshot(LogIndex(n.app.applied), &cs, EncodeSnapshotData(n.app));
  if (!snap.ok()) return;
  n.last_snapshot_index = n.app.applied;
  // Keep a short tail so slightly lagging followers still get entries, not snapshots.
  const uint64_t keep = rng_.Uniform(0, 10);
  if (n.app.applied > keep + 1) {
    (void)n.disk.Compact(LogIndex(n.app.applied - keep));
  }
}

void Sim::Send(SimNode& from, Message m) {
  if (faults_on_ && rng_.Chance(loss_)) {
    ++res_.msgs_dropped;
    if (m.type == MessageType::kSnap && from.node) {
      from.node->ReportSnapshot(m.to, raft::SnapshotStatus::kFailure);
    }
    return;
  }
  const int copies = (faults_on_ && rng_.Chance(dup_)) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    Event e{EventType::kDeliver, m.to.value(), 0, m};
    Schedule(now_ + rng_.Uniform(1, max_delay_ms_), std::move(e));
  }
  if (m.type == MessageType::kSnap) ++res_.snapshots_sent;
}

void Sim::Deliver(Event& e) {
  Message& m = e.msg;
  const uint64_t from = m.from.value(), to = m.to.value();
  auto sender = nodes_.find(from);
  const bool blocked = Blocked(from, to);
  auto it = nodes_.find(to);
  const bool target_down = it == nodes_.end() || !it->second.node;
  if (blocked || target_down) {
    ++res_.msgs_dropped;
    if (sender != nodes_.end() && sender->second.node) {
      if (m.type == MessageType::kSnap) {
        sender->second.node->ReportSnapshot(m.to, raft::SnapshotStatus::kFailure);
      } else if (m.type == MessageType::kApp) {
        sender->second.node->ReportUnreachable(m.to);
      }
      AfterEvent(sender->second);
    }
    return;
  }
  SimNode& n = it->second;
  const bool snap = m.type == MessageType::kSnap;
  (void)n.node->Step(std::move(m));
  AfterEvent(n);
  if (snap && sender != nodes_.end() && sender->second.node) {
    sender->second.node->ReportSnapshot(NodeId(to), raft::SnapshotStatus::kFinish);
    AfterEvent(sender->second);
  }
}

void Sim::Client() {
  auto up = UpNodes();
  if (!up.empty()) {
    SimNode& n = nodes_.at(up[rng_.Uniform(0, up.size() - 1)]);
    const uint64_t r = rng_.Uniform(0, 9);
    if (r < 6) {
      std::string data = "p" + std::to_string(++client_seq_);
      if (n.node->Propose(data).ok()) n.pending_props.insert(data);
    } else if (r < 7) {
      std::vector<std::string> batch;
      for (uint64_t i = rng_.Uniform(2, 8); i > 0; --i) {
        batch.push_back("p" + std::to_string(++client_seq_));
      }
      if (n.node->ProposeBatch(batch).ok()) {
        for (auto& d : batch) n.pending_props.insert(d);
      }
    } else {
      std::string ctx = "r" + std::to_string(++client_seq_);
      if (n.node->ReadIndex(ctx).ok()) n.pending_reads[ctx] = checker_.MaxAckedIndex();
    }
    AfterEvent(n);
  }
  const uint64_t gap = healed_ ? 50 : rng_.Uniform(1, 20);
  Schedule(now_ + gap, Event{EventType::kClient, 0, 0, {}});
}

void Sim::Chaos() {
  if (!faults_on_) return;
  Schedule(now_ + rng_.Uniform(20, 150), Event{EventType::kChaos, 0, 0, {}});
  std::vector<uint64_t> ids;
  for (auto& [id, n] : nodes_) ids.push_back(id);
  auto pick = [&]() -> SimNode& { return nodes_.at(ids[rng_.Uniform(0, ids.size() - 1)]); };
  // Restart crashed nodes and resume paused ones, with some delay.
  for (uint64_t id : ids) {
    SimNode& n = nodes_.at(id);
    if (!n.node && rng_.Chance(0.3)) StartNode(n);
  }
  if (rng_.Chance(p_crash_)) {
    SimNode& n = pick();
    if (n.node) Crash(n, "chaos");
  }
  // Leader churn: the dangerous histories (paper figure 8) need leaders to lose office right
  // after replicating part of their log, so target the leader on purpose.
  if (rng_.Chance(p_leader_fault_)) {
    if (SimNode* l = Leader()) {
      if (rng_.Chance(0.5)) {
        Crash(*l, "leader churn");
      } else {
        cut_.clear();
        for (uint64_t o : ids) {
          if (o == l->id) continue;
          cut_.insert({o, l->id});
          cut_.insert({l->id, o});
        }
        ++res_.partitions;
        Log("partition isolates leader " + std::to_string(l->id));
      }
    }
  }
  if (rng_.Chance(p_pause_)) {
    SimNode& n = pick();
    if (n.node && !n.paused) {
      n.paused = true;
      ++res_.pauses;
      Log("pause node " + std::to_string(n.id));
      Schedule(now_ + rng_.Uniform(50, 1500), Event{EventType::kResume, n.id, n.incarnation, {}});
    }
  }
  if (rng_.Chance(p_partition_)) {
    ++res_.partitions;
    cut_.clear();
    const uint64_t kind = rng_.Uniform(0, 2);
    if (kind == 0) {
      // Symmetric split into two random groups.
      std::set<uint64_t> side;
      for (uint64_t id : ids) {
        if (rng_.Chance(0.5)) side.insert(id);
      }
      for (uint64_t a : ids) {
        for (uint64_t b : ids) {
          if (side.count(a) != side.count(b)) cut_.insert({a, b});
        }
      }
      Log("partition (symmetric)");
    } else if (kind == 1) {
      // Asymmetric: one node can send but not receive (or the reverse).
      const uint64_t victim = pick().id;
      const bool inbound = rng_.Chance(0.5);
      for (uint64_t o : ids) {
        if (o == victim) continue;
        if (inbound) {
          cut_.insert({o, victim});
        } else {
          cut_.insert({victim, o});
        }
      }
      Log("partition (asymmetric) around " + std::to_string(victim));
    } else {
      Log("partition healed");
    }
  }
  if (rng_.Chance(p_transfer_)) {
    if (SimNode* l = Leader()) {
      SimNode& t = pick();
      if (t.id != l->id) {
        (void)l->node->TransferLeader(NodeId(t.id));
        ++res_.transfers;
        Log("transfer leader " + std::to_string(l->id) + " -> " + std::to_string(t.id));
        AfterEvent(*l);
      }
    }
  }
  if (rng_.Chance(p_conf_)) {
    SimNode* l = Leader();
    if (l != nullptr) {
      const ConfState& cs = l->app.conf;
      ConfChangeV2 cc;
      const size_t members = cs.voters.size() + cs.learners.size();
      const uint64_t kind = rng_.Uniform(0, 5);
      if (!cs.voters_outgoing.empty()) {
        cc = ConfChangeV2{};  // explicit leave
      } else if (kind == 0 && members < kMaxMembers) {
        cc.changes.push_back({ConfChangeType::kAddLearnerNode, NodeId(next_id_)});
      } else if (kind == 1 && !cs.learners.empty()) {
        cc.changes.push_back(
            {ConfChangeType::kAddNode, cs.learners[rng_.Uniform(0, cs.learners.size() - 1)]});
      } else if (kind == 2 && members < kMaxMembers) {
        cc.changes.push_back({ConfChangeType::kAddNode, NodeId(next_id_)});
      } else if (kind == 3 && cs.voters.size() > 1) {
        cc.changes.push_back(
            {ConfChangeType::kRemoveNode, cs.voters[rng_.Uniform(0, cs.voters.size() - 1)]});
      } else if (kind >= 4 && cs.voters.size() >= 1 && members < kMaxMembers) {
        // Replace a voter through joint consensus, left automatically or explicitly.
        cc.transition =
            kind == 4 ? ConfChangeTransition::kJointImplicit : ConfChangeTransition::kJointExplicit;
        cc.changes.push_back({ConfChangeType::kAddNode, NodeId(next_id_)});
        cc.changes.push_back(
            {ConfChangeType::kRemoveNode, cs.voters[rng_.Uniform(0, cs.voters.size() - 1)]});
      } else {
        return;
      }
      // A brand-new member starts empty and waits to be caught up by snapshot.
      for (const ConfChangeSingle& c : cc.changes) {
        if (c.node_id.value() == next_id_ && c.type != ConfChangeType::kRemoveNode) {
          SimNode& sn = nodes_[next_id_];
          sn.id = next_id_++;
          StartNode(sn);
          break;
        }
      }
      if (l->node->ProposeConfChange(cc).ok()) ++res_.conf_changes;
      Log("conf change proposed on " + std::to_string(l->id));
      AfterEvent(*l);
    }
  }
}

void Sim::Heal() {
  Log("heal: faults off, restart everything");
  faults_on_ = false;
  healed_ = true;
  heal_time_ = now_;
  cut_.clear();
  for (auto& [id, n] : nodes_) {
    if (!n.node) StartNode(n);
    if (n.paused) {
      n.paused = false;
      for (Event& e : n.backlog) Schedule(now_ + 1, std::move(e));
      n.backlog.clear();
    }
  }
}

// Liveness: a leader exists, and a proposal made after healing is applied on every member of
// the leader's configuration.
bool Sim::LivenessDone() {
  SimNode* l = Leader();
  if (l == nullptr) return false;
  if (final_prop_.empty() || (final_index_ == 0 && now_ > final_proposed_at_ + 500)) {
    final_prop_ = "final" + std::to_string(++client_seq_);
    final_proposed_at_ = now_;
    final_index_ = 0;
    (void)l->node->Propose(final_prop_);
    AfterEvent(*l);
    return false;
  }
  if (final_index_ == 0) return false;
  const ConfState& cs = l->app.conf;
  for (const auto* v : {&cs.voters, &cs.learners, &cs.voters_outgoing}) {
    for (NodeId id : *v) {
      auto it = nodes_.find(id.value());
      if (it == nodes_.end() || !it->second.node) return false;
      if (it->second.app.applied < final_index_) return false;
    }
  }
  return true;
}

SimResult Sim::Run() {
  Bootstrap();
  Schedule(rng_.Uniform(1, 50), Event{EventType::kClient, 0, 0, {}});
  Schedule(rng_.Uniform(100, 300), Event{EventType::kChaos, 0, 0, {}});
  const uint64_t heal_at = o_.fault_ms;
  const uint64_t deadline = o_.fault_ms + o_.liveness_ms;
  while (!events_.empty() && !checker_.failed()) {
    auto nh = events_.extract(events_.begin());
    now_ = nh.key().first;
    Event e = std::move(nh.mapped());
    ++res_.events;
    if (!healed_ && now_ >= heal_at) Heal();
    if (healed_ && now_ >= last_liveness_check_ + 10) {
      last_liveness_check_ = now_;
      if (LivenessDone()) {
        res_.liveness_ms = now_ - heal_time_;
        break;
      }
    }
    if (now_ > deadline) {
      std::ostringstream os;
      os << "liveness: no leader committed a new proposal on every member within " << o_.liveness_ms
         << "ms of healing";
      if (SimNode* l = Leader()) {
        os << " (leader " << l->id << ", final index " << final_index_ << ", members:";
        const ConfState& cs = l->app.conf;
        for (const auto* v : {&cs.voters, &cs.learners, &cs.voters_outgoing}) {
          for (NodeId id : *v) {
            auto it = nodes_.find(id.value());
            os << " " << id << (it == nodes_.end() || !it->second.node ? "(down)" : "") << "@"
               << (it == nodes_.end() ? 0 : it->second.app.applied);
          }
        }
        os << ")";
      } else {
        os << " (no leader)";
      }
      for (auto& [id, n] : nodes_) {
        if (!n.node) continue;
        auto st = n.node->GetBasicStatus();
        const auto& log = n.node->raft_for_testing().log();
        os << "\n    node " << id << ": " << raft::StateTypeName(st.soft_state.role) << " term "
           << st.hard_state.term << " vote " << st.hard_state.vote << " lead "
           << st.soft_state.leader << " commit " << st.hard_state.commit << " applied "
           << st.applied << " last " << log.LastIndex() << "/" << log.LastTerm() << " config "
           << n.node->tracker().config.ToString();
        if (st.soft_state.role == StateType::kLeader) {
          for (const auto& [pid, pr] : n.node->tracker().progress) {
            os << "\n      progress " << pid << ": " << pr.ToString();
          }
        }
      }
      res_.ok = false;
      res_.failure = os.str();
      break;
    }
    switch (e.type) {
      case EventType::kTick: {
        auto it = nodes_.find(e.node);
        if (it == nodes_.end() || it->second.incarnation != e.incarnation || !it->second.node) {
          break;
        }
        SimNode& n = it->second;
        if (!n.paused) {
          n.node->Tick();
          AfterEvent(n);
        }
        Schedule(now_ + n.tick_ms, std::move(e));
        break;
      }
      case EventType::kDeliver: {
        auto it = nodes_.find(e.node);
        if (it != nodes_.end() && it->second.paused) {
          it->second.backlog.push_back(std::move(e));
          break;
        }
        Deliver(e);
        break;
      }
      case EventType::kPersistDone: {
        auto it = nodes_.find(e.node);
        if (it == nodes_.end() || it->second.incarnation != e.incarnation || !it->second.node) {
          break;
        }
        if (it->second.paused) {
          it->second.backlog.push_back(std::move(e));
          break;
        }
        OnPersistDone(it->second);
        AfterEvent(it->second);
        break;
      }
      case EventType::kResume: {
        auto it = nodes_.find(e.node);
        if (it == nodes_.end() || it->second.incarnation != e.incarnation || !it->second.paused) {
          break;
        }
        SimNode& n = it->second;
        n.paused = false;
        Log("resume node " + std::to_string(n.id));
        for (Event& b : n.backlog) Schedule(now_ + 1, std::move(b));
        n.backlog.clear();
        break;
      }
      case EventType::kChaos:
        Chaos();
        break;
      case EventType::kClient:
        Client();
        break;
    }
  }
  if (checker_.failed()) {
    res_.ok = false;
    res_.failure = checker_.failure();
  } else if (res_.ok) {
    checker_.CheckAcksSurvive();
    if (checker_.failed()) {
      res_.ok = false;
      res_.failure = checker_.failure();
    }
  }
  res_.reads = checker_.reads();
  res_.max_term = checker_.max_term();
  return res_;
}

}  // namespace

SimResult RunSimulation(const SimOptions& opts) {
  Sim s(opts);
  return s.Run();
}

}  // namespace etcdpp::sim
