// ApiContext: what the client-facing services (KV, Maintenance, Cluster, HTTP endpoints) share:
// the consensus (node), the store, the configuration and this member's identity. Built by EtcdServer before
// the transport starts; read-only afterwards, so any loop thread may use it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "etcdserverpb/rpc.pb.h"
#include "mvcc/store.h"
#include "server/api/job_threads.h"
#include "server/config.h"
#include "server/consensus.h"
#include "server/membership.h"

namespace etcdpp::server {

struct ApiContext {
  Consensus* node = nullptr;
  mvcc::Store* store = nullptr;
  storage::Env* env = nullptr;
  const Config* config = nullptr;
  Member self;
  std::vector<Member> members;
  // Set in a multi-member cluster: the current member list, with the client URLs learnt from
  // the peers since start-up. Unset for a single member, whose list is `members`.
  std::function<std::vector<Member>()> member_list;
  // Set in a multi-member cluster: renews a lease through the leader when this member's lessor
  // is not the primary one. `done` gets the granted TTL (0: no such lease) or the error.
  std::function<void(LeaseId, std::function<void(Result<int64_t>)>)> forward_lease_renew;
  // Threads for Range answers too large to count on a loop thread (kv_service.cc); null: the
  // loop counts them itself.
  JobThreads* large_reads = nullptr;

  // Sets cluster_id, member_id and raft_term as etcd does, and the given revision.
  void FillHeader(etcdserverpb::ResponseHeader* h, int64_t revision) const {
    h->set_cluster_id(node->cluster_id().value());
    h->set_member_id(node->member_id().value());
    h->set_revision(revision);
    h->set_raft_term(node->term().value());
  }
};

}  // namespace etcdpp::server
