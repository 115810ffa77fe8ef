// Http1Session: the server side of one HTTP/1.1 connection, parsed by libhttp-parser.
//
// Requests are handled one at a time in arrival order: when a request is complete the parser
// stops, further pipelined bytes wait in pending_input_ (bounded), and parsing resumes once the
// response was queued. Keep-alive follows http_should_keep_alive. Malformed requests get 400,
// oversized header blocks 431, oversized bodies 413, and the connection is closed after them.
//
// Ownership and threads: owned (via shared_ptr) by the connection's protocol object; loop thread
// only. HttpResponders hold a weak_ptr and post the response back.
#pragma once

#include <http_parser.h>

#include <memory>
#include <string>

#include "base/status.h"
#include "http/options.h"
#include "http/types.h"
#include "net/connection.h"

namespace etcdpp::http {

class Http1Session : public std::enable_shared_from_this<Http1Session> {
 public:
  static std::shared_ptr<Http1Session> Create(net::Connection* conn, const Router* router,
                                              const HttpOptions& options);

  Status OnRead(std::string_view data);
  void ProduceOutput(std::string* out, size_t max_bytes);
  bool WantsClose() const;
  void OnShutdown();
  void OnClose();

  // Loop thread: the response for request number seq.
  void Respond(uint64_t seq, HttpResponse response);

 private:
  Http1Session(net::Connection* conn, const Router* router, const HttpOptions& options);
  void ResetParser();
  Status Feed(std::string_view data);
  void Fail(int status, std::string body);
  void Kick();

  static int OnMessageBegin(http_parser* p);
  static int OnUrl(http_parser* p, const char* at, size_t len);
  static int OnHeaderField(http_parser* p, const char* at, size_t len);
  static int OnHeaderValue(http_parser* p, const char* at, size_t len);
  static int OnHeadersComplete(http_parser* p);
  static int OnBody(http_parser* p, const char* at, size_t len);
  static int OnMessageComplete(http_parser* p);

  net::Connection* conn_;
  const Router* router_;
  HttpOptions options_;
  std::shared_ptr<net::EventLoop> loop_;
  http_parser parser_;
  http_parser_settings settings_;

  // The request being parsed.
  HttpRequest current_;
  std::string url_;
  std::string field_;
  bool last_was_value_ = false;
  size_t header_bytes_ = 0;
  int parse_failure_ = 0;  // HTTP status to answer when a callback refused the input
  bool head_request_ = false;
  bool keep_alive_ = true;

  bool in_flight_ = false;  // a request was dispatched and is waiting for its response
  uint64_t seq_ = 0;        // number of the in-flight request
  std::string pending_input_;
  std::string out_;
  bool close_after_write_ = false;
  bool closed_ = false;
  bool shutting_down_ = false;
};

}  // namespace etcdpp::http
