// Connection: one accepted socket (TCP or unix, plain or TLS) driven by its loop thread, and the
// Protocol interface the layer above (http/) plugs into. net/ knows nothing about HTTP.
//
// Ownership and threads: a Connection belongs to exactly one EventLoop and is touched only on
// that loop's thread. It is held by a shared_ptr in its NetServer's per-loop set; other threads
// refer to it through weak_ptr and reach it by posting to its loop.
//
// Data flow: readable → bytes (decrypted) → Protocol::OnRead. Output is pulled: after reads, and
// after RequestFlush() (batched to the end of the loop iteration), the connection asks the
// protocol for bytes while fewer than kMaxPendingOutputBytes are waiting for the socket. While
// the socket is that far behind the connection stops reading, so a peer that never reads cannot
// make the server buffer without bound (back-pressure).
#pragma once

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "net/event_loop.h"

namespace etcdpp::net {

// Output bytes waiting for the socket beyond which the protocol is not asked for more and the
// connection stops reading. 256 KiB (GRPC-NOTES §4): enough for a full TLS pipeline.
constexpr size_t kMaxPendingOutputBytes = 256 * 1024;
// Bytes read per readiness event before yielding to other connections (fairness).
constexpr size_t kMaxReadPerEvent = 1024 * 1024;
// Bytes produced and written per flush before yielding to other connections (fairness): a
// 100 MB answer to a fast reader would otherwise hold the loop until it is all out.
constexpr size_t kMaxWritePerTurn = 256 * 1024;

struct ConnectionInfo {
  std::string peer;   // "127.0.0.1:34567", "[::1]:34567", "unix:/path"
  std::string local;  // the listener address
  bool tls = false;
  std::string alpn;       // negotiated ALPN protocol ("h2", "http/1.1") or ""
  std::string client_cn;  // Common Name of the verified client certificate, "" if none
};

class Connection;

// The layer above a connection. All methods run on the connection's loop thread.
class Protocol {
 public:
  virtual ~Protocol() = default;
  // Consumes bytes from the peer. A non-OK status closes the connection (after flushing what the
  // protocol already produced, e.g. a GOAWAY or a 400 response); the message is logged.
  virtual Status OnRead(std::string_view data) = 0;
  // Appends output to *out, roughly at most max_bytes (a frame may overshoot).
  virtual void ProduceOutput(std::string* out, size_t max_bytes) = 0;
  // True when the protocol has nothing more to do and the connection should close once output
  // is flushed (HTTP/1.1 "Connection: close", GOAWAY with no streams left).
  virtual bool WantsClose() const = 0;
  // Graceful shutdown requested (server stopping): stop accepting requests, finish in-flight.
  virtual void OnShutdown() = 0;
  // The connection is closing; release everything. No more calls follow.
  virtual void OnClose() = 0;
};

class Connection : public FdHandler, public std::enable_shared_from_this<Connection> {
 public:
  using ProtocolFactory = std::function<std::unique_ptr<Protocol>(Connection&)>;
  using CloseCallback = std::function<void(Connection*)>;

  // Takes ownership of fd (non-blocking) and ssl (may be null for plain sockets).
  Connection(EventLoop* loop, int fd, SSL* ssl, ConnectionInfo info, ProtocolFactory factory,
             CloseCallback on_close);
  ~Connection() override;

  // Registers with the loop and starts the TLS handshake or the protocol. Loop thread.
  void Start();
  // Loop thread. Schedules an output flush at the end of this loop iteration.
  void RequestFlush();
  // Loop thread. Graceful shutdown: forwards to the protocol (or closes if not yet started).
  void Shutdown();
  // Loop thread. Closes now; reason is logged at debug (or warn if it is an error).
  void Close(const Status& reason);

  void OnEvents(uint32_t events) override;

  EventLoop* loop() const { return loop_; }
  const ConnectionInfo& info() const { return info_; }
  bool closed() const { return fd_ < 0; }

 private:
  void DoHandshake();
  void DoRead();
  // Defers a DoRead while OpenSSL holds bytes already read from the socket.
  void ReadBufferedLater();
  void Flush();
  void UpdateInterest();
  // Returns false if the connection was closed.
  bool WriteOut();

  EventLoop* const loop_;
  int fd_;
  SSL* ssl_;
  ConnectionInfo info_;
  ProtocolFactory factory_;
  CloseCallback on_close_;
  std::unique_ptr<Protocol> protocol_;
  bool handshaking_ = false;
  bool flush_scheduled_ = false;
  bool want_write_ = false;  // socket buffer full, waiting for EPOLLOUT
  bool ssl_read_wants_write_ = false;
  bool reading_paused_ = false;
  bool read_scheduled_ = false;  // a DoRead for bytes buffered inside OpenSSL is deferred
  bool close_after_flush_ = false;
  Status close_reason_;
  uint32_t interest_ = 0;
  std::string out_;        // bytes produced but not yet written
  size_t out_offset_ = 0;  // out_[0, out_offset_) already written
  EventLoop::TimerId handshake_timer_ = 0;
};

}  // namespace etcdpp::net
