// The plain-HTTP endpoints etcd serves on the client port next to gRPC: /health, /version,
// /metrics. Health checkers (kubelet probes, kubeadm, curl) rely on their exact bodies.
#pragma once

#include "grpc/call.h"
#include "server/api/api_context.h"

namespace etcdpp::server {

// Registers GET /health, /version and /metrics. `ctx` must outlive the server.
void RegisterHttpEndpoints(grpc::Registry* registry, const ApiContext* ctx);

}  // namespace etcdpp::server
