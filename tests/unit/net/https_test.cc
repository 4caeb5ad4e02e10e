#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "support/test_pki.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using crypto::CertUsage;
using testing::TempDir;

// A CA, a node certificate for the server, an operator certificate, and a
// second, unrelated CA with its own client certificate; all written to files.
class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = dsmil::testing::TestPki::Create(dir_.path(), "DSMIL Test CA", 30);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    auto rogue_pki = dsmil::testing::TestPki::Create(dir_.path(), "Rogue CA", 30, "rogue-ca");
    ASSERT_TRUE(rogue_pki.ok()) << rogue_pki.status().ToString();
    auto node = pki->IssueNode("node-a", "node-a", {"node-a.dsmil.local", "localhost"}, 30);
    auto op = pki->IssueOperator("operator-admin", "operator-admin", {}, 30);
    ASSERT_TRUE(node.ok() && op.ok());
    auto rogue = rogue_pki->Issue("rogue", {"operator-admin", {}, {"127.0.0.1"}, CertUsage::kBoth, 30});
    auto dns_only = pki->Issue("node-b", {"node-b", {"node-b.dsmil.local"}, {}, CertUsage::kBoth, 30});
    ASSERT_TRUE(rogue.ok() && dns_only.ok());
    ca_file_ = pki->ca_file();
    node_crt_ = pki->crt("node-a");
    node_key_ = pki->key("node-a");
    op_crt_ = pki->crt("operator-admin");
    op_key_ = pki->key("operator-admin");
    rogue_ca_file_ = rogue_pki->ca_file();
    rogue_crt_ = rogue_pki->crt("rogue");
    rogue_key_ = rogue_pki->key("rogue");
    dns_crt_ = pki->crt("node-b");
    dns_key_ = pki->key("node-b");
  }

  HttpServerOptions ServerOptions(std::string cert, std::string key) {
    HttpServerOptions o;
    o.tls = TlsOptions{std::move(cert), std::move(key), ca_file_, true};
    o.handler = [this](const HttpRequest& req) {
      ++calls_;
      HttpResponse r;
      r.body = "{\"cn\":\"" + req.client_cert_cn.value_or("<none>") + "\"}";
      return r;
    };
    return o;
  }

  std::unique_ptr<HttpServer> Start(HttpServerOptions o) {
    auto s = HttpServer::Start(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  HttpClientRequest Req(const HttpServer& s, const std::string& host = "127.0.0.1") {
    HttpClientRequest r;
    r.url = "https://" + host + ":" + std::to_string(s.port()) + "/v1/whoami";
    r.ca_file = ca_file_;
    r.cert_file = op_crt_;
    r.key_file = op_key_;
    r.timeout = 5s;
    return r;
  }

  TempDir dir_;
  std::string ca_file_, node_crt_, node_key_, op_crt_, op_key_, rogue_ca_file_, rogue_crt_, rogue_key_, dns_crt_,
      dns_key_;
  std::atomic<int> calls_{0};
};

TEST_F(HttpsTest, ClientCertificateFromTheCaIsAcceptedAndSeenByTheHandler) {
  auto server = Start(ServerOptions(node_crt_, node_key_));
  ASSERT_TRUE(server);
  EXPECT_STREQ(server->scheme(), "https");
  auto res = HttpFetch(Req(*server));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "{\"cn\":\"operator-admin\"}");
  // By DNS name too (the certificate has localhost).
  res = HttpFetch(Req(*server, "localhost"));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  // A node certificate works as a client certificate as well (mTLS both ways).
  auto req = Req(*server);
  req.cert_file = node_crt_;
  req.key_file = node_key_;
  res = HttpFetch(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "{\"cn\":\"node-a\"}");
}

TEST_F(HttpsTest, NoClientCertificateIsRefused) {
  auto server = Start(ServerOptions(node_crt_, node_key_));
  ASSERT_TRUE(server);
  auto req = Req(*server);
  req.cert_file.clear();
  req.key_file.clear();
  auto res = HttpFetch(req);
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.status().code() == StatusCode::kUnauthenticated || res.status().code() == StatusCode::kUnavailable)
      << res.status().ToString();
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpsTest, ClientCertificateFromAnotherCaIsRefused) {
  auto server = Start(ServerOptions(node_crt_, node_key_));
  ASSERT_TRUE(server);
  auto req = Req(*server);
  req.cert_file = rogue_crt_;
  req.key_file = rogue_key_;
  auto res = HttpFetch(req);
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(res.status().code() == StatusCode::kUnauthenticated || res.status().code() == StatusCode::kUnavailable)
      << res.status().ToString();
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpsTest, OptionalClientCertificate) {
  auto o = ServerOptions(node_crt_, node_key_);
  o.tls->require_client_cert = false;
  auto server = Start(std::move(o));
  ASSERT_TRUE(server);
  auto req = Req(*server);
  req.cert_file.clear();
  req.key_file.clear();
  auto res = HttpFetch(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "{\"cn\":\"<none>\"}");
  res = HttpFetch(Req(*server));
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->body, "{\"cn\":\"operator-admin\"}");
}

TEST_F(HttpsTest, ServerFromAnotherCaFailsVerification) {
  auto server = Start(ServerOptions(node_crt_, node_key_));
  ASSERT_TRUE(server);
  auto req = Req(*server);
  req.ca_file = rogue_ca_file_;
  auto res = HttpFetch(req);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnauthenticated) << res.status().ToString();
  EXPECT_NE(res.status().message().find("certificate verify failed"), std::string::npos) << res.status().message();
}

TEST_F(HttpsTest, ServerNameMustMatchTheCertificate) {
  auto server = Start(ServerOptions(dns_crt_, dns_key_));  // only node-b.dsmil.local
  ASSERT_TRUE(server);
  auto res = HttpFetch(Req(*server));
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kUnauthenticated) << res.status().ToString();
  EXPECT_NE(res.status().message().find("mismatch"), std::string::npos) << res.status().message();
}

TEST_F(HttpsTest, PlainHttpToTlsServerFails) {
  auto server = Start(ServerOptions(node_crt_, node_key_));
  ASSERT_TRUE(server);
  HttpClientRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(server->port()) + "/";
  req.timeout = 3s;
  auto res = HttpFetch(req);
  EXPECT_FALSE(res.ok() && res->status == 200);
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(HttpsTest, KeyReadableByOthersIsRefusedAtStart) {
  std::string loose = dir_.Write("loose.key", "-----BEGIN PRIVATE KEY-----\n", 0644);
  auto s = HttpServer::Start(ServerOptions(node_crt_, loose));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find(loose), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("0644"), std::string::npos) << s.status().message();
  // Same file, group-readable only.
  std::string group = dir_.Write("group.key", "x", 0640);
  EXPECT_EQ(HttpServer::Start(ServerOptions(node_crt_, group)).status().code(), StatusCode::kFailedPrecondition);
  // The client applies the same rule to its own key.
  auto server = Start(ServerOptions(node_crt_, node_key_));
  ASSERT_TRUE(server);
  auto req = Req(*server);
  req.key_file = dir_.Write("op-loose.key", "x", 0604);
  EXPECT_EQ(HttpFetch(req).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(HttpsTest, BadTlsFilesAreClearErrors) {
  auto missing = HttpServer::Start(ServerOptions(dir_.path() + "/nope.crt", node_key_));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("nope.crt"), std::string::npos);
  auto mismatch = HttpServer::Start(ServerOptions(node_crt_, op_key_));
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument) << mismatch.status().ToString();
  EXPECT_NE(mismatch.status().message().find("does not match"), std::string::npos);
  auto o = ServerOptions(node_crt_, node_key_);
  o.tls->ca_file = dir_.path() + "/no-ca.crt";
  EXPECT_EQ(HttpServer::Start(std::move(o)).status().code(), StatusCode::kNotFound);
}

TEST_F(HttpsTest, StopLetsASlowTlsRequestFinish) {
  std::atomic<bool> entered{false};
  auto o = ServerOptions(node_crt_, node_key_);
  o.handler = [&](const HttpRequest&) {
    entered = true;
    std::this_thread::sleep_for(300ms);
    return HttpResponse{200, "text/plain", "done", {}, {}};
  };
  auto server = Start(std::move(o));
  ASSERT_TRUE(server);
  auto req = Req(*server);
  auto pending = std::async(std::launch::async, [req] { return HttpFetch(req); });
  while (!entered) std::this_thread::sleep_for(1ms);
  server->Stop();
  auto res = pending.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "done");
}

}  // namespace
}  // namespace dsmil::net
