// Loopback tests of the peer transport: real sockets on 127.0.0.1, port 0 for listeners. Waits
// are bounded (they only decide when to give up, never what the answer is).
#include "peer/transport.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "peer/codec.h"

namespace etcdpp::peer {
namespace {

constexpr auto kGiveUp = std::chrono::seconds(20);
const ClusterId kCluster(0xc1);
const MemberId kA(0xa), kB(0xb);

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<raft::Message> messages;
  std::vector<MemberId> hellos;
  std::vector<std::string> hello_urls;
  int unreachable = 0;

  std::vector<LeaseRenew> renews;
  std::vector<LeaseRenewResult> renew_results;

  Transport::Handlers Handlers() {
    Transport::Handlers h;
    h.on_message = [this](raft::Message&& m) {
      std::lock_guard lock(mu);
      messages.push_back(std::move(m));
      cv.notify_all();
    };
    h.on_unreachable = [this](MemberId) {
      std::lock_guard lock(mu);
      ++unreachable;
      cv.notify_all();
    };
    h.on_hello = [this](MemberId id, const std::vector<std::string>& urls) {
      std::lock_guard lock(mu);
      hellos.push_back(id);
      hello_urls = urls;
      cv.notify_all();
    };
    h.on_lease_renew = [this](MemberId, const LeaseRenew& r) {
      std::lock_guard lock(mu);
      renews.push_back(r);
      cv.notify_all();
    };
    h.on_lease_renew_result = [this](const LeaseRenewResult& r) {
      std::lock_guard lock(mu);
      renew_results.push_back(r);
      cv.notify_all();
    };
    return h;
  }
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kGiveUp, pred);
  }
};

raft::Message Heartbeat(MemberId from, MemberId to, uint64_t term) {
  raft::Message m;
  m.type = raft::MessageType::kHeartbeat;
  m.from = from;
  m.to = to;
  m.term = Term(term);
  return m;
}

int Port(const std::string& addr) { return std::stoi(addr.substr(addr.rfind(':') + 1)); }

// Keeps sending to kA until the sender reports it unreachable (a refused peer is noticed on a
// write after the receiver closed the connection, so one message is not always enough).
bool SendUntilUnreachable(Transport* t, Inbox* inbox) {
  for (int i = 0; i < 2000; ++i) {
    t->Send(Heartbeat(kB, kA, 1));
    std::unique_lock lock(inbox->mu);
    if (inbox->cv.wait_for(lock, std::chrono::milliseconds(10),
                           [&] { return inbox->unreachable > 0; })) {
      return true;
    }
  }
  return false;
}

// Builds receiver `a` listening on a free port and sender `b` that knows a's URL.
struct Pair {
  Inbox inbox_a, inbox_b;
  std::unique_ptr<Transport> a, b;

  void Make(const std::string& scheme, const PeerTls& tls, ClusterId b_cluster = kCluster) {
    TransportOptions oa;
    oa.self = kA;
    oa.cluster_id = kCluster;
    oa.listen_urls = {scheme + "://127.0.0.1:0"};
    oa.tls = tls;
    auto ta = Transport::Create(oa, inbox_a.Handlers());
    ASSERT_TRUE(ta.ok()) << ta.status().ToString();
    a = std::move(ta).value();
    TransportOptions ob;
    ob.self = kB;
    ob.cluster_id = b_cluster;
    ob.peers[kA] = {scheme + "://127.0.0.1:" + std::to_string(Port(a->bound_addresses()[0]))};
    ob.client_urls = {"http://127.0.0.1:12379"};
    ob.tls = tls;
    auto tb = Transport::Create(ob, inbox_b.Handlers());
    ASSERT_TRUE(tb.ok()) << tb.status().ToString();
    b = std::move(tb).value();
    a->Start();
    b->Start();
  }
};

TEST(TransportTest, DeliversMessagesInOrderOverTcp) {
  Pair p;
  p.Make("http", {});
  for (uint64_t i = 1; i <= 100; ++i) p.b->Send(Heartbeat(kB, kA, i));
  ASSERT_TRUE(p.inbox_a.WaitFor([&] { return p.inbox_a.messages.size() >= 100; }));
  for (uint64_t i = 0; i < 100; ++i) EXPECT_EQ(p.inbox_a.messages[i].term.value(), i + 1);
  ASSERT_EQ(p.inbox_a.hellos.size(), 1u);
  EXPECT_EQ(p.inbox_a.hellos[0], kB);
  EXPECT_EQ(p.inbox_a.hello_urls, std::vector<std::string>{"http://127.0.0.1:12379"});
}

TEST(TransportTest, CarriesLeaseFramesBesideRaftMessages) {
  Pair p;
  p.Make("http", {});
  p.b->Send(Heartbeat(kB, kA, 1));
  p.b->SendLeaseRenew(kA, LeaseRenew{5, 42});
  p.b->SendLeaseRenewResult(kA, LeaseRenewResult{6, LeaseRenewOutcome::kRenewed, 30});
  ASSERT_TRUE(p.inbox_a.WaitFor([&] {
    return p.inbox_a.renews.size() == 1 && p.inbox_a.renew_results.size() == 1 &&
           p.inbox_a.messages.size() == 1;
  }));
  EXPECT_EQ(p.inbox_a.renews[0], (LeaseRenew{5, 42}));
  EXPECT_EQ(p.inbox_a.renew_results[0].ttl_seconds, 30);
}

TEST(TransportTest, RejectsPeerOfAnotherCluster) {
  Pair p;
  p.Make("http", {}, ClusterId(0xdead));
  EXPECT_TRUE(SendUntilUnreachable(p.b.get(), &p.inbox_b));
  std::lock_guard lock(p.inbox_a.mu);
  EXPECT_TRUE(p.inbox_a.messages.empty());
  EXPECT_TRUE(p.inbox_a.hellos.empty());
}

TEST(TransportTest, ReportsUnreachablePeer) {
  Inbox inbox;
  // A port that was free a moment ago: bind, read it, close.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(s);
  TransportOptions o;
  o.self = kB;
  o.cluster_id = kCluster;
  o.peers[kA] = {"http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))};
  auto t = Transport::Create(o, inbox.Handlers());
  ASSERT_TRUE(t.ok());
  (*t)->Start();
  (*t)->Send(Heartbeat(kB, kA, 1));
  EXPECT_TRUE(inbox.WaitFor([&] { return inbox.unreachable > 0; }));
  (*t)->Stop();
}

TEST(TransportTest, MalformedFrameClosesOnlyThatConnection) {
  Pair p;
  p.Make("http", {});
  // A raw client that sends a valid hello, then an oversized frame header.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(Port(p.a->bound_addresses()[0])));
  ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string bytes;
  AppendHelloFrame(Hello{kCluster, MemberId(0xc), kA, {}}, &bytes);
  bytes += std::string("\xff\xff\xff\xff", 4);
  ASSERT_EQ(::send(s, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  char c;
  EXPECT_EQ(::recv(s, &c, 1, 0), 0);  // closed by the transport
  ::close(s);
  // The well-behaved peer still gets through.
  p.b->Send(Heartbeat(kB, kA, 5));
  ASSERT_TRUE(p.inbox_a.WaitFor([&] { return !p.inbox_a.messages.empty(); }));
  EXPECT_EQ(p.inbox_a.messages[0].term.value(), 5u);
}

std::string CertsDir() {
  static std::string dir = [] {
    std::string d = ::testing::TempDir() + "peer-certs";
    std::string cmd = std::string(ETCDPP_SOURCE_DIR) + "/tests/lib/make-certs.sh " + d;
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return d;
  }();
  return dir;
}

TEST(TransportTest, DeliversOverMutualTls) {
  std::string d = CertsDir();
  PeerTls tls{d + "/peer.crt", d + "/peer.key", d + "/ca.crt", true, "", {}};
  Pair p;
  p.Make("https", tls);
  for (uint64_t i = 1; i <= 10; ++i) p.b->Send(Heartbeat(kB, kA, i));
  ASSERT_TRUE(p.inbox_a.WaitFor([&] { return p.inbox_a.messages.size() >= 10; }));
  EXPECT_EQ(p.inbox_a.messages[9].term.value(), 10u);
}

TEST(TransportTest, RejectsClientCertificateOfAnotherCa) {
  std::string d = CertsDir();
  PeerTls good{d + "/peer.crt", d + "/peer.key", d + "/ca.crt", true, "", {}};
  Inbox inbox_a, inbox_b;
  TransportOptions oa;
  oa.self = kA;
  oa.cluster_id = kCluster;
  oa.listen_urls = {"https://127.0.0.1:0"};
  oa.tls = good;
  auto a = Transport::Create(oa, inbox_a.Handlers());
  ASSERT_TRUE(a.ok());
  TransportOptions ob;
  ob.self = kB;
  ob.cluster_id = kCluster;
  ob.peers[kA] = {"https://127.0.0.1:" + std::to_string(Port((*a)->bound_addresses()[0]))};
  // Trusts the right CA for the server, but presents a client certificate of another CA.
  ob.tls = PeerTls{d + "/other-client.crt", d + "/other-client.key", d + "/ca.crt", true, "", {}};
  auto b = Transport::Create(ob, inbox_b.Handlers());
  ASSERT_TRUE(b.ok());
  (*a)->Start();
  (*b)->Start();
  EXPECT_TRUE(SendUntilUnreachable(b->get(), &inbox_b));
  std::lock_guard lock(inbox_a.mu);
  EXPECT_TRUE(inbox_a.messages.empty());
}

}  // namespace
}  // namespace etcdpp::peer
