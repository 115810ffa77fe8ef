#include "peer/transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "base/thread_name.h"
#include "net/tls.h"
#include "peer/codec.h"

namespace etcdpp::peer {
namespace {

// Bytes of queued frames written in one go by a sender; bounds its buffer while still letting a
// burst of appends go out in few syscalls.
constexpr size_t kMaxWriteBatchBytes = 4u << 20;
// How long a dial may take before the next URL / a back-off (loopback and LAN answer in
// microseconds; a black-holed address must not hold the sender for long).
constexpr int kDialTimeoutMs = 1000;
// An inbound connection must present its hello within this time, or it is closed.
constexpr int kHelloTimeoutMs = 5000;

struct ParsedUrl {
  bool tls = false;
  std::string host;
  std::string port;
};

Result<ParsedUrl> ParseUrl(const std::string& url) {
  ParsedUrl u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else {
    return InvalidArgument("peer URL \"" + url + "\" is neither http nor https");
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos || (rest.front() == '[' && rest.find(']') > colon)) {
    return InvalidArgument("peer URL \"" + url + "\" has no port");
  }
  u.host = rest.substr(0, colon);
  u.port = rest.substr(colon + 1);
  if (u.host.size() >= 2 && u.host.front() == '[' && u.host.back() == ']') {
    u.host = u.host.substr(1, u.host.size() - 2);
  }
  return u;
}

// A connected socket, optionally wrapped in TLS. Blocking I/O; one thread uses it.
class Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Conn() { Close(); }
  void Close() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  // Returns false on EOF or error.
  bool ReadFull(char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r;
      if (ssl_ != nullptr) {
        r = SSL_read(ssl_, buf + got, static_cast<int>(std::min<size_t>(n - got, 1 << 30)));
        if (r <= 0) return false;
      } else {
        r = ::recv(fd_, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
      }
      got += static_cast<size_t>(r);
    }
    return true;
  }
  bool WriteAll(const char* buf, size_t n) {
    size_t put = 0;
    while (put < n) {
      ssize_t r;
      if (ssl_ != nullptr) {
        r = SSL_write(ssl_, buf + put, static_cast<int>(std::min<size_t>(n - put, 1 << 30)));
        if (r <= 0) return false;
      } else {
        r = ::send(fd_, buf + put, n - put, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
      }
      put += static_cast<size_t>(r);
    }
    return true;
  }
  int fd() const { return fd_; }

 private:
  int fd_;
  SSL* ssl_;
};

void SetTimeout(int fd, int opt, std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = ms.count() / 1000;
  tv.tv_usec = (ms.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

// Connects to host:port with a timeout. Returns the blocking socket, or -1.
int Dial(const ParsedUrl& u, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res);
  if (rc != 0) {
    *error = std::string("resolve: ") + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, kDialTimeoutMs) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        r = err == 0 ? 0 : -1;
        errno = err;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (r == 0) break;
    *error = std::string("connect: ") + strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd >= 0) {
    int flags = 0;
    ::ioctl(fd, FIONBIO, &flags);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

Result<SSL_CTX*> MakeClientCtx(const PeerTls& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Internal("SSL_CTX_new: " + net::OpenSslErrors());
  auto fail = [&](const std::string& what) -> Status {
    SSL_CTX_free(ctx);
    return InvalidArgument(what + ": " + net::OpenSslErrors());
  };
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
      return fail("cannot load peer certificate " + tls.cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return fail("cannot load peer key " + tls.key_file);
    }
  }
  if (!tls.trusted_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.trusted_ca_file.c_str(), nullptr) != 1) {
      return fail("cannot load peer trusted CA " + tls.trusted_ca_file);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    // As etcd's peer dialer without a CA file: encrypted but unauthenticated (etcd would use the
    // system roots, which never sign a member's certificate in practice).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

}  // namespace

Result<std::unique_ptr<Transport>> Transport::Create(TransportOptions options, Handlers handlers) {
  std::unique_ptr<Transport> t(new Transport(std::move(options), std::move(handlers)));
  bool any_tls = false;
  for (const auto& url : t->options_.listen_urls) {
    ETCDPP_ASSIGN_OR_RETURN(ParsedUrl u, ParseUrl(url));
    any_tls |= u.tls;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    const char* host = u.host.empty() || u.host == "0.0.0.0" ? nullptr : u.host.c_str();
    if (int rc = ::getaddrinfo(host, u.port.c_str(), &hints, &res); rc != 0) {
      return InvalidArgument("listen-peer-urls " + url + ": " + gai_strerror(rc));
    }
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      std::string err = strerror(errno);
      ::freeaddrinfo(res);
      if (fd >= 0) ::close(fd);
      return Unavailable("listen tcp " + u.host + ":" + u.port + ": bind: " + err);
    }
    ::freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    char buf[INET6_ADDRSTRLEN] = {};
    int port = 0;
    if (ss.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
      port = ntohs(a->sin6_port);
      t->bound_.push_back("[" + std::string(buf) + "]:" + std::to_string(port));
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
      port = ntohs(a->sin_port);
      t->bound_.push_back(std::string(buf) + ":" + std::to_string(port));
    }
    t->listeners_.push_back(Listener{fd, u.tls});
  }
  const PeerTls& tls = t->options_.tls;
  if (any_tls) {
    net::TlsConfig c;
    c.cert_file = tls.cert_file;
    c.key_file = tls.key_file;
    c.trusted_ca_file = tls.trusted_ca_file;
    c.client_cert_auth = tls.client_cert_auth;
    c.cipher_suites = tls.cipher_suites;
    c.alpn = {};
    auto ctx = net::TlsContext::Create(std::move(c));
    if (!ctx.ok()) return InvalidArgument("peer TLS: " + ctx.status().message());
    t->server_tls_ = std::move(ctx).value();
  }
  bool dial_tls = false;
  for (const auto& [id, urls] : t->options_.peers) {
    for (const auto& url : urls) {
      ETCDPP_ASSIGN_OR_RETURN(ParsedUrl u, ParseUrl(url));
      dial_tls |= u.tls;
    }
    auto p = std::make_unique<Peer>();
    p->id = id;
    p->urls = urls;
    t->peers_.emplace(id, std::move(p));
  }
  if (dial_tls) {
    ETCDPP_ASSIGN_OR_RETURN(t->client_ctx_, MakeClientCtx(tls));
  }
  t->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return t;
}

Transport::~Transport() {
  Stop();
  for (auto& l : listeners_) ::close(l.fd);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (client_ctx_ != nullptr) SSL_CTX_free(client_ctx_);
}

void Transport::Start() {
  // OpenSSL writes to sockets with write(): a member that closed the connection (after refusing
  // our certificate, say) would raise SIGPIPE, whose default action kills the process. Errors
  // come back as EPIPE instead, as for client connections (net::NetServer::Start).
  signal(SIGPIPE, SIG_IGN);
  started_ = true;
  acceptor_ = NamedThread("peer-accept", [this] { AcceptLoop(); });
  for (auto& [id, p] : peers_) {
    Peer* peer = p.get();
    peer->thread = NamedThread("peer-send", [this, peer] { SendLoop(peer); });
  }
}

void Transport::Stop() {
  if (!started_ || stopping_.exchange(true)) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(wake_fd_, &one, sizeof(one));
  acceptor_.join();
  {
    std::lock_guard lock(inbound_mu_);
    for (auto& in : inbound_) ::shutdown(in->fd, SHUT_RDWR);
  }
  for (auto& in : inbound_) in->thread.join();
  inbound_.clear();
  for (auto& [id, p] : peers_) {
    {
      std::lock_guard lock(p->mu);
      if (p->fd >= 0) ::shutdown(p->fd, SHUT_RDWR);
    }
    p->cv.notify_all();
    p->thread.join();
  }
}

void Transport::Send(raft::Message m) {
  auto it = peers_.find(m.to);
  if (it == peers_.end()) {
    spdlog::warn("peer: dropping {} message to unknown member {:x}", static_cast<int>(m.type),
                 m.to.value());
    return;
  }
  Peer* p = it->second.get();
  bool dropped = false;
  {
    std::lock_guard lock(p->mu);
    if (p->queue.size() >= options_.max_queued_messages) {
      dropped = true;
    } else {
      p->queue.push_back(std::move(m));
    }
  }
  if (dropped) {
    if (handlers_.on_unreachable) handlers_.on_unreachable(p->id);
    return;
  }
  p->cv.notify_one();
}

void Transport::SendLeaseRenew(MemberId to, const LeaseRenew& r) {
  std::string frame;
  AppendLeaseRenewFrame(r, &frame);
  SendFrame(to, std::move(frame));
}

void Transport::SendLeaseRenewResult(MemberId to, const LeaseRenewResult& r) {
  std::string frame;
  AppendLeaseRenewResultFrame(r, &frame);
  SendFrame(to, std::move(frame));
}

void Transport::SendFrame(MemberId to, std::string frame) {
  auto it = peers_.find(to);
  if (it == peers_.end()) return;
  Peer* p = it->second.get();
  {
    std::lock_guard lock(p->mu);
    if (p->queue.size() + p->frame_count >= options_.max_queued_messages) return;
    p->frames += frame;
    ++p->frame_count;
  }
  p->cv.notify_one();
}

void Transport::AcceptLoop() {
  std::vector<pollfd> fds;
  for (const auto& l : listeners_) fds.push_back(pollfd{l.fd, POLLIN, 0});
  fds.push_back(pollfd{wake_fd_, POLLIN, 0});
  while (!stopping_.load()) {
    for (auto& f : fds) f.revents = 0;
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("peer: poll on listeners failed: {}", strerror(errno));
      return;
    }
    if (stopping_.load()) return;
    for (size_t i = 0; i < listeners_.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      int fd = ::accept4(listeners_[i].fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(inbound_mu_);
      // Reap finished readers so the bound counts live connections only.
      for (auto it = inbound_.begin(); it != inbound_.end();) {
        if ((*it)->finished.load()) {
          (*it)->thread.join();
          it = inbound_.erase(it);
        } else {
          ++it;
        }
      }
      if (inbound_.size() >= options_.max_inbound_connections) {
        spdlog::warn("peer: {} inbound connections already open; refusing another",
                     inbound_.size());
        ::close(fd);
        continue;
      }
      auto in = std::make_unique<Inbound>();
      in->fd = fd;
      Inbound* raw = in.get();
      bool tls = listeners_[i].tls;
      in->thread = NamedThread("peer-recv", [this, raw, tls] { ServeInbound(raw, tls); });
      inbound_.push_back(std::move(in));
    }
  }
}

void Transport::ServeInbound(Inbound* in, bool tls) {
  SSL* ssl = nullptr;
  std::string who = "inbound peer connection";
  // The hello must arrive promptly; afterwards reads block until the peer sends (heartbeats
  // arrive every heartbeat interval) or Stop shuts the socket down.
  SetTimeout(in->fd, SO_RCVTIMEO, std::chrono::milliseconds(kHelloTimeoutMs));
  int one = 1;
  ::setsockopt(in->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (tls) {
    ssl = server_tls_->NewSsl();
    SSL_set_fd(ssl, in->fd);
    if (SSL_accept(ssl) != 1) {
      spdlog::warn("peer: TLS handshake with {} failed: {}", who, net::OpenSslErrors());
      SSL_free(ssl);
      ::close(in->fd);
      in->finished = true;
      return;
    }
    if (!options_.tls.allowed_cn.empty()) {
      std::string cn = net::VerifiedPeerCommonName(ssl);
      if (cn != options_.tls.allowed_cn) {
        spdlog::warn("peer: rejected connection with client certificate CN \"{}\" (want \"{}\")",
                     cn, options_.tls.allowed_cn);
        SSL_free(ssl);
        ::close(in->fd);
        in->finished = true;
        return;
      }
    }
  }
  Conn conn(in->fd, ssl);
  std::string header(kFrameHeaderBytes, '\0');
  std::string payload;
  bool hello_seen = false;
  MemberId peer_id;
  while (!stopping_.load()) {
    if (!conn.ReadFull(header.data(), header.size())) break;
    uint32_t n = FrameLength(header);
    if (n > kMaxFrameBytes) {
      spdlog::error("peer: closing {}: frame of {} bytes exceeds the {} byte limit", who, n,
                    kMaxFrameBytes);
      break;
    }
    payload.resize(n);
    if (!conn.ReadFull(payload.data(), n)) break;
    if (!hello_seen) {
      auto hello = DecodeHello(payload);
      if (!hello.ok()) {
        spdlog::error("peer: closing {}: {}", who, hello.status().message());
        break;
      }
      if (hello->cluster_id != options_.cluster_id || hello->to != options_.self) {
        spdlog::error(
            "peer: closing connection from member {:x} of cluster {:x} addressed to "
            "{:x}: this is member {:x} of cluster {:x}",
            hello->from.value(), hello->cluster_id.value(), hello->to.value(),
            options_.self.value(), options_.cluster_id.value());
        break;
      }
      who = fmt::format("connection from member {:x}", hello->from.value());
      peer_id = hello->from;
      hello_seen = true;
      SetTimeout(in->fd, SO_RCVTIMEO, std::chrono::milliseconds(0));
      if (handlers_.on_hello) handlers_.on_hello(hello->from, hello->client_urls);
      continue;
    }
    FrameKind kind = KindOf(payload);
    if (kind == FrameKind::kLeaseRenew) {
      auto r = DecodeLeaseRenew(payload);
      if (!r.ok()) {
        spdlog::error("peer: closing {}: {}", who, r.status().message());
        break;
      }
      if (handlers_.on_lease_renew) handlers_.on_lease_renew(peer_id, *r);
      continue;
    }
    if (kind == FrameKind::kLeaseRenewResult) {
      auto r = DecodeLeaseRenewResult(payload);
      if (!r.ok()) {
        spdlog::error("peer: closing {}: {}", who, r.status().message());
        break;
      }
      if (handlers_.on_lease_renew_result) handlers_.on_lease_renew_result(*r);
      continue;
    }
    auto m = DecodeMessage(payload);
    if (!m.ok()) {
      spdlog::error("peer: closing {}: {}", who, m.status().message());
      break;
    }
    handlers_.on_message(std::move(m).value());
  }
  {
    std::lock_guard lock(inbound_mu_);
    conn.Close();
    in->fd = -1;
  }
  in->finished = true;
}

void Transport::SendLoop(Peer* peer) {
  std::unique_ptr<Conn> conn;
  std::chrono::milliseconds backoff = options_.min_backoff;
  std::deque<raft::Message> batch;
  std::string buf;
  bool logged_down = false;
  auto drop_all = [&] {
    {
      std::lock_guard lock(peer->mu);
      peer->queue.clear();
      peer->frames.clear();
      peer->frame_count = 0;
    }
    if (handlers_.on_unreachable) handlers_.on_unreachable(peer->id);
  };
  // Dial once at start even with nothing to send: the hello tells the peer our client URLs
  // (followers never message each other, yet each lists the other's URLs in MemberList).
  bool introduce = true;
  while (!stopping_.load()) {
    {
      std::unique_lock lock(peer->mu);
      peer->cv.wait(lock, [&] {
        return stopping_.load() || !peer->queue.empty() || peer->frame_count > 0 || introduce;
      });
      if (stopping_.load()) break;
    }
    if (conn == nullptr) {
      std::string error;
      for (const auto& url : peer->urls) {
        auto u = ParseUrl(url);  // validated in Create
        int fd = Dial(*u, &error);
        if (fd < 0) continue;
        SSL* ssl = nullptr;
        if (u->tls) {
          ssl = SSL_new(client_ctx_);
          SSL_set_fd(ssl, fd);
          SSL_set_tlsext_host_name(ssl, u->host.c_str());
          if (!options_.tls.trusted_ca_file.empty()) SSL_set1_host(ssl, u->host.c_str());
          SetTimeout(fd, SO_RCVTIMEO, std::chrono::milliseconds(kHelloTimeoutMs));
          if (SSL_connect(ssl) != 1) {
            error = "TLS handshake: " + net::OpenSslErrors();
            SSL_free(ssl);
            ::close(fd);
            continue;
          }
        }
        SetTimeout(fd, SO_SNDTIMEO, options_.write_timeout);
        conn = std::make_unique<Conn>(fd, ssl);
        buf.clear();
        AppendHelloFrame(Hello{options_.cluster_id, options_.self, peer->id, options_.client_urls},
                         &buf);
        if (!conn->WriteAll(buf.data(), buf.size())) {
          error = "write of hello failed";
          conn.reset();
          continue;
        }
        std::lock_guard lock(peer->mu);
        peer->fd = fd;
        break;
      }
      if (conn == nullptr) {
        if (!logged_down) {
          spdlog::warn("peer: cannot reach member {:x} ({}); retrying", peer->id.value(), error);
          logged_down = true;
        }
        drop_all();
        std::unique_lock lock(peer->mu);
        peer->cv.wait_for(lock, backoff, [&] { return stopping_.load(); });
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
      }
      introduce = false;
      if (logged_down) spdlog::info("peer: connected to member {:x}", peer->id.value());
      logged_down = false;
      backoff = options_.min_backoff;
    }
    std::string frames;
    {
      std::lock_guard lock(peer->mu);
      batch.swap(peer->queue);
      frames.swap(peer->frames);
      peer->frame_count = 0;
    }
    // The lease frames go out with the first write of raft messages (or alone).
    buf.swap(frames);
    while (!batch.empty() || !buf.empty()) {
      while (!batch.empty() && buf.size() < kMaxWriteBatchBytes) {
        AppendMessageFrame(batch.front(), &buf);
        batch.pop_front();
      }
      if (!conn->WriteAll(buf.data(), buf.size())) {
        spdlog::warn("peer: lost connection to member {:x}: {}", peer->id.value(), strerror(errno));
        logged_down = true;
        {
          std::lock_guard lock(peer->mu);
          peer->fd = -1;
        }
        conn.reset();
        batch.clear();
        drop_all();
        break;
      }
      buf.clear();
    }
    buf.clear();
  }
  std::lock_guard lock(peer->mu);
  peer->fd = -1;
}

}  // namespace etcdpp::peer
