#include "crypto/x509.h"

#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <string>
#include <vector>

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

TEST(X509Test, CrlRoundTripSignedByTheCa) {
  auto ca = CreateCa("DSMIL Test CA");
  auto other = CreateCa("DSMIL Test CA");  // same name, another key
  ASSERT_TRUE(ca.ok() && other.ok());
  auto leaf = IssueCertificate(*ca, {"operator-alice", {}, {}, CertUsage::kClient, 30});
  ASSERT_TRUE(leaf.ok());
  std::string serial = ParseCertificatePem(leaf->cert_pem)->serial_hex;
  int64_t now = time(nullptr);
  std::vector<RevokedCertificate> revoked = {
      {serial, now - 60, "keyCompromise"}, {"0x01", now, "unspecified"}, {"ab:cd", now, "superseded"}};
  auto crl = CreateCrl(*ca, revoked, 30, 7);
  ASSERT_TRUE(crl.ok()) << crl.status().ToString();
  EXPECT_NE(crl->find("-----BEGIN X509 CRL-----"), std::string::npos);
  auto info = ParseCrlPem(*crl);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->issuer_cn, "DSMIL Test CA");
  EXPECT_EQ(info->number, 7u);
  EXPECT_NEAR(info->this_update_unix, now, 120);
  EXPECT_NEAR(info->next_update_unix - now, 30 * 86400, 120);
  ASSERT_EQ(info->revoked.size(), 3u);
  std::map<std::string, RevokedCertificate> by_serial;
  for (const auto& r : info->revoked) by_serial[r.serial_hex] = r;
  ASSERT_TRUE(by_serial.count(serial));
  EXPECT_EQ(by_serial[serial].reason, "keyCompromise");
  EXPECT_EQ(by_serial[serial].revoked_unix, now - 60);
  EXPECT_EQ(by_serial["1"].reason, "unspecified");
  EXPECT_EQ(by_serial["ABCD"].reason, "superseded");
  EXPECT_TRUE(VerifyCrl(ca->cert_pem, *crl).ok());
  // A bundle holding the CA among others verifies it too.
  EXPECT_TRUE(VerifyCrl(other->cert_pem + ca->cert_pem, *crl).ok());
  Status wrong = VerifyCrl(other->cert_pem, *crl);
  EXPECT_EQ(wrong.code(), StatusCode::kUnauthenticated) << wrong.ToString();
  auto stranger = CreateCa("Stranger CA");
  ASSERT_TRUE(stranger.ok());
  wrong = VerifyCrl(stranger->cert_pem, *crl);
  EXPECT_EQ(wrong.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(wrong.message().find("Stranger CA"), std::string::npos) << wrong.message();
  EXPECT_EQ(VerifyCrl(ca->cert_pem, "nope").code(), StatusCode::kInvalidArgument);
  // An empty CRL is valid.
  auto empty = CreateCrl(*ca, {}, 1, 1);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(ParseCrlPem(*empty)->revoked.empty());
}

TEST(X509Test, CrlInputsAreChecked) {
  auto ca = CreateCa("DSMIL Test CA");
  ASSERT_TRUE(ca.ok());
  EXPECT_EQ(CreateCrl(*ca, {{"xyz", 0, "keyCompromise"}}, 30, 1).status().code(), StatusCode::kInvalidArgument);
  auto bad_reason = CreateCrl(*ca, {{"01", 0, "certificateHold"}}, 30, 1);
  EXPECT_EQ(bad_reason.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_reason.status().message().find("certificateHold"), std::string::npos);
  EXPECT_EQ(CreateCrl(*ca, {}, 0, 1).status().code(), StatusCode::kInvalidArgument);
  auto leaf = IssueCertificate(*ca, {"node-a", {}, {}, CertUsage::kBoth, 30});
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(CreateCrl(*leaf, {}, 30, 1).status().code(), StatusCode::kInvalidArgument);  // not a CA
  EXPECT_TRUE(ValidRevocationReason("keyCompromise"));
  EXPECT_FALSE(ValidRevocationReason("KeyCompromise"));
  EXPECT_EQ(*NormalizeSerialHex("0x00ab:Cd"), "ABCD");
  EXPECT_EQ(*NormalizeSerialHex("000"), "0");
  EXPECT_FALSE(NormalizeSerialHex("").ok());
  EXPECT_FALSE(NormalizeSerialHex("12g4").ok());
  EXPECT_TRUE(VerifyIssuedBy(ca->cert_pem, leaf->cert_pem).ok());
  auto other = CreateCa("DSMIL Test CA");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(VerifyIssuedBy(other->cert_pem, leaf->cert_pem).code(), StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace dsmil::crypto
