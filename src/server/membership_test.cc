#include "server/membership.h"

#include <gtest/gtest.h>

namespace etcdpp::server {
namespace {

// Expected ids recorded from real etcd 3.4.23: a single member started with
// --initial-advertise-peer-urls http://127.0.0.1:23801 and the default token "etcd-cluster"
// reported these ids in `etcdctl member list -w json`.
TEST(MembershipTest, IdsMatchEtcd) {
  MemberId m = ComputeMemberId({"http://127.0.0.1:23801"}, "etcd-cluster");
  EXPECT_EQ(m.value(), 13668033151171901709ull);
  EXPECT_EQ(ComputeClusterId({m}).value(), 15118495548433857066ull);
}

TEST(MembershipTest, MemberIdIgnoresUrlOrder) {
  EXPECT_EQ(ComputeMemberId({"http://a:1", "http://b:2"}, "t"),
            ComputeMemberId({"http://b:2", "http://a:1"}, "t"));
  EXPECT_NE(ComputeMemberId({"http://a:1"}, "t1"), ComputeMemberId({"http://a:1"}, "t2"));
}

TEST(MembershipTest, ParsesInitialClusterWithRepeatedNames) {
  auto r = ParseInitialCluster("a=http://h1:2380,b=http://h2:2380,a=http://h3:2380", "tok");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "a");
  EXPECT_EQ((*r)[0].peer_urls.size(), 2u);
  EXPECT_EQ((*r)[0].id, ComputeMemberId({"http://h1:2380", "http://h3:2380"}, "tok"));
}

TEST(MembershipTest, RejectsMalformedInitialCluster) {
  EXPECT_FALSE(ParseInitialCluster("a", "t").ok());
  EXPECT_FALSE(ParseInitialCluster("=http://x", "t").ok());
  EXPECT_FALSE(ParseInitialCluster("", "t").ok());
}

}  // namespace
}  // namespace etcdpp::server
