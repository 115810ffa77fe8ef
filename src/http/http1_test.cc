// HTTP/1.1 over a real socket to a NetServer running the server protocol (no gRPC): keep-alive,
// pipelining, chunked bodies, limits and the error answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "http/server_protocol.h"
#include "net/listener.h"

namespace etcdpp::http {
namespace {

class Http1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/health", [](HttpRequest&& r, HttpResponder resp) {
      resp.Send(HttpResponse::Text(200, "ok " + r.query));
    });
    router_.Add("POST", "/echo", [](HttpRequest&& r, HttpResponder resp) {
      resp.Send(HttpResponse::Text(200, r.body));
    });
    router_.Add("", "/v3/", [](HttpRequest&& r, HttpResponder resp) {
      resp.Send(HttpResponse::Text(200, "prefix " + r.method + " " + r.path));
    });
    router_.Add("HEAD", "/health",
                [](HttpRequest&&, HttpResponder r) { r.Send(HttpResponse::Text(200, "body")); });
    options_.max_http_body_bytes = 1000;
    options_.max_header_list_bytes = 2000;
    group_ = net::EventLoopGroup::Create(1, "h1-").value();
    server_ = std::make_unique<net::NetServer>(
        std::vector<net::ListenUrl>{net::ParseListenUrl("http://127.0.0.1:0").value()}, nullptr,
        group_.get(), MakeServerProtocolFactory(&router_, nullptr, options_));
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->bound()[0].port;
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::milliseconds(100));
    group_->Stop();
  }

  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(port_));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    return fd;
  }

  static void SendAll(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  }

  // Reads until `responses` complete responses arrived or the server closed. The poll timeout is
  // a safety net against hangs only.
  static std::string Read(int fd, int responses, bool* closed = nullptr) {
    std::string got;
    auto complete = [&] {
      int n = 0;
      size_t pos = 0;
      while (true) {
        size_t end = got.find("\r\n\r\n", pos);
        if (end == std::string::npos) break;
        size_t cl = got.find("Content-Length: ", pos);
        if (cl == std::string::npos || cl > end) break;
        size_t len = std::stoul(got.substr(cl + 16));
        if (got.size() < end + 4 + len) break;
        pos = end + 4 + len;
        ++n;
      }
      return n;
    };
    if (closed) *closed = false;
    while (complete() < responses) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0) break;
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }

  static bool PeerClosed(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return false;
    char c;
    return recv(fd, &c, 1, 0) == 0;
  }

  Router router_;
  HttpOptions options_;
  std::unique_ptr<net::EventLoopGroup> group_;
  std::unique_ptr<net::NetServer> server_;
  int port_ = 0;
};

TEST_F(Http1Test, KeepAliveServesSeveralRequestsOnOneConnection) {
  int fd = Connect();
  SendAll(fd, "GET /health?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r1 = Read(fd, 1);
  EXPECT_EQ(r1.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r1;
  EXPECT_NE(r1.find("ok x=1"), std::string::npos);
  SendAll(fd, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 200 OK", 0), 0u);
  close(fd);
}

TEST_F(Http1Test, PipelinedRequestsAreAnsweredInOrder) {
  int fd = Connect();
  SendAll(fd,
          "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirst"
          "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsecond"
          "GET /v3/kv/range HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = Read(fd, 3);
  size_t a = r.find("first"), b = r.find("second"), c = r.find("prefix GET /v3/kv/range");
  ASSERT_NE(a, std::string::npos) << r;
  ASSERT_NE(b, std::string::npos) << r;
  ASSERT_NE(c, std::string::npos) << r;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  close(fd);
}

TEST_F(Http1Test, ChunkedBodyIsDecoded) {
  int fd = Connect();
  SendAll(fd,
          "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
          "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  std::string r = Read(fd, 1);
  EXPECT_NE(r.find("\r\n\r\nabcdefg"), std::string::npos) << r;
  close(fd);
}

TEST_F(Http1Test, UnknownPathIs404AndWrongMethodIs405) {
  int fd = Connect();
  SendAll(fd, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 404 Not Found", 0), 0u);
  SendAll(fd, "DELETE /health HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 405 Method Not Allowed", 0), 0u);
  close(fd);
}

TEST_F(Http1Test, MalformedRequestGets400AndClose) {
  int fd = Connect();
  SendAll(fd, "GARBAGE\x01\x02 / HTTP/9\r\n\r\n");
  bool closed = false;
  std::string r = Read(fd, 1, &closed);
  EXPECT_EQ(r.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(closed || PeerClosed(fd));
  close(fd);
}

TEST_F(Http1Test, BodyOverLimitGets413ByContentLengthAndByChunks) {
  int fd = Connect();
  SendAll(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n");
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 413", 0), 0u);
  close(fd);
  fd = Connect();
  std::string req = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 11; ++i) req += "64\r\n" + std::string(100, 'x') + "\r\n";
  SendAll(fd, req);
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 413", 0), 0u);
  close(fd);
}

TEST_F(Http1Test, HeaderBlockOverLimitGets431) {
  int fd = Connect();
  SendAll(fd, "GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'h') + "\r\n\r\n");
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 431", 0), 0u);
  close(fd);
}

TEST_F(Http1Test, ConnectionCloseAndHttp10AreHonoured) {
  int fd = Connect();
  SendAll(fd, "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  std::string r = Read(fd, 1);
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(PeerClosed(fd));
  close(fd);
  fd = Connect();
  SendAll(fd, "GET /health HTTP/1.0\r\n\r\n");
  Read(fd, 1);
  EXPECT_TRUE(PeerClosed(fd));
  close(fd);
}

TEST_F(Http1Test, HeadResponseHasNoBody) {
  int fd = Connect();
  SendAll(fd, "HEAD /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  std::string r;
  char buf[1024];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) r.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << r;
  close(fd);
}

TEST_F(Http1Test, GarbageBeforeHttp2PrefaceIsHttp1Garbage) {
  int fd = Connect();
  SendAll(fd, "PRX * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_EQ(Read(fd, 1).rfind("HTTP/1.1 400", 0), 0u);
  close(fd);
}

}  // namespace
}  // namespace etcdpp::http
