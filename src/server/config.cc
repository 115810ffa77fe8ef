// Config parsing helpers, validation and the YAML config file reader. See config.h.
//
// The error texts deliberately reproduce etcd 3.4's (embed/config.go, pkg/types/urls.go), since
// operators and their tooling search for them; each check cites the etcd behaviour it matches.

#include "server/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <type_traits>

namespace etcdpp::server {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> SplitComma(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// Go's net.SplitHostPort, reduced to what URL hosts need. Errors as Go words them.
Status SplitHostPort(std::string_view hostport, std::string* host, std::string* port) {
  const std::string hp(hostport);
  if (!hostport.empty() && hostport.front() == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos)
      return InvalidArgument("address " + hp + ": missing ']' in address");
    if (close + 1 == hostport.size())
      return InvalidArgument("address " + hp + ": missing port in address");
    if (hostport[close + 1] != ':')
      return InvalidArgument("address " + hp + ": missing port in address");
    *host = std::string(hostport.substr(1, close - 1));
    *port = std::string(hostport.substr(close + 2));
    return Status::Ok();
  }
  size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos)
    return InvalidArgument("address " + hp + ": missing port in address");
  if (hostport.substr(0, colon).find(':') != std::string_view::npos) {
    return InvalidArgument("address " + hp + ": too many colons in address");
  }
  *host = std::string(hostport.substr(0, colon));
  *port = std::string(hostport.substr(colon + 1));
  return Status::Ok();
}

// Go's tls.CipherSuites() and tls.InsecureCipherSuites() names (go1.19), plus the two legacy
// aliases etcd's tlsutil adds. The net layer maps them to OpenSSL names.
constexpr std::array<std::string_view, 27> kGoCipherSuites = {
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
};

}  // namespace

std::string Url::ToString() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + port;
}

Result<Url> ParseUrl(std::string_view raw) {
  const std::string_view text = Trim(raw);
  const std::string in(text);
  const std::string scheme_error = "URL scheme must be http, https, unix, or unixs: " + in;
  // Scheme: a letter, then letters, digits, '+', '-', '.', up to ':' (Go's url.getScheme).
  size_t colon = text.find(':');
  std::string scheme;
  if (colon != std::string_view::npos && colon > 0 &&
      std::isalpha(static_cast<unsigned char>(text[0]))) {
    bool valid = true;
    for (size_t i = 0; i < colon; ++i) {
      char c = text[i];
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
        valid = false;
        break;
      }
    }
    if (valid) {
      for (size_t i = 0; i < colon; ++i) {
        scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
      }
    }
  }
  if (colon == 0) return InvalidArgument("parse " + Quote(in) + ": missing protocol scheme");
  if (scheme != "http" && scheme != "https" && scheme != "unix" && scheme != "unixs") {
    return InvalidArgument(scheme_error);
  }
  std::string_view rest = text.substr(colon + 1);
  // Drop query and fragment, which etcd tolerates and ignores.
  rest = rest.substr(0, rest.find_first_of("?#"));
  std::string_view authority;
  std::string_view path;
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    size_t slash = rest.find('/');
    authority = rest.substr(0, slash);
    if (slash != std::string_view::npos) path = rest.substr(slash);
  } else {
    path = rest;  // Opaque form ("http:foo"): no host.
  }
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  Url url;
  url.scheme = scheme;
  if (!SplitHostPort(authority, &url.host, &url.port).ok()) {
    return InvalidArgument("URL address does not have the form \"host:port\": " + in);
  }
  for (char c : url.port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return InvalidArgument("parse " + Quote(in) + ": invalid port \":" + url.port +
                             "\" after host");
    }
  }
  if (!path.empty()) return InvalidArgument("URL must not contain a path: " + in);
  return url;
}

Result<std::vector<Url>> ParseUrlList(std::string_view comma_separated) {
  if (comma_separated.empty()) return InvalidArgument("no valid URLs given");
  std::vector<Url> urls;
  for (std::string_view item : SplitComma(comma_separated)) {
    ETCDPP_ASSIGN_OR_RETURN(Url url, ParseUrl(item));
    urls.push_back(std::move(url));
  }
  std::stable_sort(urls.begin(), urls.end(),
                   [](const Url& a, const Url& b) { return a.ToString() < b.ToString(); });
  return urls;
}

std::string JoinUrls(const std::vector<Url>& urls) {
  std::string out;
  for (const Url& u : urls) {
    if (!out.empty()) out += ",";
    out += u.ToString();
  }
  return out;
}

Result<InitialClusterMap> ParseInitialClusterUrls(std::string_view initial_cluster) {
  // etcd's types.NewURLsMap: items without '=' get an empty URL (and so fail URL parsing),
  // empty items are skipped, a name may repeat to give a member several URLs.
  std::map<std::string, std::vector<std::string>> raw;
  for (std::string_view item : SplitComma(initial_cluster)) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string name(item.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : std::string(item.substr(eq + 1));
    raw[name].push_back(value);
  }
  InitialClusterMap out;
  for (auto& [name, values] : raw) {
    std::vector<Url> urls;
    for (const std::string& v : values) {
      ETCDPP_ASSIGN_OR_RETURN(Url url, ParseUrl(v));
      urls.push_back(std::move(url));
    }
    std::stable_sort(urls.begin(), urls.end(),
                     [](const Url& a, const Url& b) { return a.ToString() < b.ToString(); });
    out[name] = std::move(urls);
  }
  return out;
}

Result<int64_t> ParseGoDuration(std::string_view text) {
  const std::string orig(text);
  auto invalid = [&] { return InvalidArgument("time: invalid duration " + Quote(orig)); };
  std::string_view s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return invalid();
  // Accumulate in long double: 64 bits of mantissa cover every int64 nanosecond count exactly
  // enough for configuration values, and Go rejects overflow the same way we do below.
  long double total_ns = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double value = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      value = value * 10 + (s[i] - '0');
      ++i;
      digits = true;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        value += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        digits = true;
      }
    }
    if (!digits) return invalid();
    size_t unit_start = i;
    while (i < s.size() && s[i] != '.' && !std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    if (unit.empty()) return InvalidArgument("time: missing unit in duration " + Quote(orig));
    long double unit_ns;
    if (unit == "ns") {
      unit_ns = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {  // us, µs, μs
      unit_ns = 1e3L;
    } else if (unit == "ms") {
      unit_ns = 1e6L;
    } else if (unit == "s") {
      unit_ns = 1e9L;
    } else if (unit == "m") {
      unit_ns = 60e9L;
    } else if (unit == "h") {
      unit_ns = 3600e9L;
    } else {
      return InvalidArgument("time: unknown unit " + Quote(unit) + " in duration " + Quote(orig));
    }
    total_ns += value * unit_ns;
    if (total_ns > static_cast<long double>(std::numeric_limits<int64_t>::max())) return invalid();
    s.remove_prefix(i);
  }
  int64_t ns = static_cast<int64_t>(total_ns);
  return negative ? -ns : ns;
}

std::string_view ClusterStateName(ClusterState state) {
  return state == ClusterState::kNew ? "new" : "existing";
}

std::string Config::EffectiveDataDir() const {
  return data_dir.empty() ? name + ".etcd" : data_dir;
}

int64_t Config::EffectiveQuotaBackendBytes() const {
  return quota_backend_bytes <= 0 ? kDefaultQuotaBackendBytes : quota_backend_bytes;
}

bool IsKnownCipherSuite(std::string_view name) {
  return std::find(kGoCipherSuites.begin(), kGoCipherSuites.end(), name) != kGoCipherSuites.end();
}

namespace {

// etcd's checkBindURLs: a listener needs an IP literal or "localhost" (no name resolution).
Status CheckBindUrls(const std::vector<Url>& urls) {
  for (const Url& u : urls) {
    if (u.IsUnix()) continue;
    if (u.host == "localhost") continue;
    if (!IsIpLiteral(u.host)) {
      return InvalidArgument("expected IP in URL for binding (" + u.ToString() + ")");
    }
  }
  return Status::Ok();
}

// etcd's checkHostURLs: advertised URLs must name a host.
Status CheckHostUrls(const std::vector<Url>& urls, const std::string& flag) {
  for (const Url& u : urls) {
    if (u.host.empty()) {
      return InvalidArgument("--" + flag + " " + Quote(JoinUrls(urls)) +
                             " must be \"host:port\" (unexpected empty host (" + u.ToString() +
                             "))");
    }
  }
  return Status::Ok();
}

Status CheckLogging(const Config& c) {
  if (c.log_outputs.empty()) {
    return InvalidArgument("either '--log-output' or '--log-outputs' flag must be set");
  }
  if (c.logger == "capnslog") {
    if (c.log_outputs.size() != 1) {
      std::string list;
      for (const auto& o : c.log_outputs) list += (list.empty() ? "" : " ") + Quote(o);
      return InvalidArgument("--logger=capnslog supports only 1 value in '--log-outputs', got [" +
                             list + "]");
    }
    const std::string& o = c.log_outputs[0];
    if (o != "default" && o != "stderr" && o != "stdout") {
      return InvalidArgument("unknown log-output " + Quote(o) +
                             " (only supports \"default\", \"stderr\", \"stdout\")");
    }
  } else if (c.logger == "zap") {
    if (c.log_outputs.size() > 1) {
      for (const auto& o : c.log_outputs) {
        if (o == "default") {
          return InvalidArgument("multi logoutput for \"default\" is not supported yet");
        }
      }
    }
  } else {
    return InvalidArgument("unknown logger option " + Quote(c.logger));
  }
  // etcd 3.4 panics on an unknown level; we refuse it with a message instead.
  static const std::set<std::string> kLevels = {"debug",  "info",  "warn", "error",
                                                "dpanic", "panic", "fatal"};
  if (!kLevels.count(c.log_level)) {
    return InvalidArgument("unknown log-level " + Quote(c.log_level) +
                           " (only supports debug, info, warn, error, panic, fatal)");
  }
  return Status::Ok();
}

// etcd's parseCompactionRetention: a non-negative integer (hours for periodic, revisions for
// revision mode) or a Go duration.
Status CheckCompactionRetention(const Config& c) {
  const std::string& r = c.auto_compaction_retention;
  bool all_digits = !r.empty() && std::all_of(r.begin(), r.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch));
  });
  if (all_digits) return Status::Ok();
  auto d = ParseGoDuration(r);
  if (!d.ok()) return InvalidArgument("error parsing CompactionRetention: " + d.status().message());
  return Status::Ok();
}

}  // namespace

Status ValidateConfig(const Config& c) {
  ETCDPP_RETURN_IF_ERROR(CheckLogging(c));
  ETCDPP_RETURN_IF_ERROR(CheckBindUrls(c.listen_peer_urls));
  ETCDPP_RETURN_IF_ERROR(CheckBindUrls(c.listen_client_urls));
  ETCDPP_RETURN_IF_ERROR(CheckBindUrls(c.listen_metrics_urls));
  ETCDPP_RETURN_IF_ERROR(
      CheckHostUrls(c.initial_advertise_peer_urls, "initial-advertise-peer-urls"));
  ETCDPP_RETURN_IF_ERROR(CheckHostUrls(c.advertise_client_urls, "advertise-client-urls"));

  int bootstrap_sources = (c.discovery.empty() ? 0 : 1) + (c.initial_cluster.empty() ? 0 : 1) +
                          (c.discovery_srv.empty() ? 0 : 1);
  if (bootstrap_sources > 1) {
    return InvalidArgument(
        "multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", "
        "\"discovery\" or \"discovery-srv\"");
  }
  if (c.heartbeat_interval_ms == 0) {
    return InvalidArgument("--heartbeat-interval must be >0 (set to 0ms)");
  }
  if (c.election_timeout_ms == 0) {
    return InvalidArgument("--election-timeout must be >0 (set to 0ms)");
  }
  if (5 * c.heartbeat_interval_ms > c.election_timeout_ms) {
    return InvalidArgument("--election-timeout[" + std::to_string(c.election_timeout_ms) +
                           "ms] should be at least as 5 times as --heartbeat-interval[" +
                           std::to_string(c.heartbeat_interval_ms) + "ms]");
  }
  if (c.election_timeout_ms > kMaxElectionTimeoutMs) {
    return InvalidArgument("--election-timeout[" + std::to_string(c.election_timeout_ms) +
                           "ms] is too long, and should be set less than " +
                           std::to_string(kMaxElectionTimeoutMs) + "ms");
  }
  // etcd checks this last among its flag checks because proxy mode may waive it; we have no
  // proxy mode, so it always applies.
  if (!c.listen_client_urls.empty() && c.advertise_client_urls.empty()) {
    return InvalidArgument(
        "--advertise-client-urls is required when --listen-client-urls is set explicitly");
  }
  if (!c.auto_compaction_mode.empty() && c.auto_compaction_mode != "periodic" &&
      c.auto_compaction_mode != "revision") {
    return InvalidArgument("unknown auto-compaction-mode " + Quote(c.auto_compaction_mode));
  }
  if (c.experimental_enable_lease_checkpoint_persist && !c.experimental_enable_lease_checkpoint) {
    return InvalidArgument(
        "setting experimental-enable-lease-checkpoint-persist requires "
        "experimental-enable-lease-checkpoint");
  }

  // What etcd finds later in start-up, still without I/O.
  ETCDPP_RETURN_IF_ERROR(CheckCompactionRetention(c));
  for (const std::string& suite : c.cipher_suites) {
    if (!IsKnownCipherSuite(suite)) {
      return InvalidArgument("unexpected TLS cipher suite " + Quote(suite));
    }
  }
  if (c.metrics != "basic" && c.metrics != "extensive") {
    return InvalidArgument("unknown metrics option " + Quote(c.metrics) +
                           " (only supports \"basic\", \"extensive\")");
  }
  // Certificate checks etcdpp does not enforce yet: refusing beats serving without them.
  for (const auto& [flag, value] : {std::pair{"client-crl-file", &c.client_tls.crl_file},
                                    std::pair{"client-cert-allowed-hostname",
                                              &c.client_tls.allowed_hostname},
                                    std::pair{"peer-crl-file", &c.peer_tls.crl_file},
                                    std::pair{"peer-cert-allowed-hostname",
                                              &c.peer_tls.allowed_hostname}}) {
    if (!value->empty()) {
      return InvalidArgument(std::string("--") + flag +
                             " is not enforced by etcdpp yet; remove it rather than run "
                             "without the check");
    }
  }
  if (c.client_tls.Empty() && !c.client_tls.auto_tls) {
    for (const Url& u : c.listen_client_urls) {
      if (u.IsTls()) {
        return InvalidArgument(
            "TLS key/cert (--cert-file, --key-file) must be provided for client url " +
            u.ToString() + " with HTTPS scheme");
      }
    }
  }
  if (c.peer_tls.Empty() && !c.peer_tls.auto_tls) {
    for (const Url& u : c.listen_peer_urls) {
      if (u.IsTls()) {
        return InvalidArgument(
            "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url " +
            u.ToString() + " with HTTPS scheme");
      }
    }
  }
  return Status::Ok();
}

Status ValidateBootstrap(const Config& c) {
  if (c.initial_cluster.empty()) {
    // Discovery is parsed but not implemented; without a static cluster we cannot start.
    return InvalidArgument("initial cluster unset and no discovery URL found");
  }
  auto parsed = ParseInitialClusterUrls(c.initial_cluster);
  if (!parsed.ok()) {
    return InvalidArgument("error setting up initial cluster: " + parsed.status().message());
  }
  const InitialClusterMap& cluster = *parsed;
  std::set<std::string> seen;
  for (const auto& [name, urls] : cluster) {
    for (const Url& u : urls) {
      if (!seen.insert(u.ToString()).second) {
        std::string all;
        for (const auto& [n, us] : cluster) {
          for (const Url& x : us) all += (all.empty() ? "" : ",") + n + "=" + x.ToString();
        }
        return InvalidArgument("initial cluster " + all + " has duplicate url");
      }
    }
  }
  auto self = cluster.find(c.name);
  if (self == cluster.end()) {
    return InvalidArgument("couldn't find local name " + Quote(c.name) +
                           " in the initial cluster configuration");
  }
  if (c.initial_cluster_state == ClusterState::kNew) {
    const std::vector<Url>& want = self->second;
    const std::vector<Url>& have = c.initial_advertise_peer_urls;
    bool all_ip = true;
    for (const auto* list : {&want, &have}) {
      for (const Url& u : *list) {
        if (!u.IsUnix() && !IsIpLiteral(u.host)) all_ip = false;
      }
    }
    if (all_ip && JoinUrls(want) != JoinUrls(have)) {
      std::string mstr;
      for (const Url& u : want) mstr += (mstr.empty() ? "" : ",") + c.name + "=" + u.ToString();
      return InvalidArgument("--initial-cluster has " + mstr +
                             " but missing from --initial-advertise-peer-urls=" + JoinUrls(have) +
                             " (resolved urls: " + Quote(JoinUrls(have)) +
                             " != " + Quote(JoinUrls(want)) + ")");
    }
  }
  return Status::Ok();
}

void ApplyDerivedDefaults(Config* c) {
  if (c->name != kDefaultName && c->initial_cluster == kDefaultInitialCluster &&
      !c->initial_advertise_peer_urls.empty()) {
    std::string cluster;
    for (const Url& u : c->initial_advertise_peer_urls) {
      cluster += (cluster.empty() ? "" : ",") + c->name + "=" + u.ToString();
    }
    c->initial_cluster = cluster;
  }
}

// ---------------------------------------------------------------------------------------------
// YAML config file
// ---------------------------------------------------------------------------------------------
namespace {

// etcd reads the file with sigs.k8s.io/yaml (YAML -> JSON -> Go struct), so type errors read
// like Go's JSON decoder; we keep that wording.
std::string YamlKind(const YAML::Node& n) {
  if (n.IsSequence()) return "array";
  if (n.IsMap()) return "object";
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return "string";  // Quoted scalar.
  if (s == "true" || s == "false") return "bool";
  bool numeric = !s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string::npos;
  return numeric ? "number" : "string";
}

Status TypeError(const YAML::Node& n, const std::string& key, const std::string& go_type) {
  return InvalidArgument("error unmarshaling JSON: while decoding JSON: json: cannot unmarshal " +
                         YamlKind(n) + " into Go struct field configYAML." + key + " of type " +
                         go_type);
}

bool IsAbsent(const YAML::Node& n) { return !n.IsDefined() || n.IsNull(); }

Status ReadString(const YAML::Node& n, const std::string& key, std::string* out) {
  if (IsAbsent(n)) return Status::Ok();
  // sigs.k8s.io/yaml turns any scalar into a string when the target field is a string.
  if (!n.IsScalar()) return TypeError(n, key, "string");
  *out = n.Scalar();
  return Status::Ok();
}

Status ReadBool(const YAML::Node& n, const std::string& key, bool* out) {
  if (IsAbsent(n)) return Status::Ok();
  if (!n.IsScalar() || n.Tag() == "!") return TypeError(n, key, "bool");
  // YAML 1.1 booleans, which the Go YAML decoder etcd uses accepts.
  static const std::set<std::string> kTrue = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                              "True", "TRUE", "on",  "On",  "ON"};
  static const std::set<std::string> kFalse = {"n",     "N",     "no",  "No",  "NO", "false",
                                               "False", "FALSE", "off", "Off", "OFF"};
  if (kTrue.count(n.Scalar())) {
    *out = true;
  } else if (kFalse.count(n.Scalar())) {
    *out = false;
  } else {
    return TypeError(n, key, "bool");
  }
  return Status::Ok();
}

template <typename Int>
Status ReadInt(const YAML::Node& n, const std::string& key, const std::string& go_type, Int* out) {
  if (IsAbsent(n)) return Status::Ok();
  if (!n.IsScalar() || n.Tag() == "!") return TypeError(n, key, go_type);
  const std::string& s = n.Scalar();
  size_t i = (s.size() > 1 && s[0] == '-') ? 1 : 0;
  if (i == s.size() || s.find_first_not_of("0123456789", i) != std::string::npos) {
    return TypeError(n, key, go_type);
  }
  errno = 0;
  char* end = nullptr;
  bool ok;
  if constexpr (std::is_signed_v<Int>) {
    long long v = std::strtoll(s.c_str(), &end, 10);
    ok = errno == 0 && v >= std::numeric_limits<Int>::min() && v <= std::numeric_limits<Int>::max();
    if (ok) *out = static_cast<Int>(v);
  } else {
    ok = s[0] != '-';
    unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    ok = ok && errno == 0 && v <= std::numeric_limits<Int>::max();
    if (ok) *out = static_cast<Int>(v);
  }
  if (!ok) {
    return InvalidArgument(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        "number " +
        s + " into Go struct field configYAML." + key + " of type " + go_type);
  }
  return Status::Ok();
}

// A Go time.Duration field is a JSON number of nanoseconds. We also accept a Go duration
// string ("5s"), which etcd would reject, because it is what people write by hand.
Status ReadDurationMs(const YAML::Node& n, const std::string& key, int64_t* out_ms) {
  if (IsAbsent(n)) return Status::Ok();
  if (!n.IsScalar()) return TypeError(n, key, "time.Duration");
  int64_t ns = 0;
  if (YamlKind(n) == "number") {
    ETCDPP_RETURN_IF_ERROR(ReadInt(n, key, "time.Duration", &ns));
  } else {
    auto d = ParseGoDuration(n.Scalar());
    if (!d.ok()) return TypeError(n, key, "time.Duration");
    ns = *d;
  }
  *out_ms = ns / 1000000;
  return Status::Ok();
}

Status ReadStringList(const YAML::Node& n, const std::string& key, std::vector<std::string>* out) {
  if (IsAbsent(n)) return Status::Ok();
  if (!n.IsSequence()) return TypeError(n, key, "[]string");
  out->clear();
  for (const auto& item : n) {
    if (!item.IsScalar()) return TypeError(item, key, "string");
    out->push_back(item.Scalar());
  }
  return Status::Ok();
}

Status ReadUrls(const YAML::Node& n, const std::string& key, std::vector<Url>* out) {
  std::string text;
  ETCDPP_RETURN_IF_ERROR(ReadString(n, key, &text));
  if (text.empty()) return Status::Ok();  // etcd keeps the default for an empty value.
  auto urls = ParseUrlList(text);
  if (!urls.ok()) {
    return InvalidArgument("unexpected error setting up " + key + ": " + urls.status().message());
  }
  *out = std::move(urls).value();
  return Status::Ok();
}

Status ReadSecurity(const YAML::Node& n, const std::string& key, TlsConfig* tls) {
  if (IsAbsent(n)) return Status::Ok();
  if (!n.IsMap()) return TypeError(n, key, "embed.securityConfig");
  ETCDPP_RETURN_IF_ERROR(ReadString(n["cert-file"], key + ".cert-file", &tls->cert_file));
  ETCDPP_RETURN_IF_ERROR(ReadString(n["key-file"], key + ".key-file", &tls->key_file));
  ETCDPP_RETURN_IF_ERROR(
      ReadBool(n["client-cert-auth"], key + ".client-cert-auth", &tls->client_cert_auth));
  ETCDPP_RETURN_IF_ERROR(
      ReadString(n["trusted-ca-file"], key + ".trusted-ca-file", &tls->trusted_ca_file));
  ETCDPP_RETURN_IF_ERROR(ReadBool(n["auto-tls"], key + ".auto-tls", &tls->auto_tls));
  // etcd 3.5 file keys; harmless to accept.
  ETCDPP_RETURN_IF_ERROR(ReadString(n["crl-file"], key + ".crl-file", &tls->crl_file));
  ETCDPP_RETURN_IF_ERROR(ReadString(n["allowed-cn"], key + ".allowed-cn", &tls->allowed_cn));
  ETCDPP_RETURN_IF_ERROR(
      ReadString(n["allowed-hostname"], key + ".allowed-hostname", &tls->allowed_hostname));
  return Status::Ok();
}

Status FillFromYaml(const YAML::Node& root, Config* c) {
  auto s = [&](const char* key, std::string* out) { return ReadString(root[key], key, out); };
  auto b = [&](const char* key, bool* out) { return ReadBool(root[key], key, out); };
  auto u64 = [&](const char* key, uint64_t* out) { return ReadInt(root[key], key, "uint", out); };
  auto i64 = [&](const char* key, int64_t* out) { return ReadInt(root[key], key, "int64", out); };
  auto dur = [&](const char* key, int64_t* out) { return ReadDurationMs(root[key], key, out); };

  ETCDPP_RETURN_IF_ERROR(s("name", &c->name));
  ETCDPP_RETURN_IF_ERROR(s("data-dir", &c->data_dir));
  ETCDPP_RETURN_IF_ERROR(s("wal-dir", &c->wal_dir));
  ETCDPP_RETURN_IF_ERROR(
      ReadInt(root["snapshot-count"], "snapshot-count", "uint64", &c->snapshot_count));
  ETCDPP_RETURN_IF_ERROR(u64("max-snapshots", &c->max_snapshots));
  ETCDPP_RETURN_IF_ERROR(u64("max-wals", &c->max_wals));
  ETCDPP_RETURN_IF_ERROR(u64("heartbeat-interval", &c->heartbeat_interval_ms));
  ETCDPP_RETURN_IF_ERROR(u64("election-timeout", &c->election_timeout_ms));
  ETCDPP_RETURN_IF_ERROR(b("initial-election-tick-advance", &c->initial_election_tick_advance));
  ETCDPP_RETURN_IF_ERROR(dur("backend-batch-interval", &c->backend_batch_interval_ms));
  ETCDPP_RETURN_IF_ERROR(
      ReadInt(root["backend-batch-limit"], "backend-batch-limit", "int", &c->backend_batch_limit));
  ETCDPP_RETURN_IF_ERROR(i64("quota-backend-bytes", &c->quota_backend_bytes));
  ETCDPP_RETURN_IF_ERROR(u64("max-txn-ops", &c->max_txn_ops));
  ETCDPP_RETURN_IF_ERROR(u64("max-request-bytes", &c->max_request_bytes));
  ETCDPP_RETURN_IF_ERROR(ReadInt(root["max-concurrent-streams"], "max-concurrent-streams", "uint32",
                                 &c->max_concurrent_streams));
  ETCDPP_RETURN_IF_ERROR(dur("grpc-keepalive-min-time", &c->grpc_keepalive_min_time_ms));
  ETCDPP_RETURN_IF_ERROR(dur("grpc-keepalive-interval", &c->grpc_keepalive_interval_ms));
  ETCDPP_RETURN_IF_ERROR(dur("grpc-keepalive-timeout", &c->grpc_keepalive_timeout_ms));

  ETCDPP_RETURN_IF_ERROR(
      ReadUrls(root["listen-peer-urls"], "listen-peer-urls", &c->listen_peer_urls));
  ETCDPP_RETURN_IF_ERROR(
      ReadUrls(root["listen-client-urls"], "listen-client-urls", &c->listen_client_urls));
  ETCDPP_RETURN_IF_ERROR(ReadUrls(root["initial-advertise-peer-urls"],
                                  "initial-advertise-peer-urls", &c->initial_advertise_peer_urls));
  ETCDPP_RETURN_IF_ERROR(
      ReadUrls(root["advertise-client-urls"], "advertise-client-urls", &c->advertise_client_urls));
  ETCDPP_RETURN_IF_ERROR(
      ReadUrls(root["listen-metrics-urls"], "listen-metrics-urls", &c->listen_metrics_urls));

  const std::string default_cluster = c->initial_cluster;
  ETCDPP_RETURN_IF_ERROR(s("initial-cluster", &c->initial_cluster));
  ETCDPP_RETURN_IF_ERROR(s("initial-cluster-token", &c->initial_cluster_token));
  std::string state;
  ETCDPP_RETURN_IF_ERROR(s("initial-cluster-state", &state));
  if (state == "existing") {
    c->initial_cluster_state = ClusterState::kExisting;
  } else if (!state.empty() && state != "new") {
    return InvalidArgument("unexpected clusterState " + Quote(state));
  }
  ETCDPP_RETURN_IF_ERROR(s("discovery", &c->discovery));
  ETCDPP_RETURN_IF_ERROR(s("discovery-fallback", &c->discovery_fallback));
  ETCDPP_RETURN_IF_ERROR(s("discovery-proxy", &c->discovery_proxy));
  ETCDPP_RETURN_IF_ERROR(s("discovery-srv", &c->discovery_srv));
  ETCDPP_RETURN_IF_ERROR(s("discovery-srv-name", &c->discovery_srv_name));
  // Like etcd: discovery replaces the default initial cluster rather than conflicting with it.
  if ((!c->discovery.empty() || !c->discovery_srv.empty()) &&
      c->initial_cluster == default_cluster) {
    c->initial_cluster.clear();
  }
  ETCDPP_RETURN_IF_ERROR(b("strict-reconfig-check", &c->strict_reconfig_check));
  ETCDPP_RETURN_IF_ERROR(b("enable-v2", &c->enable_v2));
  ETCDPP_RETURN_IF_ERROR(b("pre-vote", &c->pre_vote));

  ETCDPP_RETURN_IF_ERROR(s("proxy", &c->proxy));
  ETCDPP_RETURN_IF_ERROR(u64("proxy-failure-wait", &c->proxy_failure_wait_ms));
  ETCDPP_RETURN_IF_ERROR(u64("proxy-refresh-interval", &c->proxy_refresh_interval_ms));
  ETCDPP_RETURN_IF_ERROR(u64("proxy-dial-timeout", &c->proxy_dial_timeout_ms));
  ETCDPP_RETURN_IF_ERROR(u64("proxy-write-timeout", &c->proxy_write_timeout_ms));
  ETCDPP_RETURN_IF_ERROR(u64("proxy-read-timeout", &c->proxy_read_timeout_ms));

  ETCDPP_RETURN_IF_ERROR(
      ReadSecurity(root["client-transport-security"], "client-transport-security", &c->client_tls));
  ETCDPP_RETURN_IF_ERROR(
      ReadSecurity(root["peer-transport-security"], "peer-transport-security", &c->peer_tls));
  ETCDPP_RETURN_IF_ERROR(ReadStringList(root["cipher-suites"], "cipher-suites", &c->cipher_suites));
  std::string cors, whitelist;
  ETCDPP_RETURN_IF_ERROR(s("cors", &cors));
  if (!cors.empty()) {
    c->cors.clear();
    for (auto item : SplitComma(cors)) c->cors.emplace_back(Trim(item));
  }
  ETCDPP_RETURN_IF_ERROR(s("host-whitelist", &whitelist));
  if (!whitelist.empty()) {
    c->host_whitelist.clear();
    for (auto item : SplitComma(whitelist)) c->host_whitelist.emplace_back(Trim(item));
  }

  ETCDPP_RETURN_IF_ERROR(s("auth-token", &c->auth_token));
  ETCDPP_RETURN_IF_ERROR(u64("bcrypt-cost", &c->bcrypt_cost));
  ETCDPP_RETURN_IF_ERROR(u64("auth-token-ttl", &c->auth_token_ttl_s));

  ETCDPP_RETURN_IF_ERROR(s("logger", &c->logger));
  ETCDPP_RETURN_IF_ERROR(ReadStringList(root["log-outputs"], "log-outputs", &c->log_outputs));
  ETCDPP_RETURN_IF_ERROR(s("log-level", &c->log_level));
  ETCDPP_RETURN_IF_ERROR(b("debug", &c->debug));
  ETCDPP_RETURN_IF_ERROR(s("log-package-levels", &c->log_package_levels));
  if (c->debug) c->log_level = "debug";

  ETCDPP_RETURN_IF_ERROR(s("auto-compaction-mode", &c->auto_compaction_mode));
  ETCDPP_RETURN_IF_ERROR(s("auto-compaction-retention", &c->auto_compaction_retention));
  ETCDPP_RETURN_IF_ERROR(b("enable-pprof", &c->enable_pprof));
  ETCDPP_RETURN_IF_ERROR(s("metrics", &c->metrics));
  ETCDPP_RETURN_IF_ERROR(b("enable-grpc-gateway", &c->enable_grpc_gateway));
  ETCDPP_RETURN_IF_ERROR(
      b("experimental-initial-corrupt-check", &c->experimental_initial_corrupt_check));
  ETCDPP_RETURN_IF_ERROR(
      dur("experimental-corrupt-check-time", &c->experimental_corrupt_check_time_ms));
  ETCDPP_RETURN_IF_ERROR(s("experimental-enable-v2v3", &c->experimental_enable_v2v3));
  ETCDPP_RETURN_IF_ERROR(
      s("experimental-backend-bbolt-freelist-type", &c->experimental_backend_bbolt_freelist_type));
  ETCDPP_RETURN_IF_ERROR(
      b("experimental-enable-lease-checkpoint", &c->experimental_enable_lease_checkpoint));
  ETCDPP_RETURN_IF_ERROR(b("experimental-enable-lease-checkpoint-persist",
                           &c->experimental_enable_lease_checkpoint_persist));
  ETCDPP_RETURN_IF_ERROR(ReadInt(root["experimental-compaction-batch-limit"],
                                 "experimental-compaction-batch-limit", "int",
                                 &c->experimental_compaction_batch_limit));
  ETCDPP_RETURN_IF_ERROR(dur("experimental-watch-progress-notify-interval",
                             &c->experimental_watch_progress_notify_interval_ms));
  ETCDPP_RETURN_IF_ERROR(
      dur("experimental-warning-apply-duration", &c->experimental_warning_apply_duration_ms));
  ETCDPP_RETURN_IF_ERROR(b("unsafe-no-fsync", &c->unsafe_no_fsync));
  ETCDPP_RETURN_IF_ERROR(b("force-new-cluster", &c->force_new_cluster));
  return Status::Ok();
}

}  // namespace

Result<Config> ConfigFromYaml(std::string_view yaml_text) {
  Config config;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsNull()) return config;  // An empty file: all defaults, as in etcd.
    if (!root.IsMap()) {
      return InvalidArgument(
          "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal " + YamlKind(root) +
          " into Go value of type embed.configYAML");
    }
    ETCDPP_RETURN_IF_ERROR(FillFromYaml(root, &config));
  } catch (const YAML::Exception& e) {
    // e.what() carries the line and column; etcd's text differs (it comes from go-yaml).
    return InvalidArgument(std::string("error converting YAML to JSON: yaml: ") + e.what());
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("error reading YAML config: ") + e.what());
  }
  return config;
}

Result<Config> ConfigFromYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    // Go's wording: "open <path>: no such file or directory".
    std::string reason = std::strerror(errno);
    if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    return NotFound("open " + path + ": " + reason);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError("read " + path + ": I/O error");
  ETCDPP_ASSIGN_OR_RETURN(Config config, ConfigFromYaml(text.str()));
  config.config_file = path;
  return config;
}

}  // namespace etcdpp::server
