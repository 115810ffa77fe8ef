// Transport: carries raft messages between the members of a cluster (DESIGN §2, "peer/").
//
// Design (the simplest that is robust; see README.md):
//  - Outbound: one sender thread per peer. Send() puts a message on that peer's bounded queue;
//    the thread dials the peer's advertised peer URLs (TLS if https), introduces itself with a
//    hello frame and writes queued messages as frames, many per write. When the queue is full or
//    the peer cannot be reached, messages are dropped and `on_unreachable` is called: raft
//    retransmits what matters, and sending into a dead peer must never block the raft thread.
//  - Inbound: one acceptor thread polls the listeners; each accepted connection gets a reader
//    thread that checks the hello (same cluster, addressed to us), then hands every decoded
//    message to `on_message`. A malformed or oversized frame closes the connection with a log
//    line naming the peer.
//  - TLS: the listener requires client certificates that chain to --peer-trusted-ca-file when
//    --peer-client-cert-auth is set (and checks --peer-cert-allowed-cn if given); the dialer
//    verifies the peer's server certificate against the same CA and the URL's host, and
//    presents --peer-cert-file as its client certificate.
//
// Threads: Send/ReportUnreachable callbacks may be called from any thread; handlers run on the
// transport's threads and must be quick (queue the work). Start/Stop from one owner thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/ids.h"
#include "base/result.h"
#include "base/status.h"
#include "peer/codec.h"
#include "raft/types.h"

namespace etcdpp::net {
class TlsContext;
}
typedef struct ssl_ctx_st SSL_CTX;

namespace etcdpp::peer {

struct PeerTls {
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  bool client_cert_auth = false;
  std::string allowed_cn;  // if set, the CN inbound client certificates must carry
  std::vector<std::string> cipher_suites;
};

struct TransportOptions {
  MemberId self;
  ClusterId cluster_id;
  // --listen-peer-urls ("http://host:port" or "https://host:port"; port 0 picks a free one).
  std::vector<std::string> listen_urls;
  // The other members' advertised peer URLs (tried in order on each dial).
  std::map<MemberId, std::vector<std::string>> peers;
  // This member's --advertise-client-urls, sent in the hello.
  std::vector<std::string> client_urls;
  PeerTls tls;
  // Messages queued for one peer beyond which new ones are dropped. Raft keeps at most 256
  // appends in flight per follower plus heartbeats; 4096 absorbs bursts of proposals forwarded
  // by a follower without letting a stalled peer hold unbounded memory.
  size_t max_queued_messages = 4096;
  // Accepted connections served at once; more are closed at once. A cluster needs one per peer
  // (plus reconnect overlap); the bound stops a port scanner from exhausting threads.
  size_t max_inbound_connections = 64;
  // Dial back-off after a failure: starts at min, doubles up to max.
  std::chrono::milliseconds min_backoff{50};
  std::chrono::milliseconds max_backoff{1000};
  // A write stuck this long (peer stopped reading, e.g. SIGSTOP) fails and the link reconnects.
  std::chrono::milliseconds write_timeout{5000};
};

class Transport {
 public:
  using MessageHandler = std::function<void(raft::Message&&)>;
  using UnreachableHandler = std::function<void(MemberId)>;
  // Called when a peer introduced itself on an inbound connection, with its client URLs.
  using HelloHandler = std::function<void(MemberId, const std::vector<std::string>&)>;

  struct Handlers {
    MessageHandler on_message;
    UnreachableHandler on_unreachable;
    HelloHandler on_hello;
    // Forwarded lease keep-alives (optional): a request from a follower, and an answer.
    std::function<void(MemberId from, const LeaseRenew&)> on_lease_renew;
    std::function<void(const LeaseRenewResult&)> on_lease_renew_result;
  };

  // Binds the listeners (so a port conflict fails start-up) and loads TLS material. Nothing
  // runs until Start().
  static Result<std::unique_ptr<Transport>> Create(TransportOptions options, Handlers handlers);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  void Start();
  // Closes every connection and joins every thread. Idempotent.
  void Stop();

  // Any thread. Queues `m` for m.to; drops it (and reports the peer unreachable) if the queue is
  // full or the peer is unknown.
  void Send(raft::Message m);
  // Any thread. Queue a forwarded keep-alive / its answer for `to`; dropped like messages (the
  // follower's request then times out).
  void SendLeaseRenew(MemberId to, const LeaseRenew& r);
  void SendLeaseRenewResult(MemberId to, const LeaseRenewResult& r);

  // "host:port" of each listener, in the order of listen_urls (after binding port 0).
  const std::vector<std::string>& bound_addresses() const { return bound_; }

 private:
  struct Listener {
    int fd = -1;
    bool tls = false;
  };
  struct Inbound {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> finished{false};
  };
  struct Peer {
    MemberId id;
    std::vector<std::string> urls;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<raft::Message> queue;
    std::string frames;  // encoded non-raft frames (lease keep-alives), sent with the next batch
    size_t frame_count = 0;
    int fd = -1;  // guarded by mu (read by Stop to unblock a write)
    std::thread thread;
  };

  Transport(TransportOptions options, Handlers handlers)
      : options_(std::move(options)), handlers_(std::move(handlers)) {}
  void AcceptLoop();
  void ServeInbound(Inbound* in, bool tls);
  void SendLoop(Peer* peer);
  void SendFrame(MemberId to, std::string frame);

  TransportOptions options_;
  Handlers handlers_;
  std::vector<Listener> listeners_;
  std::vector<std::string> bound_;
  std::shared_ptr<net::TlsContext> server_tls_;
  SSL_CTX* client_ctx_ = nullptr;
  int wake_fd_ = -1;  // eventfd that wakes the acceptor on Stop

  std::atomic<bool> stopping_{false};
  bool started_ = false;
  std::thread acceptor_;
  std::mutex inbound_mu_;  // guards inbound_
  std::vector<std::unique_ptr<Inbound>> inbound_;
  std::map<MemberId, std::unique_ptr<Peer>> peers_;
};

}  // namespace etcdpp::peer
