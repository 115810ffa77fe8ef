#include "http/types.h"

#include <cctype>

namespace etcdpp::http {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

const std::string* FindHeader(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.headers.push_back({"content-type", std::move(content_type)});
  r.body = std::move(body);
  return r;
}

HttpResponder& HttpResponder::operator=(HttpResponder&& other) noexcept {
  if (this != &other) {
    if (impl_ != nullptr) impl_->Send(HttpResponse::Text(500, "request dropped\n"));
    impl_ = std::move(other.impl_);
  }
  return *this;
}

HttpResponder::~HttpResponder() {
  if (impl_ != nullptr) impl_->Send(HttpResponse::Text(500, "request dropped\n"));
}

void HttpResponder::Send(HttpResponse response) {
  if (impl_ == nullptr) return;
  auto impl = std::move(impl_);
  impl->Send(std::move(response));
}

void Router::Add(std::string method, std::string path_or_prefix, HttpHandler handler) {
  bool prefix = !path_or_prefix.empty() && path_or_prefix.back() == '/';
  routes_.push_back(
      Entry{std::move(method), std::move(path_or_prefix), prefix, std::move(handler)});
}

void Router::Route(HttpRequest&& request, HttpResponder responder) const {
  const Entry* best = nullptr;
  bool path_matched = false;
  size_t best_len = 0;
  for (const auto& r : routes_) {
    bool match =
        r.prefix ? request.path.compare(0, r.path.size(), r.path) == 0 : request.path == r.path;
    if (!match) continue;
    path_matched = true;
    if (!r.method.empty() && r.method != request.method) continue;
    // Exact routes beat prefixes; among prefixes the longest wins.
    size_t len = r.prefix ? r.path.size() : SIZE_MAX;
    if (best == nullptr || len > best_len) {
      best = &r;
      best_len = len;
    }
  }
  if (best == nullptr) {
    if (path_matched) {
      responder.Send(HttpResponse::Text(405, "Method Not Allowed\n"));
    } else {
      responder.Send(HttpResponse::Text(404, "404 page not found\n"));
    }
    return;
  }
  best->handler(std::move(request), std::move(responder));
}

}  // namespace etcdpp::http
