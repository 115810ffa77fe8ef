// The seam between HTTP/2 and the layer above it (grpc/): a dispatcher that may claim a new
// HTTP/2 stream when its request headers arrive, the handler that then receives the request
// bytes, and the thread-safe writer the claimer uses to answer.
//
// Threads: StreamDispatcher and StreamHandler methods run on the connection's loop thread.
// StreamWriter is a cheap copyable handle usable from any thread; each call posts to the loop
// (or runs inline when already on it). After the stream is closed every call is a no-op.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "http/types.h"
#include "net/connection.h"
#include "net/event_loop.h"

namespace etcdpp::http {

// Bytes a stream may have queued for the peer (not yet taken by HTTP/2 flow control) before
// SendData refuses more. One message is always accepted when the queue is below the limit, so a
// single large response (a 10 MiB Range) still goes out; a watcher whose client stops reading
// is stopped instead of growing memory without bound. 8 MiB ≈ a few large watch batches.
constexpr size_t kMaxStreamPendingBytes = 8 * 1024 * 1024;

struct RequestHead {
  std::string method;     // :method
  std::string path;       // :path (with query)
  std::string authority;  // :authority
  std::string scheme;     // :scheme
  Headers headers;        // regular headers, lower-case names
};

// Receives the request side of a claimed stream. Loop thread only.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // Request body bytes. Returns how many received bytes (of this and earlier calls) the handler
  // no longer holds, e.g. everything but an incomplete message. Only released bytes are returned
  // to the client as HTTP/2 flow-control credit, so what a connection makes us buffer is bounded
  // by its receive windows.
  virtual size_t OnData(std::string_view data) = 0;
  // The client half-closed (END_STREAM).
  virtual void OnEnd() = 0;
  // The stream was reset by the client or the connection went away before we finished.
  // The handler is destroyed right after.
  virtual void OnReset() = 0;
};

// Produces the rest of a response body on the loop thread, piece by piece, as HTTP/2 flow
// control takes the bytes before it: a large Range answer is encoded from its snapshot while the
// client reads, not built whole first. Destroyed on the loop thread once done, or when the stream
// closes early (which releases whatever it holds, e.g. a snapshot).
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Appends the body's next bytes (about `hint` of them, at least one) to *out.
  // REQUIRES: !done(). An error resets the stream: the body cannot be completed.
  virtual Status Next(size_t hint, std::vector<std::string>* out) = 0;
  virtual bool done() const = 0;
};

class Http2Session;

// Shared between the writer handles and the session's stream record.
struct StreamShared {
  std::shared_ptr<net::EventLoop> loop;
  std::weak_ptr<Http2Session> session;
  int32_t stream_id = 0;
  std::atomic<size_t> pending_bytes{0};
  std::atomic<bool> closed{false};  // set on the loop when the stream closed or was reset
};

class StreamWriter {
 public:
  StreamWriter() = default;
  explicit StreamWriter(std::shared_ptr<StreamShared> shared) : shared_(std::move(shared)) {}

  // Response headers (":status" is added from status). Must come first, once.
  void SendHeaders(int status, Headers headers) const;
  // Queues body bytes. Returns false (and drops data) iff the stream is closed or more than
  // kMaxStreamPendingBytes are already queued; the caller should then finish or reset.
  bool SendData(std::string data) const;
  // Ends the stream after queued data, with trailers (none: END_STREAM on the last DATA).
  void Finish(Headers trailers) const;
  // Sends headers that end the stream at once (trailers-only gRPC errors, empty responses).
  void SendHeadersAndEnd(int status, Headers headers) const;
  // SendHeaders + SendData + Finish as one hop to the loop (a unary response). The body is the
  // concatenation of `data`; each piece is queued as it is (moved, not copied) and freed as soon
  // as HTTP/2 flow control has taken it, so a large body built in pieces leaves memory while the
  // client reads it. Accepted whatever kMaxStreamPendingBytes says: it is one response.
  // `headers` and `trailers` are referenced, never copied: they must be constants that outlive
  // every stream (the fixed headers of a successful gRPC call).
  // With `rest`, the body continues with what `rest` produces once `data` is taken.
  void SendResponse(int status, const Headers* headers, std::vector<std::string> data,
                    const Headers* trailers, std::unique_ptr<BodySource> rest = nullptr) const;
  // Resets the stream with an HTTP/2 error code (NGHTTP2_CANCEL = 8, INTERNAL_ERROR = 2).
  void Reset(uint32_t error_code) const;

  size_t pending_bytes() const { return shared_ ? shared_->pending_bytes.load() : 0; }
  // The loop that owns the stream (for timers of the layer above; loop thread only).
  net::EventLoop* loop() const { return shared_ ? shared_->loop.get() : nullptr; }
  bool closed() const { return !shared_ || shared_->closed.load(); }
  // Runs `fn` on the loop thread that owns the stream, after what was queued before it. Returns
  // false (and drops `fn`) iff the stream is closed: nobody is left to answer.
  bool RunOnLoop(std::function<void()> fn) const;

 private:
  std::shared_ptr<StreamShared> shared_;
};

// Decides, per new stream, whether the upper layer takes it. Loop thread only.
class StreamDispatcher {
 public:
  virtual ~StreamDispatcher() = default;
  // Returns a handler to claim the stream, or nullptr to leave it to the HTTP router. It may
  // move from `head` only when it claims the stream (the router needs it otherwise).
  virtual std::unique_ptr<StreamHandler> Claim(RequestHead& head, const net::ConnectionInfo& conn,
                                               StreamWriter writer) = 0;
};

}  // namespace etcdpp::http
