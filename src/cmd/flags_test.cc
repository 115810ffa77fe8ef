// Tests for the server command line. Expected error lines and exit codes were observed by
// running etcd 3.4.23 with the same arguments (e.g. `etcd --bogus` prints
// "flag provided but not defined: -bogus" and exits 2).

#include "cmd/flags.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "server/version.h"

namespace etcdpp::cmd {
namespace {

using Action = ParsedCommandLine::Action;
using Env = std::map<std::string, std::string>;

Result<ParsedCommandLine> Parse(std::vector<std::string> args, const Env& env = {},
                                std::string prog = "etcdpp") {
  std::vector<char*> argv;
  argv.push_back(prog.data());
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseCommandLine(static_cast<int>(args.size()) + 1, argv.data(), env);
}

// The error line for a failed parse, or "OK".
std::string ErrorOf(std::vector<std::string> args, const Env& env = {}) {
  auto r = Parse(std::move(args), env);
  return r.ok() ? "OK" : r.status().message();
}

int ExitOf(std::vector<std::string> args, const Env& env = {}) {
  auto r = Parse(std::move(args), env);
  return r.ok() ? 0 : ExitCodeForParseError(r.status());
}

bool HasWarning(const ParsedCommandLine& p, const std::string& needle) {
  for (const auto& w : p.warnings) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(FlagsTest, NoArgumentsGiveEtcdDefaults) {
  auto p = Parse({});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->action, Action::kRun);
  EXPECT_EQ(p->config.name, "default");
  EXPECT_EQ(p->config.EffectiveDataDir(), "default.etcd");
  EXPECT_EQ(server::JoinUrls(p->config.listen_client_urls), "http://localhost:2379");
  EXPECT_EQ(server::JoinUrls(p->config.advertise_client_urls), "http://localhost:2379");
  EXPECT_EQ(p->config.initial_cluster, "default=http://localhost:2380");
  EXPECT_TRUE(p->warnings.empty());
}

TEST(FlagsTest, KubeadmStaticPodManifestStarts) {
  // The command of kubeadm's etcd static pod (v1.28-1.31), verbatim.
  auto p = Parse({
      "--advertise-client-urls=https://192.168.1.10:2379",
      "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
      "--client-cert-auth=true",
      "--data-dir=/var/lib/etcd",
      "--experimental-initial-corrupt-check=true",
      "--experimental-watch-progress-notify-interval=5s",
      "--initial-advertise-peer-urls=https://192.168.1.10:2380",
      "--initial-cluster=cp1=https://192.168.1.10:2380",
      "--key-file=/etc/kubernetes/pki/etcd/server.key",
      "--listen-client-urls=https://127.0.0.1:2379,https://192.168.1.10:2379",
      "--listen-metrics-urls=http://127.0.0.1:2381",
      "--listen-peer-urls=https://192.168.1.10:2380",
      "--name=cp1",
      "--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
      "--peer-client-cert-auth=true",
      "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
      "--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
      "--snapshot-count=10000",
      "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
  });
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const server::Config& c = p->config;
  EXPECT_EQ(c.name, "cp1");
  EXPECT_EQ(c.data_dir, "/var/lib/etcd");
  EXPECT_EQ(server::JoinUrls(c.listen_client_urls),
            "https://127.0.0.1:2379,https://192.168.1.10:2379");
  EXPECT_EQ(server::JoinUrls(c.listen_metrics_urls), "http://127.0.0.1:2381");
  EXPECT_TRUE(c.client_tls.client_cert_auth);
  EXPECT_EQ(c.client_tls.cert_file, "/etc/kubernetes/pki/etcd/server.crt");
  EXPECT_EQ(c.client_tls.trusted_ca_file, "/etc/kubernetes/pki/etcd/ca.crt");
  EXPECT_TRUE(c.peer_tls.client_cert_auth);
  EXPECT_EQ(c.peer_tls.key_file, "/etc/kubernetes/pki/etcd/peer.key");
  EXPECT_EQ(c.snapshot_count, 10000u);
  EXPECT_TRUE(c.experimental_initial_corrupt_check);
  EXPECT_EQ(c.experimental_watch_progress_notify_interval_ms, 5000);
  EXPECT_EQ(c.initial_cluster, "cp1=https://192.168.1.10:2380");
  EXPECT_TRUE(server::ValidateBootstrap(c).ok()) << server::ValidateBootstrap(c).ToString();
  EXPECT_TRUE(HasWarning(*p, "--experimental-initial-corrupt-check is accepted but has no"));
  EXPECT_FALSE(HasWarning(*p, "--name"));
}

TEST(FlagsTest, DesignScenarioFlagsStart) {
  auto p =
      Parse({"--name", "etcd0", "--trusted-ca-file", "ca.crt", "--cert-file", "s.crt", "--key-file",
             "s.key", "--client-cert-auth=true", "--listen-client-urls=https://0.0.0.0:2379",
             "--advertise-client-urls=https://localhost:2379", "--data-dir=/var/lib/etcd"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->config.name, "etcd0");
  EXPECT_EQ(p->config.initial_cluster, "etcd0=http://localhost:2380");
  EXPECT_EQ(p->config.client_tls.key_file, "s.key");
}

TEST(FlagsTest, GoFlagSyntax) {
  auto p = Parse({"-name", "a", "-data-dir=/d", "--wal-dir", "/w", "--client-cert-auth",
                  "-auto-tls=false", "--snapshot-count=5", "--snapshot-count", "7",
                  "--initial-cluster-token="});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->config.name, "a");
  EXPECT_EQ(p->config.data_dir, "/d");
  EXPECT_EQ(p->config.wal_dir, "/w");
  EXPECT_TRUE(p->config.client_tls.client_cert_auth);
  EXPECT_FALSE(p->config.client_tls.auto_tls);
  EXPECT_EQ(p->config.snapshot_count, 7u);  // The last occurrence wins, as in Go.
  EXPECT_EQ(p->config.initial_cluster_token, "");
  // A value may start with '-' when given as the next argument (Go takes it verbatim).
  auto q = Parse({"--name", "-odd-"});
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->config.name, "-odd-");
  // Go's boolean spellings.
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    auto r = Parse({std::string("--enable-v2=") + t});
    ASSERT_TRUE(r.ok()) << t;
    EXPECT_TRUE(r->config.enable_v2) << t;
  }
  EXPECT_TRUE(Parse({"--"}).ok());
}

TEST(FlagsTest, UsageErrorsMatchEtcdAndExitTwo) {
  EXPECT_EQ(ErrorOf({"--bogus"}), "flag provided but not defined: -bogus");
  EXPECT_EQ(ExitOf({"--bogus"}), 2);
  EXPECT_EQ(ErrorOf({"-bogus=1"}), "flag provided but not defined: -bogus");
  EXPECT_EQ(ErrorOf({"--snapshot-count=abc"}),
            "invalid value \"abc\" for flag -snapshot-count: parse error");
  EXPECT_EQ(ExitOf({"--snapshot-count=abc"}), 2);
  EXPECT_EQ(ErrorOf({"--initial-cluster-state=bogus"}),
            "invalid value \"bogus\" for flag -initial-cluster-state: invalid value");
  EXPECT_EQ(ErrorOf({"--listen-client-urls=foo", "--advertise-client-urls=foo"}),
            "invalid value \"foo\" for flag -listen-client-urls: URL scheme must be http, "
            "https, unix, or unixs: foo");
  EXPECT_EQ(ErrorOf({"--max-concurrent-streams=-1"}),
            "invalid value \"-1\" for flag -max-concurrent-streams: strconv.ParseUint: parsing "
            "\"-1\": invalid syntax");
  EXPECT_EQ(ErrorOf({"--client-cert-auth=maybe"}),
            "invalid boolean value \"maybe\" for -client-cert-auth: parse error");
  EXPECT_EQ(ErrorOf({"--client-cert-auth="}),
            "invalid boolean value \"\" for -client-cert-auth: parse error");
  EXPECT_EQ(ErrorOf({"--wal-dir"}), "flag needs an argument: -wal-dir");
  EXPECT_EQ(ExitOf({"--wal-dir"}), 2);
  EXPECT_EQ(ErrorOf({"---x"}), "bad flag syntax: ---x");
  EXPECT_EQ(ErrorOf({"--heartbeat-interval=-5"}),
            "invalid value \"-5\" for flag -heartbeat-interval: parse error");
  EXPECT_EQ(ErrorOf({"--election-timeout=99999999999999999999"}),
            "invalid value \"99999999999999999999\" for flag -election-timeout: value out of "
            "range");
  EXPECT_EQ(ErrorOf({"--grpc-keepalive-timeout=5"}),
            "invalid value \"5\" for flag -grpc-keepalive-timeout: parse error");
}

TEST(FlagsTest, VerificationErrorsMatchEtcdAndExitOne) {
  EXPECT_EQ(ErrorOf({"extra"}),
            "error verifying flags, 'extra' is not a valid flag. See "
            "'etcdpp --help'.");
  EXPECT_EQ(ExitOf({"extra"}), 1);
  EXPECT_EQ(ErrorOf({""}), "error verifying flags, '' is not a valid flag. See 'etcdpp --help'.");
  // Boolean flags never take the next argument.
  EXPECT_EQ(ErrorOf({"--client-cert-auth", "false"}),
            "error verifying flags, 'false' is not a valid flag. See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--", "--name=x"}),
            "error verifying flags, '--name=x' is not a valid flag. See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--listen-client-urls=http://localhost:2379"}),
            "error verifying flags, --advertise-client-urls is required when "
            "--listen-client-urls is set explicitly. See 'etcdpp --help'.");
  EXPECT_EQ(ExitOf({"--listen-client-urls=http://localhost:2379"}), 1);
  EXPECT_EQ(ErrorOf({"--heartbeat-interval=100", "--election-timeout=200"}),
            "error verifying flags, --election-timeout[200ms] should be at least as 5 times as "
            "--heartbeat-interval[100ms]. See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--listen-client-urls=http://example.com:2379",
                     "--advertise-client-urls=http://example.com:2379"}),
            "error verifying flags, expected IP in URL for binding (http://example.com:2379). "
            "See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--logger=bogus"}),
            "error verifying flags, unknown logger option \"bogus\". See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--auto-compaction-mode=bogus"}),
            "error verifying flags, unknown auto-compaction-mode \"bogus\". See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--discovery=https://d.example/x", "--initial-cluster=a=http://h:1"}),
            "error verifying flags, multiple discovery or bootstrap flags are set. Choose one of "
            "\"initial-cluster\", \"discovery\" or \"discovery-srv\". See 'etcdpp --help'.");
  EXPECT_EQ(ErrorOf({"--cipher-suites=BOGUS"}),
            "error verifying flags, unexpected TLS cipher suite \"BOGUS\". See 'etcdpp --help'.");
}

TEST(FlagsTest, DiscoveryReplacesDefaultCluster) {
  auto p = Parse({"--discovery=https://d.example/x"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->config.initial_cluster, "");
}

TEST(FlagsTest, EnvironmentVariables) {
  auto p = Parse({}, {{"ETCD_NAME", "envname"},
                      {"ETCD_SNAPSHOT_COUNT", "42"},
                      {"ETCD_CLIENT_CERT_AUTH", "true"},
                      {"ETCD_INITIAL_CLUSTER", "envname=http://localhost:2380"},
                      {"ETCD_DATA_DIR", ""},  // Empty values are skipped, as in etcd.
                      {"ETCD_BOGUS", "1"},
                      {"ETCDCTL_API", "3"},
                      {"PATH", "/bin"}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->config.name, "envname");
  EXPECT_EQ(p->config.snapshot_count, 42u);
  EXPECT_TRUE(p->config.client_tls.client_cert_auth);
  EXPECT_EQ(p->config.data_dir, "");
  EXPECT_TRUE(HasWarning(*p, "unrecognized environment variable ETCD_BOGUS=1"));
  EXPECT_FALSE(HasWarning(*p, "ETCDCTL_API"));
  EXPECT_FALSE(HasWarning(*p, "PATH"));
}

TEST(FlagsTest, EnvironmentErrors) {
  EXPECT_EQ(ErrorOf({"--name=y"}, {{"ETCD_NAME", "x"}}),
            "conflicting environment variable \"ETCD_NAME\" is shadowed by corresponding "
            "command-line flag (either unset environment variable or disable flag)");
  EXPECT_EQ(ExitOf({"--name=y"}, {{"ETCD_NAME", "x"}}), 1);
  EXPECT_EQ(ErrorOf({}, {{"ETCD_SNAPSHOT_COUNT", "abc"}}),
            "error verifying flags, invalid value \"abc\" for ETCD_SNAPSHOT_COUNT: parse error. "
            "See 'etcdpp --help'.");
  EXPECT_EQ(ExitOf({}, {{"ETCD_SNAPSHOT_COUNT", "abc"}}), 1);
  // Listen URLs from the environment also drop the default advertise URL.
  EXPECT_NE(ErrorOf({}, {{"ETCD_LISTEN_CLIENT_URLS", "http://127.0.0.1:2379"}})
                .find("--advertise-client-urls is required"),
            std::string::npos);
}

TEST(FlagsTest, VersionAndHelp) {
  auto v = Parse({"--version"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->action, Action::kPrintVersion);
  EXPECT_NE(v->text.find("etcdpp Version: " + std::string(kEtcdppVersion)), std::string::npos);
  EXPECT_NE(v->text.find(std::string(kEtcdServerVersion)), std::string::npos);
  // --version wins over a config that would not validate, as in etcd.
  EXPECT_EQ(Parse({"--heartbeat-interval=0", "--version"})->action, Action::kPrintVersion);
  EXPECT_EQ(Parse({"--version=false"})->action, Action::kRun);
  for (const char* h : {"-h", "--help", "-help", "--h"}) {
    auto p = Parse({h});
    ASSERT_TRUE(p.ok()) << h;
    EXPECT_EQ(p->action, Action::kPrintHelp) << h;
  }
  const std::string help = HelpText();
  for (const FlagInfo& f : AllFlags()) {
    if (f.support == Support::kIgnored || f.group == "Usage") continue;
    EXPECT_NE(help.find("  --" + f.name + " '"), std::string::npos) << f.name;
  }
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/etcdpp-flags-test-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void Write(const std::string& text) {
    std::ofstream out(path_);
    out << text;
  }
  std::string path_;
};

TEST_F(ConfigFileTest, FileReplacesFlagsAndEnvironment) {
  Write(
      "name: fromfile\n"
      "listen-client-urls: http://127.0.0.1:2379\n"
      "advertise-client-urls: http://127.0.0.1:2379\n"
      "client-transport-security:\n"
      "  client-cert-auth: true\n");
  auto p = Parse({"--config-file=" + path_, "--name=ignored"}, {{"ETCD_DATA_DIR", "/ignored"}});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->config.name, "fromfile");
  EXPECT_EQ(p->config.data_dir, "");
  EXPECT_EQ(p->config.config_file, path_);
  EXPECT_TRUE(p->config.client_tls.client_cert_auth);
  EXPECT_EQ(p->config.initial_cluster, "fromfile=http://localhost:2380");
  EXPECT_TRUE(HasWarning(*p, "loaded server configuration"));

  auto e = Parse({}, {{"ETCD_CONFIG_FILE", path_}});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->config.name, "fromfile");
}

TEST_F(ConfigFileTest, FileErrors) {
  Write("heartbeat-interval: 100\nelection-timeout: 300\n");
  EXPECT_EQ(ErrorOf({"--config-file", path_}),
            "error verifying flags, --election-timeout[300ms] should be at least as 5 times as "
            "--heartbeat-interval[100ms]. See 'etcdpp --help'.");
  Write("listen-client-urls: foo\n");
  EXPECT_EQ(ErrorOf({"--config-file", path_}),
            "unexpected error setting up listen-client-urls: URL scheme must be http, https, "
            "unix, or unixs: foo");
  EXPECT_EQ(ExitOf({"--config-file", path_}), 1);
  EXPECT_EQ(ErrorOf({"--config-file=/nonexistent.yaml"}),
            "error verifying flags, open /nonexistent.yaml: no such file or directory. See "
            "'etcdpp --help'.");
  // Flag syntax is still checked when a file is used.
  EXPECT_EQ(ErrorOf({"--config-file", path_, "--snapshot-count=x"}),
            "invalid value \"x\" for flag -snapshot-count: parse error");
}

TEST(FlagsTest, IgnoredAndNoEffectFlagsWarn) {
  auto p = Parse({"--enable-v2=false", "--v", "--feature-gates=InitialCorruptCheck=true",
                  "--experimental-compact-hash-check-enabled=true", "--log-output=stderr"});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(HasWarning(*p, "flag \"v\" is not supported"));
  EXPECT_TRUE(HasWarning(*p, "--enable-v2 is accepted but has no effect yet"));
  EXPECT_TRUE(HasWarning(*p, "deprecated"));
  EXPECT_EQ(p->config.feature_gates, "InitialCorruptCheck=true");
  EXPECT_EQ(p->config.extra_flags.at("experimental-compact-hash-check-enabled"), "true");
  EXPECT_EQ(p->config.log_outputs, std::vector<std::string>{"stderr"});
  EXPECT_EQ(ErrorOf({"--experimental-compact-hash-check-enabled=maybe"}),
            "invalid boolean value \"maybe\" for -experimental-compact-hash-check-enabled: "
            "parse error");
}

TEST(FlagsTest, EnvironmentMap) {
  std::string a = "ETCD_NAME=x=y", b = "NOEQUALS", c = "EMPTY=";
  char* envp[] = {a.data(), b.data(), c.data(), nullptr};
  Env env = EnvironmentMap(envp);
  EXPECT_EQ(env.size(), 2u);
  EXPECT_EQ(env.at("ETCD_NAME"), "x=y");
  EXPECT_EQ(env.at("EMPTY"), "");
  EXPECT_TRUE(EnvironmentMap(nullptr).empty());
}

TEST(FlagsTest, FlagToEnv) {
  EXPECT_EQ(FlagToEnv("listen-client-urls"), "ETCD_LISTEN_CLIENT_URLS");
  EXPECT_EQ(FlagToEnv("name"), "ETCD_NAME");
}

// Every flag etcd 3.4 defines must be accepted, so that no etcd command line fails on an
// unknown flag. Reads the flag names out of etcd's own source.
TEST(FlagsTest, AcceptsEveryEtcd34Flag) {
  std::ifstream in(std::string(ETCD_SOURCE_DIR) + "/etcdmain/config.go");
  ASSERT_TRUE(in) << "etcd source missing; install golang-etcd-server-dev";
  std::stringstream text;
  text << in.rdbuf();
  const std::string src = text.str();
  std::set<std::string> ours;
  for (const FlagInfo& f : AllFlags()) ours.insert(f.name);
  // Each fs.XxxVar(target, "name", ...) call: the name is the first string literal after the
  // first top-level comma (the target may itself contain calls and literals).
  int found = 0;
  std::regex call_start(R"re(fs\.\w*Var\()re");
  for (auto it = std::sregex_iterator(src.begin(), src.end(), call_start);
       it != std::sregex_iterator(); ++it) {
    size_t i = static_cast<size_t>(it->position() + it->length());
    int depth = 0;
    bool after_comma = false;
    std::string name;
    for (; i < src.size(); ++i) {
      char c = src[i];
      if (c == '"') {
        size_t close = src.find('"', i + 1);
        if (after_comma) {
          name = src.substr(i + 1, close - i - 1);
          break;
        }
        i = close;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (depth-- == 0) break;
      } else if (c == ',' && depth == 0) {
        after_comma = true;
      }
    }
    if (name.empty()) continue;  // The ignored-flags loop passes a variable, not a literal.
    ++found;
    EXPECT_TRUE(ours.count(name)) << "etcd flag not accepted: --" << name;
  }
  EXPECT_GT(found, 80);  // The regex really matched etcd's definitions.
}

// docs/flags.md must list every flag, and say "accepted, no effect yet" for those we do not
// implement, so that the document cannot drift from the code.
TEST(FlagsTest, DocsListEveryFlagWithItsSupport) {
  std::ifstream in(ETCDPP_FLAGS_DOC);
  ASSERT_TRUE(in) << ETCDPP_FLAGS_DOC;
  std::map<std::string, std::string> rows;  // flag -> its table row.
  std::string line;
  std::regex row(R"re(^\|\s*`--([a-z0-9.-]+)`)re");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) rows[m[1].str()] = line;
  }
  for (const FlagInfo& f : AllFlags()) {
    ASSERT_TRUE(rows.count(f.name)) << "docs/flags.md lacks --" << f.name;
    const std::string& r = rows[f.name];
    switch (f.support) {
      case Support::kImplemented:
        EXPECT_NE(r.find("| yes"), std::string::npos) << r;
        break;
      case Support::kNoEffect:
        EXPECT_NE(r.find("accepted, no effect yet"), std::string::npos) << r;
        break;
      case Support::kIgnored:
        EXPECT_NE(r.find("ignored"), std::string::npos) << r;
        break;
      case Support::kRefused:
        EXPECT_NE(r.find("refused at start-up"), std::string::npos) << r;
        break;
    }
    if (f.group != "Usage" && f.support != Support::kIgnored) {
      EXPECT_NE(r.find("`" + FlagToEnv(f.name) + "`"), std::string::npos) << r;
    }
  }
}

// Differential check against the real etcd 3.4 binary: for each bad command line, etcd and
// etcdpp must fail with the same line (modulo the program name) and the same exit code. Every
// case fails during flag handling, before etcd opens a data dir or a port; `timeout` and a
// scratch working directory guard against a case that would not.
struct EtcdRun {
  int exit_code = -1;
  std::string error_line;
};

EtcdRun RunRealEtcd(const std::vector<std::string>& args, const Env& env,
                    const std::string& work_dir) {
  std::string cmd = "cd '" + work_dir + "' && env -i PATH=/usr/bin:/bin";
  for (const auto& [k, v] : env) cmd += " '" + k + "=" + v + "'";
  cmd += " timeout 10 /usr/bin/etcd";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1 >/dev/null";
  EtcdRun run;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return run;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("[WARNING]", 0) == 0 || line.find(" I | ") != std::string::npos ||
        line.find(" W | ") != std::string::npos) {
      continue;
    }
    // capnslog lines: "<date> <time> E | etcdmain: <message>".
    for (const char* tag : {"| etcdmain: ", "| pkg/flags: "}) {
      size_t pos = line.find(tag);
      if (pos != std::string::npos) line = line.substr(pos + std::string(tag).size());
    }
    run.error_line = line;
    break;
  }
  return run;
}

TEST(FlagsTest, ErrorsMatchRealEtcd) {
  ASSERT_EQ(access("/usr/bin/etcd", X_OK), 0) << "install etcd-server (scripts/install-deps.sh)";
  char tmpl[] = "/tmp/etcdpp-flags-diff-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string work = tmpl;
  struct Case {
    std::vector<std::string> args;
    Env env;
  };
  const std::vector<Case> cases = {
      {{"--bogus"}, {}},
      {{"-bogus=1"}, {}},
      {{"--snapshot-count=abc"}, {}},
      {{"--initial-cluster-state=bogus"}, {}},
      {{"--client-cert-auth=maybe"}, {}},
      {{"--max-concurrent-streams=-1"}, {}},
      {{"--listen-client-urls=foo", "--advertise-client-urls=foo"}, {}},
      {{"--wal-dir"}, {}},
      {{"extra"}, {}},
      {{"--client-cert-auth", "false"}, {}},
      {{"--heartbeat-interval=100", "--election-timeout=200"}, {}},
      {{"--heartbeat-interval=0"}, {}},
      {{"--election-timeout=60000"}, {}},
      {{"--listen-client-urls=http://localhost:2379"}, {}},
      {{"--listen-client-urls=http://example.com:2379",
        "--advertise-client-urls=http://example.com:2379"},
       {}},
      {{"--logger=bogus"}, {}},
      {{"--auto-compaction-mode=bogus"}, {}},
      {{"--discovery=https://d.example/x", "--initial-cluster=a=http://127.0.0.1:1"}, {}},
      {{"--name=y"}, {{"ETCD_NAME", "x"}}},
      {{}, {{"ETCD_SNAPSHOT_COUNT", "abc"}}},
  };
  for (const Case& c : cases) {
    std::string label;
    for (const auto& [k, v] : c.env) label += k + "=" + v + " ";
    for (const auto& a : c.args) label += a + " ";
    EtcdRun etcd = RunRealEtcd(c.args, c.env, work);
    // Invoked as "etcd" (how etcdpp is installed as a drop-in), the lines must be identical.
    auto ours = Parse(c.args, c.env, "/usr/local/bin/etcd");
    ASSERT_FALSE(ours.ok()) << label;
    EXPECT_EQ(ours.status().message(), etcd.error_line) << label;
    EXPECT_EQ(ExitCodeForParseError(ours.status()), etcd.exit_code) << label;
  }
  std::error_code ec;
  std::filesystem::remove_all(work, ec);
}

// No input may make the parser throw or crash: random mixes of real flag names, values and
// junk (fixed seed, so a failure reproduces).
TEST(FlagsTest, RandomArgumentsNeverThrow) {
  std::vector<std::string> names;
  for (const FlagInfo& f : AllFlags()) names.push_back(f.name);
  const std::vector<std::string> values = {
      "",   "x", "-1", "0",   "true", "http://a:1", "5s",
      "--", "-", "=",  "a=b", "1e9",  "\xff",       "https://127.0.0.1:2379"};
  std::mt19937 rng(12345);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<std::string> args;
    int n = static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      const std::string& name = names[rng() % names.size()];
      const std::string& value = values[rng() % values.size()];
      switch (rng() % 5) {
        case 0:
          args.push_back("--" + name + "=" + value);
          break;
        case 1:
          args.push_back("-" + name);
          args.push_back(value);
          break;
        case 2:
          args.push_back("--" + name);
          break;
        case 3:
          args.push_back(value);
          break;
        default:
          args.push_back("--" + value);
          break;
      }
    }
    Env env;
    if (rng() % 2) env[FlagToEnv(names[rng() % names.size()])] = values[rng() % values.size()];
    EXPECT_NO_THROW({
      auto r = Parse(args, env);
      if (!r.ok()) {
        EXPECT_FALSE(r.status().message().empty());
        EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
      }
    });
  }
}

}  // namespace
}  // namespace etcdpp::cmd
