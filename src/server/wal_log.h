// WalLog: the node's DurableLog on the write-ahead log (src/wal), and recovery of the log at
// start-up. The WAL metadata records which member and cluster the data dir belongs to, so a data
// dir is never silently reused under another identity.
//
// Thread: Save on the thread that writes the log (Node's write thread, ClusterNode's raft
// thread); OpenWalLog once at start-up.
#pragma once

#include <memory>
#include <string>

#include "base/ids.h"
#include "base/result.h"
#include "server/node.h"
#include "wal/wal.h"

namespace etcdpp::server {

class WalLog : public DurableLog {
 public:
  explicit WalLog(std::unique_ptr<wal::Wal> wal) : wal_(std::move(wal)) {}
  Status Save(const raft::HardState& hs, std::span<const raft::Entry> entries) override {
    return wal_->Save(hs, entries);
  }
  Status Compact(LogIndex index, Term term) override;
  wal::Wal& wal() { return *wal_; }

 private:
  std::unique_ptr<wal::Wal> wal_;
};

struct OpenedLog {
  std::unique_ptr<WalLog> log;
  Node::RecoveredLog recovered;
  MemberId member_id;    // as recorded in the WAL metadata (or the given one for a new WAL)
  ClusterId cluster_id;
  bool created = false;  // true iff the WAL did not exist before
};

// Opens the WAL in `wal_dir`, or creates it (recording member_id/cluster_id) if none exists.
// An existing WAL keeps the ids it was created with. Replay starts at the newest compaction
// point not beyond `applied` (the state machine's durable applied index).
Result<OpenedLog> OpenWalLog(const std::string& wal_dir, MemberId member_id, ClusterId cluster_id,
                             LogIndex applied);

}  // namespace etcdpp::server
