#include "net/connection.h"

#include <openssl/err.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/check.h"
#include "net/tls.h"

namespace etcdpp::net {
namespace {
// Size of one read() / SSL_read() call.
constexpr size_t kReadChunkBytes = 64 * 1024;
// Largest single write handed to the kernel / SSL_write.
constexpr size_t kMaxWriteChunkBytes = 256 * 1024;
// Plaintext bytes of a full TLS record; SSL_read returns at most one record.
constexpr ssize_t kFullTlsRecordBytes = 16 * 1024;
// A TLS client must finish its handshake within this time, or the socket is closed: connections
// that never handshake (port scanners, stuck clients, slowloris) must not pile up forever.
// Go's crypto/tls has no default; 10 s is far above any real handshake on a LAN/WAN.
constexpr std::chrono::seconds kHandshakeTimeout(10);

// SSL_get_error needs an empty error queue before the call it explains. Every failure path
// drains or clears the queue, so it is almost always empty already; checking is much cheaper
// than ERR_clear_error, which resets all of its slots.
void ClearTlsErrors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}
}  // namespace

Connection::Connection(EventLoop* loop, int fd, SSL* ssl, ConnectionInfo info,
                       ProtocolFactory factory, CloseCallback on_close)
    : loop_(loop),
      fd_(fd),
      ssl_(ssl),
      info_(std::move(info)),
      factory_(std::move(factory)),
      on_close_(std::move(on_close)) {}

Connection::~Connection() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (fd_ >= 0) close(fd_);
}

void Connection::Start() {
  interest_ = EPOLLIN;
  Status s = loop_->Add(fd_, interest_, this);
  if (!s.ok()) {
    Close(s);
    return;
  }
  if (ssl_ != nullptr) {
    info_.tls = true;
    SSL_set_fd(ssl_, fd_);
    SSL_set_accept_state(ssl_);
    handshaking_ = true;
    std::weak_ptr<Connection> weak = weak_from_this();
    handshake_timer_ = loop_->RunAfter(kHandshakeTimeout, [weak] {
      auto self = weak.lock();
      if (self == nullptr || !self->handshaking_ || self->fd_ < 0) return;
      self->handshake_timer_ = 0;
      spdlog::warn("tls handshake timed out peer={} local={}", self->info_.peer, self->info_.local);
      self->Close(Status::Ok());
    });
    DoHandshake();
    return;
  }
  protocol_ = factory_(*this);
}

void Connection::DoHandshake() {
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    handshaking_ = false;
    loop_->CancelTimer(std::exchange(handshake_timer_, 0));
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(ssl_, &alpn, &alpn_len);
    if (alpn != nullptr) info_.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
    info_.client_cn = VerifiedPeerCommonName(ssl_);
    spdlog::debug("tls handshake done peer={} alpn={} cn={}", info_.peer, info_.alpn,
                  info_.client_cn);
    protocol_ = factory_(*this);
    UpdateInterest();
    DoRead();  // TLS may already hold application data that arrived with the Finished message.
    return;
  }
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) {
    want_write_ = false;
    UpdateInterest();
    return;
  }
  if (err == SSL_ERROR_WANT_WRITE) {
    want_write_ = true;
    UpdateInterest();
    return;
  }
  std::string why;
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    why = std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  } else if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN) {
    why = "peer closed during handshake";
    ERR_clear_error();
  } else {
    why = OpenSslErrors();
  }
  spdlog::warn("tls handshake failed peer={} local={}: {}", info_.peer, info_.local, why);
  Close(Status::Ok());
}

void Connection::OnEvents(uint32_t events) {
  if (fd_ < 0) return;
  auto self = shared_from_this();  // Callbacks below may close us.
  if (handshaking_) {
    if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
      spdlog::warn("connection error during tls handshake peer={}", info_.peer);
      Close(Status::Ok());
      return;
    }
    DoHandshake();
    return;
  }
  if (events & EPOLLOUT) {
    want_write_ = false;
    if (ssl_read_wants_write_) {
      ssl_read_wants_write_ = false;
      DoRead();
      if (fd_ < 0) return;
    }
    Flush();
    if (fd_ < 0) return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) DoRead();
}

void Connection::DoRead() {
  if (fd_ < 0 || protocol_ == nullptr) return;
  // One read buffer per loop thread, not per connection: bytes are handed to the protocol before
  // the next read, and 10k idle connections must not cost 10k buffers.
  static thread_local char read_buf[kReadChunkBytes];
  size_t total = 0;
  while (total < kMaxReadPerEvent && !reading_paused_) {
    ssize_t n;
    if (ssl_ != nullptr) {
      ClearTlsErrors();
      int r = SSL_read(ssl_, read_buf, static_cast<int>(kReadChunkBytes));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_READ) break;
        if (err == SSL_ERROR_WANT_WRITE) {
          ssl_read_wants_write_ = true;
          want_write_ = true;
          break;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
          Close(Status::Ok());
        } else if (err == SSL_ERROR_SYSCALL) {
          ERR_clear_error();
          Close(errno == 0 || errno == ECONNRESET
                    ? Status::Ok()
                    : Unavailable(std::string("read: ") + strerror(errno)));
        } else {
          Close(Unavailable("tls read: " + OpenSslErrors()));
        }
        return;
      }
      n = r;
    } else {
      n = recv(fd_, read_buf, kReadChunkBytes, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        Close(errno == ECONNRESET ? Status::Ok()
                                  : Unavailable(std::string("read: ") + strerror(errno)));
        return;
      }
      if (n == 0) {
        Close(Status::Ok());
        return;
      }
    }
    total += static_cast<size_t>(n);
    Status s = protocol_->OnRead(std::string_view(read_buf, static_cast<size_t>(n)));
    if (fd_ < 0) return;
    if (!s.ok()) {
      // Flush what the protocol produced (GOAWAY, 400 response) and then close.
      close_after_flush_ = true;
      close_reason_ = s;
      break;
    }
    // A short read means the socket is (almost certainly) drained: skip the read() that would
    // only return EAGAIN. Safe with level-triggered epoll, which reports any rest again. For TLS,
    // a short record and nothing buffered inside OpenSSL means the same.
    if (ssl_ != nullptr ? (n < kFullTlsRecordBytes && !SSL_has_pending(ssl_))
                        : static_cast<size_t>(n) < kReadChunkBytes) {
      break;
    }
  }
  ReadBufferedLater();
  Flush();
}

void Connection::ReadBufferedLater() {
  // With read-ahead, OpenSSL may hold bytes already taken from the socket (we stopped for
  // fairness or back-pressure). epoll will not report them: read them on a later turn.
  if (ssl_ == nullptr || fd_ < 0 || close_after_flush_ || reading_paused_ || read_scheduled_ ||
      !SSL_has_pending(ssl_)) {
    return;
  }
  read_scheduled_ = true;
  loop_->Defer([self = shared_from_this()] {
    self->read_scheduled_ = false;
    self->DoRead();
  });
}

void Connection::RequestFlush() {
  if (flush_scheduled_ || fd_ < 0) return;
  flush_scheduled_ = true;
  loop_->Defer([self = shared_from_this()] {
    self->flush_scheduled_ = false;
    self->Flush();
  });
}

void Connection::Flush() {
  if (fd_ < 0 || protocol_ == nullptr) return;
  size_t produced = 0;
  for (;;) {
    size_t pending = out_.size() - out_offset_;
    if (pending < kMaxPendingOutputBytes) {
      if (produced >= kMaxWritePerTurn) {
        // A turn's worth went out (a large answer to a fast reader): the loop's other
        // connections come first. The socket is writable, so EPOLLOUT is back next turn.
        want_write_ = true;
        break;
      }
      size_t before = out_.size();
      protocol_->ProduceOutput(&out_, kMaxPendingOutputBytes - pending);
      produced += out_.size() - before;
      if (out_.size() == before && pending == 0) break;
    } else if (pending == 0) {
      break;
    }
    if (!WriteOut()) return;
    if (want_write_) break;
  }
  bool done = close_after_flush_ || protocol_->WantsClose();
  if (done && out_.size() == out_offset_) {
    Close(close_after_flush_ ? close_reason_ : Status::Ok());
    return;
  }
  // Back-pressure: stop reading while the peer is not draining our output.
  bool was_paused = reading_paused_;
  reading_paused_ = out_.size() - out_offset_ >= kMaxPendingOutputBytes;
  UpdateInterest();
  if (was_paused && !reading_paused_) ReadBufferedLater();
}

bool Connection::WriteOut() {
  while (out_offset_ < out_.size()) {
    size_t len = std::min(out_.size() - out_offset_, kMaxWriteChunkBytes);
    const char* p = out_.data() + out_offset_;
    ssize_t n;
    if (ssl_ != nullptr) {
      ClearTlsErrors();
      int r = SSL_write(ssl_, p, static_cast<int>(len));
      if (r <= 0) {
        int err = SSL_get_error(ssl_, r);
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
          want_write_ = true;
          break;
        }
        Close(Unavailable(err == SSL_ERROR_SYSCALL ? std::string("write: ") + strerror(errno)
                                                   : "tls write: " + OpenSslErrors()));
        return false;
      }
      n = r;
    } else {
      n = send(fd_, p, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          want_write_ = true;
          break;
        }
        if (errno == EINTR) continue;
        Close(errno == EPIPE || errno == ECONNRESET
                  ? Status::Ok()
                  : Unavailable(std::string("write: ") + strerror(errno)));
        return false;
      }
    }
    out_offset_ += static_cast<size_t>(n);
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  } else if (out_offset_ > out_.size() / 2) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
  return true;
}

void Connection::UpdateInterest() {
  if (fd_ < 0) return;
  uint32_t want = 0;
  if (!reading_paused_ || handshaking_) want |= EPOLLIN;
  if (want_write_) want |= EPOLLOUT;
  if (want == interest_) return;
  interest_ = want;
  Status s = loop_->Modify(fd_, want, this);
  if (!s.ok()) Close(s);
}

void Connection::Shutdown() {
  if (fd_ < 0) return;
  if (protocol_ == nullptr) {
    Close(Status::Ok());
    return;
  }
  protocol_->OnShutdown();
  RequestFlush();
}

void Connection::Close(const Status& reason) {
  if (fd_ < 0) return;
  if (!reason.ok()) {
    spdlog::warn("closing connection peer={} local={}: {}", info_.peer, info_.local,
                 reason.message());
  } else {
    spdlog::debug("connection closed peer={}", info_.peer);
  }
  loop_->Remove(fd_);
  loop_->CancelTimer(std::exchange(handshake_timer_, 0));
  if (ssl_ != nullptr && !handshaking_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // Best effort close_notify; no waiting for the peer's.
    ERR_clear_error();
  }
  ::close(fd_);
  fd_ = -1;
  if (protocol_ != nullptr) protocol_->OnClose();
  // The protocol may still be on the call stack (we can be closed from inside OnRead); destroy
  // it and drop the owner's reference at the end of the batch.
  loop_->Defer([self = shared_from_this()] {
    self->protocol_.reset();
    if (self->on_close_) self->on_close_(self.get());
  });
}

}  // namespace etcdpp::net
