#include "http/http1_session.h"

#include <spdlog/spdlog.h>

namespace etcdpp::http {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 307:
      return "Temporary Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Request Entity Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

class H1Responder : public HttpResponder::Impl {
 public:
  H1Responder(std::shared_ptr<net::EventLoop> loop, std::weak_ptr<Http1Session> session,
              uint64_t seq)
      : loop_(std::move(loop)), session_(std::move(session)), seq_(seq) {}
  void Send(HttpResponse r) override {
    loop_->Post([session = session_, seq = seq_, r = std::move(r)]() mutable {
      if (auto s = session.lock()) s->Respond(seq, std::move(r));
    });
  }

 private:
  std::shared_ptr<net::EventLoop> loop_;
  std::weak_ptr<Http1Session> session_;
  uint64_t seq_;
};

}  // namespace

std::shared_ptr<Http1Session> Http1Session::Create(net::Connection* conn, const Router* router,
                                                   const HttpOptions& options) {
  return std::shared_ptr<Http1Session>(new Http1Session(conn, router, options));
}

Http1Session::Http1Session(net::Connection* conn, const Router* router, const HttpOptions& options)
    : conn_(conn), router_(router), options_(options), loop_(conn->loop()->shared_from_this()) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = OnMessageBegin;
  settings_.on_url = OnUrl;
  settings_.on_header_field = OnHeaderField;
  settings_.on_header_value = OnHeaderValue;
  settings_.on_headers_complete = OnHeadersComplete;
  settings_.on_body = OnBody;
  settings_.on_message_complete = OnMessageComplete;
  ResetParser();
}

void Http1Session::ResetParser() {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

void Http1Session::Kick() {
  if (!closed_) conn_->RequestFlush();
}

Status Http1Session::OnRead(std::string_view data) {
  if (close_after_write_) return Status::Ok();  // Answered with an error; ignore the rest.
  if (in_flight_ || !pending_input_.empty()) {
    // Pipelined bytes behind an unanswered request: bounded, or the peer could park unlimited
    // data here.
    if (pending_input_.size() + data.size() >
        options_.max_http_body_bytes + options_.max_header_list_bytes) {
      return ResourceExhausted("http/1.1: too much pipelined input");
    }
    pending_input_.append(data);
    if (in_flight_) return Status::Ok();
    std::string buffered = std::move(pending_input_);
    pending_input_.clear();
    return Feed(buffered);
  }
  return Feed(data);
}

Status Http1Session::Feed(std::string_view data) {
  size_t n = http_parser_execute(&parser_, &settings_, data.data(), data.size());
  auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    // A request is complete and dispatched; keep the rest for after its response.
    pending_input_.assign(data.substr(n));
    return Status::Ok();
  }
  if (err != HPE_OK) {
    int status = parse_failure_ != 0 ? parse_failure_ : 400;
    Fail(status, status == 400 ? std::string("400 Bad Request\n") : "");
    return InvalidArgument(std::string("http/1.1: ") + http_errno_description(err));
  }
  if (parser_.upgrade && n < data.size()) {
    // We ignore Upgrade requests (h2c upgrade is optional for servers); bytes after it are not
    // HTTP/1.1.
    Fail(400, "400 Bad Request\n");
    return InvalidArgument("http/1.1: data after an Upgrade request");
  }
  return Status::Ok();
}

void Http1Session::Fail(int status, std::string body) {
  if (close_after_write_) return;
  HttpResponse r = HttpResponse::Text(status, std::move(body));
  keep_alive_ = false;
  in_flight_ = true;
  Respond(++seq_, std::move(r));
}

void Http1Session::Respond(uint64_t seq, HttpResponse response) {
  if (closed_ || !in_flight_ || seq != seq_) return;
  in_flight_ = false;
  bool close = !keep_alive_ || shutting_down_;
  std::string& o = out_;
  o += "HTTP/1.1 ";
  o += std::to_string(response.status);
  o += ' ';
  o += Reason(response.status);
  o += "\r\n";
  for (const auto& h : response.headers) {
    if (EqualsIgnoreCase(h.name, "content-length") || EqualsIgnoreCase(h.name, "connection")) {
      continue;
    }
    o += h.name;
    o += ": ";
    o += h.value;
    o += "\r\n";
  }
  o += "Content-Length: ";
  o += std::to_string(response.body.size());
  o += "\r\n";
  if (close) o += "Connection: close\r\n";
  o += "\r\n";
  if (!head_request_) o += response.body;
  if (close) {
    close_after_write_ = true;
    pending_input_.clear();
  }
  Kick();
  if (close) return;
  ResetParser();
  if (!pending_input_.empty()) {
    std::string buffered = std::move(pending_input_);
    pending_input_.clear();
    Status s = Feed(buffered);
    if (!s.ok()) spdlog::warn("http/1.1 peer={}: {}", conn_->info().peer, s.message());
  }
}

void Http1Session::ProduceOutput(std::string* out, size_t max_bytes) {
  (void)max_bytes;  // Responses are already bounded by the request limits.
  if (out_.empty()) return;
  if (out->empty()) {
    out->swap(out_);
  } else {
    out->append(out_);
    out_.clear();
  }
}

bool Http1Session::WantsClose() const {
  return closed_ || (close_after_write_ && out_.empty()) ||
         (shutting_down_ && !in_flight_ && out_.empty());
}

void Http1Session::OnShutdown() {
  shutting_down_ = true;
  keep_alive_ = false;
  Kick();
}

void Http1Session::OnClose() { closed_ = true; }

int Http1Session::OnMessageBegin(http_parser* p) {
  auto* self = static_cast<Http1Session*>(p->data);
  self->current_ = HttpRequest();
  self->url_.clear();
  self->field_.clear();
  self->last_was_value_ = false;
  self->header_bytes_ = 0;
  self->parse_failure_ = 0;
  return 0;
}

int Http1Session::OnUrl(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<Http1Session*>(p->data);
  self->header_bytes_ += len;
  if (self->header_bytes_ > self->options_.max_header_list_bytes) {
    self->parse_failure_ = 431;
    return 1;
  }
  self->url_.append(at, len);
  return 0;
}

int Http1Session::OnHeaderField(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<Http1Session*>(p->data);
  self->header_bytes_ += len;
  if (self->header_bytes_ > self->options_.max_header_list_bytes) {
    self->parse_failure_ = 431;
    return 1;
  }
  if (self->last_was_value_) {
    self->field_.clear();
    self->last_was_value_ = false;
  }
  self->field_.append(at, len);
  return 0;
}

int Http1Session::OnHeaderValue(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<Http1Session*>(p->data);
  self->header_bytes_ += len;
  if (self->header_bytes_ > self->options_.max_header_list_bytes) {
    self->parse_failure_ = 431;
    return 1;
  }
  if (!self->last_was_value_) {
    self->current_.headers.push_back({self->field_, ""});
    self->last_was_value_ = true;
  }
  self->current_.headers.back().value.append(at, len);
  return 0;
}

int Http1Session::OnHeadersComplete(http_parser* p) {
  auto* self = static_cast<Http1Session*>(p->data);
  if (p->content_length != ULLONG_MAX && p->content_length > self->options_.max_http_body_bytes) {
    self->parse_failure_ = 413;
    return -1;  // "error": stops the parser
  }
  const std::string* expect = FindHeader(self->current_.headers, "expect");
  if (expect != nullptr && EqualsIgnoreCase(*expect, "100-continue")) {
    self->out_ += "HTTP/1.1 100 Continue\r\n\r\n";
    self->Kick();
  }
  self->head_request_ = p->method == HTTP_HEAD;
  return 0;
}

int Http1Session::OnBody(http_parser* p, const char* at, size_t len) {
  auto* self = static_cast<Http1Session*>(p->data);
  if (self->current_.body.size() + len > self->options_.max_http_body_bytes) {
    self->parse_failure_ = 413;
    return 1;
  }
  self->current_.body.append(at, len);
  return 0;
}

int Http1Session::OnMessageComplete(http_parser* p) {
  auto* self = static_cast<Http1Session*>(p->data);
  HttpRequest req = std::move(self->current_);
  req.method = http_method_str(static_cast<http_method>(p->method));
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(self->url_.data(), self->url_.size(), 0, &u) != 0) {
    self->parse_failure_ = 400;
    return 1;
  }
  if (u.field_set & (1 << UF_PATH)) {
    req.path = self->url_.substr(u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
  } else {
    req.path = "/";
  }
  if (u.field_set & (1 << UF_QUERY)) {
    req.query = self->url_.substr(u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
  }
  req.peer = self->conn_->info().peer;
  req.client_cn = self->conn_->info().client_cn;
  self->keep_alive_ = http_should_keep_alive(p) != 0 && !self->shutting_down_;
  self->in_flight_ = true;
  uint64_t seq = ++self->seq_;
  http_parser_pause(p, 1);
  HttpResponder responder(std::make_unique<H1Responder>(self->loop_, self->weak_from_this(), seq));
  if (self->router_ == nullptr) {
    responder.Send(HttpResponse::Text(404, "404 page not found\n"));
  } else {
    self->router_->Route(std::move(req), std::move(responder));
  }
  return 0;
}

}  // namespace etcdpp::http
