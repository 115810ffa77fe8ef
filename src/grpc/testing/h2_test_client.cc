#include "grpc/testing/h2_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "grpc/framing.h"

namespace etcdpp::grpc::testing {
namespace {

constexpr int kSafetyTimeoutMs = 10'000;

nghttp2_nv Nv(const std::string& n, const std::string& v) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

std::string StreamResult::Trailer(const std::string& name) const {
  const auto& src = trailers.empty() ? headers : trailers;
  const std::string* v = http::FindHeader(src, name);
  return v == nullptr ? "" : *v;
}

std::vector<std::string> StreamResult::Messages() const {
  MessageReader r(1u << 30);
  (void)r.Feed(data);
  std::vector<std::string> out;
  while (auto m = r.Next()) out.push_back(m->bytes);
  return out;
}

std::unique_ptr<H2TestClient> H2TestClient::Connect(int port) { return Connect(port, Options()); }

std::unique_ptr<H2TestClient> H2TestClient::Connect(int port, Options options) {
  std::unique_ptr<H2TestClient> c(new H2TestClient());
  c->fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return nullptr;
  int one = 1;
  setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(
      cbs,
      [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v,
         size_t vl, uint8_t, void* u) -> int {
        auto* self = static_cast<H2TestClient*>(u);
        auto& s = self->streams_[f->hd.stream_id];
        std::string name(reinterpret_cast<const char*>(n), nl);
        std::string value(reinterpret_cast<const char*>(v), vl);
        if (name == ":status") {
          s.status = std::stoi(value);
        } else if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_HEADERS) {
          s.trailers.push_back({name, value});
        } else {
          s.headers.push_back({name, value});
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t len, void* u) -> int {
        static_cast<H2TestClient*>(u)->streams_[id].data.append(reinterpret_cast<const char*>(d),
                                                                len);
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cbs, [](nghttp2_session*, int32_t id, uint32_t ec, void* u) -> int {
        auto& s = static_cast<H2TestClient*>(u)->streams_[id];
        s.closed = true;
        s.error_code = ec;
        return 0;
      });
  nghttp2_session_callbacks_set_on_frame_recv_callback(
      cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
        auto* self = static_cast<H2TestClient*>(u);
        if (f->hd.type == NGHTTP2_GOAWAY) self->goaway_ = true;
        if (f->hd.type == NGHTTP2_PING) {
          if (f->hd.flags & NGHTTP2_FLAG_ACK) {
            self->ping_acked_ = true;
            self->ping_acks_++;
          } else {
            self->pings_received_++;
          }
        }
        return 0;
      });
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  if (!options.auto_window_update) nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_client_new2(&c->session_, cbs, c.get(), opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options.initial_window}};
  nghttp2_submit_settings(c->session_, NGHTTP2_FLAG_NONE, settings, 1);
  if (!c->Flush()) return nullptr;
  return c;
}

H2TestClient::~H2TestClient() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  if (fd_ >= 0) close(fd_);
}

bool H2TestClient::Flush() {
  for (;;) {
    const uint8_t* p;
    ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n < 0) return false;
    if (n == 0) return true;
    size_t off = 0;
    while (off < static_cast<size_t>(n)) {
      ssize_t w = send(fd_, p + off, static_cast<size_t>(n) - off, MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += static_cast<size_t>(w);
    }
  }
}

int32_t H2TestClient::Start(const std::string& path, http::Headers extra, bool grpc,
                            const std::string& method) {
  std::vector<http::Header> hdrs = {
      {":method", method}, {":scheme", "http"}, {":authority", "localhost"}, {":path", path}};
  if (grpc) {
    hdrs.push_back({"content-type", "application/grpc"});
    hdrs.push_back({"te", "trailers"});
  }
  for (auto& h : extra) hdrs.push_back(h);
  std::vector<nghttp2_nv> nva;
  for (const auto& h : hdrs) nva.push_back(Nv(h.name, h.value));
  nghttp2_data_provider provider{};
  provider.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                              uint32_t* flags, nghttp2_data_source*, void* u) -> ssize_t {
    auto* self = static_cast<H2TestClient*>(u);
    auto& [bytes, end] = self->outgoing_[id];
    size_t n = std::min(len, bytes.size());
    memcpy(buf, bytes.data(), n);
    bytes.erase(0, n);
    if (bytes.empty()) {
      if (end) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      }
      if (n == 0) return NGHTTP2_ERR_DEFERRED;
    }
    return static_cast<ssize_t>(n);
  };
  int32_t id =
      nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, nullptr);
  streams_[id];
  outgoing_[id] = {"", false};
  Flush();
  return id;
}

void H2TestClient::Send(int32_t stream, std::string data, bool end_stream) {
  auto& [bytes, end] = outgoing_[stream];
  bytes += data;
  end = end || end_stream;
  nghttp2_session_resume_data(session_, stream);
  Flush();
}

StreamResult H2TestClient::Unary(const std::string& path, const std::string& request,
                                 http::Headers extra) {
  int32_t id = Start(path, std::move(extra));
  Send(id, EncodeMessage(request), true);
  return Wait(id);
}

void H2TestClient::Reset(int32_t stream, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
  Flush();
}

bool H2TestClient::Ping() {
  ping_acked_ = false;
  SendPing();
  return PumpUntil([&] { return ping_acked_; });
}

void H2TestClient::SendPing() {
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  Flush();
}

bool H2TestClient::ReadOnce(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[65536];
  ssize_t n = recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n));
  Flush();
  return true;
}

bool H2TestClient::PumpUntil(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSafetyTimeoutMs);
  while (!pred()) {
    if (eof_ || std::chrono::steady_clock::now() > deadline) return pred();
    ReadOnce(50);
  }
  return true;
}

bool H2TestClient::WaitForCloseWithoutAnswering() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSafetyTimeoutMs);
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof_ = true;
      return true;
    }
  }
  return false;
}

StreamResult& H2TestClient::Wait(int32_t stream) {
  PumpUntil([&] { return streams_[stream].closed; });
  return streams_[stream];
}

}  // namespace etcdpp::grpc::testing
