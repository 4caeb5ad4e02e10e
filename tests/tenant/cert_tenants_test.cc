// Operator certificates carry the tenants they cover as URI SANs
// urn:dsmil:tenant:<T>; the HTTPS server hands them to handlers as
// HttpRequest::client_cert_tenants and CertCoversTenant answers from them.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "support/test_pki.h"

namespace dsmil {
namespace {

using namespace std::chrono_literals;
using crypto::CertUsage;

class Dir {
 public:
  Dir() {
    char tmpl[] = "/tmp/dsmil-cert-tenants-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~Dir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(CertTenants, IssuedTenantsAreParsedBack) {
  auto ca = crypto::CreateCa("Test CA", 10);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  auto op = crypto::IssueCertificate(*ca, {"operator-alpha", {}, {}, CertUsage::kClient, 10}, {"ALPHA", "BRAVO"});
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  auto info = crypto::ParseCertificatePem(op->cert_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->tenants, (std::vector<std::string>{"ALPHA", "BRAVO"}));
  EXPECT_EQ(info->uri_sans, (std::vector<std::string>{"urn:dsmil:tenant:ALPHA", "urn:dsmil:tenant:BRAVO"}));

  auto all = crypto::IssueCertificate(*ca, {"operator-root", {}, {}, CertUsage::kClient, 10}, {"*"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(crypto::ParseCertificatePem(all->cert_pem)->tenants, std::vector<std::string>{"*"});

  auto none = crypto::IssueCertificate(*ca, {"operator-none", {}, {}, CertUsage::kClient, 10});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(crypto::ParseCertificatePem(none->cert_pem)->tenants.empty());
}

TEST(CertTenants, BadTenantIsRefusedByName) {
  auto ca = crypto::CreateCa("Test CA", 10);
  ASSERT_TRUE(ca.ok());
  const std::vector<std::string> bads = {"alpha", "", "A-B", "ALPHA,BRAVO", "**", "1ALPHA", std::string(33, 'A')};
  for (const std::string& bad : bads) {
    auto op = crypto::IssueCertificate(*ca, {"operator-x", {}, {}, CertUsage::kClient, 10}, {bad});
    ASSERT_FALSE(op.ok()) << bad;
    EXPECT_EQ(op.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(op.status().message().find("tenant \"" + bad + "\""), std::string::npos) << op.status().message();
  }
}

TEST(CertTenants, ServerSeesTheTenantsOfTheVerifiedClientCertificate) {
  Dir dir;
  auto pki = dsmil::testing::TestPki::Create(dir.path(), "Test CA", 10);
  ASSERT_TRUE(pki.ok()) << pki.status().ToString();
  auto node = pki->IssueNode("n", "node-a", {"localhost"}, 10);
  auto bravo = pki->IssueOperator("b", "operator-bravo", {"BRAVO"}, 10);
  auto star = pki->IssueOperator("s", "operator-admin", {"*"}, 10);
  auto none = pki->IssueOperator("z", "operator-none", {}, 10);
  ASSERT_TRUE(node.ok() && bravo.ok() && star.ok() && none.ok());
  std::string ca_file = pki->ca_file();

  net::HttpServerOptions o;
  o.tls = net::TlsOptions{pki->crt("n"), pki->key("n"), ca_file, false};
  o.handler = [](const net::HttpRequest& req) {
    net::HttpResponse r;
    r.content_type = "text/plain";
    std::string t;
    for (const auto& x : req.client_cert_tenants) t += (t.empty() ? "" : ",") + x;
    r.body = t + "|" + (net::CertCoversTenant(req, "ALPHA") ? "A" : "-") +
             (net::CertCoversTenant(req, "BRAVO") ? "B" : "-") + (net::CertCoversTenant(req, "") ? "E" : "-");
    return r;
  };
  auto server = net::HttpServer::Start(std::move(o));
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  auto fetch = [&](const std::string& crt, const std::string& key) {
    net::HttpClientRequest r;
    r.url = "https://127.0.0.1:" + std::to_string((*server)->port()) + "/x";
    r.ca_file = ca_file;
    r.cert_file = crt;
    r.key_file = key;
    r.timeout = 5s;
    auto resp = net::HttpFetch(r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? resp->body : std::string("<error>");
  };
  EXPECT_EQ(fetch(pki->crt("b"), pki->key("b")), "BRAVO|-B-");
  EXPECT_EQ(fetch(pki->crt("s"), pki->key("s")), "*|AB-");
  EXPECT_EQ(fetch(pki->crt("z"), pki->key("z")), "|---");
  EXPECT_EQ(fetch("", ""), "|---");  // no client certificate at all
}

TEST(CertTenants, CoversNothingWithoutAVerifiedCertificate) {
  net::HttpRequest req;
  req.client_cert_tenants = {"*"};  // as if a handler were handed tenants without a verified certificate
  EXPECT_FALSE(net::CertCoversTenant(req, "ALPHA"));
  req.client_cert_cn = "operator-admin";
  EXPECT_TRUE(net::CertCoversTenant(req, "ALPHA"));
}

}  // namespace
}  // namespace dsmil
