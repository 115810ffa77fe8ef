#include "net/tls.h"

#include <gtest/gtest.h>

namespace etcdpp::net {
namespace {

TEST(TlsTest, AutoTlsGeneratesAUsableContext) {
  TlsConfig cfg;
  cfg.auto_tls = true;
  auto ctx = TlsContext::Create(cfg);
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  SSL* ssl = ctx.value()->NewSsl();
  ASSERT_NE(ssl, nullptr);
  SSL_free(ssl);
}

TEST(TlsTest, MissingFilesAreNamedInTheError) {
  TlsConfig cfg;
  cfg.cert_file = "/nonexistent/server.crt";
  cfg.key_file = "/nonexistent/server.key";
  auto ctx = TlsContext::Create(cfg);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.status().message().find("/nonexistent/server.crt"), std::string::npos);
}

TEST(TlsTest, ClientCertAuthNeedsACa) {
  TlsConfig cfg;
  cfg.auto_tls = true;
  cfg.client_cert_auth = true;
  EXPECT_FALSE(TlsContext::Create(cfg).ok());
}

TEST(TlsTest, GoCipherNamesMapToOpenSsl) {
  EXPECT_EQ(CipherSuiteToOpenSsl("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(CipherSuiteToOpenSsl("AES128-SHA"), "AES128-SHA");
}

TEST(TlsTest, UnknownCipherSuiteIsRejected) {
  TlsConfig cfg;
  cfg.auto_tls = true;
  cfg.cipher_suites = {"TLS_NOT_A_SUITE"};
  EXPECT_FALSE(TlsContext::Create(cfg).ok());
}

}  // namespace
}  // namespace etcdpp::net
