// Drives one server connection in-process and single-threaded for fuzzing: a socketpair, a
// net::Connection running the real HTTP server protocol on an EventLoop that is never started
// (its queued work runs via RunPendingForTesting on the fuzzer's thread).
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "net/connection.h"
#include "net/event_loop.h"

namespace etcdpp::fuzz {

class Harness {
 public:
  explicit Harness(net::Connection::ProtocolFactory factory) : factory_(std::move(factory)) {
    loop_ = net::EventLoop::Create("fuzz").value();
  }

  // Feeds data to a fresh connection in pieces (size chosen by the last byte),
  // running the loop's pending work after each piece, then closes the connection.
  void Run(const uint8_t* data, size_t size) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) != 0) return;
    net::ConnectionInfo info;
    info.peer = "fuzz";
    auto conn =
        std::make_shared<net::Connection>(loop_.get(), fds[0], nullptr, info, factory_, nullptr);
    conn->Start();
    // Split points matter to incremental parsers; tiny pieces are slow, so they are rare.
    static constexpr size_t kChunks[] = {SIZE_MAX, SIZE_MAX, 4096, 512, 61, 7};
    size_t chunk = size == 0 ? 1 : std::min(size, kChunks[data[size - 1] % 6]);
    for (size_t off = 0; off < size && !conn->closed(); off += chunk) {
      size_t n = std::min(chunk, size - off);
      if (send(fds[1], data + off, n, MSG_NOSIGNAL) <= 0) break;
      conn->OnEvents(EPOLLIN);
      loop_->RunPendingForTesting();
      Drain(fds[1]);
    }
    loop_->RunPendingForTesting();
    Drain(fds[1]);
    conn->Close(Status::Ok());
    loop_->RunPendingForTesting();
    close(fds[1]);
  }

 private:
  static void Drain(int fd) {
    char buf[65536];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
  }

  net::Connection::ProtocolFactory factory_;
  std::shared_ptr<net::EventLoop> loop_;
};

}  // namespace etcdpp::fuzz
