// The net::Protocol for a client port: decides HTTP/2 or HTTP/1.1 per connection and hands the
// bytes to an Http2Session or Http1Session.
//
// Decision: ALPN "h2" → HTTP/2. Otherwise (plain TCP, ALPN http/1.1 or none) the first bytes are
// compared with the HTTP/2 client preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n": a match means h2c
// with prior knowledge (what gRPC clients send on http:// URLs), anything else is HTTP/1.1.
// Loop thread only, like every Protocol.
#pragma once

#include <memory>

#include "http/http1_session.h"
#include "http/http2_session.h"
#include "http/options.h"
#include "http/stream.h"
#include "http/types.h"
#include "net/connection.h"

namespace etcdpp::http {

// router and dispatcher (either may be null) must outlive every connection.
net::Connection::ProtocolFactory MakeServerProtocolFactory(const Router* router,
                                                           StreamDispatcher* dispatcher,
                                                           HttpOptions options);

class ServerProtocol : public net::Protocol {
 public:
  ServerProtocol(net::Connection* conn, const Router* router, StreamDispatcher* dispatcher,
                 HttpOptions options);
  Status OnRead(std::string_view data) override;
  void ProduceOutput(std::string* out, size_t max_bytes) override;
  bool WantsClose() const override;
  void OnShutdown() override;
  void OnClose() override;

 private:
  net::Connection* conn_;
  const Router* router_;
  StreamDispatcher* dispatcher_;
  HttpOptions options_;
  std::string sniff_;  // bytes seen before the protocol was decided
  bool shutdown_before_decided_ = false;
  std::shared_ptr<Http2Session> h2_;
  std::shared_ptr<Http1Session> h1_;
};

}  // namespace etcdpp::http
