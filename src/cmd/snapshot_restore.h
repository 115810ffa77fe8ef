// `etcdpp snapshot restore <file>`: turns a snapshot saved with `etcdctl snapshot save` (from an
// etcdpp server) into a new data dir that `etcdpp` starts from, as `etcdctl snapshot restore`
// does for etcd. The flags are etcdctl's.
//
// What a restore does: checks the SHA-256 that the Snapshot RPC appends (unless
// --skip-hash-check), writes the database to <data-dir>/member/snap/db, resets the applied
// ("consistent") index kept in it — the new member starts a new log, as etcd's restore starts a
// new raft log — and creates the WAL under the member and cluster ids computed from --name,
// --initial-cluster and --initial-cluster-token, exactly as a first start with those flags would
// (so they are new ids unless the flags are the old ones, as with etcd).
//
// Not supported: restoring a bolt snapshot written by etcd (different file format; the error
// says so).
//
// Thread: the main thread of the short-lived command.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace etcdpp::cmd {

struct RestoreOptions {
  std::string snapshot_path;
  std::string name = "default";
  std::string data_dir;  // empty: "<name>.etcd", as etcdctl
  std::string wal_dir;   // empty: <data-dir>/member/wal
  std::string initial_cluster = "default=http://localhost:2380";
  std::string initial_cluster_token = "etcd-cluster";
  std::string initial_advertise_peer_urls = "http://localhost:2380";
  bool skip_hash_check = false;
};

Status RestoreSnapshot(const RestoreOptions& options);

// Runs `etcdpp snapshot <args>` (args after "snapshot"); returns the process exit code. Prints
// etcdctl's messages to stdout/stderr.
int RunSnapshotCommand(const std::vector<std::string>& args);

}  // namespace etcdpp::cmd
