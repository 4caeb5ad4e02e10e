// Certificate revocation: the CRL-backed RevocationList, and its use by the
// HTTPS server (control API) and the TCP+TLS DBE transport.
#include "net/revocation.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crypto/x509.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/quic.h"
#include "net/tcp_tls.h"
#include "support/test_pki.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = dsmil::testing::TestPki::Create(dir_.path(), "DSMIL Test CA", 30);
    auto rogue_ca = crypto::CreateCa("DSMIL Test CA", 30);  // same name, other key
    ASSERT_TRUE(pki.ok() && rogue_ca.ok());
    ca_ = pki->ca();
    rogue_ca_ = *rogue_ca;
    ca_file_ = pki->ca_file();
    for (const char* node : {"node-a", "node-b", "node-c"}) {
      auto c = pki->IssueNode(node, node, {"localhost"}, 30);
      ASSERT_TRUE(c.ok());
      serial_[node] = crypto::ParseCertificatePem(c->cert_pem)->serial_hex;
    }
    for (const char* op : {"operator-alice", "operator-bob"}) {
      auto c = pki->IssueOperator(op, op, {}, 30);
      ASSERT_TRUE(c.ok());
      serial_[op] = crypto::ParseCertificatePem(c->cert_pem)->serial_hex;
    }
    crl_file_ = dir_.path() + "/crl.pem";
    WriteCrl({});
  }

  // Writes the CRL as `dsmilctl pki revoke` does: a temporary file, then a
  // rename over the old one.
  void WriteCrl(const std::vector<std::string>& revoked_names, const crypto::PemCertificate* signer = nullptr) {
    std::vector<crypto::RevokedCertificate> entries;
    for (const auto& name : revoked_names) entries.push_back({serial_.at(name), time(nullptr), "keyCompromise"});
    auto pem = crypto::CreateCrl(signer ? *signer : ca_, entries, 30, ++crl_number_);
    ASSERT_TRUE(pem.ok()) << pem.status().ToString();
    dir_.Write("crl.tmp", *pem, 0644);
    ASSERT_EQ(std::rename((dir_.path() + "/crl.tmp").c_str(), crl_file_.c_str()), 0);
  }

  TlsOptions Tls(const std::string& name, bool with_crl = true) {
    TlsOptions o{dir_.path() + "/" + name + ".crt", dir_.path() + "/" + name + ".key", ca_file_, true};
    if (with_crl) o.crl_file = crl_file_;
    return o;
  }

  HttpClientRequest Req(const HttpServer& s, const std::string& who) {
    HttpClientRequest r;
    r.url = "https://127.0.0.1:" + std::to_string(s.port()) + "/v1/whoami";
    r.ca_file = ca_file_;
    r.cert_file = dir_.path() + "/" + who + ".crt";
    r.key_file = dir_.path() + "/" + who + ".key";
    r.timeout = 5s;
    return r;
  }

  std::unique_ptr<HttpServer> StartHttps() {
    HttpServerOptions o;
    o.tls = Tls("node-a");
    o.handler = [this](const HttpRequest& req) {
      ++calls_;
      return HttpResponse{200, "text/plain", req.client_cert_cn.value_or("<none>"), {}, {}};
    };
    auto s = HttpServer::Start(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  TempDir dir_;
  crypto::PemCertificate ca_, rogue_ca_;
  std::string ca_file_, crl_file_;
  std::map<std::string, std::string> serial_;
  uint64_t crl_number_ = 0;
  std::atomic<int> calls_{0};
};

TEST_F(RevocationTest, LoadChecksTheCrlAgainstTheCa) {
  auto list = RevocationList::Load(crl_file_, ca_file_);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ((*list)->size(), 0u);
  EXPECT_FALSE((*list)->IsRevoked(serial_["operator-alice"]));

  WriteCrl({"operator-alice"}, &rogue_ca_);
  auto rogue = RevocationList::Load(crl_file_, ca_file_);
  ASSERT_FALSE(rogue.ok());
  EXPECT_EQ(rogue.status().code(), StatusCode::kUnauthenticated) << rogue.status().ToString();
  EXPECT_NE(rogue.status().message().find(crl_file_), std::string::npos) << rogue.status().message();
  EXPECT_NE(rogue.status().message().find("does not verify"), std::string::npos) << rogue.status().message();
  EXPECT_FALSE(CheckRevocationList(crl_file_, ca_file_).ok());

  auto missing = RevocationList::Load(dir_.path() + "/none.pem", ca_file_);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("none.pem"), std::string::npos);
  auto garbage = RevocationList::Load(dir_.Write("garbage.pem", "not a crl\n", 0644), ca_file_);
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument) << garbage.status().ToString();
  EXPECT_NE(garbage.status().message().find("garbage.pem"), std::string::npos);
}

TEST_F(RevocationTest, ReloadsWhenTheFileChangesAndKeepsTheLastGoodList) {
  auto loaded = RevocationList::Load(crl_file_, ca_file_, {.reload_interval = 100ms});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  RevocationList& list = **loaded;
  WriteCrl({"operator-alice", "node-b"});
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!list.IsRevoked(serial_["operator-alice"]) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(list.IsRevoked(serial_["operator-alice"]));
  EXPECT_TRUE(list.IsRevoked(serial_["node-b"]));
  EXPECT_FALSE(list.IsRevoked(serial_["operator-bob"]));
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.crl_number(), crl_number_);
  EXPECT_TRUE(list.last_error().empty());

  // A CRL from another CA, then a truncated file: refused, the last good
  // list stays in force and the reason is kept.
  WriteCrl({}, &rogue_ca_);
  Status s = list.ReloadIfChanged();
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << s.ToString();
  EXPECT_NE(list.last_error().find("does not verify"), std::string::npos) << list.last_error();
  EXPECT_TRUE(list.IsRevoked(serial_["operator-alice"]));
  dir_.Write("crl.pem", "-----BEGIN X509 CRL-----\nMIIB\n", 0644);
  EXPECT_FALSE(list.ReloadIfChanged().ok());
  EXPECT_TRUE(list.IsRevoked(serial_["operator-alice"]));
  ASSERT_EQ(std::remove(crl_file_.c_str()), 0);
  EXPECT_EQ(list.ReloadIfChanged().code(), StatusCode::kNotFound);
  EXPECT_TRUE(list.IsRevoked(serial_["operator-alice"]));
  // A good CRL again takes over.
  WriteCrl({"operator-bob"});
  EXPECT_TRUE(list.ReloadIfChanged().ok());
  EXPECT_FALSE(list.IsRevoked(serial_["operator-alice"]));
  EXPECT_TRUE(list.IsRevoked(serial_["operator-bob"]));
  EXPECT_TRUE(list.last_error().empty());
}

TEST_F(RevocationTest, HttpsRefusesARevokedClientWithinSeconds) {
  auto server = StartHttps();
  ASSERT_TRUE(server);
  for (const char* who : {"operator-alice", "operator-bob"}) {
    auto res = HttpFetch(Req(*server, who));
    ASSERT_TRUE(res.ok()) << who << ": " << res.status().ToString();
    EXPECT_EQ(res->body, who);
  }
  EXPECT_EQ(calls_.load(), 2);

  WriteCrl({"operator-alice"});  // while the server runs
  auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> alice = HttpFetch(Req(*server, "operator-alice"));
  while (alice.ok() && std::chrono::steady_clock::now() - start < 5s) {
    std::this_thread::sleep_for(50ms);
    alice = HttpFetch(Req(*server, "operator-alice"));
  }
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(alice.ok()) << "still served: " << alice->body;
  EXPECT_LT(took, 2500ms);
  EXPECT_TRUE(alice.status().code() == StatusCode::kUnauthenticated ||
              alice.status().code() == StatusCode::kUnavailable)
      << alice.status().ToString();
  // The client is told why (TLS alert "certificate revoked").
  EXPECT_NE(alice.status().message().find("revoked"), std::string::npos) << alice.status().message();
  int served = calls_.load();
  // Refused at the handshake: the handler does not run again for her.
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(HttpFetch(Req(*server, "operator-alice")).ok());
  EXPECT_EQ(calls_.load(), served);
  auto bob = HttpFetch(Req(*server, "operator-bob"));
  ASSERT_TRUE(bob.ok()) << bob.status().ToString();
  EXPECT_EQ(bob->body, "operator-bob");
}

// One kept-alive HTTPS connection, through OpenSSL directly.
class TlsClient {
 public:
  TlsClient(uint16_t port, const std::string& ca, const std::string& cert, const std::string& key) : tcp_(port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca.c_str(), nullptr);
    SSL_CTX_use_certificate_file(ctx_, cert.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, tcp_.fd());
    connected_ = tcp_.connected() && SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  bool connected() const { return connected_; }
  // Sends a GET and returns the response head and body ("" when the
  // connection closed first).
  std::string Get() {
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) <= 0) return "";
    std::string in;
    for (;;) {
      size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t cl = in.find("Content-Length: ");
        size_t len = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
        if (in.size() >= end + 4 + len) return in;
      }
      char buf[4096];
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) return "";
      in.append(buf, static_cast<size_t>(n));
    }
  }
  bool ClosedByPeer() {
    char buf[64];
    return SSL_read(ssl_, buf, sizeof(buf)) <= 0;
  }

 private:
  testing::RawConnection tcp_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool connected_ = false;
};

TEST_F(RevocationTest, HttpsRefusesTheNextRequestOnAKeptAliveConnection) {
  auto server = StartHttps();
  ASSERT_TRUE(server);
  TlsClient alice(server->port(), ca_file_, dir_.path() + "/operator-alice.crt", dir_.path() + "/operator-alice.key");
  ASSERT_TRUE(alice.connected());
  std::string first = alice.Get();
  EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  WriteCrl({"operator-alice"});
  std::this_thread::sleep_for(1200ms);
  std::string second = alice.Get();
  EXPECT_EQ(second.rfind("HTTP/1.1 401", 0), 0u) << second;
  EXPECT_NE(second.find("revoked"), std::string::npos) << second;
  EXPECT_TRUE(alice.ClosedByPeer());
  EXPECT_EQ(calls_.load(), 1);
}

TEST_F(RevocationTest, HttpsKeepsTheLastGoodCrlWhenTheNewOneIsBad) {
  WriteCrl({"operator-alice"});
  auto server = StartHttps();
  ASSERT_TRUE(server);
  EXPECT_FALSE(HttpFetch(Req(*server, "operator-alice")).ok());
  WriteCrl({}, &rogue_ca_);  // would un-revoke her if it were accepted
  std::this_thread::sleep_for(1200ms);
  EXPECT_FALSE(HttpFetch(Req(*server, "operator-alice")).ok());
  EXPECT_TRUE(HttpFetch(Req(*server, "operator-bob")).ok());
}

TEST_F(RevocationTest, CrlFromAnotherCaFailsTheStart) {
  WriteCrl({}, &rogue_ca_);
  HttpServerOptions o;
  o.tls = Tls("node-a");
  o.handler = [](const HttpRequest&) { return HttpResponse{}; };
  auto s = HttpServer::Start(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnauthenticated) << s.status().ToString();
  EXPECT_NE(s.status().message().find(crl_file_), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("does not verify against " + ca_file_), std::string::npos)
      << s.status().message();
  auto l = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  EXPECT_EQ(l.status().code(), StatusCode::kUnauthenticated) << l.status().ToString();

  TlsOptions missing = Tls("node-a");
  missing.crl_file = dir_.path() + "/absent.pem";
  HttpServerOptions o2;
  o2.tls = missing;
  o2.handler = [](const HttpRequest&) { return HttpResponse{}; };
  auto s2 = HttpServer::Start(std::move(o2));
  EXPECT_EQ(s2.status().code(), StatusCode::kNotFound) << s2.status().ToString();
  EXPECT_NE(s2.status().message().find("absent.pem"), std::string::npos);
}

TEST_F(RevocationTest, TcpTlsRefusesARevokedNode) {
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  // node-a and node-c connect; both accepted.
  auto dial = [&](const std::string& who) {
    return DialTcpTls("127.0.0.1", (*listener)->port(), Tls(who), {.expected_peer_cn = "node-b", .timeout = 3s});
  };
  auto a = dial("node-a");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto a_server = (*listener)->Accept(3s);
  ASSERT_TRUE(a_server.ok()) << a_server.status().ToString();
  auto c = dial("node-c");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto c_server = (*listener)->Accept(3s);
  ASSERT_TRUE(c_server.ok());

  WriteCrl({"node-a"});
  std::this_thread::sleep_for(1300ms);  // past the reload interval

  // The open connection of node-a is closed at its next frame.
  ASSERT_TRUE((*a)->Send(Bytes{1, 2, 3}).ok());
  auto got = (*a_server)->Receive(3s);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied) << got.status().ToString();
  EXPECT_NE(got.status().message().find("revoked"), std::string::npos) << got.status().message();
  // node-c still talks.
  ASSERT_TRUE((*c)->Send(Bytes{4, 5}).ok());
  auto c_got = (*c_server)->Receive(3s);
  ASSERT_TRUE(c_got.ok()) << c_got.status().ToString();
  EXPECT_EQ(*c_got, (Bytes{4, 5}));

  // A new session from node-a is refused at the handshake.
  auto again = dial("node-a");
  if (again.ok()) {
    // TLS 1.3: the client may finish before the server rejects its certificate.
    EXPECT_FALSE((*again)->Receive(3s).ok());
  }
  EXPECT_EQ((*listener)->Accept(300ms).status().code(), StatusCode::kDeadlineExceeded);
  // node-c can still open new sessions.
  auto c2 = dial("node-c");
  ASSERT_TRUE(c2.ok()) << c2.status().ToString();
  EXPECT_TRUE((*listener)->Accept(3s).ok());
}

TEST_F(RevocationTest, TcpTlsDialerRefusesARevokedServer) {
  WriteCrl({"node-c"});
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-c", /*with_crl=*/false));
  ASSERT_TRUE(listener.ok());
  auto d = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("node-a"), {.timeout = 3s});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kUnavailable) << d.status().ToString();
  EXPECT_NE(d.status().message().find("revoked"), std::string::npos) << d.status().message();
}

TEST_F(RevocationTest, QuicRefusesARevokedNode) {
  auto quic = [&](const std::string& who) {
    QuicOptions o;
    o.cert_file = dir_.path() + "/" + who + ".crt";
    o.key_file = dir_.path() + "/" + who + ".key";
    o.ca_file = ca_file_;
    o.crl_file = crl_file_;
    o.handshake_timeout = 3s;
    return o;
  };
  auto listener = ListenQuic("127.0.0.1", 0, quic("node-b"));
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  auto a = DialQuic("127.0.0.1", (*listener)->port(), quic("node-a"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*listener)->Accept(3s).ok());

  WriteCrl({"node-a"});
  std::this_thread::sleep_for(1200ms);
  // The revoked node is never accepted. Its own side may finish the TLS 1.3
  // handshake before the listener has checked its certificate; the listener
  // then closes the connection, and nothing gets through.
  auto refused = DialQuic("127.0.0.1", (*listener)->port(), quic("node-a"));
  EXPECT_EQ((*listener)->Accept(1s).status().code(), StatusCode::kDeadlineExceeded);
  if (refused.ok()) {
    (void)(*refused)->Send(AsBytes(std::string_view("hello")));
    auto got = (*refused)->Receive(3s);
    EXPECT_FALSE(got.ok()) << "a revoked node's connection stayed open";
  } else {
    EXPECT_NE(refused.status().message().find("revoked"), std::string::npos) << refused.status().message();
  }
  auto c = DialQuic("127.0.0.1", (*listener)->port(), quic("node-c"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*listener)->Accept(3s).ok());

  // The dialer refuses a revoked server, and a CRL from another CA fails the start.
  auto revoked_server = ListenQuic("127.0.0.1", 0, quic("node-a"));
  ASSERT_TRUE(revoked_server.ok());
  auto to_revoked = DialQuic("127.0.0.1", (*revoked_server)->port(), quic("node-c"));
  ASSERT_FALSE(to_revoked.ok());
  EXPECT_NE(to_revoked.status().message().find("revoked"), std::string::npos) << to_revoked.status().message();
  WriteCrl({}, &rogue_ca_);
  auto bad = ListenQuic("127.0.0.1", 0, quic("node-b"));
  EXPECT_EQ(bad.status().code(), StatusCode::kUnauthenticated) << bad.status().ToString();
}

}  // namespace
}  // namespace dsmil::net
