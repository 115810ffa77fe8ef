// The gRPC server API the services code against: call context, unary responder, server stream
// handle, stream handler interface, and the method registry. Byte level: requests and responses
// are serialized protobuf messages; grpc/typed.h adds protobuf-typed wrappers.
//
// Threads:
//  - Handlers (UnaryHandler, StreamHandlerFactory, StreamHandler methods) run on the loop thread
//    that owns the connection. They must not block; hand long work to other threads.
//  - UnaryResponder and ServerStream may be moved/copied to any thread and completed there.
//    Completion posts to the owning loop; if the connection or stream is gone it is a no-op.
//    Each call completes exactly once; later completions are ignored.
//  - CallContext is immutable after the call starts except for the cancellation flag, which is
//    atomic; it lives as long as any responder/stream handle (or the handler) of the call.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "http/stream.h"
#include "http/types.h"

namespace etcdpp::grpc {

// gRPC status codes are etcdpp::Code values; the message becomes grpc-message.
using Status = ::etcdpp::Status;
using Code = ::etcdpp::Code;

// Error text etcd returns (rpctypes.ErrGRPCRequestTooLarge, code InvalidArgument) for requests
// over --max-request-bytes.
inline constexpr std::string_view kRequestTooLargeMessage = "etcdserver: request is too large";

struct CallState;

class CallContext {
 public:
  using Clock = std::chrono::steady_clock;

  // The method path, e.g. "/etcdserverpb.KV/Range".
  const std::string& path() const { return path_; }
  // Custom metadata (request headers other than pseudo-headers, te, content-type, grpc-*), with
  // lower-case names; values of "-bin" keys are already base64-decoded.
  const http::Headers& metadata() const { return metadata_; }
  // The first value for key (lower-case), or nullptr. E.g. "token", "hasleader".
  const std::string* GetMetadata(std::string_view key) const;
  const std::string& peer() const { return peer_; }
  // Common Name of the verified TLS client certificate; "" without client-cert auth.
  const std::string& client_cn() const { return client_cn_; }
  // From grpc-timeout; nullopt if the client set none.
  std::optional<Clock::time_point> deadline() const { return deadline_; }
  // Thread-safe. True once the client cancelled/reset the stream, the connection closed, or
  // the deadline passed; the call's response will then be discarded.
  bool IsCancelled() const { return cancelled_.load(); }

 private:
  friend class GrpcCall;
  friend class GrpcDispatcher;
  friend struct CallState;
  std::string path_;
  http::Headers metadata_;
  std::string peer_;
  std::string client_cn_;
  std::optional<Clock::time_point> deadline_;
  std::atomic<bool> cancelled_{false};
};

// Completes one unary call. Movable; thread-safe; the first Reply/Fail wins. If destroyed without
// completion the client receives INTERNAL ("handler dropped the call"), never a hang.
class UnaryResponder {
 public:
  UnaryResponder() = default;
  explicit UnaryResponder(std::shared_ptr<CallState> state) : state_(std::move(state)) {}
  UnaryResponder(UnaryResponder&&) = default;
  UnaryResponder& operator=(UnaryResponder&&) noexcept;
  ~UnaryResponder();

  // Sends one response message (serialized) and grpc-status 0.
  void Reply(std::string response);
  // Like Reply, for a message the caller already framed: the concatenation of `framed` is the
  // 5-byte prefix (MessagePrefix in grpc/framing.h) followed by the serialized message. The
  // buffers are moved to the HTTP/2 stream as they are, so a large response built in place
  // (base/chunked_buffer.h) is not copied again before it is framed and encrypted. With `rest`,
  // `framed` is only the message's beginning and `rest` produces the remainder on the loop
  // thread as the client reads (http::BodySource; an error there resets the stream).
  void ReplyFramed(std::vector<std::string> framed,
                   std::unique_ptr<http::BodySource> rest = nullptr);
  // Sends a trailers-only error. REQUIRES: !status.ok() (an OK status replies an empty message).
  void Fail(const Status& status);
  // The call's context; valid while this responder lives. REQUIRES: valid().
  CallContext& context() const;
  bool valid() const { return state_ != nullptr; }
  // Runs `fn` on the loop thread that owns the call: where work that another thread (e.g. the
  // apply thread) released should run. Returns false (dropping `fn`) iff the call is gone.
  bool RunOnLoop(std::function<void()> fn) const;

 private:
  std::shared_ptr<CallState> state_;
};

// Handle to the server side of a streaming call (server-streaming or bidi). Copyable; all
// methods are thread-safe.
class ServerStream {
 public:
  ServerStream() = default;
  explicit ServerStream(std::shared_ptr<CallState> state) : state_(std::move(state)) {}

  // Queues one message (serialized). Returns OK, or:
  //  - Cancelled if the call already finished/was cancelled (nothing sent);
  //  - ResourceExhausted if more than http::kMaxStreamPendingBytes are queued for this client:
  //    the stream is then finished with that status (the client is not reading; a watch would
  //    otherwise grow memory without bound). Check pending_bytes() to slow down before that.
  Status Send(std::string message);
  // Ends the call with status (trailers). Only the first Finish counts.
  void Finish(const Status& status);
  // Bytes queued for this stream that the client has not yet taken (flow control).
  size_t pending_bytes() const;
  // True once Finish was called or the call was cancelled.
  bool IsDone() const;
  CallContext& context() const;
  bool valid() const { return state_ != nullptr; }

 private:
  std::shared_ptr<CallState> state_;
};

// The request side of a streaming call. Owned by the transport; methods run on the loop thread;
// destroyed after the stream closed (after OnCancel, or after Finish and the client's half-close).
// Hand the ServerStream, not `this`, to other threads.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // One request message (serialized, already decompressed).
  virtual void OnMessage(std::string_view message) = 0;
  // The client will send no more messages.
  virtual void OnHalfClose() = 0;
  // The client cancelled, the connection went away, or the deadline passed. No further calls.
  virtual void OnCancel() = 0;
};

using UnaryHandler =
    std::function<void(CallContext& context, std::string request, UnaryResponder responder)>;
using StreamHandlerFactory =
    std::function<std::unique_ptr<StreamHandler>(CallContext& context, ServerStream stream)>;

// Methods by path, plus the plain-HTTP routes sharing the port. Fill it before Server::Start;
// read-only afterwards.
class Registry {
 public:
  // path: "/package.Service/Method".
  void AddUnary(std::string path, UnaryHandler handler);
  void AddStream(std::string path, StreamHandlerFactory factory);
  // HTTP/1.1 and non-gRPC HTTP/2 requests (see http::Router for matching rules).
  void AddHttp(std::string method, std::string path_or_prefix, http::HttpHandler handler);

  const UnaryHandler* FindUnary(std::string_view path) const;
  const StreamHandlerFactory* FindStream(std::string_view path) const;
  bool HasService(std::string_view service) const;
  const http::Router& router() const { return router_; }

 private:
  // Looked up by string_view without building a string: one lookup per call.
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using ByPath = std::unordered_map<std::string, V, PathHash, std::equal_to<>>;
  ByPath<UnaryHandler> unary_;
  ByPath<StreamHandlerFactory> stream_;
  ByPath<int> services_;
  http::Router router_;
};

// Shared by the transport call object and every responder/stream handle of one call.
struct CallState {
  CallContext context;
  http::StreamWriter writer;
  std::mutex mu;  // Orders Send/Finish from different threads; guards the fields below.
  bool headers_sent = false;
  bool finished = false;
  // Called on the loop when the call ends by cancellation (set by the transport).
  std::function<void()> on_cancel;

  // Both thread-safe. Return false if the call already finished.
  bool FinishCall(const Status& status);
  Status SendMessage(std::string message);
  bool ReplyUnary(std::string message);
  bool ReplyUnaryFramed(std::vector<std::string> framed, std::unique_ptr<http::BodySource> rest);
};

}  // namespace etcdpp::grpc
