#include "grpc/call.h"

#include "grpc/framing.h"

namespace etcdpp::grpc {
namespace {

http::Headers StatusTrailers(const Status& status) {
  http::Headers t;
  t.push_back({"grpc-status", std::to_string(static_cast<int>(status.code()))});
  if (!status.message().empty()) t.push_back({"grpc-message", PercentEncode(status.message())});
  return t;
}

const http::Header kContentType{"content-type", "application/grpc"};
// The headers and trailers of every successful call, referenced by StreamWriter::SendResponse.
const http::Headers kOkHeaders{kContentType};
const http::Headers kOkTrailers = StatusTrailers(Status::Ok());

}  // namespace

const std::string* CallContext::GetMetadata(std::string_view key) const {
  for (const auto& h : metadata_) {
    if (h.name == key) return &h.value;
  }
  return nullptr;
}

bool CallState::FinishCall(const Status& status) {
  std::lock_guard<std::mutex> lock(mu);
  if (finished) return false;
  finished = true;
  http::Headers trailers = StatusTrailers(status);
  if (!headers_sent) {
    // Trailers-only response: one HEADERS frame with END_STREAM (GRPC-NOTES §1).
    headers_sent = true;
    trailers.insert(trailers.begin(), kContentType);
    writer.SendHeadersAndEnd(200, std::move(trailers));
  } else {
    writer.Finish(std::move(trailers));
  }
  return true;
}

Status CallState::SendMessage(std::string message) {
  std::unique_lock<std::mutex> lock(mu);
  if (finished || context.IsCancelled()) return Status(Code::kCancelled, "call already finished");
  if (!headers_sent) {
    headers_sent = true;
    writer.SendHeaders(200, {kContentType});
  }
  if (writer.SendData(EncodeMessage(message))) return Status::Ok();
  if (writer.closed()) return Status(Code::kCancelled, "stream closed");
  lock.unlock();
  Status st = ResourceExhausted("etcdpp: too many bytes queued for a client that is not reading");
  FinishCall(st);
  return st;
}

bool CallState::ReplyUnary(std::string message) {
  std::lock_guard<std::mutex> lock(mu);
  if (finished) return false;
  finished = true;
  headers_sent = true;
  std::vector<std::string> body;
  body.push_back(EncodeMessage(message));
  writer.SendResponse(200, &kOkHeaders, std::move(body), &kOkTrailers);
  return true;
}

bool CallState::ReplyUnaryFramed(std::vector<std::string> framed,
                                 std::unique_ptr<http::BodySource> rest) {
  std::lock_guard<std::mutex> lock(mu);
  if (finished) return false;
  finished = true;
  headers_sent = true;
  writer.SendResponse(200, &kOkHeaders, std::move(framed), &kOkTrailers, std::move(rest));
  return true;
}

UnaryResponder& UnaryResponder::operator=(UnaryResponder&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr) state_->FinishCall(Internal("handler dropped the call"));
    state_ = std::move(other.state_);
  }
  return *this;
}

UnaryResponder::~UnaryResponder() {
  if (state_ != nullptr) state_->FinishCall(Internal("handler dropped the call"));
}

void UnaryResponder::Reply(std::string response) {
  if (state_ == nullptr) return;
  state_->ReplyUnary(std::move(response));
  state_.reset();
}

bool UnaryResponder::RunOnLoop(std::function<void()> fn) const {
  return state_ != nullptr && state_->writer.RunOnLoop(std::move(fn));
}

void UnaryResponder::ReplyFramed(std::vector<std::string> framed,
                                 std::unique_ptr<http::BodySource> rest) {
  if (state_ == nullptr) return;
  state_->ReplyUnaryFramed(std::move(framed), std::move(rest));
  state_.reset();
}

void UnaryResponder::Fail(const Status& status) {
  if (state_ == nullptr) return;
  if (status.ok()) {
    state_->ReplyUnary("");
  } else {
    state_->FinishCall(status);
  }
  state_.reset();
}

CallContext& UnaryResponder::context() const { return state_->context; }

Status ServerStream::Send(std::string message) {
  if (state_ == nullptr) return Status(Code::kCancelled, "no call");
  return state_->SendMessage(std::move(message));
}

void ServerStream::Finish(const Status& status) {
  if (state_ != nullptr) state_->FinishCall(status);
}

size_t ServerStream::pending_bytes() const {
  return state_ == nullptr ? 0 : state_->writer.pending_bytes();
}

bool ServerStream::IsDone() const {
  if (state_ == nullptr) return true;
  if (state_->context.IsCancelled()) return true;
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->finished;
}

CallContext& ServerStream::context() const { return state_->context; }

void Registry::AddUnary(std::string path, UnaryHandler handler) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) services_[path.substr(1, slash - 1)]++;
  unary_[std::move(path)] = std::move(handler);
}

void Registry::AddStream(std::string path, StreamHandlerFactory factory) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) services_[path.substr(1, slash - 1)]++;
  stream_[std::move(path)] = std::move(factory);
}

void Registry::AddHttp(std::string method, std::string path_or_prefix, http::HttpHandler handler) {
  router_.Add(std::move(method), std::move(path_or_prefix), std::move(handler));
}

const UnaryHandler* Registry::FindUnary(std::string_view path) const {
  auto it = unary_.find(path);
  return it == unary_.end() ? nullptr : &it->second;
}

const StreamHandlerFactory* Registry::FindStream(std::string_view path) const {
  auto it = stream_.find(path);
  return it == stream_.end() ? nullptr : &it->second;
}

bool Registry::HasService(std::string_view service) const { return services_.contains(service); }

}  // namespace etcdpp::grpc
