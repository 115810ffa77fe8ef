#include "grpc/server.h"

#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include "grpc/framing.h"
#include "http/server_protocol.h"

namespace etcdpp::grpc {

// The transport side of one gRPC call, owned by the HTTP/2 stream. Loop thread only.
// Invariant: after cancel_delivered_ the user StreamHandler gets no more calls.
class GrpcCall : public http::StreamHandler {
 public:
  enum class Kind { kUnary, kStream, kRejected };

  GrpcCall(Kind kind, std::shared_ptr<CallState> state, const UnaryHandler* unary,
           size_t max_request_bytes, bool gzip, net::EventLoop* loop)
      : kind_(kind),
        state_(std::move(state)),
        unary_(unary),
        reader_(max_request_bytes),
        max_request_bytes_(max_request_bytes),
        gzip_(gzip),
        loop_(loop) {}

  ~GrpcCall() override {
    if (timer_ != 0) loop_->CancelTimer(timer_);
  }

  void StartStream(const StreamHandlerFactory& factory) {
    user_ = factory(state_->context, ServerStream(state_));
    if (user_ == nullptr) {
      // The factory answered by itself (e.g. Unavailable "no leader"); make sure it did.
      state_->FinishCall(Internal("stream handler refused the call"));
      kind_ = Kind::kRejected;
    }
  }

  void ArmDeadline() {
    if (!state_->context.deadline_) return;
    timer_ = loop_->RunAt(*state_->context.deadline_, [this] {
      timer_ = 0;
      if (state_->FinishCall(Status(Code::kDeadlineExceeded, "context deadline exceeded"))) {
        Cancel();
      }
    });
  }

  size_t OnData(std::string_view data) override {
    size_t held_before = reader_.buffered_bytes();
    if (kind_ == Kind::kRejected || input_failed_) return held_before + data.size();
    Status s = reader_.Feed(data);
    if (!s.ok()) {
      Fail(Status(Code::kInvalidArgument, std::string(kRequestTooLargeMessage)));
      return held_before + data.size();
    }
    ProcessMessages();
    // Complete messages were handed on (unary: the one request is kept, but it is bounded by
    // the limit and the handler runs at END_STREAM); only an incomplete one stays held.
    size_t held_after = input_failed_ || kind_ == Kind::kRejected ? 0 : reader_.buffered_bytes();
    return held_before + data.size() - held_after;
  }

  void ProcessMessages() {
    while (auto m = reader_.Next()) {
      std::string bytes = std::move(m->bytes);
      if (m->compressed) {
        if (!gzip_) {
          Fail(Internal("grpc: compressed flag set with identity or empty encoding"));
          return;
        }
        auto inflated = GzipDecompress(bytes, max_request_bytes_);
        if (!inflated.ok()) {
          Fail(inflated.status().code() == Code::kResourceExhausted
                   ? Status(Code::kInvalidArgument, std::string(kRequestTooLargeMessage))
                   : inflated.status());
          return;
        }
        bytes = std::move(inflated).value();
      }
      if (kind_ == Kind::kUnary) {
        if (++unary_messages_ > 1) {
          Fail(Status(Code::kUnimplemented, "grpc: more than one request message in a unary call"));
          return;
        }
        unary_request_ = std::move(bytes);
      } else if (!cancel_delivered_) {
        user_->OnMessage(bytes);
        if (kind_ == Kind::kRejected) return;
      }
    }
  }

  void OnEnd() override {
    if (kind_ == Kind::kRejected || input_failed_) return;
    if (reader_.HasPartial()) {
      Fail(Internal("grpc: stream ended inside a message"));
      return;
    }
    if (kind_ == Kind::kUnary) {
      if (unary_messages_ != 1) {
        Fail(Status(Code::kUnimplemented, "grpc: no request message in a unary call"));
        return;
      }
      if (state_->context.IsCancelled()) return;
      (*unary_)(state_->context, std::move(unary_request_), UnaryResponder(state_));
      return;
    }
    if (!cancel_delivered_) user_->OnHalfClose();
  }

  void OnReset() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->finished = true;  // Nothing can be sent on a reset stream.
    }
    Cancel();
  }

 private:
  void Fail(const Status& status) {
    input_failed_ = true;
    state_->FinishCall(status);
    Cancel();
  }

  void Cancel() {
    state_->context.cancelled_.store(true);
    if (user_ != nullptr && !cancel_delivered_) {
      cancel_delivered_ = true;
      user_->OnCancel();
    }
  }

  Kind kind_;
  std::shared_ptr<CallState> state_;
  const UnaryHandler* unary_;
  std::unique_ptr<grpc::StreamHandler> user_;
  MessageReader reader_;
  size_t max_request_bytes_;
  bool gzip_;
  net::EventLoop* loop_;
  net::EventLoop::TimerId timer_ = 0;
  int unary_messages_ = 0;
  std::string unary_request_;
  bool input_failed_ = false;
  bool cancel_delivered_ = false;
};

std::unique_ptr<http::StreamHandler> GrpcDispatcher::Claim(http::RequestHead& head,
                                                           const net::ConnectionInfo& conn,
                                                           http::StreamWriter writer) {
  using namespace std::string_view_literals;
  const std::string* content_type = http::FindHeader(head.headers, "content-type");
  if (head.method != "POST"sv || content_type == nullptr ||
      content_type->compare(0, 16, "application/grpc") != 0) {
    return nullptr;  // plain HTTP
  }
  auto state = std::make_shared<CallState>();
  state->writer = writer;
  CallContext& ctx = state->context;
  ctx.path_ = std::move(head.path);
  ctx.peer_ = conn.peer;
  ctx.client_cn_ = conn.client_cn;
  bool gzip = false;
  Status reject;
  for (auto& h : head.headers) {
    const std::string_view name = h.name;
    if (name == "grpc-timeout"sv) {
      auto t = ParseGrpcTimeout(h.value);
      if (!t) {
        reject = Internal("grpc: malformed grpc-timeout: " + h.value);
      } else {
        ctx.deadline_ = CallContext::Clock::now() +
                        std::chrono::duration_cast<CallContext::Clock::duration>(*t);
      }
      continue;
    }
    if (name == "grpc-encoding"sv) {
      if (h.value == "gzip"sv) {
        gzip = true;
      } else if (h.value != "identity"sv) {
        reject =
            Status(Code::kUnimplemented,
                   "grpc: Decompressor is not installed for grpc-encoding \"" + h.value + "\"");
      }
      continue;
    }
    if (name == "content-type"sv || name == "te"sv || name.starts_with("grpc-"sv)) continue;
    if (name.ends_with("-bin"sv) && name.size() > 4) {
      auto decoded = Base64Decode(h.value);
      if (!decoded.ok()) {
        reject = Internal("grpc: malformed binary metadata " + h.name);
        continue;
      }
      ctx.metadata_.push_back({std::move(h.name), std::move(decoded).value()});
      continue;
    }
    ctx.metadata_.push_back(std::move(h));
  }
  const std::string& path = ctx.path_;
  net::EventLoop* loop = writer.loop();
  const UnaryHandler* unary = nullptr;
  const StreamHandlerFactory* stream = nullptr;
  if (reject.ok()) {
    unary = registry_->FindUnary(path);
    if (unary == nullptr) stream = registry_->FindStream(path);
    if (unary == nullptr && stream == nullptr) {
      std::string_view p = path;
      auto slash = p.rfind('/');
      std::string service(slash != std::string_view::npos && slash > 0 ? p.substr(1, slash - 1)
                                                                       : p);
      std::string method(slash != std::string_view::npos ? p.substr(slash + 1) : "");
      reject =
          registry_->HasService(service)
              ? Status(Code::kUnimplemented, "unknown method " + method + " for service " + service)
              : Status(Code::kUnimplemented, "unknown service " + service);
    }
  }
  if (!reject.ok()) {
    spdlog::debug("grpc call {} from peer={} rejected: {}", path, conn.peer, reject.message());
    state->FinishCall(reject);
    return std::make_unique<GrpcCall>(GrpcCall::Kind::kRejected, state, nullptr, max_request_bytes_,
                                      false, loop);
  }
  auto call = std::make_unique<GrpcCall>(
      unary != nullptr ? GrpcCall::Kind::kUnary : GrpcCall::Kind::kStream, state, unary,
      max_request_bytes_, gzip, loop);
  if (ctx.deadline_ && *ctx.deadline_ <= CallContext::Clock::now()) {
    state->FinishCall(Status(Code::kDeadlineExceeded, "context deadline exceeded"));
    ctx.cancelled_.store(true);
    return std::make_unique<GrpcCall>(GrpcCall::Kind::kRejected, state, nullptr, max_request_bytes_,
                                      false, loop);
  }
  if (stream != nullptr) call->StartStream(*stream);
  call->ArmDeadline();
  return call;
}

Server::Server(ServerOptions options, std::shared_ptr<const Registry> registry)
    : options_(std::move(options)), registry_(std::move(registry)) {
  // One whole request message (plus its prefix) must fit in a stream's receive window, because
  // window credit is returned only for complete messages (see http::StreamHandler::OnData).
  size_t need = options_.max_request_bytes + kMessagePrefixBytes + 16 * 1024;
  if (options_.http.initial_window_bytes < need) {
    options_.http.initial_window_bytes =
        static_cast<uint32_t>(std::min<size_t>(need, NGHTTP2_MAX_WINDOW_SIZE));
  }
  dispatcher_ = std::make_unique<GrpcDispatcher>(registry_, options_.max_request_bytes);
}

Server::~Server() { Stop(std::chrono::milliseconds(0)); }

Status Server::Start() {
  if (started_) return FailedPrecondition("server already started");
  std::vector<net::ListenUrl> urls;
  bool need_tls = false;
  for (const auto& u : options_.listen_urls) {
    ETCDPP_ASSIGN_OR_RETURN(auto url, net::ParseListenUrl(u));
    need_tls |= url.tls();
    urls.push_back(std::move(url));
  }
  if (need_tls) {
    if (!options_.tls.Enabled()) {
      return InvalidArgument("TLS listen URL given but neither --cert-file nor --auto-tls");
    }
    ETCDPP_ASSIGN_OR_RETURN(tls_, net::TlsContext::Create(options_.tls));
  }
  ETCDPP_ASSIGN_OR_RETURN(loops_, net::EventLoopGroup::Create(options_.num_loops, "grpc-loop-"));
  net_ = std::make_unique<net::NetServer>(
      std::move(urls), tls_, loops_.get(),
      http::MakeServerProtocolFactory(&registry_->router(), dispatcher_.get(), options_.http));
  Status s = net_->Start();
  if (!s.ok()) {
    net_.reset();
    loops_->Stop();
    loops_.reset();
    return s;
  }
  started_ = true;
  return Status::Ok();
}

void Server::Stop(std::chrono::milliseconds grace) {
  if (!started_) return;
  started_ = false;
  net_->Shutdown(grace);
  loops_->Stop();
  net_.reset();
  loops_.reset();
}

const std::vector<net::BoundAddress>& Server::bound() const {
  static const std::vector<net::BoundAddress> kNone;
  return net_ ? net_->bound() : kNone;
}

size_t Server::connection_count() const { return net_ ? net_->connection_count() : 0; }

}  // namespace etcdpp::grpc
