#include "raft/test_util.h"

#include <deque>

#include "base/check.h"

namespace etcdpp::raft::testing {

std::unique_ptr<MemoryStorage> NewStorage(const std::vector<uint64_t>& voters,
                                          const std::vector<uint64_t>& learners) {
  auto s = std::make_unique<MemoryStorage>();
  ConfState cs;
  for (uint64_t v : voters) cs.voters.push_back(NodeId(v));
  for (uint64_t l : learners) cs.learners.push_back(NodeId(l));
  s->SetInitialConfState(cs);
  return s;
}

Config NewConfig(uint64_t id, int election, int heartbeat, Storage* s) {
  Config c;
  c.id = NodeId(id);
  c.election_tick = election;
  c.heartbeat_tick = heartbeat;
  c.storage = s;
  c.check_quorum = false;
  c.pre_vote = false;
  c.random_seed = 42;
  return c;
}

void AppendTerms(MemoryStorage* s, const std::vector<uint64_t>& terms) {
  std::vector<Entry> ents;
  uint64_t idx = s->LastIndex().value();
  for (uint64_t t : terms) ents.push_back(Entry{Term(t), LogIndex(++idx), EntryType::kNormal, {}});
  CHECK(s->Append(ents).ok());
}

TestNetwork::TestNetwork(const std::vector<uint64_t>& ids, const Tweak& tweak) {
  for (uint64_t id : ids) Add(id, NewStorage(ids), tweak);
}

void TestNetwork::Add(uint64_t id, std::unique_ptr<MemoryStorage> storage, const Tweak& tweak) {
  Config c = NewConfig(id, 10, 1, storage.get());
  c.random_seed = id * 7919;
  if (tweak) tweak(c);
  auto r = std::make_unique<Raft>(c);
  peers_[id] = TestPeer{std::move(storage), std::move(r)};
}

bool TestNetwork::Dropped(const Message& m) const {
  if (ignored_.count(m.type)) return true;
  return cut_.count({m.from.value(), m.to.value()}) > 0;
}

std::vector<Message> TestNetwork::ReadMessages(uint64_t id) {
  std::vector<Message> out = std::move(peers_.at(id).raft->msgs());
  peers_.at(id).raft->msgs().clear();
  return out;
}

int TestNetwork::Delivered(MessageType t, bool reject) const {
  int n = 0;
  for (const auto& [type, rej] : delivered_) n += type == t && rej == reject;
  return n;
}

void TestNetwork::Send(Message m) { SendAll({std::move(m)}); }

void TestNetwork::SendAll(std::vector<Message> msgs) {
  std::deque<Message> q(std::make_move_iterator(msgs.begin()), std::make_move_iterator(msgs.end()));
  while (!q.empty()) {
    Message m = std::move(q.front());
    q.pop_front();
    auto it = peers_.find(m.to.value());
    if (it == peers_.end()) continue;
    delivered_.push_back({m.type, m.reject});
    (void)it->second.raft->Step(m);
    for (Message& out : ReadMessages(m.to.value())) {
      if (!Dropped(out)) q.push_back(std::move(out));
    }
  }
}

void TestNetwork::Campaign(uint64_t id) { Send(MakeMsg(id, id, MessageType::kHup)); }

Status TestNetwork::Propose(uint64_t id, const std::string& data) {
  Message m = MakeMsg(id, id, MessageType::kProp);
  m.entries.push_back(Entry{Term(0), LogIndex(0), EntryType::kNormal, data});
  Status s = raft(id).Step(m);
  std::vector<Message> out;
  for (Message& o : ReadMessages(id)) {
    if (!Dropped(o)) out.push_back(std::move(o));
  }
  SendAll(std::move(out));
  return s;
}

void TestNetwork::Cut(uint64_t a, uint64_t b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void TestNetwork::Isolate(uint64_t id) {
  for (auto& [other, p] : peers_) {
    if (other != id) Cut(id, other);
  }
}

void TestNetwork::Recover() {
  cut_.clear();
  ignored_.clear();
}

Message MakeMsg(uint64_t from, uint64_t to, MessageType t, uint64_t term) {
  Message m;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.type = t;
  m.term = Term(term);
  return m;
}

}  // namespace etcdpp::raft::testing
