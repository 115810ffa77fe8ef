// etcdserverpb.Maintenance: Status, Alarm (list/activate/deactivate), and the operator tools
// that sit on the data dir.
#pragma once

#include "grpc/call.h"
#include "server/api/api_context.h"

namespace etcdpp::server {

void RegisterMaintenanceService(grpc::Registry* registry, const ApiContext* ctx);

}  // namespace etcdpp::server
