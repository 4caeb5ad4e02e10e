#include "crypto/x509.h"

#include <gtest/gtest.h>

#include <ctime>

namespace dsmil::crypto {
namespace {

TEST(X509Test, CaIsSelfSignedP384) {
  auto ca = CreateCa("DSMIL Test CA", 365);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  EXPECT_NE(ca->cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(ca->key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  auto info = ParseCertificatePem(ca->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->subject_cn, "DSMIL Test CA");
  EXPECT_EQ(info->issuer_cn, "DSMIL Test CA");
  EXPECT_TRUE(info->is_ca);
  EXPECT_EQ(info->key_type, "EC P-384");
  EXPECT_EQ(info->serial_hex.size(), 32u);
  int64_t now = time(nullptr);
  EXPECT_NEAR(info->not_after_unix - now, 365 * 86400, 120);
  EXPECT_TRUE(VerifyCertificate(ca->cert_pem, ca->cert_pem).ok());
}

TEST(X509Test, NodeCertificateHasSansAndBothUsages) {
  auto ca = CreateCa("DSMIL Test CA");
  ASSERT_TRUE(ca.ok());
  CertificateRequest req;
  req.common_name = "node-a";
  req.dns_sans = {"node-a.dsmil.local", "localhost"};
  req.ip_sans = {"127.0.0.1", "172.20.0.10", "::1"};
  req.usage = CertUsage::kBoth;
  auto leaf = IssueCertificate(*ca, req);
  ASSERT_TRUE(leaf.ok()) << leaf.status().ToString();
  auto info = ParseCertificatePem(leaf->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->subject_cn, "node-a");
  EXPECT_EQ(info->issuer_cn, "DSMIL Test CA");
  EXPECT_EQ(info->dns_sans, (std::vector<std::string>{"node-a.dsmil.local", "localhost"}));
  EXPECT_EQ(info->ip_sans, (std::vector<std::string>{"127.0.0.1", "172.20.0.10", "::1"}));
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->server_auth);
  EXPECT_TRUE(info->client_auth);
  int64_t now = time(nullptr);
  EXPECT_NEAR(info->not_after_unix - now, 90 * 86400, 120);
  EXPECT_LE(info->not_before_unix, now);
  EXPECT_TRUE(VerifyCertificate(ca->cert_pem, leaf->cert_pem).ok());
}

TEST(X509Test, OperatorCertificateIsClientOnly) {
  auto ca = CreateCa("DSMIL Test CA");
  ASSERT_TRUE(ca.ok());
  auto leaf = IssueCertificate(*ca, {"operator-admin", {}, {}, CertUsage::kClient, 30});
  ASSERT_TRUE(leaf.ok()) << leaf.status().ToString();
  auto info = ParseCertificatePem(leaf->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->server_auth);
  EXPECT_TRUE(info->client_auth);
  EXPECT_TRUE(info->dns_sans.empty());
}

TEST(X509Test, CertificateFromAnotherCaDoesNotVerify) {
  auto ca1 = CreateCa("CA one");
  auto ca2 = CreateCa("CA two");
  ASSERT_TRUE(ca1.ok() && ca2.ok());
  auto leaf = IssueCertificate(*ca2, {"node-x", {"localhost"}, {}, CertUsage::kBoth, 90});
  ASSERT_TRUE(leaf.ok());
  Status s = VerifyCertificate(ca1->cert_pem, leaf->cert_pem);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("node-x"), std::string::npos) << s.message();
}

TEST(X509Test, BadRequestsAreRefused) {
  auto ca = CreateCa("DSMIL Test CA");
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(CreateCa("", 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCa("x", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCa(std::string(65, 'a')).status().code(), StatusCode::kInvalidArgument);
  auto bad_ip = IssueCertificate(*ca, {"n", {}, {"300.1.1.1"}, CertUsage::kBoth, 90});
  EXPECT_EQ(bad_ip.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_ip.status().message().find("300.1.1.1"), std::string::npos);
  auto bad_dns = IssueCertificate(*ca, {"n", {"bad host"}, {}, CertUsage::kBoth, 90});
  EXPECT_EQ(bad_dns.status().code(), StatusCode::kInvalidArgument);
  auto no_cn = IssueCertificate(*ca, {"", {}, {}, CertUsage::kBoth, 90});
  EXPECT_EQ(no_cn.status().code(), StatusCode::kInvalidArgument);
}

TEST(X509Test, IssuingNeedsAMatchingCaKey) {
  auto ca1 = CreateCa("CA one");
  auto ca2 = CreateCa("CA two");
  ASSERT_TRUE(ca1.ok() && ca2.ok());
  PemCertificate mixed{ca1->cert_pem, ca2->key_pem};
  auto r = IssueCertificate(mixed, {"n", {}, {}, CertUsage::kBoth, 90});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("does not match"), std::string::npos);
  // A leaf certificate cannot issue.
  auto leaf = IssueCertificate(*ca1, {"leaf", {}, {}, CertUsage::kBoth, 90});
  ASSERT_TRUE(leaf.ok());
  auto r2 = IssueCertificate(*leaf, {"n", {}, {}, CertUsage::kBoth, 90});
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r2.status().message().find("not a CA"), std::string::npos);
}

TEST(X509Test, GarbageIsInvalidArgument) {
  EXPECT_EQ(ParseCertificatePem("not a certificate").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadCertificateFile("/nonexistent/file.crt").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(FormatUtc(0), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace dsmil::crypto
