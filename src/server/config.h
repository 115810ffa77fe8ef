// Config: every setting of an etcdpp server, with etcd 3.4's defaults, and its validation.
//
// A Config is filled by src/cmd/flags.cc from the command line and ETCD_* environment variables,
// or by ConfigFromYaml() from an etcd YAML config file (--config-file); then ValidateConfig()
// rejects what etcd rejects, with etcd's words, so operators see familiar errors.
//
// Field names follow etcd's flag names (--heartbeat-interval -> heartbeat_interval_ms). Settings
// that etcd has but etcdpp does not act on yet are still parsed and kept here, so that existing
// command lines and config files start; docs/flags.md lists which ones have no effect yet.
//
// Plain values and pure functions: no threads, no I/O except ConfigFromYamlFile() reading its
// file. A Config is built once at start-up and then only read (copies may go to any thread).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace etcdpp::server {

// A listen or advertise URL as etcd accepts it: scheme http/https/unix/unixs, "host:port", no
// path. Example: "https://[::1]:2379" -> {scheme "https", host "::1", port "2379"}.
struct Url {
  std::string scheme;
  std::string host;  // Without the brackets of an IPv6 literal; may be empty ("http://:2379").
  std::string port;  // Digits or a service name, as written; may be empty ("http://h:").

  // "scheme://host:port", IPv6 hosts in brackets: the form etcd prints and compares.
  std::string ToString() const;
  bool IsTls() const { return scheme == "https" || scheme == "unixs"; }
  bool IsUnix() const { return scheme == "unix" || scheme == "unixs"; }

  friend bool operator==(const Url&, const Url&) = default;
};

// Parses one URL with etcd's rules. Errors use etcd's texts, e.g.
// "URL scheme must be http, https, unix, or unixs: foo".
Result<Url> ParseUrl(std::string_view text);

// Parses a comma-separated list (spaces around items are trimmed). The result is sorted by
// ToString(), as etcd sorts its URL lists; an empty list is an error ("no valid URLs given").
Result<std::vector<Url>> ParseUrlList(std::string_view comma_separated);

// "u1,u2" from a list, as etcd prints URL lists in errors.
std::string JoinUrls(const std::vector<Url>& urls);

// --initial-cluster parsed: member name -> its peer URLs (sorted).
// "a=http://h1:2380,a=http://h2:2380,b=http://h3:2380" -> {a: [h1, h2], b: [h3]}.
using InitialClusterMap = std::map<std::string, std::vector<Url>>;
Result<InitialClusterMap> ParseInitialClusterUrls(std::string_view initial_cluster);

// Parses a Go time.Duration string ("1h30m", "5s", "250ms", "1.5h", "0") into nanoseconds.
// Errors read like Go's: `time: invalid duration "bogus"`.
Result<int64_t> ParseGoDuration(std::string_view text);

// TLS settings for one side (client-facing or peer-facing).
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;    // CA bundle that client certificates must chain to.
  bool client_cert_auth = false;  // Require and verify client certificates.
  bool auto_tls = false;          // Generate a self-signed certificate when none is given.
  std::string crl_file;           // Revocation list checked against client certificates.
  std::string allowed_cn;         // Peer side only: required CN of peer client certificates.
  std::string allowed_hostname;   // Required SAN/hostname of client certificates.
  bool skip_client_san_verification = false;  // Peer side only.

  // True iff no certificate material is configured (etcd's TLSInfo.Empty()).
  bool Empty() const { return cert_file.empty() && key_file.empty(); }
};

enum class ClusterState { kNew, kExisting };

// Names as etcd writes them ("new", "existing").
std::string_view ClusterStateName(ClusterState state);

// Defaults from etcd 3.4 (embed.NewConfig and etcdmain's flag definitions).
inline constexpr std::string_view kDefaultName = "default";
inline constexpr std::string_view kDefaultListenPeerUrls = "http://localhost:2380";
inline constexpr std::string_view kDefaultListenClientUrls = "http://localhost:2379";
inline constexpr std::string_view kDefaultInitialAdvertisePeerUrls = "http://localhost:2380";
inline constexpr std::string_view kDefaultAdvertiseClientUrls = "http://localhost:2379";
inline constexpr std::string_view kDefaultInitialCluster = "default=http://localhost:2380";
// Backend quota used when quota_backend_bytes is 0 (etcd: 2 GiB); larger values are allowed.
inline constexpr int64_t kDefaultQuotaBackendBytes = int64_t{2} * 1024 * 1024 * 1024;
// etcd warns above 8 GiB; it is a recommendation, not a limit.
inline constexpr int64_t kMaxRecommendedQuotaBackendBytes = int64_t{8} * 1024 * 1024 * 1024;
// etcd refuses election timeouts above 50 s: such a cluster would take minutes to fail over.
inline constexpr uint64_t kMaxElectionTimeoutMs = 50000;

struct Config {
  // --- member ---
  std::string name = std::string(kDefaultName);
  // Empty means "<name>.etcd" in the working directory; see EffectiveDataDir().
  std::string data_dir;
  // Dedicated WAL directory; empty means <data_dir>/member/wal.
  std::string wal_dir;
  // Committed entries between raft snapshots (etcd: 100000).
  uint64_t snapshot_count = 100000;
  // Snapshot and WAL files kept on disk; 0 keeps all (etcd: 5 each).
  uint64_t max_snapshots = 5;
  uint64_t max_wals = 5;
  uint64_t heartbeat_interval_ms = 100;
  uint64_t election_timeout_ms = 1000;
  // Fast-forward election ticks at boot so a restarted member campaigns sooner.
  bool initial_election_tick_advance = true;
  // Raise the NOSPACE alarm above this backend size; 0 means kDefaultQuotaBackendBytes.
  int64_t quota_backend_bytes = 0;
  // Backend commit batching; 0 means the storage layer's own default.
  int64_t backend_batch_interval_ms = 0;
  int64_t backend_batch_limit = 0;
  // Most operations (compares + ops, counted per branch) in one Txn (etcd: 128).
  uint64_t max_txn_ops = 128;
  // Largest client request accepted, in bytes (etcd: 1.5 MiB); etcd sets the gRPC receive
  // limit to this plus 512 KiB for framing.
  uint64_t max_request_bytes = 1572864;
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS advertised to clients (etcd: unlimited, 2^32-1).
  uint32_t max_concurrent_streams = UINT32_MAX;
  // gRPC keepalive enforcement and server pings (etcd: 5 s, 2 h, 20 s).
  int64_t grpc_keepalive_min_time_ms = 5000;
  int64_t grpc_keepalive_interval_ms = 2 * 60 * 60 * 1000;
  int64_t grpc_keepalive_timeout_ms = 20000;

  // --- URLs ---
  std::vector<Url> listen_peer_urls = {Url{"http", "localhost", "2380"}};
  std::vector<Url> listen_client_urls = {Url{"http", "localhost", "2379"}};
  std::vector<Url> initial_advertise_peer_urls = {Url{"http", "localhost", "2380"}};
  // Empty is an error when listen_client_urls was given (see ValidateConfig).
  std::vector<Url> advertise_client_urls = {Url{"http", "localhost", "2379"}};
  // Extra listeners serving only /metrics and /health (kubeadm: http://127.0.0.1:2381).
  std::vector<Url> listen_metrics_urls;

  // --- clustering ---
  std::string initial_cluster = std::string(kDefaultInitialCluster);
  std::string initial_cluster_token = "etcd-cluster";
  ClusterState initial_cluster_state = ClusterState::kNew;
  std::string discovery;  // Discovery service URL (no effect yet).
  std::string discovery_fallback = "proxy";
  std::string discovery_proxy;
  std::string discovery_srv;  // DNS SRV domain (no effect yet).
  std::string discovery_srv_name;
  // Reject member changes that would lose quorum.
  bool strict_reconfig_check = true;
  bool enable_v2 = false;
  bool pre_vote = false;

  // --- v2 proxy (etcd's legacy proxy mode; parsed only) ---
  std::string proxy = "off";
  uint64_t proxy_failure_wait_ms = 5000;
  uint64_t proxy_refresh_interval_ms = 30000;
  uint64_t proxy_dial_timeout_ms = 1000;
  uint64_t proxy_write_timeout_ms = 5000;
  uint64_t proxy_read_timeout_ms = 0;

  // --- security ---
  TlsConfig client_tls;
  TlsConfig peer_tls;
  // IANA names as Go spells them ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"); empty means the
  // TLS library's defaults. Applies to both client and peer listeners.
  std::vector<std::string> cipher_suites;
  std::vector<std::string> cors = {"*"};
  std::vector<std::string> host_whitelist = {"*"};

  // --- auth ---
  std::string auth_token = "simple";  // "simple" or "jwt,pub-key=...,priv-key=...,sign-method=..."
  uint64_t bcrypt_cost = 10;
  uint64_t auth_token_ttl_s = 300;

  // --- logging ---
  // etcd 3.4 defaults to "capnslog" and warns that it is deprecated; etcdpp always writes
  // structured (zap-like) JSON logs, so "zap" is our default and "capnslog" is accepted.
  std::string logger = "zap";
  std::vector<std::string> log_outputs = {"default"};
  std::string log_level = "info";
  bool debug = false;              // Deprecated alias of log_level "debug".
  std::string log_package_levels;  // Deprecated; no effect.

  // --- features and maintenance ---
  std::string auto_compaction_mode = "periodic";
  // Periodic: hours as an integer, or a Go duration ("5m"); revision: a revision count.
  // "0" disables auto compaction.
  std::string auto_compaction_retention = "0";
  bool enable_pprof = false;
  std::string metrics = "basic";  // "basic" or "extensive".
  bool enable_grpc_gateway = true;
  bool experimental_initial_corrupt_check = false;
  int64_t experimental_corrupt_check_time_ms = 0;
  std::string experimental_enable_v2v3;
  std::string experimental_backend_bbolt_freelist_type = "array";
  bool experimental_enable_lease_checkpoint = false;
  bool experimental_enable_lease_checkpoint_persist = false;
  int64_t experimental_compaction_batch_limit = 0;
  // 0 means the server default (etcd: 10 minutes). kubeadm passes 5s.
  int64_t experimental_watch_progress_notify_interval_ms = 0;
  int64_t experimental_warning_apply_duration_ms = 100;
  // etcd 3.6's --feature-gates, kept verbatim (no effect yet).
  std::string feature_gates;
  bool unsafe_no_fsync = false;
  bool force_new_cluster = false;

  // Flags accepted for compatibility that have no field above (mostly etcd 3.5 additions such
  // as --experimental-compact-hash-check-enabled), flag name -> value as given. No effect yet.
  std::map<std::string, std::string> extra_flags;

  // Path of the YAML file this config came from; empty if from flags/env.
  std::string config_file;

  // data_dir, or "<name>.etcd" when none was given (what etcd uses).
  std::string EffectiveDataDir() const;
  // The quota actually enforced: kDefaultQuotaBackendBytes when quota_backend_bytes <= 0.
  int64_t EffectiveQuotaBackendBytes() const;
  // Election timeout in heartbeat ticks (etcd's ElectionTicks).
  uint64_t ElectionTicks() const { return election_timeout_ms / heartbeat_interval_ms; }
};

// Returns OK iff etcd 3.4 would accept `config` at flag verification. The first problem found
// is reported with etcd's wording (e.g. "--election-timeout[200ms] should be at least as 5
// times as --heartbeat-interval[100ms]"), without etcd's "error verifying flags" prefix.
// Checks, in etcd's order: logger/log outputs/log level, listen URLs are IPs or localhost,
// advertise URLs have hosts, cluster state, bootstrap conflicts (initial-cluster vs discovery),
// heartbeat/election bounds, advertise-client-urls present, auto compaction mode, lease
// checkpoint flags; then what etcd checks later during start-up but needs no I/O: auto
// compaction retention, cipher suite names, HTTPS listeners have a certificate (or auto-tls).
Status ValidateConfig(const Config& config);

// Checks that only apply when this member bootstraps (its data dir holds no WAL yet; a member
// restarting from its data dir ignores --initial-cluster, as etcd does):
// --initial-cluster parses, has no duplicate URL, contains this member's name, and for a new
// cluster lists exactly --initial-advertise-peer-urls for it. etcd resolves host names before
// comparing URLs; we compare textually and skip the comparison when a host is not an IP
// literal, leaving that case to the peer layer.
Status ValidateBootstrap(const Config& config);

// Applies what etcd derives after parsing: when --initial-cluster still has its default value
// and --name is not "default", the initial cluster becomes "<name>=<url>" for each
// --initial-advertise-peer-urls URL (etcd's UpdateDefaultClusterFromName, minus its detection
// of the host name for 0.0.0.0 listeners).
void ApplyDerivedDefaults(Config* config);

// Builds a Config from etcd's YAML config file format (keys as in etcd's embed.Config, e.g.
// "name", "data-dir", "listen-client-urls": "u1,u2", "client-transport-security":
// {"cert-file", "key-file", "client-cert-auth", "trusted-ca-file", "auto-tls"}). Unknown keys
// are ignored, as etcd ignores them. Missing keys keep their defaults. Does not validate: call
// ValidateConfig(). Never throws.
Result<Config> ConfigFromYaml(std::string_view yaml_text);
Result<Config> ConfigFromYamlFile(const std::string& path);

// Go's TLS cipher suite names that etcd 3.4 accepts for --cipher-suites.
bool IsKnownCipherSuite(std::string_view name);

}  // namespace etcdpp::server
