#include "net/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <future>
#include <thread>
#include <utility>

#include "base/check.h"

namespace etcdpp::net {
namespace {
// Pending connections the kernel queues per listener (etcd uses Go's default, the somaxconn).
constexpr int kListenBacklog = 4096;
// Connections accepted per readiness event before yielding to other work on the loop.
constexpr int kMaxAcceptsPerEvent = 128;
// How long accepting pauses after accept() fails for lack of descriptors or memory.
constexpr std::chrono::milliseconds kAcceptPauseOnError(100);

std::string FormatSockaddr(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "unix";
}

int SockaddrPort(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  if (sa->sa_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  }
  return 0;
}

}  // namespace

Result<ListenUrl> ParseListenUrl(const std::string& url) {
  ListenUrl u;
  u.original = url;
  auto pos = url.find("://");
  if (pos == std::string::npos) return InvalidArgument("URL " + url + " has no scheme");
  std::string scheme = url.substr(0, pos);
  std::string rest = url.substr(pos + 3);
  if (scheme == "http") {
    u.scheme = ListenUrl::Scheme::kHttp;
  } else if (scheme == "https") {
    u.scheme = ListenUrl::Scheme::kHttps;
  } else if (scheme == "unix") {
    u.scheme = ListenUrl::Scheme::kUnix;
  } else if (scheme == "unixs") {
    u.scheme = ListenUrl::Scheme::kUnixs;
  } else {
    return InvalidArgument("URL scheme must be http, https, unix or unixs (got " + url + ")");
  }
  if (u.unix_socket()) {
    if (rest.empty()) return InvalidArgument("unix URL " + url + " has no path");
    u.host = rest;
    return u;
  }
  // Drop any path; a listen URL names only host:port.
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    if (slash + 1 < rest.size()) {
      return InvalidArgument("listen URL " + url + " must not have a path");
    }
    rest = rest.substr(0, slash);
  }
  std::string port_str;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return InvalidArgument("bad IPv6 host in " + url);
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return InvalidArgument("bad host:port in " + url);
      port_str = rest.substr(close + 2);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return InvalidArgument("URL " + url + " has no port");
    u.host = rest.substr(0, colon);
    port_str = rest.substr(colon + 1);
  }
  if (port_str.empty() || port_str.size() > 5 ||
      port_str.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("URL " + url + " has a bad port");
  }
  u.port = std::stoi(port_str);
  if (u.port > 65535) return InvalidArgument("URL " + url + " has a bad port");
  return u;
}

class NetServer::Acceptor : public FdHandler {
 public:
  Acceptor(NetServer* server, int fd, ListenUrl url, std::string local)
      : server_(server), fd_(fd), url_(std::move(url)), local_(std::move(local)) {}
  ~Acceptor() override {
    if (fd_ >= 0) close(fd_);
    if (url_.unix_socket()) unlink(url_.host.c_str());
  }
  int fd() const { return fd_; }
  // Loop thread: stop watching the listener (and drop a pending resume).
  void Unregister(EventLoop& loop) {
    loop.CancelTimer(std::exchange(resume_timer_, 0));
    loop.Remove(fd_);
  }

  void OnEvents(uint32_t) override {
    for (int i = 0; i < kMaxAcceptsPerEvent; ++i) {
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      int c = accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        if (errno == ECONNABORTED) continue;
        // EMFILE/ENFILE/ENOBUFS: out of descriptors or memory. The pending connection stays
        // queued, so a level-triggered listener would spin; pause accepting for a while instead
        // (existing connections continue) and try again.
        spdlog::error("accept on {} failed: {}; pausing accepts for {} ms", local_,
                      strerror(errno), kAcceptPauseOnError.count());
        EventLoop* loop = EventLoop::Current();
        if (loop != nullptr && loop->Modify(fd_, 0, this).ok()) {
          resume_timer_ = loop->RunAfter(kAcceptPauseOnError, [this, loop] {
            resume_timer_ = 0;
            (void)loop->Modify(fd_, EPOLLIN, this);
          });
        }
        return;
      }
      std::string peer;
      if (url_.unix_socket()) {
        peer = "unix:" + url_.host;
      } else {
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        peer = FormatSockaddr(reinterpret_cast<sockaddr*>(&ss));
      }
      server_->OnAccepted(c, url_, local_, std::move(peer));
    }
  }

 private:
  NetServer* server_;
  int fd_;
  ListenUrl url_;
  std::string local_;
  EventLoop::TimerId resume_timer_ = 0;
};

struct NetServer::LoopConnections {
  std::unordered_map<Connection*, std::shared_ptr<Connection>> conns;
};

NetServer::NetServer(std::vector<ListenUrl> urls, std::shared_ptr<TlsContext> tls,
                     EventLoopGroup* group, Connection::ProtocolFactory factory)
    : urls_(std::move(urls)), tls_(std::move(tls)), group_(group), factory_(std::move(factory)) {
  for (size_t i = 0; i < group_->size(); ++i) {
    per_loop_.push_back(std::make_shared<LoopConnections>());
  }
}

NetServer::~NetServer() {
  if (!shut_down_) Shutdown(std::chrono::milliseconds(0));
}

Status NetServer::Start() {
  // OpenSSL writes to sockets with write(), which raises SIGPIPE when the peer has gone; its
  // default action would kill the whole server. Errors come back as EPIPE instead.
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::unique_ptr<Acceptor>> acceptors;
  std::vector<BoundAddress> bound;
  for (const auto& url : urls_) {
    if (url.tls() && tls_ == nullptr) {
      return InvalidArgument("listen URL " + url.original + " is TLS but no certificate is set");
    }
    int fd = -1;
    std::string local;
    int port = 0;
    if (url.unix_socket()) {
      sockaddr_un sun{};
      sun.sun_family = AF_UNIX;
      if (url.host.size() >= sizeof(sun.sun_path)) {
        return InvalidArgument("unix socket path too long: " + url.host);
      }
      memcpy(sun.sun_path, url.host.data(), url.host.size());
      fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      // Like etcd: a stale socket file from a previous run is removed.
      unlink(url.host.c_str());
      if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun)) != 0 ||
          listen(fd, kListenBacklog) != 0) {
        std::string err = strerror(errno);
        if (fd >= 0) close(fd);
        return Unavailable("listen unix " + url.host + ": " + err);
      }
      local = url.host;
    } else {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
      std::string host = url.host;
      // An empty host listens on every address, IPv4 and IPv6 (dual stack), as Go does.
      bool any = host.empty();
      if (any) host = "::";
      addrinfo* res = nullptr;
      int gai = getaddrinfo(host.c_str(), std::to_string(url.port).c_str(), &hints, &res);
      if (gai != 0) {
        return InvalidArgument("listen tcp " + url.host + ": " + gai_strerror(gai));
      }
      // Prefer IPv4 for names like "localhost" (as Go resolves it first).
      addrinfo* pick = res;
      for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET) {
          pick = ai;
          break;
        }
      }
      fd = socket(pick->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      std::string where = FormatSockaddr(pick->ai_addr);
      std::string err;
      if (fd < 0) {
        err = std::string("socket: ") + strerror(errno);
      } else {
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (pick->ai_family == AF_INET6) {
          setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof(int));
        }
        if (bind(fd, pick->ai_addr, pick->ai_addrlen) != 0) {
          err = std::string("bind: ") + strerror(errno);
        } else if (listen(fd, kListenBacklog) != 0) {
          err = std::string("listen: ") + strerror(errno);
        }
      }
      freeaddrinfo(res);
      if (!err.empty()) {
        if (fd >= 0) close(fd);
        return Unavailable("listen tcp " + where + " (" + url.original + "): " + err);
      }
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      local = FormatSockaddr(reinterpret_cast<sockaddr*>(&ss));
      port = SockaddrPort(reinterpret_cast<sockaddr*>(&ss));
    }
    acceptors.push_back(std::make_unique<Acceptor>(this, fd, url, local));
    bound.push_back(BoundAddress{url, port, local});
  }
  // epoll_ctl is thread-safe; the first loop now delivers accept events.
  EventLoop& loop0 = *group_->At(0);
  for (auto& a : acceptors) {
    ETCDPP_RETURN_IF_ERROR(loop0.Add(a->fd(), EPOLLIN, a.get()));
  }
  acceptors_ = std::move(acceptors);
  bound_ = std::move(bound);
  for (const auto& b : bound_) spdlog::info("serving client requests on {}", b.url.original);
  return Status::Ok();
}

void NetServer::OnAccepted(int fd, const ListenUrl& url, const std::string& local,
                           std::string peer) {
  if (stopping_.load()) {
    close(fd);
    return;
  }
  SSL* ssl = nullptr;
  if (url.tls()) {
    ssl = tls_->NewSsl();
    if (ssl == nullptr) {
      spdlog::error("tls: cannot create session for peer={}", peer);
      close(fd);
      return;
    }
  }
  size_t idx = 0;
  EventLoop* loop = &group_->Next();
  for (size_t i = 0; i < group_->size(); ++i) {
    if (group_->At(i).get() == loop) idx = i;
  }
  ConnectionInfo info;
  info.peer = std::move(peer);
  info.local = local;
  std::shared_ptr<LoopConnections> set = per_loop_[idx];
  auto live = live_connections_;
  live->fetch_add(1);
  bool posted =
      loop->Post([loop, fd, ssl, info = std::move(info), set, live, factory = factory_]() mutable {
        auto conn = std::make_shared<Connection>(loop, fd, ssl, std::move(info), std::move(factory),
                                                 [set, live](Connection* c) {
                                                   set->conns.erase(c);
                                                   live->fetch_sub(1);
                                                 });
        set->conns.emplace(conn.get(), conn);
        conn->Start();
      });
  if (!posted) {
    if (ssl != nullptr) SSL_free(ssl);
    close(fd);
    live->fetch_sub(1);
  }
}

void NetServer::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  stopping_.store(true);
  // Stop accepting: unregister on the accepting loop so no event is in flight for a dead fd.
  if (!acceptors_.empty()) {
    std::promise<void> done;
    auto acceptors = std::move(acceptors_);
    acceptors_.clear();
    EventLoop& loop0 = *group_->At(0);
    bool posted = loop0.Post([&] {
      for (auto& a : acceptors) a->Unregister(loop0);
      done.set_value();
    });
    if (posted) done.get_future().wait();
    acceptors.clear();
  }
  auto for_each_conn = [this](auto fn) {
    for (size_t i = 0; i < group_->size(); ++i) {
      auto set = per_loop_[i];
      group_->At(i)->Post([set, fn] {
        std::vector<std::shared_ptr<Connection>> conns;
        for (auto& [_, c] : set->conns) conns.push_back(c);
        for (auto& c : conns) fn(*c);
      });
    }
  };
  for_each_conn([](Connection& c) { c.Shutdown(); });
  // Waiting here is the point of a graceful stop: in-flight calls get `grace` to finish.
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (live_connections_->load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for_each_conn([](Connection& c) { c.Close(Status::Ok()); });
  auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (live_connections_->load() > 0 && std::chrono::steady_clock::now() < hard) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace etcdpp::net
