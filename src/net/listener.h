// Listen URLs and NetServer: binds every --listen-client-urls URL, accepts connections and pins
// each to one loop of an EventLoopGroup (round-robin), where a Connection runs the Protocol made
// by the factory. NetServer knows nothing about HTTP.
//
// Threads: Start/Shutdown/Close are called from one control thread (not a loop thread).
// Listening sockets are watched by the group's first loop; accepted sockets are handed to their
// loop with Post. Each loop's connection set is touched only on that loop.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "net/connection.h"
#include "net/event_loop.h"
#include "net/tls.h"

namespace etcdpp::net {

struct ListenUrl {
  enum class Scheme { kHttp, kHttps, kUnix, kUnixs };
  Scheme scheme = Scheme::kHttp;
  std::string host;  // TCP: host or IP ("" / "0.0.0.0" / "::" = any); unix: the socket path
  int port = 0;      // TCP only; 0 = pick a free port
  std::string original;

  bool tls() const { return scheme == Scheme::kHttps || scheme == Scheme::kUnixs; }
  bool unix_socket() const { return scheme == Scheme::kUnix || scheme == Scheme::kUnixs; }
};

// Parses "http://127.0.0.1:2379", "https://[::1]:0", "unix://localhost:1234" (etcd treats the
// host:port of a unix URL as the socket file name), "unixs:///tmp/sock".
Result<ListenUrl> ParseListenUrl(const std::string& url);

struct BoundAddress {
  ListenUrl url;
  int port = 0;         // the real port (TCP), 0 for unix
  std::string address;  // "127.0.0.1:34567" or the unix path
};

class NetServer {
 public:
  // tls may be null when no URL needs it. The group must outlive the server.
  NetServer(std::vector<ListenUrl> urls, std::shared_ptr<TlsContext> tls, EventLoopGroup* group,
            Connection::ProtocolFactory factory);
  ~NetServer();

  // Binds and listens on every URL; on any failure nothing stays bound and the error names the
  // URL ("listen tcp 127.0.0.1:2379: bind: address already in use").
  Status Start();
  const std::vector<BoundAddress>& bound() const { return bound_; }

  // Stops accepting, asks every connection to shut down gracefully, waits up to grace for them
  // to close, then closes the rest. Blocking; call from a non-loop thread.
  void Shutdown(std::chrono::milliseconds grace);

  size_t connection_count() const { return live_connections_->load(); }

 private:
  class Acceptor;
  struct LoopConnections;
  void OnAccepted(int fd, const ListenUrl& url, const std::string& local, std::string peer);

  std::vector<ListenUrl> urls_;
  std::shared_ptr<TlsContext> tls_;
  EventLoopGroup* group_;
  Connection::ProtocolFactory factory_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::vector<BoundAddress> bound_;
  std::vector<std::shared_ptr<LoopConnections>> per_loop_;
  // Shared with the connections' close callbacks, which may outlive a hard shutdown.
  std::shared_ptr<std::atomic<size_t>> live_connections_ = std::make_shared<std::atomic<size_t>>(0);
  std::atomic<bool> stopping_{false};
  bool shut_down_ = false;
};

}  // namespace etcdpp::net
