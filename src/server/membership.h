// Cluster membership as etcd computes it: member and cluster ids derived from the configuration.
//
// etcd derives a member's id from its peer URLs and the cluster token, and the cluster id from
// the member ids, so the same --initial-cluster yields the same ids on every member and on every
// restart. We compute them the same way, so that operators' scripts and `etcdctl member list`
// output keep their meaning when etcdpp replaces etcd.
//
// Pure functions and a value type; no threads, no I/O.
#pragma once

#include <string>
#include <vector>

#include "base/ids.h"
#include "base/result.h"

namespace etcdpp::server {

struct Member {
  MemberId id;
  std::string name;
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool is_learner = false;
};

// Returns the id etcd assigns to a member of an initial cluster: the first 8 bytes (big-endian)
// of SHA-1 over the sorted peer URLs concatenated, followed by the cluster token.
MemberId ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token);

// Returns the cluster id: the first 8 bytes of SHA-1 over the sorted member ids, each as 8
// big-endian bytes.
ClusterId ComputeClusterId(std::vector<MemberId> member_ids);

// Parses --initial-cluster ("name1=url1,name1=url2,name2=url3"): one member per distinct name,
// in order of first appearance, with ids computed from the token.
// Errors name the malformed element, as etcd does.
Result<std::vector<Member>> ParseInitialCluster(const std::string& initial_cluster,
                                                const std::string& cluster_token);

}  // namespace etcdpp::server
