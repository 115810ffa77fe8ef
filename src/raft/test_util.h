// Test helpers for the raft unit tests: a bootstrapped MemoryStorage and an in-memory network
// of Raft state machines that delivers messages synchronously until quiescence (the style of
// etcd's raft tests). Not part of the library.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "raft/raft.h"
#include "raft/storage.h"

namespace etcdpp::raft::testing {

inline NodeId N(uint64_t id) { return NodeId(id); }

std::unique_ptr<MemoryStorage> NewStorage(const std::vector<uint64_t>& voters,
                                          const std::vector<uint64_t>& learners = {});
Config NewConfig(uint64_t id, int election, int heartbeat, Storage* s);

// Appends entries (with the given terms, indexes from 1) to a storage, as if persisted earlier.
void AppendTerms(MemoryStorage* s, const std::vector<uint64_t>& terms);

struct TestPeer {
  std::unique_ptr<MemoryStorage> storage;
  std::unique_ptr<Raft> raft;
};

class TestNetwork {
 public:
  using Tweak = std::function<void(Config&)>;
  explicit TestNetwork(const std::vector<uint64_t>& ids, const Tweak& tweak = {});
  // Adds a peer built by the caller (e.g. with a pre-filled log). Replaces an existing one.
  void Add(uint64_t id, std::unique_ptr<MemoryStorage> storage, const Tweak& tweak = {});

  // Delivers m and every message it causes, breadth-first, until nothing is left.
  void Send(Message m);
  void SendAll(std::vector<Message> msgs);
  void Campaign(uint64_t id);
  Status Propose(uint64_t id, const std::string& data);

  void Cut(uint64_t a, uint64_t b);
  void Isolate(uint64_t id);
  void Ignore(MessageType t) { ignored_.insert(t); }
  void Recover();

  Raft& raft(uint64_t id) { return *peers_.at(id).raft; }
  MemoryStorage& storage(uint64_t id) { return *peers_.at(id).storage; }
  // Takes the messages a peer produced.
  std::vector<Message> ReadMessages(uint64_t id);
  // Number of delivered messages of type t with the given reject flag.
  int Delivered(MessageType t, bool reject) const;

 private:
  bool Dropped(const Message& m) const;

  std::map<uint64_t, TestPeer> peers_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::set<MessageType> ignored_;
  std::vector<std::pair<MessageType, bool>> delivered_;
};

Message MakeMsg(uint64_t from, uint64_t to, MessageType t, uint64_t term = 0);

}  // namespace etcdpp::raft::testing
