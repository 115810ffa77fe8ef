#include "http/server_protocol.h"

#include <cstring>

namespace etcdpp::http {
namespace {
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
}

net::Connection::ProtocolFactory MakeServerProtocolFactory(const Router* router,
                                                           StreamDispatcher* dispatcher,
                                                           HttpOptions options) {
  return [router, dispatcher, options](net::Connection& conn) {
    return std::make_unique<ServerProtocol>(&conn, router, dispatcher, options);
  };
}

ServerProtocol::ServerProtocol(net::Connection* conn, const Router* router,
                               StreamDispatcher* dispatcher, HttpOptions options)
    : conn_(conn), router_(router), dispatcher_(dispatcher), options_(options) {
  if (conn_->info().alpn == "h2") {
    h2_ = Http2Session::Create(conn_, router_, dispatcher_, options_);
    conn_->RequestFlush();  // Our SETTINGS go first; clients wait for them (GRPC-NOTES §3).
  }
}

Status ServerProtocol::OnRead(std::string_view data) {
  if (h2_ != nullptr) return h2_->OnRead(data);
  if (h1_ != nullptr) return h1_->OnRead(data);
  sniff_.append(data);
  size_t n = std::min(sniff_.size(), kPreface.size());
  if (std::string_view(sniff_).substr(0, n) == kPreface.substr(0, n)) {
    if (sniff_.size() < kPreface.size()) return Status::Ok();  // need more bytes
    h2_ = Http2Session::Create(conn_, router_, dispatcher_, options_);
    if (shutdown_before_decided_) h2_->OnShutdown();
    std::string bytes = std::move(sniff_);
    return h2_->OnRead(bytes);
  }
  h1_ = Http1Session::Create(conn_, router_, options_);
  if (shutdown_before_decided_) h1_->OnShutdown();
  std::string bytes = std::move(sniff_);
  return h1_->OnRead(bytes);
}

void ServerProtocol::ProduceOutput(std::string* out, size_t max_bytes) {
  if (h2_ != nullptr) h2_->ProduceOutput(out, max_bytes);
  if (h1_ != nullptr) h1_->ProduceOutput(out, max_bytes);
}

bool ServerProtocol::WantsClose() const {
  if (h2_ != nullptr) return h2_->WantsClose();
  if (h1_ != nullptr) return h1_->WantsClose();
  return shutdown_before_decided_;
}

void ServerProtocol::OnShutdown() {
  if (h2_ != nullptr) h2_->OnShutdown();
  if (h1_ != nullptr) h1_->OnShutdown();
  if (h1_ == nullptr && h2_ == nullptr) shutdown_before_decided_ = true;
}

void ServerProtocol::OnClose() {
  if (h2_ != nullptr) h2_->OnClose();
  if (h1_ != nullptr) h1_->OnClose();
}

}  // namespace etcdpp::http
