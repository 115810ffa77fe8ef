#include "net/tls.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace etcdpp::net {

std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string CipherSuiteToOpenSsl(const std::string& name) {
  // The suites Go's crypto/tls (and so etcd --cipher-suites) knows for TLS 1.2.
  static const std::unordered_map<std::string, std::string> kGoToOpenSsl = {
      {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
      {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
      {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
      {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
      {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
      {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
  };
  auto it = kGoToOpenSsl.find(name);
  return it == kGoToOpenSsl.end() ? name : it->second;
}

namespace {

// ALPN: pick the first server protocol the client offered. No overlap → continue without ALPN
// (the connection then sniffs for the HTTP/2 preface), as Go's server does.
int AlpnSelect(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void* arg) {
  auto* protos = static_cast<const std::vector<std::string>*>(arg);
  for (const auto& p : *protos) {
    for (unsigned int i = 0; i < inlen;) {
      unsigned int len = in[i];
      if (i + 1 + len > inlen) break;
      if (len == p.size() && memcmp(in + i + 1, p.data(), len) == 0) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

Status WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IoError("cannot write " + path + ": " + strerror(errno));
  out << data;
  out.close();
  if (!out) return IoError("cannot write " + path);
  chmod(path.c_str(), mode);
  return Status::Ok();
}

}  // namespace

Result<std::pair<std::string, std::string>> GenerateSelfSigned(
    const std::vector<std::string>& hosts) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (pkey == nullptr) return Internal("auto-tls: key generation failed: " + OpenSslErrors());
  X509* x = X509_new();
  auto cleanup = [&] {
    X509_free(x);
    EVP_PKEY_free(pkey);
  };
  X509_set_version(x, 2);
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("etcd"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  std::string san;
  for (const auto& h : hosts) {
    if (!san.empty()) san += ",";
    bool ip =
        h.find_first_not_of("0123456789.") == std::string::npos || h.find(':') != std::string::npos;
    san += (ip ? "IP:" : "DNS:") + h;
  }
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  const std::pair<const char*, std::string> exts[] = {
      {"subjectAltName", san},
      {"keyUsage", "critical,digitalSignature,keyEncipherment"},
      {"extendedKeyUsage", "serverAuth,clientAuth"},
      {"basicConstraints", "critical,CA:FALSE"}};
  for (const auto& [ext_name, value] : exts) {
    if (value.empty()) continue;
    X509_EXTENSION* ext = X509V3_EXT_conf(nullptr, &v3, ext_name, value.c_str());
    if (ext == nullptr) {
      cleanup();
      return Internal(std::string("auto-tls: bad extension ") + ext_name);
    }
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, pkey, EVP_sha256()) == 0) {
    cleanup();
    return Internal("auto-tls: signing failed: " + OpenSslErrors());
  }
  auto to_pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data;
    long len = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<size_t>(len));
    BIO_free(bio);
    return s;
  };
  std::string cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  std::string key_pem = to_pem(
      [&](BIO* b) { PEM_write_bio_PrivateKey(b, pkey, nullptr, nullptr, 0, nullptr, nullptr); });
  cleanup();
  return std::make_pair(std::move(cert_pem), std::move(key_pem));
}

std::string VerifiedPeerCommonName(SSL* ssl) {
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return "";
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string cn;
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len >= 0) cn.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  X509_free(cert);
  return cn;
}

Result<std::shared_ptr<TlsContext>> TlsContext::Create(TlsConfig config) {
  if (config.cert_file.empty() && config.auto_tls) {
    std::string cert_path, key_path;
    if (!config.auto_tls_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(config.auto_tls_dir, ec);
      if (ec)
        return IoError("auto-tls: cannot create " + config.auto_tls_dir + ": " + ec.message());
      cert_path = config.auto_tls_dir + "/cert.pem";
      key_path = config.auto_tls_dir + "/key.pem";
    }
    bool reuse = !cert_path.empty() && std::filesystem::exists(cert_path) &&
                 std::filesystem::exists(key_path);
    if (!reuse) {
      ETCDPP_ASSIGN_OR_RETURN(auto pems, GenerateSelfSigned(config.auto_tls_hosts));
      if (cert_path.empty()) {
        // Keep the generated pair in an unnamed place: a private temp dir.
        char tmpl[] = "/tmp/etcdpp-autotls-XXXXXX";
        if (mkdtemp(tmpl) == nullptr) return IoError("auto-tls: mkdtemp failed");
        cert_path = std::string(tmpl) + "/cert.pem";
        key_path = std::string(tmpl) + "/key.pem";
      }
      ETCDPP_RETURN_IF_ERROR(WriteFile(cert_path, pems.first, 0644));
      ETCDPP_RETURN_IF_ERROR(WriteFile(key_path, pems.second, 0600));
      spdlog::info("auto-tls: generated self-signed certificate {}", cert_path);
    }
    config.cert_file = cert_path;
    config.key_file = key_path;
  }
  if (config.cert_file.empty() || config.key_file.empty()) {
    return InvalidArgument("TLS needs both a certificate file and a key file");
  }
  if (config.client_cert_auth && config.trusted_ca_file.empty()) {
    return InvalidArgument("--client-cert-auth needs --trusted-ca-file");
  }
  std::shared_ptr<TlsContext> tls(new TlsContext(std::move(config)));
  tls->stamps_ = tls->Stamps();
  ETCDPP_ASSIGN_OR_RETURN(tls->ctx_, tls->Build());
  tls->last_check_ = std::chrono::steady_clock::now();
  return tls;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::vector<TlsContext::FileStamp> TlsContext::Stamps() const {
  std::vector<FileStamp> out;
  for (const std::string* p : {&config_.cert_file, &config_.key_file, &config_.trusted_ca_file}) {
    FileStamp s;
    s.path = *p;
    struct stat st {};
    if (!p->empty() && stat(p->c_str(), &st) == 0) {
      s.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
      s.size = st.st_size;
      s.inode = st.st_ino;
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<SSL_CTX*> TlsContext::Build() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Internal("SSL_CTX_new: " + OpenSslErrors());
  auto fail = [&](std::string what) -> Status {
    SSL_CTX_free(ctx);
    return InvalidArgument(what + ": " + OpenSslErrors());
  };
  SSL_CTX_set_min_proto_version(ctx, config_.min_version);
  // Partial writes let us hand SSL_write whatever is buffered; moving buffers are ours to manage.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead: one read() takes whatever the socket holds instead of a record header and then
  // its body, halving the read syscalls of small requests. Connection::DoRead drains what
  // OpenSSL buffers (SSL_has_pending), since epoll cannot report it.
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  static const unsigned char kSidCtx[] = "etcdpp";
  SSL_CTX_set_session_id_context(ctx, kSidCtx, sizeof(kSidCtx) - 1);
  if (!config_.cipher_suites.empty()) {
    std::string list;
    for (const auto& c : config_.cipher_suites) {
      if (!list.empty()) list += ":";
      list += CipherSuiteToOpenSsl(c);
    }
    if (SSL_CTX_set_cipher_list(ctx, list.c_str()) != 1) return fail("invalid --cipher-suites");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, config_.cert_file.c_str()) != 1) {
    return fail("cannot load certificate " + config_.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, config_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("cannot load key " + config_.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail("key " + config_.key_file + " does not match certificate " + config_.cert_file);
  }
  if (!config_.trusted_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config_.trusted_ca_file.c_str(), nullptr) != 1) {
      return fail("cannot load trusted CA " + config_.trusted_ca_file);
    }
    // As etcd 3.4 (pkg/transport ServerConfig): a trusted CA file alone already makes client
    // certificates required and verified, with or without --client-cert-auth.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config_.trusted_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  SSL_CTX_set_alpn_select_cb(ctx, AlpnSelect, &config_.alpn);
  return ctx;
}

Status TlsContext::MaybeReload() {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (now - last_check_ < config_.reload_check_interval) return Status::Ok();
  last_check_ = now;
  auto stamps = Stamps();
  if (stamps == stamps_) return Status::Ok();
  auto built = Build();
  if (!built.ok()) {
    // Keep the old stamps so we retry on the next check (the files may be mid-rotation).
    spdlog::warn("tls: reload of {} failed, keeping the previous certificate: {}",
                 config_.cert_file, built.status().message());
    return built.status();
  }
  SSL_CTX_free(ctx_);  // Live SSL* objects hold their own reference.
  ctx_ = built.value();
  stamps_ = std::move(stamps);
  spdlog::info("tls: reloaded certificate {}", config_.cert_file);
  return Status::Ok();
}

SSL* TlsContext::NewSsl() {
  (void)MaybeReload();
  std::lock_guard<std::mutex> lock(mu_);
  return SSL_new(ctx_);
}

}  // namespace etcdpp::net
