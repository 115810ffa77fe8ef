#include "net/listener.h"

#include <gtest/gtest.h>

namespace etcdpp::net {
namespace {

TEST(ListenUrlTest, ParsesSchemesHostsAndPorts) {
  auto u = ParseListenUrl("http://127.0.0.1:2379").value();
  EXPECT_EQ(u.scheme, ListenUrl::Scheme::kHttp);
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 2379);
  u = ParseListenUrl("https://[::1]:0/").value();
  EXPECT_EQ(u.scheme, ListenUrl::Scheme::kHttps);
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 0);
  EXPECT_TRUE(u.tls());
  u = ParseListenUrl("unix://localhost:1234").value();
  EXPECT_TRUE(u.unix_socket());
  EXPECT_EQ(u.host, "localhost:1234");
  u = ParseListenUrl("unixs:///tmp/x.sock").value();
  EXPECT_TRUE(u.tls());
  EXPECT_EQ(u.host, "/tmp/x.sock");
  u = ParseListenUrl("http://:2379").value();
  EXPECT_EQ(u.host, "");
}

TEST(ListenUrlTest, RejectsBadUrls) {
  EXPECT_FALSE(ParseListenUrl("127.0.0.1:2379").ok());
  EXPECT_FALSE(ParseListenUrl("ftp://a:1").ok());
  EXPECT_FALSE(ParseListenUrl("http://a").ok());
  EXPECT_FALSE(ParseListenUrl("http://a:99999").ok());
  EXPECT_FALSE(ParseListenUrl("http://a:1/path").ok());
  EXPECT_FALSE(ParseListenUrl("http://[::1:1").ok());
}

TEST(NetServerTest, BindConflictIsAClearError) {
  auto group = EventLoopGroup::Create(1, "t").value();
  NetServer a({ParseListenUrl("http://127.0.0.1:0").value()}, nullptr, group.get(), nullptr);
  ASSERT_TRUE(a.Start().ok());
  int port = a.bound()[0].port;
  ASSERT_GT(port, 0);
  NetServer b({ParseListenUrl("http://127.0.0.1:" + std::to_string(port)).value()}, nullptr,
              group.get(), nullptr);
  Status s = b.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("already in use"), std::string::npos) << s.message();
  a.Shutdown(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace etcdpp::net
