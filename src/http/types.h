// Plain HTTP requests and responses as the handlers above see them, for both HTTP/1.1 and
// non-gRPC HTTP/2 requests, plus the path router. No gRPC here.
//
// Threads: handlers are called on the connection's loop thread. An HttpResponder may be moved to
// and completed from any thread, exactly once; completing it posts the response to the owning
// loop, and is a no-op if the connection is gone by then.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace etcdpp::http {

struct Header {
  // Lower case for HTTP/2, as received for HTTP/1.1: compare with EqualsIgnoreCase.
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// The first header value with this name (case-insensitive), or nullptr.
const std::string* FindHeader(const Headers& headers, std::string_view name);

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::string query;   // after '?', without it; "" if none
  Headers headers;     // request headers (no HTTP/2 pseudo-headers)
  std::string body;
  std::string peer;       // peer address, for logs
  std::string client_cn;  // verified client certificate Common Name, "" if none
  bool http2 = false;
};

struct HttpResponse {
  int status = 200;
  Headers headers;  // content-length is added by the transport
  std::string body;

  static HttpResponse Text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");
};

// A one-shot, thread-safe completion for one HTTP request. Movable, not copyable.
// If it is destroyed without Send(), the client gets 500 so no request hangs forever.
class HttpResponder {
 public:
  class Impl {
   public:
    virtual ~Impl() = default;
    // Called at most once, from any thread.
    virtual void Send(HttpResponse response) = 0;
  };

  HttpResponder() = default;
  explicit HttpResponder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
  HttpResponder(HttpResponder&&) = default;
  HttpResponder& operator=(HttpResponder&& other) noexcept;
  ~HttpResponder();

  // Sends the response. Second and later calls are ignored.
  void Send(HttpResponse response);
  bool valid() const { return impl_ != nullptr; }

 private:
  std::unique_ptr<Impl> impl_;
};

using HttpHandler = std::function<void(HttpRequest&& request, HttpResponder responder)>;

// Routes requests by method and path. A route path ending in '/' matches every path under it
// (longest match wins, like Go's ServeMux); others match exactly. method "" matches any method.
// A path that matches with the wrong method gets 405, no match gets 404.
// Thread safety: build it before the server starts; afterwards it is read-only.
class Router {
 public:
  void Add(std::string method, std::string path_or_prefix, HttpHandler handler);
  // Calls the matching handler, or answers 404/405 itself.
  void Route(HttpRequest&& request, HttpResponder responder) const;

 private:
  struct Entry {
    std::string method;
    std::string path;
    bool prefix;
    HttpHandler handler;
  };
  std::vector<Entry> routes_;
};

}  // namespace etcdpp::http
