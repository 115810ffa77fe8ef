// TLS configuration and the server-side SSL_CTX that new connections are accepted with.
//
// TlsContext re-reads the certificate, key and CA files when any of them changes on disk (checked
// by stat at most once per kReloadCheckInterval, on the accepting thread), so rotated
// certificates take effect for new connections without a restart, as Kubernetes expects. A
// failed reload (half-written files, key mismatch) keeps serving with the previous context and
// logs the error; existing connections keep their context.
//
// Thread safety: all methods are thread-safe. Each SSL* made from it belongs to one loop thread.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/status.h"

namespace etcdpp::net {

// Mirrors etcd's transport.TLSInfo for one listener (client or peer URLs).
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string trusted_ca_file;
  // Require a client certificate that verifies against trusted_ca_file (etcd --client-cert-auth).
  // As in etcd 3.4, setting trusted_ca_file alone also requires verified client certificates.
  bool client_cert_auth = false;
  // etcd --cipher-suites: Go names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...) or OpenSSL names.
  // Applies to TLS 1.2; TLS 1.3 suites are fixed, as in Go. Empty = OpenSSL defaults.
  std::vector<std::string> cipher_suites;
  // etcd --auto-tls: with no cert_file, generate a self-signed certificate at start-up. If
  // auto_tls_dir is set the certificate and key are written there (etcd uses
  // <data-dir>/fixtures/client) and reused on the next start.
  bool auto_tls = false;
  std::string auto_tls_dir;
  std::vector<std::string> auto_tls_hosts = {"localhost", "127.0.0.1", "::1"};
  // Minimum protocol version (TLS1_2_VERSION as in etcd; TLS1_3_VERSION allowed).
  int min_version = TLS1_2_VERSION;
  // ALPN protocols offered, in server preference order.
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  // How often the files are stat'ed for changes (on accept). Zero = on every accept (tests).
  std::chrono::milliseconds reload_check_interval{1000};

  bool Enabled() const { return !cert_file.empty() || auto_tls; }
};

// Maps a Go cipher suite name to OpenSSL's name; returns the input if it is not a Go name.
std::string CipherSuiteToOpenSsl(const std::string& name);

class TlsContext {
 public:
  // Loads files (or generates the auto-TLS certificate). Errors name the file and the reason.
  static Result<std::shared_ptr<TlsContext>> Create(TlsConfig config);
  ~TlsContext();

  // Returns a new server-side SSL* for an accepted socket, after reloading changed files.
  // The caller owns the SSL*. Returns nullptr only on allocation failure.
  SSL* NewSsl();

  // Reloads now if any file changed; returns the reload error (the old context stays active).
  Status MaybeReload();

  const TlsConfig& config() const { return config_; }

 private:
  struct FileStamp {
    std::string path;
    int64_t mtime_ns = 0;
    int64_t size = 0;
    uint64_t inode = 0;
    bool operator==(const FileStamp&) const = default;
  };
  explicit TlsContext(TlsConfig config) : config_(std::move(config)) {}
  Result<SSL_CTX*> Build();
  std::vector<FileStamp> Stamps() const;

  TlsConfig config_;
  std::mutex mu_;  // Guards ctx_, stamps_, last_check_.
  SSL_CTX* ctx_ = nullptr;
  std::vector<FileStamp> stamps_;
  std::chrono::steady_clock::time_point last_check_{};
};

// Generates a self-signed ECDSA P-256 certificate valid for hosts (DNS names or IPs), one year.
// Returns {cert_pem, key_pem}.
Result<std::pair<std::string, std::string>> GenerateSelfSigned(
    const std::vector<std::string>& hosts);

// The subject Common Name of the peer's verified certificate, or "" if none / not verified.
std::string VerifiedPeerCommonName(SSL* ssl);

// The last OpenSSL error queue entries as text (and clears the queue).
std::string OpenSslErrors();

}  // namespace etcdpp::net
