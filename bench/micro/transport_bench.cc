// transport_bench: server CPU per unary gRPC call over TLS, on one loop thread.
//
// Starts grpc::Server in-process (1 loop thread, https://127.0.0.1:0, auto-TLS P-256 cert) with a
// trivial unary method that echoes a 32-byte request. Client threads (nghttp2 + OpenSSL, one
// TLS connection each, `depth` calls in flight per connection) call it for `seconds`. Reports
// calls/s and the CPU time (user+system) of the server's loop thread divided by completed calls,
// read with CLOCK_THREAD_CPUTIME_ID on that thread. Client CPU is not counted.
//
//   transport_bench [--seconds=5] [--conns=4] [--depth=32] [--plain]
//
// Build it without sanitizers (RelWithDebInfo) for meaningful numbers; see docs/benchmarks.md.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "grpc/framing.h"
#include "grpc/server.h"

namespace {

using namespace etcdpp;

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_calls{0};
std::atomic<uint64_t> g_errors{0};

class Client {
 public:
  Client(int port, bool tls, int depth) : port_(port), tls_(tls), depth_(depth) {}

  void Run() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      perror("connect");
      return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (tls_) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      static const unsigned char kAlpn[] = "\x02h2";
      SSL_CTX_set_alpn_protos(ctx_, kAlpn, 3);
      ssl_ = SSL_new(ctx_);
      SSL_set_fd(ssl_, fd_);
      if (SSL_connect(ssl_) != 1) {
        fprintf(stderr, "tls connect failed\n");
        return;
      }
    }
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t, uint32_t ec, void* u) -> int {
          auto* self = static_cast<Client*>(u);
          if (ec != 0) g_errors++;
          g_calls++;
          self->inflight_--;
          return 0;
        });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry s[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, s, 1);
    body_ = grpc::EncodeMessage(std::string(32, 'p'));
    char buf[65536];
    while (!g_stop.load()) {
      while (inflight_ < depth_) Submit();
      if (!Flush()) break;
      ssize_t n = tls_ ? SSL_read(ssl_, buf, sizeof(buf)) : recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n));
    }
    nghttp2_session_del(session_);
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    close(fd_);
  }

 private:
  void Submit() {
    static const std::string kHeaders[][2] = {{":method", "POST"},
                                              {":scheme", "https"},
                                              {":authority", "127.0.0.1"},
                                              {":path", "/bench.S/Ping"},
                                              {"content-type", "application/grpc"},
                                              {"te", "trailers"}};
    nghttp2_nv nva[6];
    for (int i = 0; i < 6; ++i) {
      nva[i] = {(uint8_t*)kHeaders[i][0].data(), (uint8_t*)kHeaders[i][1].data(),
                kHeaders[i][0].size(), kHeaders[i][1].size(),
                NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    }
    nghttp2_data_provider p{};
    p.source.ptr = this;
    p.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t, uint32_t* flags,
                         nghttp2_data_source* src, void*) -> ssize_t {
      auto* self = static_cast<Client*>(src->ptr);
      memcpy(buf, self->body_.data(), self->body_.size());
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(self->body_.size());
    };
    nghttp2_submit_request(session_, nullptr, nva, 6, &p, nullptr);
    inflight_++;
  }

  bool Flush() {
    std::string out;
    const uint8_t* d;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &d)) > 0) out.append((const char*)d, n);
    if (n < 0) return false;
    size_t off = 0;
    while (off < out.size()) {
      ssize_t w = tls_ ? SSL_write(ssl_, out.data() + off, static_cast<int>(out.size() - off))
                       : send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (w <= 0) return false;
      off += static_cast<size_t>(w);
    }
    return true;
  }

  int port_;
  bool tls_;
  int depth_;
  int inflight_ = 0;
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  nghttp2_session* session_ = nullptr;
  std::string body_;
};

double LoopCpuSeconds(net::EventLoop& loop) {
  std::promise<double> p;
  loop.Post([&] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    p.set_value(static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9);
  });
  return p.get_future().get();
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 5, conns = 4, depth = 32;
  bool plain = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--seconds=", 0) == 0)
      seconds = std::stoi(a.substr(10));
    else if (a.rfind("--conns=", 0) == 0)
      conns = std::stoi(a.substr(8));
    else if (a.rfind("--depth=", 0) == 0)
      depth = std::stoi(a.substr(8));
    else if (a == "--plain")
      plain = true;
    else {
      fprintf(stderr, "usage: %s [--seconds=N] [--conns=N] [--depth=N] [--plain]\n", argv[0]);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  auto reg = std::make_shared<grpc::Registry>();
  reg->AddUnary("/bench.S/Ping", [](grpc::CallContext&, std::string req, grpc::UnaryResponder r) {
    r.Reply(std::move(req));
  });
  grpc::ServerOptions opts;
  opts.listen_urls = {plain ? "http://127.0.0.1:0" : "https://127.0.0.1:0"};
  opts.tls.auto_tls = true;
  opts.num_loops = 1;
  grpc::Server server(opts, reg);
  Status s = server.Start();
  if (!s.ok()) {
    fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  int port = server.bound()[0].port;

  std::vector<std::thread> clients;
  for (int i = 0; i < conns; ++i) {
    clients.emplace_back([=] { Client(port, !plain, depth).Run(); });
  }
  // Warm up (handshakes, window growth), then measure.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  net::EventLoop& server_loop = *server.loop_for_testing();
  double cpu0 = LoopCpuSeconds(server_loop);
  uint64_t calls0 = g_calls.load();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  double cpu1 = LoopCpuSeconds(server_loop);
  uint64_t calls1 = g_calls.load();
  auto t1 = std::chrono::steady_clock::now();
  g_stop = true;
  server.Stop(std::chrono::milliseconds(0));
  for (auto& t : clients) t.join();

  double wall = std::chrono::duration<double>(t1 - t0).count();
  uint64_t calls = calls1 - calls0;
  double cpu = cpu1 - cpu0;
  printf(
      "transport_bench %s conns=%d depth=%d: %llu calls in %.2fs = %.0f calls/s; "
      "server loop CPU %.3fs = %.2f us/call (%.0f%% of a core); errors=%llu\n",
      plain ? "h2c" : "TLS", conns, depth, static_cast<unsigned long long>(calls), wall,
      static_cast<double>(calls) / wall, cpu, cpu * 1e6 / static_cast<double>(calls),
      100.0 * cpu / wall, static_cast<unsigned long long>(g_errors.load()));
  return 0;
}
