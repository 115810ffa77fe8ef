#include "server/api/http_endpoints.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "server/version.h"

namespace etcdpp::server {
namespace {

// etcd's HTTP handlers answer every request with these CORS headers (--cors defaults to "*").
void AddCorsHeaders(http::HttpResponse* r) {
  r->headers.emplace_back("access-control-allow-headers", "accept, content-type, authorization");
  r->headers.emplace_back("access-control-allow-methods", "POST, GET, OPTIONS, PUT, DELETE");
  r->headers.emplace_back("access-control-allow-origin", "*");
}

http::HttpResponse HealthResponse(bool healthy) {
  http::HttpResponse r = http::HttpResponse::Text(healthy ? 200 : 503,
                                                  healthy ? R"({"health":"true"})"
                                                          : R"({"health":"false"})");
  AddCorsHeaders(&r);
  return r;
}

// /health is true iff this member can serve a linearizable read right now: it has a leader, the
// write path has not failed, and a read barrier completes (etcd 3.4 checks leader, alarms and a
// linearizable range).
void ServeHealth(const ApiContext* ctx, http::HttpResponder responder) {
  Status write_error = ctx->node->write_path_error();
  if (!write_error.ok()) {
    spdlog::warn("/health error: {}", write_error.ToString());
    responder.Send(HealthResponse(false));
    return;
  }
  auto shared = std::make_shared<http::HttpResponder>(std::move(responder));
  ctx->node->ReadIndex([shared](Status s) {
    if (!s.ok()) spdlog::warn("/health error: {}", s.ToString());
    shared->Send(HealthResponse(s.ok()));
  });
}

}  // namespace

void RegisterHttpEndpoints(grpc::Registry* registry, const ApiContext* ctx) {
  registry->AddHttp("GET", "/health", [ctx](http::HttpRequest&&, http::HttpResponder r) {
    ServeHealth(ctx, std::move(r));
  });
  registry->AddHttp("GET", "/version", [](http::HttpRequest&&, http::HttpResponder r) {
    std::string body = std::string(R"({"etcdserver":")") + std::string(kEtcdServerVersion) +
                       R"(","etcdcluster":")" + std::string(kEtcdClusterVersion) + R"("})";
    http::HttpResponse resp = http::HttpResponse::Text(200, body, "application/json");
    AddCorsHeaders(&resp);
    r.Send(std::move(resp));
  });
}

}  // namespace etcdpp::server
