// Tests for Config defaults, URL and duration parsing, validation and the YAML reader.
// Expected error texts were taken from running etcd 3.4.23 with the same settings.

#include "server/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "server/version.h"

namespace etcdpp::server {
namespace {

TEST(ConfigDefaultsTest, MatchEtcd34) {
  Config c;
  EXPECT_EQ(c.name, "default");
  EXPECT_EQ(c.EffectiveDataDir(), "default.etcd");
  EXPECT_EQ(JoinUrls(c.listen_client_urls), "http://localhost:2379");
  EXPECT_EQ(JoinUrls(c.advertise_client_urls), "http://localhost:2379");
  EXPECT_EQ(JoinUrls(c.listen_peer_urls), "http://localhost:2380");
  EXPECT_EQ(JoinUrls(c.initial_advertise_peer_urls), "http://localhost:2380");
  EXPECT_EQ(c.initial_cluster, "default=http://localhost:2380");
  EXPECT_EQ(c.initial_cluster_token, "etcd-cluster");
  EXPECT_EQ(c.initial_cluster_state, ClusterState::kNew);
  EXPECT_EQ(c.EffectiveQuotaBackendBytes(), 2LL * 1024 * 1024 * 1024);
  EXPECT_EQ(c.max_request_bytes, 1572864u);
  EXPECT_EQ(c.max_txn_ops, 128u);
  EXPECT_EQ(c.heartbeat_interval_ms, 100u);
  EXPECT_EQ(c.election_timeout_ms, 1000u);
  EXPECT_EQ(c.ElectionTicks(), 10u);
  EXPECT_EQ(c.snapshot_count, 100000u);
  EXPECT_EQ(c.max_concurrent_streams, UINT32_MAX);
  EXPECT_EQ(c.auto_compaction_mode, "periodic");
  EXPECT_EQ(c.auto_compaction_retention, "0");
  EXPECT_TRUE(c.strict_reconfig_check);
  EXPECT_FALSE(c.enable_v2);
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c).ToString();
  EXPECT_TRUE(ValidateBootstrap(c).ok()) << ValidateBootstrap(c).ToString();
}

TEST(VersionTest, ConstantsAreConsistent) {
  EXPECT_EQ(kEtcdppVersion, ETCDPP_PROJECT_VERSION);
  EXPECT_EQ(kEtcdServerVersion, "3.5.13");
  EXPECT_EQ(kEtcdServerVersion.substr(0, 4), kEtcdClusterVersion.substr(0, 4));
}

TEST(UrlTest, ParsesAndPrints) {
  auto u = ParseUrl(" https://[::1]:2379 ");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "2379");
  EXPECT_EQ(u->ToString(), "https://[::1]:2379");
  EXPECT_TRUE(u->IsTls());
  auto unix_url = ParseUrl("unix://localhost:12345");
  ASSERT_TRUE(unix_url.ok());
  EXPECT_TRUE(unix_url->IsUnix());
  EXPECT_EQ(ParseUrl("HTTP://0.0.0.0:2379")->ToString(), "http://0.0.0.0:2379");
}

TEST(UrlTest, ErrorsUseEtcdWording) {
  EXPECT_EQ(ParseUrl("foo").status().message(),
            "URL scheme must be http, https, unix, or unixs: foo");
  EXPECT_EQ(ParseUrl("ftp://a:1").status().message(),
            "URL scheme must be http, https, unix, or unixs: ftp://a:1");
  EXPECT_EQ(ParseUrl("localhost:2379").status().message(),
            "URL scheme must be http, https, unix, or unixs: localhost:2379");
  EXPECT_EQ(ParseUrl("http://localhost").status().message(),
            "URL address does not have the form \"host:port\": http://localhost");
  EXPECT_EQ(ParseUrl("http://a:1/x").status().message(),
            "URL must not contain a path: http://a:1/x");
  EXPECT_EQ(ParseUrl("http://a:1/").status().message(), "URL must not contain a path: http://a:1/");
  EXPECT_FALSE(ParseUrl("http://a:b").ok());
  EXPECT_FALSE(ParseUrl("http://a:1:2").ok());
}

TEST(UrlTest, ListIsSortedAndRejectsEmpty) {
  auto l = ParseUrlList("https://b:1, http://a:2");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(JoinUrls(*l), "http://a:2,https://b:1");
  EXPECT_EQ(ParseUrlList("").status().message(), "no valid URLs given");
  EXPECT_FALSE(ParseUrlList("http://a:1,").ok());
}

TEST(InitialClusterTest, GroupsUrlsByName) {
  auto m = ParseInitialClusterUrls(
      "a=http://10.0.0.2:2380,b=http://10.0.0.3:2380,"
      "a=http://10.0.0.1:2380,");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ(JoinUrls(m->at("a")), "http://10.0.0.1:2380,http://10.0.0.2:2380");
  EXPECT_EQ(JoinUrls(m->at("b")), "http://10.0.0.3:2380");
  EXPECT_EQ(ParseInitialClusterUrls("bogus").status().message(),
            "URL scheme must be http, https, unix, or unixs: ");
}

TEST(GoDurationTest, ParsesGoSyntax) {
  EXPECT_EQ(*ParseGoDuration("0"), 0);
  EXPECT_EQ(*ParseGoDuration("5s"), 5'000'000'000);
  EXPECT_EQ(*ParseGoDuration("1h30m"), 5'400'000'000'000);
  EXPECT_EQ(*ParseGoDuration("1.5h"), 5'400'000'000'000);
  EXPECT_EQ(*ParseGoDuration("250ms"), 250'000'000);
  EXPECT_EQ(*ParseGoDuration("10us"), 10'000);
  EXPECT_EQ(*ParseGoDuration("-2m"), -120'000'000'000);
  EXPECT_EQ(ParseGoDuration("bogus").status().message(), "time: invalid duration \"bogus\"");
  EXPECT_EQ(ParseGoDuration("5").status().message(), "time: missing unit in duration \"5\"");
  EXPECT_EQ(ParseGoDuration("5d").status().message(),
            "time: unknown unit \"d\" in duration \"5d\"");
  EXPECT_FALSE(ParseGoDuration("").ok());
  EXPECT_FALSE(ParseGoDuration("9999999999h").ok());
}

// Returns the message of ValidateConfig after `mutate` is applied to a default config.
template <typename F>
std::string ValidationError(F mutate) {
  Config c;
  mutate(c);
  Status s = ValidateConfig(c);
  return s.ok() ? "OK" : s.message();
}

TEST(ValidateConfigTest, TimingBounds) {
  EXPECT_EQ(ValidationError([](Config& c) { c.heartbeat_interval_ms = 0; }),
            "--heartbeat-interval must be >0 (set to 0ms)");
  EXPECT_EQ(ValidationError([](Config& c) { c.election_timeout_ms = 200; }),
            "--election-timeout[200ms] should be at least as 5 times as "
            "--heartbeat-interval[100ms]");
  EXPECT_EQ(ValidationError([](Config& c) { c.election_timeout_ms = 60000; }),
            "--election-timeout[60000ms] is too long, and should be set less than 50000ms");
  EXPECT_EQ(ValidationError([](Config& c) { c.election_timeout_ms = 500; }), "OK");
}

TEST(ValidateConfigTest, Urls) {
  EXPECT_EQ(ValidationError(
                [](Config& c) { c.listen_client_urls = *ParseUrlList("http://example.com:2379"); }),
            "expected IP in URL for binding (http://example.com:2379)");
  EXPECT_EQ(ValidationError([](Config& c) { c.advertise_client_urls.clear(); }),
            "--advertise-client-urls is required when --listen-client-urls is set explicitly");
  EXPECT_EQ(ValidationError(
                [](Config& c) { c.initial_advertise_peer_urls = *ParseUrlList("http://:2380"); }),
            "--initial-advertise-peer-urls \"http://:2380\" must be \"host:port\" (unexpected "
            "empty host (http://:2380))");
  EXPECT_EQ(ValidationError(
                [](Config& c) { c.listen_client_urls = *ParseUrlList("https://127.0.0.1:2379"); }),
            "TLS key/cert (--cert-file, --key-file) must be provided for client url "
            "https://127.0.0.1:2379 with HTTPS scheme");
  EXPECT_EQ(ValidationError([](Config& c) {
              c.listen_client_urls = *ParseUrlList("https://127.0.0.1:2379");
              c.client_tls.cert_file = "s.crt";
              c.client_tls.key_file = "s.key";
            }),
            "OK");
  EXPECT_EQ(ValidationError([](Config& c) {
              c.listen_client_urls = *ParseUrlList("https://0.0.0.0:2379");
              c.client_tls.auto_tls = true;
            }),
            "OK");
}

TEST(ValidateConfigTest, CertificateChecksNotEnforcedYetAreRefused) {
  EXPECT_EQ(ValidationError([](Config& c) { c.client_tls.crl_file = "/etc/crl.pem"; }),
            "--client-crl-file is not enforced by etcdpp yet; remove it rather than run without "
            "the check");
  EXPECT_EQ(ValidationError([](Config& c) { c.peer_tls.allowed_hostname = "peer.example"; }),
            "--peer-cert-allowed-hostname is not enforced by etcdpp yet; remove it rather than "
            "run without the check");
  EXPECT_EQ(ValidationError([](Config& c) { c.peer_tls.allowed_cn = "peer"; }), "OK");
}

TEST(ValidateConfigTest, ConflictsAndEnums) {
  EXPECT_EQ(ValidationError([](Config& c) { c.discovery = "https://discovery.etcd.io/x"; }),
            "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", "
            "\"discovery\" or \"discovery-srv\"");
  EXPECT_EQ(ValidationError([](Config& c) { c.auto_compaction_mode = "bogus"; }),
            "unknown auto-compaction-mode \"bogus\"");
  EXPECT_EQ(ValidationError([](Config& c) { c.auto_compaction_retention = "bogus"; }),
            "error parsing CompactionRetention: time: invalid duration \"bogus\"");
  EXPECT_EQ(ValidationError([](Config& c) { c.auto_compaction_retention = "5m"; }), "OK");
  EXPECT_EQ(ValidationError([](Config& c) { c.logger = "bogus"; }),
            "unknown logger option \"bogus\"");
  EXPECT_EQ(ValidationError([](Config& c) {
              c.logger = "capnslog";
              c.log_outputs = {"bogus"};
            }),
            "unknown log-output \"bogus\" (only supports \"default\", \"stderr\", \"stdout\")");
  EXPECT_EQ(ValidationError([](Config& c) {
              c.log_outputs = {"default", "stderr"};
            }),
            "multi logoutput for \"default\" is not supported yet");
  EXPECT_EQ(ValidationError([](Config& c) { c.log_outputs = {"stderr", "/tmp/x.log"}; }), "OK");
  EXPECT_NE(ValidationError([](Config& c) { c.log_level = "loud"; }), "OK");
  EXPECT_EQ(ValidationError([](Config& c) { c.cipher_suites = {"BOGUS"}; }),
            "unexpected TLS cipher suite \"BOGUS\"");
  EXPECT_EQ(ValidationError(
                [](Config& c) { c.cipher_suites = {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}; }),
            "OK");
  EXPECT_EQ(
      ValidationError([](Config& c) { c.experimental_enable_lease_checkpoint_persist = true; }),
      "setting experimental-enable-lease-checkpoint-persist requires "
      "experimental-enable-lease-checkpoint");
}

TEST(ValidateBootstrapTest, NameAndUrlsMustMatchInitialCluster) {
  Config c;
  c.name = "foo";
  EXPECT_EQ(ValidateBootstrap(c).message(),
            "couldn't find local name \"foo\" in the initial cluster configuration");
  ApplyDerivedDefaults(&c);
  EXPECT_EQ(c.initial_cluster, "foo=http://localhost:2380");
  EXPECT_TRUE(ValidateBootstrap(c).ok());

  Config d;
  d.initial_advertise_peer_urls = *ParseUrlList("http://127.0.0.1:41381");
  d.initial_cluster = "default=http://127.0.0.1:41380";
  EXPECT_EQ(ValidateBootstrap(d).message(),
            "--initial-cluster has default=http://127.0.0.1:41380 but missing from "
            "--initial-advertise-peer-urls=http://127.0.0.1:41381 (resolved urls: "
            "\"http://127.0.0.1:41381\" != \"http://127.0.0.1:41380\")");
  d.initial_cluster_state = ClusterState::kExisting;
  EXPECT_TRUE(ValidateBootstrap(d).ok());

  Config e;
  e.initial_cluster = "bogus";
  EXPECT_EQ(ValidateBootstrap(e).message(),
            "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ");
  e.initial_cluster = "default=http://localhost:2380,b=http://localhost:2380";
  EXPECT_NE(ValidateBootstrap(e).message().find("has duplicate url"), std::string::npos);
}

TEST(ApplyDerivedDefaultsTest, KeepsExplicitCluster) {
  Config c;
  c.name = "n1";
  c.initial_cluster = "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380";
  ApplyDerivedDefaults(&c);
  EXPECT_EQ(c.initial_cluster, "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380");
}

TEST(YamlConfigTest, ReadsEtcdKeys) {
  auto c = ConfigFromYaml(R"(
name: node1
data-dir: /var/lib/etcd
listen-client-urls: https://127.0.0.1:2379,https://10.0.0.1:2379
advertise-client-urls: https://10.0.0.1:2379
listen-peer-urls: https://10.0.0.1:2380
initial-advertise-peer-urls: https://10.0.0.1:2380
initial-cluster: node1=https://10.0.0.1:2380
initial-cluster-state: existing
quota-backend-bytes: 8589934592
snapshot-count: 10000
heartbeat-interval: 250
election-timeout: 2500
max-request-bytes: 33554432
experimental-initial-corrupt-check: true
experimental-watch-progress-notify-interval: 5000000000
log-outputs: [stderr]
cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
client-transport-security:
  cert-file: /pki/server.crt
  key-file: /pki/server.key
  client-cert-auth: true
  trusted-ca-file: /pki/ca.crt
peer-transport-security:
  auto-tls: yes
some-future-key: ignored
)");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "node1");
  EXPECT_EQ(c->data_dir, "/var/lib/etcd");
  EXPECT_EQ(JoinUrls(c->listen_client_urls), "https://10.0.0.1:2379,https://127.0.0.1:2379");
  EXPECT_EQ(c->initial_cluster_state, ClusterState::kExisting);
  EXPECT_EQ(c->quota_backend_bytes, 8589934592);
  EXPECT_EQ(c->snapshot_count, 10000u);
  EXPECT_EQ(c->heartbeat_interval_ms, 250u);
  EXPECT_EQ(c->experimental_watch_progress_notify_interval_ms, 5000);
  EXPECT_TRUE(c->experimental_initial_corrupt_check);
  EXPECT_EQ(c->log_outputs, std::vector<std::string>{"stderr"});
  EXPECT_EQ(c->client_tls.cert_file, "/pki/server.crt");
  EXPECT_EQ(c->client_tls.key_file, "/pki/server.key");
  EXPECT_TRUE(c->client_tls.client_cert_auth);
  EXPECT_EQ(c->client_tls.trusted_ca_file, "/pki/ca.crt");
  EXPECT_TRUE(c->peer_tls.auto_tls);
  EXPECT_TRUE(ValidateConfig(*c).ok()) << ValidateConfig(*c).ToString();
}

TEST(YamlConfigTest, EmptyFileGivesDefaults) {
  auto c = ConfigFromYaml("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->name, "default");
}

TEST(YamlConfigTest, DiscoveryClearsDefaultCluster) {
  auto c = ConfigFromYaml("discovery: https://discovery.example/abc\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->initial_cluster, "");
}

TEST(YamlConfigTest, TypeErrorsNameTheKey) {
  EXPECT_EQ(ConfigFromYaml("heartbeat-interval: abc\n").status().message(),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into "
            "Go struct field configYAML.heartbeat-interval of type uint");
  EXPECT_NE(ConfigFromYaml("client-transport-security:\n  client-cert-auth: maybe\n")
                .status()
                .message()
                .find("client-transport-security.client-cert-auth"),
            std::string::npos);
  EXPECT_EQ(ConfigFromYaml("listen-client-urls: foo\n").status().message(),
            "unexpected error setting up listen-client-urls: URL scheme must be http, https, "
            "unix, or unixs: foo");
  EXPECT_EQ(ConfigFromYaml("initial-cluster-state: bogus\n").status().message(),
            "unexpected clusterState \"bogus\"");
  EXPECT_EQ(ConfigFromYaml("max-txn-ops: -1\n").status().message(),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number -1 into "
            "Go struct field configYAML.max-txn-ops of type uint");
}

TEST(YamlConfigTest, MalformedYamlIsAnErrorNotAnException) {
  auto c = ConfigFromYaml("name: [oops\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().rfind("error converting YAML to JSON: yaml: ", 0), 0u)
      << c.status().message();
  EXPECT_FALSE(ConfigFromYaml("- a\n- b\n").ok());
}

TEST(YamlConfigTest, FileErrorsAndPath) {
  auto missing = ConfigFromYamlFile("/nonexistent/etcd.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "open /nonexistent/etcd.yaml: no such file or directory");

  char path[] = "/tmp/etcdpp-config-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream out(path);
    out << "name: fromfile\n";
  }
  auto c = ConfigFromYamlFile(path);
  std::remove(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->name, "fromfile");
  EXPECT_EQ(c->config_file, path);
}

}  // namespace
}  // namespace etcdpp::server
