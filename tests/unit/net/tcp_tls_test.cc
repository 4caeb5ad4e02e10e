// TCP + TLS transport, and the secure session over it.
#include "net/tcp_tls.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "crypto/x509.h"
#include "net/session.h"
#include "session_test_util.h"
#include "support/test_pki.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using testing::Ping;
using testing::TestNodes;

class TcpTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto pki = dsmil::testing::TestPki::Create(dir_->path(), "DSMIL Test CA", 30);
    auto rogue_pki = dsmil::testing::TestPki::Create(dir_->path(), "Rogue CA", 30, "rogue-ca");
    ASSERT_TRUE(pki.ok() && rogue_pki.ok());
    ca_file_ = pki->ca_file();
    for (const char* node : {"node-a", "node-b", "node-c"}) {
      ASSERT_TRUE(pki->IssueNode(node, node, {"localhost"}, 30).ok());
    }
    ASSERT_TRUE(rogue_pki->IssueNode("rogue", "node-a", {"localhost"}, 30).ok());
  }
  static void TearDownTestSuite() { delete dir_; }

  static TlsOptions Tls(const std::string& name) {
    return TlsOptions{dir_->path() + "/" + name + ".crt", dir_->path() + "/" + name + ".key", ca_file_, true};
  }

  static testing::TempDir* dir_;
  static std::string ca_file_;
};
testing::TempDir* TcpTlsTest::dir_ = nullptr;
std::string TcpTlsTest::ca_file_;

TEST_F(TcpTlsTest, FramesBothWaysWithVerifiedNames) {
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  ASSERT_TRUE(listener.ok()) << listener.status().ToString();
  ASSERT_NE((*listener)->port(), 0);
  auto accepted = std::async(std::launch::async, [&] { return (*listener)->Accept(5s); });
  auto dialled = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("node-a"), {.expected_peer_cn = "node-b"});
  ASSERT_TRUE(dialled.ok()) << dialled.status().ToString();
  auto server = accepted.get();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  Connection& c = **dialled;
  Connection& s = **server;
  EXPECT_EQ(c.PeerName(), "node-b");
  EXPECT_EQ(s.PeerName(), "node-a");
  EXPECT_NE(c.Describe().find("node-b"), std::string::npos);
  for (size_t size : {size_t{1}, size_t{1024}, size_t{70000}, kMaxConnectionFrame}) {
    Bytes f(size, uint8_t(size));
    ASSERT_TRUE(c.Send(f).ok());
    auto got = s.Receive(5s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, f);
    ASSERT_TRUE(s.Send(f).ok());
    auto back = c.Receive(5s);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->size(), size);
  }
  EXPECT_EQ(c.Receive(20ms).status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(c.Send(Bytes(kMaxConnectionFrame + 1)).code(), StatusCode::kResourceExhausted);
  // Frames queued before Close still arrive; then the peer sees the close.
  ASSERT_TRUE(c.Send(AsBytes("last")).ok());
  c.Close();
  auto last = s.Receive(5s);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(s.Receive(5s).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(c.Send(AsBytes("x")).code(), StatusCode::kUnavailable);
}

TEST_F(TcpTlsTest, CloseWakesReceive) {
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  ASSERT_TRUE(listener.ok());
  auto accepted = std::async(std::launch::async, [&] { return (*listener)->Accept(5s); });
  auto dialled = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("node-a"));
  ASSERT_TRUE(dialled.ok());
  auto server = accepted.get();
  ASSERT_TRUE(server.ok());
  std::thread closer([&] {
    std::this_thread::sleep_for(30ms);
    (*dialled)->Close();
  });
  EXPECT_EQ((*dialled)->Receive(10s).status().code(), StatusCode::kUnavailable);
  closer.join();
  (*listener)->Close();
  EXPECT_EQ((*listener)->Accept(1s).status().code(), StatusCode::kUnavailable);
}

TEST_F(TcpTlsTest, ForeignCaRefused) {
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  ASSERT_TRUE(listener.ok());
  auto dialled = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("rogue"), {.timeout = 3s});
  if (dialled.ok()) {
    // TLS 1.3: the client may finish before the server rejects its certificate.
    auto r = (*dialled)->Receive(3s);
    EXPECT_FALSE(r.ok());
  }
  EXPECT_EQ((*listener)->Accept(200ms).status().code(), StatusCode::kDeadlineExceeded);
  // A server certificate from another CA fails the client's verification.
  TlsOptions rogue_server = Tls("rogue");
  rogue_server.ca_file = ca_file_;
  auto rogue_listener = ListenTcpTls("127.0.0.1", 0, rogue_server);
  ASSERT_TRUE(rogue_listener.ok());
  auto d2 = DialTcpTls("127.0.0.1", (*rogue_listener)->port(), Tls("node-a"));
  ASSERT_FALSE(d2.ok());
  EXPECT_EQ(d2.status().code(), StatusCode::kUnavailable);
  // Dialling with an unexpected server CN.
  auto d3 = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("node-a"), {.expected_peer_cn = "node-c"});
  EXPECT_EQ(d3.status().code(), StatusCode::kPermissionDenied);
  TlsOptions no_mutual = Tls("node-b");
  no_mutual.require_client_cert = false;
  EXPECT_EQ(ListenTcpTls("127.0.0.1", 0, no_mutual).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TcpTlsTest, SecureSessionOverTcpTls) {
  const auto& n = TestNodes();
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  ASSERT_TRUE(listener.ok());
  auto accepted = std::async(std::launch::async,
                             [&]() -> Result<std::pair<std::unique_ptr<Connection>, std::unique_ptr<SecureSession>>> {
                               DSMIL_ASSIGN_OR_RETURN(auto conn, (*listener)->Accept(5s));
                               DSMIL_ASSIGN_OR_RETURN(auto session, SecureSession::Accept(*conn, n.b, n.b_pins));
                               return std::make_pair(std::move(conn), std::move(session));
                             });
  auto conn = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("node-a"));
  ASSERT_TRUE(conn.ok());
  auto session = SecureSession::Initiate(**conn, n.a, n.a_pins);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto server = accepted.get();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  SecureSession& b = *server->second;
  EXPECT_EQ(b.peer(), "node-a");
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*session)->Send(Ping(std::string(1000, 'x'))).ok());
    auto got = b.Receive(5s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(b.Send(*got).ok());
    ASSERT_TRUE((*session)->Receive(5s).ok());
  }
}

TEST_F(TcpTlsTest, SessionIdentityMustMatchTlsCertificate) {
  // node-a's session identity over a TLS connection authenticated as node-c.
  const auto& n = TestNodes();
  Registry registry;
  SessionOptions options;
  options.metrics = &registry;
  auto listener = ListenTcpTls("127.0.0.1", 0, Tls("node-b"));
  ASSERT_TRUE(listener.ok());
  auto accepted = std::async(std::launch::async, [&]() -> Status {
    DSMIL_ASSIGN_OR_RETURN(auto conn, (*listener)->Accept(5s));
    return SecureSession::Accept(*conn, n.b, n.b_pins, options).status();
  });
  auto conn = DialTcpTls("127.0.0.1", (*listener)->port(), Tls("node-c"));
  ASSERT_TRUE(conn.ok());
  auto session = SecureSession::Initiate(**conn, n.a, n.a_pins, options);
  Status server = accepted.get();
  EXPECT_EQ(SessionRefusalReason(server), "cert_binding") << server.ToString();
  EXPECT_FALSE(session.ok());
  EXPECT_EQ(testing::RefusalCount(registry, "node-a", "cert_binding"), 1);
}

}  // namespace
}  // namespace dsmil::net
