// etcdserverpb.Cluster: membership as clients see it (MemberList). Membership changes arrive
// with clustering.
#pragma once

#include "grpc/call.h"
#include "server/api/api_context.h"

namespace etcdpp::server {

void RegisterClusterService(grpc::Registry* registry, const ApiContext* ctx);

}  // namespace etcdpp::server
