// The etcdpp server's command line. See flags.h for the behaviour contract.
//
// Parsing runs in four steps, mirroring etcd's order so errors come out the same:
//  1. A pre-pass turns Go flag syntax into what CLI11 expects: single-dash long flags become
//     "--name", and "--name value" / "--name=value" of non-boolean flags become one
//     "--name=value" token (so empty values and values starting with '-' survive).
//  2. CLI11 matches tokens to the flag table and collects unknown/positional leftovers.
//  3. Values are converted into the Config (command line first, then ETCD_* variables for
//     flags not given), or the YAML file replaces all of it when --config-file is set.
//  4. The derived defaults and server::ValidateConfig run.

#include "cmd/flags.h"

#include <sys/utsname.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include "base/check.h"
#include "server/version.h"

namespace etcdpp::cmd {
namespace {

using server::Config;

// A value converter: sets the field from the text, or returns InvalidArgument whose message
// is the reason Go's flag package would give ("parse error", a URL error, ...).
using Setter = std::function<Status(Config*, const std::string&)>;

struct Spec {
  std::string name;
  bool is_bool;
  std::string group;
  std::string default_text;
  std::string help;
  Support support;
  Setter set;
};

// Usage errors (Go's flag package) carry kInvalidArgument so ExitCodeForParseError can give 2.
Status UsageError(std::string line) { return Status(Code::kInvalidArgument, std::move(line)); }
Status RunError(std::string line) { return Status(Code::kFailedPrecondition, std::move(line)); }
// `program` is how we were invoked ("etcdpp", or "etcd" when installed under etcd's name), so
// the hint names the command the operator actually ran.
Status VerifyError(const std::string& program, const std::string& reason) {
  return RunError("error verifying flags, " + reason + ". See '" + program + " --help'.");
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Go's strconv.ParseBool.
Status ParseGoBool(const std::string& v, bool* out) {
  static const std::set<std::string> kTrue = {"1", "t", "T", "TRUE", "true", "True"};
  static const std::set<std::string> kFalse = {"0", "f", "F", "FALSE", "false", "False"};
  if (kTrue.count(v)) {
    *out = true;
  } else if (kFalse.count(v)) {
    *out = false;
  } else {
    return InvalidArgument("parse error");
  }
  return Status::Ok();
}

// Decimal (or 0x hex, as Go's base-0 parsing allows) unsigned integer no larger than `max`.
Status ParseGoUint(const std::string& v, uint64_t max, uint64_t* out) {
  if (v.empty() || v[0] == '-' || v[0] == '+' || std::isspace(static_cast<unsigned char>(v[0]))) {
    return InvalidArgument("parse error");
  }
  errno = 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, 0);
  if (*end != '\0') return InvalidArgument("parse error");
  if (errno == ERANGE || n > max) return InvalidArgument("value out of range");
  *out = n;
  return Status::Ok();
}

Status ParseGoInt(const std::string& v, int64_t* out) {
  if (v.empty() || std::isspace(static_cast<unsigned char>(v[0]))) {
    return InvalidArgument("parse error");
  }
  errno = 0;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 0);
  if (*end != '\0') return InvalidArgument("parse error");
  if (errno == ERANGE) return InvalidArgument("value out of range");
  *out = n;
  return Status::Ok();
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  if (!s.empty() && s.back() == ',') out.emplace_back();
  return out;
}

// Field accessors for the setter builders below.
#define ETCDPP_FIELD(expr) [](Config* c) { return &c->expr; }

template <typename Get>
Setter Str(Get get) {
  return [get](Config* c, const std::string& v) {
    *get(c) = v;
    return Status::Ok();
  };
}

template <typename Get>
Setter Bool(Get get) {
  return [get](Config* c, const std::string& v) { return ParseGoBool(v, get(c)); };
}

template <typename Get>
Setter Uint(Get get, uint64_t max = std::numeric_limits<uint64_t>::max()) {
  return [get, max](Config* c, const std::string& v) {
    uint64_t n = 0;
    ETCDPP_RETURN_IF_ERROR(ParseGoUint(v, max, &n));
    *get(c) = static_cast<std::remove_pointer_t<decltype(get(c))>>(n);
    return Status::Ok();
  };
}

// etcd's own uint32 flag type reports strconv's error text rather than "parse error".
template <typename Get>
Setter Uint32(Get get) {
  return [get](Config* c, const std::string& v) {
    uint64_t n = 0;
    Status s = ParseGoUint(v, std::numeric_limits<uint32_t>::max(), &n);
    if (!s.ok()) {
      return InvalidArgument(
          "strconv.ParseUint: parsing " + Quote(v) +
          (s.message() == "parse error" ? ": invalid syntax" : ": value out of range"));
    }
    *get(c) = static_cast<uint32_t>(n);
    return Status::Ok();
  };
}

template <typename Get>
Setter Int(Get get) {
  return [get](Config* c, const std::string& v) {
    int64_t n = 0;
    ETCDPP_RETURN_IF_ERROR(ParseGoInt(v, &n));
    *get(c) = n;
    return Status::Ok();
  };
}

// A Go time.Duration flag, stored in milliseconds.
template <typename Get>
Setter DurationMs(Get get) {
  return [get](Config* c, const std::string& v) {
    auto ns = server::ParseGoDuration(v);
    if (!ns.ok()) return InvalidArgument("parse error");
    *get(c) = *ns / 1000000;
    return Status::Ok();
  };
}

// etcd's UniqueURLs flag: an empty value leaves the current URLs in place.
template <typename Get>
Setter Urls(Get get) {
  return [get](Config* c, const std::string& v) {
    if (v.empty()) return Status::Ok();
    auto urls = server::ParseUrlList(v);
    if (!urls.ok()) return InvalidArgument(urls.status().message());
    *get(c) = std::move(urls).value();
    return Status::Ok();
  };
}

// etcd's StringsValue: the comma-separated items as given.
template <typename Get>
Setter Strings(Get get) {
  return [get](Config* c, const std::string& v) {
    *get(c) = v.empty() ? std::vector<std::string>{} : SplitComma(v);
    return Status::Ok();
  };
}

// etcd's UniqueStringsValue: sorted, duplicates removed, empty items dropped.
template <typename Get>
Setter UniqueStrings(Get get) {
  return [get](Config* c, const std::string& v) {
    std::set<std::string> items;
    for (const std::string& s : SplitComma(v)) {
      if (!s.empty()) items.insert(s);
    }
    *get(c) = std::vector<std::string>(items.begin(), items.end());
    return Status::Ok();
  };
}

// etcd's SelectiveStringValue: one of a fixed set.
template <typename Get>
Setter Choice(Get get, std::vector<std::string> valid) {
  return [get, valid](Config* c, const std::string& v) {
    if (std::find(valid.begin(), valid.end(), v) == valid.end()) {
      return InvalidArgument("invalid value");
    }
    *get(c) = v;
    return Status::Ok();
  };
}

// A flag with no Config field: validated with `check`, kept verbatim in Config::extra_flags.
Setter Extra(std::string name, Setter check = nullptr) {
  return [name, check](Config* c, const std::string& v) {
    if (check) {
      Config scratch;
      ETCDPP_RETURN_IF_ERROR(check(&scratch, v));
    }
    c->extra_flags[name] = v;
    return Status::Ok();
  };
}

// A flag etcd itself ignores (its "ignored" list): any value, no effect.
Setter Ignored() {
  return [](Config*, const std::string&) { return Status::Ok(); };
}

// Type checks for Extra(): the value must parse like the flag's etcd type.
const Setter kCheckBool = [](Config*, const std::string& v) {
  bool b;
  return ParseGoBool(v, &b);
};
const Setter kCheckUint = [](Config*, const std::string& v) {
  uint64_t n;
  return ParseGoUint(v, std::numeric_limits<uint64_t>::max(), &n);
};
const Setter kCheckDuration = [](Config*, const std::string& v) {
  return server::ParseGoDuration(v).ok() ? Status::Ok() : InvalidArgument("parse error");
};
const Setter kCheckUrls = [](Config*, const std::string& v) {
  if (v.empty()) return Status::Ok();
  auto urls = server::ParseUrlList(v);
  return urls.ok() ? Status::Ok() : InvalidArgument(urls.status().message());
};

constexpr Support kYes = Support::kImplemented;
constexpr Support kNo = Support::kNoEffect;

// The flag table: etcd 3.4's flags in its help order, then etcd 3.5/3.6 flags that kubeadm-era
// manifests and tuning guides pass. Help texts are ours.
const std::vector<Spec>& Specs() {
  static const std::vector<Spec>* specs = [] {
    auto* v = new std::vector<Spec>{
        // --- Member ---
        {"name", false, "Member", "default", "Human-readable name of this member.", kYes,
         Str(ETCDPP_FIELD(name))},
        {"data-dir", false, "Member", "${name}.etcd", "Directory holding the member's data.", kYes,
         Str(ETCDPP_FIELD(data_dir))},
        {"wal-dir", false, "Member", "", "Separate directory for the write-ahead log.", kYes,
         Str(ETCDPP_FIELD(wal_dir))},
        {"snapshot-count", false, "Member", "100000",
         "Committed entries between two raft snapshots.", kYes, Uint(ETCDPP_FIELD(snapshot_count))},
        {"heartbeat-interval", false, "Member", "100", "Leader heartbeat period, in ms.", kYes,
         Uint(ETCDPP_FIELD(heartbeat_interval_ms))},
        {"election-timeout", false, "Member", "1000",
         "Follower wait before starting an election, in ms.", kYes,
         Uint(ETCDPP_FIELD(election_timeout_ms))},
        {"initial-election-tick-advance", true, "Member", "true",
         "Shorten the first election after boot.", kNo,
         Bool(ETCDPP_FIELD(initial_election_tick_advance))},
        {"listen-peer-urls", false, "Member", "http://localhost:2380",
         "URLs to accept member-to-member traffic on.", kYes, Urls(ETCDPP_FIELD(listen_peer_urls))},
        {"listen-client-urls", false, "Member", "http://localhost:2379",
         "URLs to accept client traffic on.", kYes, Urls(ETCDPP_FIELD(listen_client_urls))},
        {"max-snapshots", false, "Member", "5", "Snapshot files to keep (0 keeps all).", kNo,
         Uint(ETCDPP_FIELD(max_snapshots))},
        {"max-wals", false, "Member", "5", "WAL files to keep (0 keeps all).", kNo,
         Uint(ETCDPP_FIELD(max_wals))},
        {"quota-backend-bytes", false, "Member", "0",
         "Backend size that raises the NOSPACE alarm; 0 means 2 GiB.", kYes,
         Int(ETCDPP_FIELD(quota_backend_bytes))},
        {"backend-batch-interval", false, "Member", "0s",
         "Longest time before a backend commit (Go duration); 0 means 100ms.", kYes,
         DurationMs(ETCDPP_FIELD(backend_batch_interval_ms))},
        {"backend-batch-limit", false, "Member", "0",
         "Most operations per backend commit; 0 means 10000.", kYes,
         Int(ETCDPP_FIELD(backend_batch_limit))},
        {"max-txn-ops", false, "Member", "128", "Most operations in one transaction.", kYes,
         Uint(ETCDPP_FIELD(max_txn_ops))},
        {"max-request-bytes", false, "Member", "1572864", "Largest client request, in bytes.", kYes,
         Uint(ETCDPP_FIELD(max_request_bytes))},
        {"grpc-keepalive-min-time", false, "Member", "5s",
         "Shortest ping interval a client may use.", kNo,
         DurationMs(ETCDPP_FIELD(grpc_keepalive_min_time_ms))},
        {"grpc-keepalive-interval", false, "Member", "2h",
         "Server ping period on idle connections (0 disables).", kNo,
         DurationMs(ETCDPP_FIELD(grpc_keepalive_interval_ms))},
        {"grpc-keepalive-timeout", false, "Member", "20s",
         "Wait for a ping answer before closing (0 disables).", kNo,
         DurationMs(ETCDPP_FIELD(grpc_keepalive_timeout_ms))},
        {"max-concurrent-streams", false, "Member", "4294967295",
         "HTTP/2 streams one client connection may open at once.", kNo,
         Uint32(ETCDPP_FIELD(max_concurrent_streams))},

        // --- Clustering ---
        {"initial-advertise-peer-urls", false, "Clustering", "http://localhost:2380",
         "Peer URLs of this member announced to the cluster.", kYes,
         Urls(ETCDPP_FIELD(initial_advertise_peer_urls))},
        {"initial-cluster", false, "Clustering", "default=http://localhost:2380",
         "Bootstrap membership: name=peerURL,...", kYes, Str(ETCDPP_FIELD(initial_cluster))},
        {"initial-cluster-state", false, "Clustering", "new",
         "'new' to bootstrap a cluster, 'existing' to join one.", kYes,
         [](Config* c, const std::string& v) {
           if (v == "new") {
             c->initial_cluster_state = server::ClusterState::kNew;
           } else if (v == "existing") {
             c->initial_cluster_state = server::ClusterState::kExisting;
           } else {
             return InvalidArgument("invalid value");
           }
           return Status::Ok();
         }},
        {"initial-cluster-token", false, "Clustering", "etcd-cluster",
         "Token that makes cluster and member ids unique.", kYes,
         Str(ETCDPP_FIELD(initial_cluster_token))},
        {"advertise-client-urls", false, "Clustering", "http://localhost:2379",
         "Client URLs of this member announced to clients.", kYes,
         Urls(ETCDPP_FIELD(advertise_client_urls))},
        {"discovery", false, "Clustering", "", "Discovery service URL for bootstrap.", kNo,
         Str(ETCDPP_FIELD(discovery))},
        {"discovery-fallback", false, "Clustering", "proxy",
         "What to do when discovery fails: 'exit' or 'proxy'.", kNo,
         Choice(ETCDPP_FIELD(discovery_fallback), {"proxy", "exit"})},
        {"discovery-proxy", false, "Clustering", "", "HTTP proxy for the discovery service.", kNo,
         Str(ETCDPP_FIELD(discovery_proxy))},
        {"discovery-srv", false, "Clustering", "", "DNS domain for SRV-based bootstrap.", kNo,
         Str(ETCDPP_FIELD(discovery_srv))},
        {"discovery-srv-name", false, "Clustering", "", "Suffix of the SRV service name.", kNo,
         Str(ETCDPP_FIELD(discovery_srv_name))},
        {"strict-reconfig-check", true, "Clustering", "true",
         "Refuse membership changes that would lose quorum.", kNo,
         Bool(ETCDPP_FIELD(strict_reconfig_check))},
        {"enable-v2", true, "Clustering", "false", "Serve the etcd v2 API (not supported).", kNo,
         Bool(ETCDPP_FIELD(enable_v2))},
        {"pre-vote", true, "Clustering", "false", "Run a pre-vote round before elections.", kNo,
         Bool(ETCDPP_FIELD(pre_vote))},

        // --- Proxy (etcd v2 proxy mode; parsed only) ---
        {"proxy", false, "Proxy", "off", "v2 proxy mode: 'off', 'readonly' or 'on'.", kNo,
         Choice(ETCDPP_FIELD(proxy), {"off", "readonly", "on"})},
        {"proxy-failure-wait", false, "Proxy", "5000", "v2 proxy: ms an endpoint stays failed.",
         kNo, Uint(ETCDPP_FIELD(proxy_failure_wait_ms))},
        {"proxy-refresh-interval", false, "Proxy", "30000", "v2 proxy: endpoint refresh, in ms.",
         kNo, Uint(ETCDPP_FIELD(proxy_refresh_interval_ms))},
        {"proxy-dial-timeout", false, "Proxy", "1000", "v2 proxy: dial timeout, in ms.", kNo,
         Uint(ETCDPP_FIELD(proxy_dial_timeout_ms))},
        {"proxy-write-timeout", false, "Proxy", "5000", "v2 proxy: write timeout, in ms.", kNo,
         Uint(ETCDPP_FIELD(proxy_write_timeout_ms))},
        {"proxy-read-timeout", false, "Proxy", "0", "v2 proxy: read timeout, in ms.", kNo,
         Uint(ETCDPP_FIELD(proxy_read_timeout_ms))},

        // --- Security ---
        {"cert-file", false, "Security", "", "Certificate presented to clients (PEM).", kYes,
         Str(ETCDPP_FIELD(client_tls.cert_file))},
        {"key-file", false, "Security", "", "Private key of --cert-file (PEM).", kYes,
         Str(ETCDPP_FIELD(client_tls.key_file))},
        {"client-cert-auth", true, "Security", "false",
         "Require client certificates signed by --trusted-ca-file.", kYes,
         Bool(ETCDPP_FIELD(client_tls.client_cert_auth))},
        {"client-crl-file", false, "Security", "", "Revoked client certificates (PEM CRL).",
         Support::kRefused,
         Str(ETCDPP_FIELD(client_tls.crl_file))},
        {"client-cert-allowed-hostname", false, "Security", "",
         "Hostname client certificates must carry.", Support::kRefused,
         Str(ETCDPP_FIELD(client_tls.allowed_hostname))},
        {"trusted-ca-file", false, "Security", "", "CA bundle for client certificates.", kYes,
         Str(ETCDPP_FIELD(client_tls.trusted_ca_file))},
        {"auto-tls", true, "Security", "false",
         "Serve clients with a generated self-signed certificate.", kYes,
         Bool(ETCDPP_FIELD(client_tls.auto_tls))},
        {"peer-cert-file", false, "Security", "", "Certificate for peer traffic (PEM).", kYes,
         Str(ETCDPP_FIELD(peer_tls.cert_file))},
        {"peer-key-file", false, "Security", "", "Private key of --peer-cert-file.", kYes,
         Str(ETCDPP_FIELD(peer_tls.key_file))},
        {"peer-client-cert-auth", true, "Security", "false",
         "Require peer certificates signed by --peer-trusted-ca-file.", kYes,
         Bool(ETCDPP_FIELD(peer_tls.client_cert_auth))},
        {"peer-trusted-ca-file", false, "Security", "", "CA bundle for peer certificates.", kYes,
         Str(ETCDPP_FIELD(peer_tls.trusted_ca_file))},
        {"peer-auto-tls", true, "Security", "false",
         "Use a generated self-signed certificate for peers.", kYes,
         Bool(ETCDPP_FIELD(peer_tls.auto_tls))},
        {"peer-crl-file", false, "Security", "", "Revoked peer certificates (PEM CRL).",
         Support::kRefused,
         Str(ETCDPP_FIELD(peer_tls.crl_file))},
        {"peer-cert-allowed-cn", false, "Security", "", "CN peer certificates must carry.", kYes,
         Str(ETCDPP_FIELD(peer_tls.allowed_cn))},
        {"peer-cert-allowed-hostname", false, "Security", "",
         "Hostname peer certificates must carry.", Support::kRefused,
         Str(ETCDPP_FIELD(peer_tls.allowed_hostname))},
        {"cipher-suites", false, "Security", "",
         "Comma-separated TLS cipher suites (Go/IANA names); empty uses the defaults.", kNo,
         Strings(ETCDPP_FIELD(cipher_suites))},
        {"experimental-peer-skip-client-san-verification", true, "Security", "false",
         "Do not check the SAN of peer client certificates.", kNo,
         Bool(ETCDPP_FIELD(peer_tls.skip_client_san_verification))},
        {"cors", false, "Security", "*", "Allowed CORS origins, comma-separated.", kNo,
         UniqueStrings(ETCDPP_FIELD(cors))},
        {"host-whitelist", false, "Security", "*",
         "Accepted Host headers on plain HTTP, comma-separated.", kNo,
         UniqueStrings(ETCDPP_FIELD(host_whitelist))},

        // --- Auth ---
        {"auth-token", false, "Auth", "simple", "Token type: 'simple' or 'jwt,...options'.", kNo,
         Str(ETCDPP_FIELD(auth_token))},
        {"bcrypt-cost", false, "Auth", "10", "bcrypt cost for password hashes.", kNo,
         Uint(ETCDPP_FIELD(bcrypt_cost))},
        {"auth-token-ttl", false, "Auth", "300", "Lifetime of simple tokens, in seconds.", kNo,
         Uint(ETCDPP_FIELD(auth_token_ttl_s))},

        // --- Logging ---
        {"logger", false, "Logging", "zap",
         "'zap' (structured JSON) or 'capnslog' (accepted; same output).", kNo,
         Str(ETCDPP_FIELD(logger))},
        {"log-outputs", false, "Logging", "default",
         "Log destinations: 'default', 'stderr', 'stdout' or file paths.", kNo,
         UniqueStrings(ETCDPP_FIELD(log_outputs))},
        {"log-output", false, "Logging", "default", "Deprecated spelling of --log-outputs.", kNo,
         UniqueStrings(ETCDPP_FIELD(log_outputs))},
        {"log-level", false, "Logging", "info", "debug, info, warn, error, panic or fatal.", kYes,
         Str(ETCDPP_FIELD(log_level))},
        {"debug", true, "Logging", "false", "Deprecated: same as --log-level=debug.", kNo,
         Bool(ETCDPP_FIELD(debug))},
        {"log-package-levels", false, "Logging", "", "Deprecated capnslog setting; no effect.", kNo,
         Str(ETCDPP_FIELD(log_package_levels))},

        // --- Features and maintenance ---
        {"auto-compaction-retention", false, "Features", "0",
         "History to keep: hours or a duration (periodic), revisions (revision); 0 disables.", kNo,
         Str(ETCDPP_FIELD(auto_compaction_retention))},
        {"auto-compaction-mode", false, "Features", "periodic", "'periodic' or 'revision'.", kNo,
         Str(ETCDPP_FIELD(auto_compaction_mode))},
        {"enable-pprof", true, "Features", "false", "Serve Go pprof endpoints (not in etcdpp).",
         kNo, Bool(ETCDPP_FIELD(enable_pprof))},
        {"listen-metrics-urls", false, "Features", "",
         "Extra URLs serving only /metrics and /health.", kNo,
         Urls(ETCDPP_FIELD(listen_metrics_urls))},
        {"metrics", false, "Features", "basic", "'basic' or 'extensive' (adds histograms).", kNo,
         Str(ETCDPP_FIELD(metrics))},
        {"enable-grpc-gateway", true, "Features", "true", "Serve the JSON gateway under /v3/.", kNo,
         Bool(ETCDPP_FIELD(enable_grpc_gateway))},
        {"experimental-initial-corrupt-check", true, "Features", "false",
         "Compare data with peers before serving.", kNo,
         Bool(ETCDPP_FIELD(experimental_initial_corrupt_check))},
        {"experimental-corrupt-check-time", false, "Features", "0s",
         "Period of corruption checks between members.", kNo,
         DurationMs(ETCDPP_FIELD(experimental_corrupt_check_time_ms))},
        {"experimental-enable-v2v3", false, "Features", "", "v2 emulation prefix (no v2 API).", kNo,
         Str(ETCDPP_FIELD(experimental_enable_v2v3))},
        {"experimental-backend-bbolt-freelist-type", false, "Features", "array",
         "bbolt setting; meaningless for the LMDB backend.", kNo,
         Str(ETCDPP_FIELD(experimental_backend_bbolt_freelist_type))},
        {"experimental-enable-lease-checkpoint", true, "Features", "false",
         "Leader checkpoints remaining lease TTLs.", kNo,
         Bool(ETCDPP_FIELD(experimental_enable_lease_checkpoint))},
        {"experimental-enable-lease-checkpoint-persist", true, "Features", "false",
         "Persist lease checkpoints (requires the flag above).", kNo,
         Bool(ETCDPP_FIELD(experimental_enable_lease_checkpoint_persist))},
        {"experimental-compaction-batch-limit", false, "Features", "0",
         "Revisions deleted per compaction batch.", kNo,
         Int(ETCDPP_FIELD(experimental_compaction_batch_limit))},
        {"experimental-watch-progress-notify-interval", false, "Features", "10m0s",
         "Period of watch progress notifications.", kNo,
         DurationMs(ETCDPP_FIELD(experimental_watch_progress_notify_interval_ms))},
        {"experimental-warning-apply-duration", false, "Features", "100ms",
         "Log applies slower than this.", kNo,
         DurationMs(ETCDPP_FIELD(experimental_warning_apply_duration_ms))},

        // --- Unsafe ---
        {"unsafe-no-fsync", true, "Unsafe", "false", "Skip fsync: loses data on power loss.", kNo,
         Bool(ETCDPP_FIELD(unsafe_no_fsync))},
        {"force-new-cluster", true, "Unsafe", "false",
         "Restart as a one-member cluster keeping the data.", kNo,
         Bool(ETCDPP_FIELD(force_new_cluster))},

        // --- etcd 3.5/3.6 flags, accepted so newer manifests start ---
        {"feature-gates", false, "Newer etcd", "", "etcd 3.6 feature gates (kept verbatim).", kNo,
         Str(ETCDPP_FIELD(feature_gates))},
        {"watch-progress-notify-interval", false, "Newer etcd", "10m0s",
         "etcd 3.6 name of --experimental-watch-progress-notify-interval.", kNo,
         DurationMs(ETCDPP_FIELD(experimental_watch_progress_notify_interval_ms))},
        {"listen-client-http-urls", false, "Newer etcd", "",
         "etcd 3.5: client URLs serving HTTP only.", kNo,
         Extra("listen-client-http-urls", kCheckUrls)},
        {"experimental-compact-hash-check-enabled", true, "Newer etcd", "false",
         "etcd 3.5: periodic compaction hash checks.", kNo,
         Extra("experimental-compact-hash-check-enabled", kCheckBool)},
        {"experimental-compact-hash-check-time", false, "Newer etcd", "1m0s",
         "etcd 3.5: period of compaction hash checks.", kNo,
         Extra("experimental-compact-hash-check-time", kCheckDuration)},
        {"experimental-enable-distributed-tracing", true, "Newer etcd", "false",
         "etcd 3.5: OpenTelemetry tracing.", kNo,
         Extra("experimental-enable-distributed-tracing", kCheckBool)},
        {"experimental-max-learners", false, "Newer etcd", "1",
         "etcd 3.5: most learners in the cluster.", kNo,
         Extra("experimental-max-learners", kCheckUint)},
        {"experimental-snapshot-catchup-entries", false, "Newer etcd", "5000",
         "etcd 3.5: entries kept for slow followers after a snapshot.", kNo,
         Extra("experimental-snapshot-catchup-entries", kCheckUint)},
        {"experimental-stop-grpc-service-on-defrag", true, "Newer etcd", "false",
         "etcd 3.5: report NOT_SERVING during defragmentation.", kNo,
         Extra("experimental-stop-grpc-service-on-defrag", kCheckBool)},
        {"experimental-warning-unary-request-duration", false, "Newer etcd", "300ms",
         "etcd 3.5: log unary requests slower than this.", kNo,
         Extra("experimental-warning-unary-request-duration", kCheckDuration)},
        {"experimental-memory-mlock", true, "Newer etcd", "false",
         "etcd 3.5: lock backend pages in memory.", kNo,
         Extra("experimental-memory-mlock", kCheckBool)},
        {"experimental-bootstrap-defrag-threshold-megabytes", false, "Newer etcd", "0",
         "etcd 3.5: defragment at boot above this free size.", kNo,
         Extra("experimental-bootstrap-defrag-threshold-megabytes", kCheckUint)},
        {"socket-reuse-port", true, "Newer etcd", "false", "etcd 3.5: SO_REUSEPORT on listeners.",
         kNo, Extra("socket-reuse-port", kCheckBool)},
        {"socket-reuse-address", true, "Newer etcd", "false",
         "etcd 3.5: SO_REUSEADDR on listeners.", kNo, Extra("socket-reuse-address", kCheckBool)},
        {"tls-min-version", false, "Newer etcd", "TLS1.2", "etcd 3.5: lowest TLS version.", kNo,
         Extra("tls-min-version")},
        {"tls-max-version", false, "Newer etcd", "", "etcd 3.5: highest TLS version.", kNo,
         Extra("tls-max-version")},
        {"self-signed-cert-validity", false, "Newer etcd", "1",
         "etcd 3.5: years an auto-TLS certificate is valid.", kNo,
         Extra("self-signed-cert-validity", kCheckUint)},
        {"enable-log-rotation", true, "Newer etcd", "false", "etcd 3.5: rotate the log file.", kNo,
         Extra("enable-log-rotation", kCheckBool)},
        {"log-rotation-config-json", false, "Newer etcd", "", "etcd 3.5: log rotation settings.",
         kNo, Extra("log-rotation-config-json")},
        {"v2-deprecation", false, "Newer etcd", "not-yet", "etcd 3.5: v2 store deprecation phase.",
         kNo, Extra("v2-deprecation")},
    };
    // etcd's list of flags it accepts and ignores (legacy v2 and test flags).
    for (const char* name : {"cluster-active-size", "cluster-remove-delay", "cluster-sync-interval",
                             "config", "force", "max-result-buffer", "max-retry-attempts",
                             "peer-heartbeat-interval", "peer-election-timeout", "retry-interval",
                             "snapshot", "v", "vv", "test.coverprofile", "test.outputdir"}) {
      v->push_back(
          {name, true, "Ignored", "", "Ignored, as by etcd.", Support::kIgnored, Ignored()});
    }
    return v;
  }();
  return *specs;
}

#undef ETCDPP_FIELD

const Spec* FindSpec(std::string_view name) {
  for (const Spec& s : Specs()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// The flags handled outside the table (they steer parsing, not the Config).
constexpr std::string_view kConfigFileFlag = "config-file";
constexpr std::string_view kVersionFlag = "version";

// Result of the pre-pass: Go-syntax arguments rewritten for CLI11, or an early outcome.
struct PrePass {
  std::vector<std::string> tokens;  // In order.
  bool help = false;
  Status error;
};

// Step 1. Applies Go's flag syntax rules that CLI11 does not share.
PrePass RewriteGoSyntax(int argc, char** argv) {
  PrePass out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--" || arg.size() < 2 || arg[0] != '-') {
      // Go stops at the first non-flag; etcd then rejects any leftover argument. CLI11 will
      // report it as a leftover.
      for (int j = i; j < argc; ++j) out.tokens.emplace_back(argv[j]);
      return out;
    }
    size_t dashes = arg[1] == '-' ? 2 : 1;
    std::string body = arg.substr(dashes);
    if (body.empty() || body[0] == '-' || body[0] == '=') {
      out.error = UsageError("bad flag syntax: " + arg);
      return out;
    }
    size_t eq = body.find('=');
    std::string name = body.substr(0, eq);
    bool has_value = eq != std::string::npos;
    std::string value = has_value ? body.substr(eq + 1) : "";
    if (name == "h" || name == "help") {
      out.help = true;
      return out;
    }
    bool is_bool;
    if (name == kVersionFlag) {
      is_bool = true;
    } else if (name == kConfigFileFlag) {
      is_bool = false;
    } else if (const Spec* spec = FindSpec(name)) {
      is_bool = spec->is_bool;
    } else {
      out.error = UsageError("flag provided but not defined: -" + name);
      return out;
    }
    if (is_bool) {
      if (!has_value) value = "true";
      bool ignored;
      if (!ParseGoBool(value, &ignored).ok() && FindSpec(name) != nullptr &&
          FindSpec(name)->support != Support::kIgnored) {
        out.error =
            UsageError("invalid boolean value " + Quote(value) + " for -" + name + ": parse error");
        return out;
      }
      if (name == kVersionFlag && !ParseGoBool(value, &ignored).ok()) {
        out.error =
            UsageError("invalid boolean value " + Quote(value) + " for -" + name + ": parse error");
        return out;
      }
    } else if (!has_value) {
      if (i + 1 >= argc) {
        out.error = UsageError("flag needs an argument: -" + name);
        return out;
      }
      value = argv[++i];
    }
    if (value.empty()) {
      // CLI11 refuses "--name=" but takes an explicit empty argument.
      out.tokens.push_back("--" + name);
      out.tokens.emplace_back();
    } else {
      out.tokens.push_back("--" + name + "=" + value);
    }
  }
  return out;
}

// What CLI11 collected: the last value of each flag given, in table terms.
struct Collected {
  std::map<std::string, std::string> values;  // flag name -> last value.
  std::vector<std::string> order;             // Names in first-seen order.
  std::optional<std::string> stray;           // First positional argument (an error, as in etcd).
};

// Step 2. May throw (CLI11 reports bad option names by exception); see CollectWithCli11.
Result<Collected> CollectWithCli11Unsafe(const std::vector<std::string>& tokens) {
  CLI::App app{"etcdpp"};
  app.set_help_flag();  // -h/--help are handled in the pre-pass, like Go's flag package.
  app.allow_extras(true);
  std::map<std::string, std::string> raw;
  std::vector<std::string> names;
  for (const Spec& s : Specs()) names.push_back(s.name);
  names.emplace_back(kConfigFileFlag);
  names.emplace_back(kVersionFlag);
  std::map<std::string, CLI::Option*> options;
  for (const std::string& name : names) {
    options[name] = app.add_option("--" + name, raw[name])
                        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                        ->allow_extra_args(false);
  }
  std::vector<std::string> reversed(tokens.rbegin(), tokens.rend());  // CLI11 pops from back.
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return UsageError(std::string("flag parsing failed: ") + e.what());
  } catch (const std::exception& e) {
    return UsageError(std::string("flag parsing failed: ") + e.what());
  }
  Collected out;
  // Leftovers in order; a lone "--" just ends the flags.
  std::vector<std::string> extras = app.remaining();
  if (!extras.empty() && extras.front() == "--") extras.erase(extras.begin());
  if (!extras.empty()) out.stray = extras.front();
  // Record in command-line order for the start-up log.
  for (const std::string& token : tokens) {
    if (token.rfind("--", 0) != 0) continue;
    std::string name = token.substr(2, token.find('=') - 2);
    if (options.count(name) && !out.values.count(name) && options[name]->count() > 0) {
      out.values[name] = raw[name];
      out.order.push_back(name);
    }
  }
  return out;
}

// Step 2. Runs CLI11 over the rewritten tokens. All flags are registered as single-value
// options (the pre-pass already supplied "=value" for booleans); repeated flags keep the last
// value, as Go's flag package does.
Result<Collected> CollectWithCli11(const std::vector<std::string>& tokens) {
  try {
    return CollectWithCli11Unsafe(tokens);
  } catch (const std::exception& e) {
    // Only a bug in the flag table (a name CLI11 refuses) can get here.
    return UsageError(std::string("flag parsing failed: ") + e.what());
  }
}

std::string FirstValueLine(const std::string& name, const std::string& value,
                           const Status& reason) {
  return "invalid value " + Quote(value) + " for flag -" + name + ": " + reason.message();
}

void AddNoEffectWarning(const Spec& spec, std::vector<std::string>* warnings) {
  if (spec.support == Support::kNoEffect) {
    warnings->push_back("flag --" + spec.name + " is accepted but has no effect yet in etcdpp");
  } else if (spec.support == Support::kIgnored) {
    warnings->push_back("flag " + Quote(spec.name) + " is not supported");
  }
}

}  // namespace

std::string FlagToEnv(std::string_view flag) {
  std::string env = "ETCD_";
  for (char c : flag) {
    env += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return env;
}

std::map<std::string, std::string> EnvironmentMap(char** envp) {
  std::map<std::string, std::string> env;
  for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

int ExitCodeForParseError(const Status& status) {
  return status.code() == Code::kInvalidArgument ? 2 : 1;
}

std::vector<FlagInfo> AllFlags() {
  std::vector<FlagInfo> out;
  out.push_back({std::string(kConfigFileFlag), "", "Usage",
                 "YAML config file; when given, other flags and ETCD_* variables are ignored.",
                 Support::kImplemented, false});
  out.push_back({std::string(kVersionFlag), "false", "Usage", "Print the version and exit.",
                 Support::kImplemented, true});
  out.push_back({"help", "false", "Usage", "Print this help and exit (also -h).",
                 Support::kImplemented, true});
  for (const Spec& s : Specs()) {
    out.push_back({s.name, s.default_text, s.group, s.help, s.support, s.is_bool});
  }
  return out;
}

std::string HelpText() {
  std::string out =
      "Usage:\n\n"
      "  etcdpp [flags]\n"
      "    Start an etcdpp server (speaks the etcd v3 API).\n\n"
      "  etcdpp --version\n"
      "    Print the version and exit.\n\n"
      "  etcdpp -h | --help\n"
      "    Print this help and exit.\n\n"
      "  etcdpp --config-file <path>\n"
      "    Read settings from an etcd YAML config file; other flags and ETCD_* variables are\n"
      "    then ignored.\n\n"
      "Every flag can also be set by the environment variable ETCD_<FLAG_NAME> (upper case,\n"
      "dashes as underscores, e.g. ETCD_DATA_DIR). Setting both is an error.\n"
      "Flags marked (no effect yet) are accepted for compatibility with etcd command lines.\n";
  std::string group;
  for (const Spec& s : Specs()) {
    if (s.support == Support::kIgnored) continue;
    if (s.group != group) {
      group = s.group;
      out += "\n" + group + ":\n";
    }
    out += "  --" + s.name + " '" + s.default_text + "'\n    " + s.help +
           (s.support == Support::kNoEffect ? " (no effect yet)" : "") +
           (s.support == Support::kRefused ? " (not enforced yet: refused)" : "") + "\n";
  }
  return out;
}

std::string VersionText() {
  std::string arch = "unknown";
  struct utsname u;
  if (uname(&u) == 0) arch = u.machine;
  if (arch == "x86_64") arch = "amd64";
  if (arch == "aarch64") arch = "arm64";
  return "etcdpp Version: " + std::string(kEtcdppVersion) + "\n" +
         "etcd API Version: " + std::string(kEtcdServerVersion) + "\n" + "Git SHA: Not provided\n" +
         "Compiler: " + std::string(__VERSION__) + "\n" + "OS/Arch: linux/" + arch + "\n";
}

Result<ParsedCommandLine> ParseCommandLine(int argc, char** argv,
                                           const std::map<std::string, std::string>& env) {
  ParsedCommandLine result;
  std::string program = "etcdpp";
  if (argc > 0 && argv[0] != nullptr && argv[0][0] != '\0') {
    program = argv[0];
    program = program.substr(program.rfind('/') + 1);
  }

  // Step 1 and 2: syntax.
  PrePass pre = RewriteGoSyntax(argc, argv);
  if (!pre.error.ok()) return pre.error;
  if (pre.help) {
    result.action = ParsedCommandLine::Action::kPrintHelp;
    result.text = HelpText();
    return result;
  }
  ETCDPP_ASSIGN_OR_RETURN(Collected given, CollectWithCli11(pre.tokens));
  if (given.stray.has_value()) {
    return VerifyError(program, "'" + *given.stray + "' is not a valid flag");
  }

  // Values given on the command line are type-checked even when a config file will replace
  // them, as Go's flag package checks them while parsing.
  Config config;
  for (const std::string& name : given.order) {
    if (name == kConfigFileFlag || name == kVersionFlag) continue;
    // The deprecated --log-output yields to --log-outputs when both are given.
    if (name == "log-output" && given.values.count("log-outputs")) continue;
    const Spec* spec = FindSpec(name);
    CHECK(spec != nullptr) << name;
    const std::string& value = given.values.at(name);
    Status s = spec->set(&config, value);
    if (!s.ok()) {
      if (spec->is_bool) {
        return UsageError("invalid boolean value " + Quote(value) + " for -" + name +
                          ": parse error");
      }
      return UsageError(FirstValueLine(name, value, s));
    }
  }

  if (given.values.count(std::string(kVersionFlag))) {
    bool print = false;
    (void)ParseGoBool(given.values.at(std::string(kVersionFlag)), &print);
    if (print) {
      result.action = ParsedCommandLine::Action::kPrintVersion;
      result.text = VersionText();
      return result;
    }
  }

  // Config file: replaces flags and environment entirely, as in etcd.
  std::string config_file;
  if (given.values.count(std::string(kConfigFileFlag))) {
    config_file = given.values.at(std::string(kConfigFileFlag));
  } else if (auto it = env.find(FlagToEnv(kConfigFileFlag)); it != env.end()) {
    config_file = it->second;
  }
  if (!config_file.empty()) {
    auto from_file = server::ConfigFromYamlFile(config_file);
    if (!from_file.ok()) {
      const std::string m = from_file.status().message();
      // URL errors in the file are printed bare by etcd; everything else is a verify error.
      if (m.rfind("unexpected error setting up ", 0) == 0) return RunError(m);
      return VerifyError(program, m);
    }
    result.config = std::move(from_file).value();
    result.warnings.push_back("loaded server configuration from " + Quote(config_file) +
                              "; other command line flags and environment variables are "
                              "ignored");
  } else {
    // Environment: for each flag not given on the command line (etcd's SetFlagsFromEnv).
    std::set<std::string> used_env;
    std::set<std::string> given_env_names;
    for (const std::string& name : given.order) given_env_names.insert(FlagToEnv(name));
    std::vector<std::string> set_flags = given.order;
    for (const Spec& spec : Specs()) {
      const std::string key = FlagToEnv(spec.name);
      if (given_env_names.count(key)) continue;
      if (spec.name == "log-output" &&
          (given.values.count("log-outputs") || env.count(FlagToEnv("log-outputs")))) {
        continue;
      }
      auto it = env.find(key);
      if (it == env.end() || it->second.empty()) continue;
      used_env.insert(key);
      Status s = spec.set(&config, it->second);
      if (!s.ok()) {
        return VerifyError(
            program, "invalid value " + Quote(it->second) + " for " + key + ": " + s.message());
      }
      set_flags.push_back(spec.name);
    }
    used_env.insert(FlagToEnv(kConfigFileFlag));  // Read above; empty here.
    // Read before the environment is consulted, as in etcd; not an unknown variable.
    used_env.insert(FlagToEnv(kVersionFlag));
    for (const auto& [key, value] : env) {
      if (used_env.count(key)) continue;
      if (given_env_names.count(key)) {
        return RunError("conflicting environment variable " + Quote(key) +
                        " is shadowed by corresponding command-line flag (either unset "
                        "environment variable or disable flag)");
      }
      if (key.rfind("ETCD_", 0) == 0) {
        result.warnings.push_back("unrecognized environment variable " + key + "=" + value);
      }
    }

    auto is_set = [&](std::string_view name) {
      return std::find(set_flags.begin(), set_flags.end(), name) != set_flags.end();
    };
    // etcd drops the default advertise URL once listen URLs are chosen, so that a member
    // never advertises "localhost" for a non-local listener by accident.
    if (is_set("listen-client-urls") && !is_set("advertise-client-urls")) {
      config.advertise_client_urls.clear();
    }
    // Discovery replaces the default static cluster instead of conflicting with it.
    if ((!config.discovery.empty() || !config.discovery_srv.empty() ||
         !config.discovery_srv_name.empty()) &&
        !is_set("initial-cluster")) {
      config.initial_cluster.clear();
    }
    if (is_set("debug") && config.debug) config.log_level = "debug";
    for (const std::string& name : set_flags) {
      if (const Spec* spec = FindSpec(name)) AddNoEffectWarning(*spec, &result.warnings);
      if (name == "log-output") {
        result.warnings.push_back(
            "'--log-output' flag has been deprecated! Please use "
            "'--log-outputs'!");
      }
    }
    result.set_flags = std::move(set_flags);
    result.config = std::move(config);
  }

  server::ApplyDerivedDefaults(&result.config);
  Status valid = server::ValidateConfig(result.config);
  if (!valid.ok()) return VerifyError(program, valid.message());
  if (result.config.quota_backend_bytes > server::kMaxRecommendedQuotaBackendBytes) {
    result.warnings.push_back("--quota-backend-bytes above 8 GiB is not recommended");
  }
  return result;
}

}  // namespace etcdpp::cmd
