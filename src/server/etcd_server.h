// EtcdServer: one etcdpp member assembled from its parts — the data dir (WAL + LMDB), the node's
// write pipeline, the client-facing services, and the transport serving them on every
// --listen-client-urls URL.
//
// Threads: Create/Start/Stop from the main thread. Everything else runs on the threads of the
// node (log, apply) and of the transport (loops).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "base/result.h"
#include "grpc/server.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "peer/transport.h"
#include "server/api/api_context.h"
#include "server/api/kv_service.h"
#include "server/api/maintenance_service.h"
#include "server/cluster_node.h"
#include "server/config.h"
#include "server/kv_state_machine.h"
#include "server/lease_forwarder.h"
#include "server/node.h"
#include "server/wal_log.h"
#include "storage/env.h"
#include "watch/watch_hub.h"

namespace etcdpp::server {

class EtcdServer {
 public:
  // Opens (or initialises) the data dir and recovers the state. Nothing is served yet.
  static Result<std::unique_ptr<EtcdServer>> Create(const Config& config);
  ~EtcdServer();

  // Starts the node and binds the client URLs.
  Status Start();
  // Graceful stop: stops accepting, lets in-flight calls finish, stops the node. Idempotent.
  void Stop();

  const std::vector<net::BoundAddress>& client_addresses() const { return grpc_->bound(); }
  const ApiContext& context() const { return ctx_; }

 private:
  explicit EtcdServer(const Config& config) : config_(config) {}
  // Multi-member cluster: builds the transport and the cluster node (ctx_.node) from the
  // cluster's member list. Called by Create after the state machine exists.
  Status CreateCluster(std::vector<Member> members, const Member& me, const std::string& wal_dir);
  void StopConsensus();

  // The member list served by MemberList; client URLs of peers are filled in as they connect.
  struct MemberDirectory {
    std::mutex mu;
    std::vector<Member> members;
  };

  Config config_;
  std::unique_ptr<storage::Env> env_;
  std::unique_ptr<mvcc::Store> store_;
  // After store_ (reads it), before node_ and grpc_ (they call into it), so destroyed after them.
  std::unique_ptr<watch::WatchHub> hub_;
  // After store_; its thread proposes through node_, so Stop() stops it before the node.
  std::unique_ptr<lease::Lessor> lessor_;
  apply::KvApplier applier_;
  std::unique_ptr<KvStateMachine> sm_;
  OpenedLog log_;
  // Exactly one of node_ (single member) and cluster_node_ (with transport_) exists.
  std::unique_ptr<Node> node_;
  std::unique_ptr<ClusterNode> cluster_node_;
  ClusterNode::StartState cluster_start_;
  std::shared_ptr<MemberDirectory> directory_;
  // After cluster_node_: destroyed (and stopped) first, since its readers call into the node.
  std::unique_ptr<peer::Transport> transport_;
  // Keep-alives on a follower, relayed to the leader. Uses transport_: destroyed before it.
  std::unique_ptr<LeaseForwarder> lease_forwarder_;
  ApiContext ctx_;
  std::unique_ptr<grpc::Server> grpc_;
  // Last: their threads (Defragment, Snapshot, large Range answers, …) use the store and the
  // env, so they go first.
  std::unique_ptr<JobThreads> maintenance_jobs_ =
      std::make_unique<JobThreads>("maintenance", kMaxMaintenanceJobs);
  std::unique_ptr<JobThreads> large_reads_ =
      std::make_unique<JobThreads>("range-read", kMaxLargeReads);
  bool started_ = false;
};

}  // namespace etcdpp::server
