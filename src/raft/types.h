// The data types of the Raft protocol, shared by the consensus core (src/raft), the log storage
// (src/wal) and the member-to-member transport (src/peer).
//
// Plain value types with no behaviour; their meaning follows etcd's raftpb and the Raft thesis.
// Encodings to bytes live with the code that writes them (the WAL record format, the peer wire
// format), not here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ids.h"

namespace etcdpp::raft {

// Raft node ids are etcd member ids. 0 means "none" (no vote, no leader).
using NodeId = MemberId;
inline constexpr NodeId kNoNode{0};

enum class EntryType : uint8_t {
  kNormal = 0,
  kConfChange = 1,    // data holds an encoded ConfChange (one change at a time)
  kConfChangeV2 = 2,  // data holds an encoded ConfChangeV2 (joint consensus)
};

struct Entry {
  Term term;
  LogIndex index;
  EntryType type = EntryType::kNormal;
  std::string data;  // opaque to raft; an empty normal entry is the new leader's no-op (§5.4.2)

  friend bool operator==(const Entry&, const Entry&) = default;
};

// What must be on stable storage before any message that depends on it is sent (thesis §3.8).
struct HardState {
  Term term;
  NodeId vote = kNoNode;
  LogIndex commit;

  bool empty() const { return term.value() == 0 && vote == kNoNode && commit.value() == 0; }
  friend bool operator==(const HardState&, const HardState&) = default;
};

struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;
  // Non-empty only during joint consensus: the outgoing configuration's voters (thesis §4.3).
  std::vector<NodeId> voters_outgoing;
  // Learners that become learners when the joint configuration is left (they were voters in the
  // outgoing configuration, so they cannot be learners in both halves at once).
  std::vector<NodeId> learners_next;
  bool auto_leave = false;

  friend bool operator==(const ConfState&, const ConfState&) = default;
};

struct SnapshotMetadata {
  ConfState conf_state;
  LogIndex index;
  Term term;

  friend bool operator==(const SnapshotMetadata&, const SnapshotMetadata&) = default;
};

struct Snapshot {
  std::string data;  // the state machine image; opaque to raft
  SnapshotMetadata metadata;

  bool empty() const { return metadata.index.value() == 0; }
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

enum class ConfChangeType : uint8_t {
  kAddNode = 0,
  kRemoveNode = 1,
  kUpdateNode = 2,
  kAddLearnerNode = 3,
};

struct ConfChangeSingle {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node_id = kNoNode;
  friend bool operator==(const ConfChangeSingle&, const ConfChangeSingle&) = default;
};

// How a ConfChangeV2 enters and leaves joint consensus.
enum class ConfChangeTransition : uint8_t {
  kAuto = 0,           // simple change if possible, else joint with automatic leave
  kJointImplicit = 1,  // joint, left automatically
  kJointExplicit = 2,  // joint, left by an explicit empty ConfChangeV2
};

struct ConfChangeV2 {
  ConfChangeTransition transition = ConfChangeTransition::kAuto;
  std::vector<ConfChangeSingle> changes;  // empty: leave the joint configuration
  std::string context;
  friend bool operator==(const ConfChangeV2&, const ConfChangeV2&) = default;
};

enum class MessageType : uint8_t {
  kHup,   // local: start an election
  kBeat,  // local: leader sends heartbeats
  kProp,  // proposal (local or forwarded by a follower)
  kApp,   // AppendEntries
  kAppResp,
  kVote,  // RequestVote
  kVoteResp,
  kPreVote,  // thesis §9.6
  kPreVoteResp,
  kSnap,  // InstallSnapshot
  kHeartbeat,
  kHeartbeatResp,
  kUnreachable,     // local: transport reports a peer unreachable
  kSnapStatus,      // local: transport reports a snapshot sent or failed
  kCheckQuorum,     // local: leader checks it heard from a quorum (thesis §6.2)
  kTransferLeader,  // leadership transfer request (thesis §3.10)
  kTimeoutNow,      // "start an election now", sent to the transfer target
  kReadIndex,       // linearizable read request (thesis §6.4)
  kReadIndexResp,
};

struct Message {
  MessageType type = MessageType::kHup;
  NodeId to = kNoNode;
  NodeId from = kNoNode;
  Term term;
  Term log_term;   // term of the entry at `index` (kApp), or of the candidate's last entry (votes)
  LogIndex index;  // index preceding `entries` (kApp); last index (votes); match index (responses)
  std::vector<Entry> entries;
  LogIndex commit;
  std::optional<Snapshot> snapshot;  // kSnap only
  bool reject = false;
  LogIndex reject_hint;  // follower's last index, for fast back-off
  std::string context;   // ReadIndex request id; campaign/transfer marker

  friend bool operator==(const Message&, const Message&) = default;
};

}  // namespace etcdpp::raft
