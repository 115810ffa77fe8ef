// grpc::Server: the client-facing server. Binds every listen URL, runs the event loops, and
// serves gRPC calls from the Registry and plain HTTP routes (the same port, like etcd's cmux).
//
// Threads: construct, Start and Stop from one control thread. Handlers run on loop threads.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "grpc/call.h"
#include "http/options.h"
#include "http/stream.h"
#include "net/event_loop.h"
#include "net/listener.h"
#include "net/tls.h"

namespace etcdpp::grpc {

struct ServerOptions {
  // etcd --listen-client-urls: http://, https://, unix://, unixs:// (port 0 = any free port).
  std::vector<std::string> listen_urls = {"http://localhost:2379"};
  // Used by https:// and unixs:// URLs. Ignored when no URL needs TLS.
  net::TlsConfig tls;
  // Loop threads; 0 = number of cores.
  size_t num_loops = 0;
  // etcd --max-request-bytes: larger request messages fail with InvalidArgument
  // "etcdserver: request is too large". Default 1.5 MiB as in etcd.
  size_t max_request_bytes = 1536 * 1024;
  http::HttpOptions http;  // windows, --max-concurrent-streams, header/body limits
};

class GrpcDispatcher;

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<const Registry> registry);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads TLS material, starts the loops, binds every URL. Errors are clear ("listen tcp
  // 127.0.0.1:2379 (...): bind: Address already in use", "cannot load certificate ...").
  // Nothing stays bound on failure.
  Status Start();
  // Graceful stop: GOAWAY to every HTTP/2 connection, in-flight calls get up to grace to finish,
  // then connections are closed and loops joined. Idempotent.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // After Start: the bound address of each listen URL, in order (the real port for port 0).
  const std::vector<net::BoundAddress>& bound() const;
  // The TLS context (nullptr without TLS), e.g. to force a reload check.
  std::shared_ptr<net::TlsContext> tls() const { return tls_; }
  size_t connection_count() const;
  // The first loop thread (benchmarks read its CPU time by posting to it). After Start().
  net::EventLoop* loop_for_testing() const { return loops_ ? loops_->At(0).get() : nullptr; }

 private:
  ServerOptions options_;
  std::shared_ptr<const Registry> registry_;
  std::unique_ptr<GrpcDispatcher> dispatcher_;
  std::unique_ptr<net::EventLoopGroup> loops_;
  std::shared_ptr<net::TlsContext> tls_;
  std::unique_ptr<net::NetServer> net_;
  bool started_ = false;
};

// The StreamDispatcher that turns HTTP/2 streams with content-type application/grpc into calls.
// Exposed for tests and the fuzzer.
class GrpcDispatcher : public http::StreamDispatcher {
 public:
  GrpcDispatcher(std::shared_ptr<const Registry> registry, size_t max_request_bytes)
      : registry_(std::move(registry)), max_request_bytes_(max_request_bytes) {}
  std::unique_ptr<http::StreamHandler> Claim(http::RequestHead& head,
                                             const net::ConnectionInfo& conn,
                                             http::StreamWriter writer) override;

 private:
  std::shared_ptr<const Registry> registry_;
  size_t max_request_bytes_;
};

}  // namespace etcdpp::grpc
