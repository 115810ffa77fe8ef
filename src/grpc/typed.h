// Protobuf-typed convenience over the byte-level API in grpc/call.h, so service code never
// parses or serializes bytes itself. Header-only and generic over any protobuf message type
// (etcdserverpb::RangeRequest, ...); it depends on libprotobuf, not on etcdpp_proto.
//
//   grpc::AddTypedUnary<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
//       registry, "/etcdserverpb.KV/Range",
//       [](grpc::CallContext& ctx, etcdserverpb::RangeRequest&& req,
//          grpc::TypedResponder<etcdserverpb::RangeResponse> r) { ... r.Reply(resp); });
//
// A request that does not parse fails with INTERNAL "grpc: error unmarshalling request: ...", as
// grpc-go answers. Threading is that of call.h: responders and streams may complete from any
// thread, exactly once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpc/call.h"
#include "grpc/framing.h"

namespace etcdpp::grpc {

template <typename Resp>
class TypedResponder {
 public:
  TypedResponder() = default;
  explicit TypedResponder(UnaryResponder raw) : raw_(std::move(raw)) {}

  // Serializes the response once, straight behind its gRPC prefix, and hands that buffer to the
  // transport. A response over kMaxSendMessageBytes fails as grpc-go's server fails it.
  void Reply(const Resp& response) {
    size_t size = response.ByteSizeLong();
    if (size > kMaxSendMessageBytes) {
      raw_.Fail(SendTooLarge(size));
      return;
    }
    std::string framed = MessagePrefix(size);
    framed.resize(kMessagePrefixBytes + size);
    // ByteSizeLong() above cached the sizes this relies on.
    response.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(framed.data()) +
                                             kMessagePrefixBytes);
    std::vector<std::string> one;
    one.push_back(std::move(framed));
    raw_.ReplyFramed(std::move(one));
  }
  // Sends a response the caller encoded itself. REQUIRES: the concatenation of `framed` is
  // MessagePrefix(n) followed by n bytes that parse as Resp, the last of them produced by `rest`
  // if given (see UnaryResponder::ReplyFramed).
  void ReplyFramed(std::vector<std::string> framed,
                   std::unique_ptr<http::BodySource> rest = nullptr) {
    raw_.ReplyFramed(std::move(framed), std::move(rest));
  }
  // REQUIRES: !status.ok().
  void Fail(const Status& status) { raw_.Fail(status); }
  CallContext& context() const { return raw_.context(); }
  bool valid() const { return raw_.valid(); }
  bool RunOnLoop(std::function<void()> fn) const { return raw_.RunOnLoop(std::move(fn)); }

 private:
  UnaryResponder raw_;
};

// Copyable, thread-safe like ServerStream.
template <typename Resp>
class TypedStream {
 public:
  TypedStream() = default;
  explicit TypedStream(ServerStream raw) : raw_(std::move(raw)) {}

  // See ServerStream::Send for the statuses.
  Status Send(const Resp& message) {
    std::string bytes;
    if (!message.SerializeToString(&bytes)) return Internal("grpc: error marshalling response");
    return raw_.Send(std::move(bytes));
  }
  void Finish(const Status& status) { raw_.Finish(status); }
  size_t pending_bytes() const { return raw_.pending_bytes(); }
  bool IsDone() const { return raw_.IsDone(); }
  CallContext& context() const { return raw_.context(); }
  const ServerStream& raw() const { return raw_; }

 private:
  ServerStream raw_;
};

// Request side of a typed streaming call; same contract as grpc::StreamHandler.
template <typename Req>
class TypedStreamHandler {
 public:
  virtual ~TypedStreamHandler() = default;
  virtual void OnRequest(Req&& request) = 0;
  virtual void OnHalfClose() = 0;
  virtual void OnCancel() = 0;
};

template <typename Req, typename Resp>
using TypedUnaryHandler = std::function<void(CallContext&, Req&&, TypedResponder<Resp>)>;

template <typename Req, typename Resp>
using TypedStreamFactory =
    std::function<std::unique_ptr<TypedStreamHandler<Req>>(CallContext&, TypedStream<Resp>)>;

inline Status UnmarshalError(const char* type_name) {
  return Internal(std::string("grpc: error unmarshalling request: cannot parse ") + type_name);
}

template <typename Req, typename Resp>
void AddTypedUnary(Registry& registry, std::string path, TypedUnaryHandler<Req, Resp> handler) {
  registry.AddUnary(std::move(path), [handler = std::move(handler)](
                                         CallContext& ctx, std::string bytes, UnaryResponder r) {
    Req req;
    if (!req.ParseFromString(bytes)) {
      r.Fail(UnmarshalError(Req::descriptor()->full_name().c_str()));
      return;
    }
    handler(ctx, std::move(req), TypedResponder<Resp>(std::move(r)));
  });
}

namespace internal {
template <typename Req, typename Resp>
class TypedStreamAdapter : public StreamHandler {
 public:
  TypedStreamAdapter(std::unique_ptr<TypedStreamHandler<Req>> inner, ServerStream stream)
      : inner_(std::move(inner)), stream_(std::move(stream)) {}
  void OnMessage(std::string_view bytes) override {
    if (failed_) return;
    Req req;
    if (!req.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      failed_ = true;
      stream_.Finish(UnmarshalError(Req::descriptor()->full_name().c_str()));
      return;
    }
    inner_->OnRequest(std::move(req));
  }
  void OnHalfClose() override {
    if (!failed_) inner_->OnHalfClose();
  }
  void OnCancel() override { inner_->OnCancel(); }

 private:
  std::unique_ptr<TypedStreamHandler<Req>> inner_;
  ServerStream stream_;
  bool failed_ = false;
};
}  // namespace internal

// For server-streaming and bidi methods. The factory may return nullptr after finishing the
// stream itself (e.g. Unavailable "etcdserver: no leader").
template <typename Req, typename Resp>
void AddTypedStream(Registry& registry, std::string path, TypedStreamFactory<Req, Resp> factory) {
  registry.AddStream(std::move(path),
                     [factory = std::move(factory)](
                         CallContext& ctx, ServerStream stream) -> std::unique_ptr<StreamHandler> {
                       auto inner = factory(ctx, TypedStream<Resp>(stream));
                       if (inner == nullptr) return nullptr;
                       return std::make_unique<internal::TypedStreamAdapter<Req, Resp>>(
                           std::move(inner), std::move(stream));
                     });
}

}  // namespace etcdpp::grpc
