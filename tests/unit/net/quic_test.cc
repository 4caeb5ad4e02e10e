#include "net/quic.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <tuple>

#include "crypto/x509.h"
#include "support/test_pki.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using crypto::CertUsage;
using testing::TempDir;

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 8));
  return b;
}

// A cluster CA with two node certificates, an operator (client-only)
// certificate, and a rogue CA with a node certificate of its own.
class QuicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = dsmil::testing::TestPki::Create(dir_.path(), "DSMIL Test CA", 30);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    auto rogue_pki = dsmil::testing::TestPki::Create(dir_.path(), "Rogue CA", 30, "rogue-ca");
    ASSERT_TRUE(rogue_pki.ok()) << rogue_pki.status().ToString();
    auto a = pki->IssueNode("node-a", "node-a", {"node-a.dsmil.local", "localhost"}, 30);
    auto b = pki->Issue("node-b", {"node-b", {"node-b.dsmil.local"}, {}, CertUsage::kBoth, 30});
    auto op = pki->IssueOperator("op", "operator-admin", {}, 30);
    auto rogue = rogue_pki->IssueNode("rogue", "node-a", {"localhost"}, 30);
    ASSERT_TRUE(a.ok() && b.ok() && op.ok() && rogue.ok());
    ca_ = pki->ca_file();
    a_crt_ = pki->crt("node-a");
    a_key_ = pki->key("node-a");
    b_crt_ = pki->crt("node-b");
    b_key_ = pki->key("node-b");
    op_crt_ = pki->crt("op");
    op_key_ = pki->key("op");
    rogue_ca_ = rogue_pki->ca_file();
    rogue_crt_ = rogue_pki->crt("rogue");
    rogue_key_ = rogue_pki->key("rogue");
  }

  QuicOptions ServerOptions() {
    QuicOptions o;
    o.cert_file = a_crt_;
    o.key_file = a_key_;
    o.ca_file = ca_;
    o.handshake_timeout = 3s;
    return o;
  }
  QuicOptions ClientOptions() {
    QuicOptions o;
    o.cert_file = b_crt_;
    o.key_file = b_key_;
    o.ca_file = ca_;
    o.handshake_timeout = 3s;
    return o;
  }

  std::unique_ptr<Listener> Listen(QuicOptions o) {
    auto l = ListenQuic("127.0.0.1", 0, o);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    return l.ok() ? std::move(l).value() : nullptr;
  }

  // Dials `l` and accepts the server side.
  std::pair<std::unique_ptr<Connection>, std::unique_ptr<Connection>> Connect(Listener& l) {
    auto dial = std::async(std::launch::async, [&] { return DialQuic("127.0.0.1", l.port(), ClientOptions()); });
    auto server = l.Accept(5s);
    auto client = dial.get();
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (!client.ok() || !server.ok()) return {};
    return {std::move(client).value(), std::move(server).value()};
  }

  // A listener with ServerOptions() and one connection to it with
  // ClientOptions(), both ends accepted; all null when any step failed.
  struct Linked {
    std::unique_ptr<Listener> listener;
    std::unique_ptr<Connection> client, server;
    bool ok() const { return listener && client && server; }
  };
  Linked Link() {
    Linked link;
    link.listener = Listen(ServerOptions());
    if (!link.listener) return link;
    std::tie(link.client, link.server) = Connect(*link.listener);
    return link;
  }

  TempDir dir_;
  std::string ca_, a_crt_, a_key_, b_crt_, b_key_, op_crt_, op_key_, rogue_ca_, rogue_crt_, rogue_key_;
};

TEST_F(QuicTest, RoundTripSmallAndLargeFramesBothWays) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  EXPECT_NE(link.listener->port(), 0);
  auto& client = link.client;
  auto& server = link.server;

  Bytes small = Pattern(64, 1);
  ASSERT_TRUE(client->Send(small).ok());
  auto got = server->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, small);
  ASSERT_TRUE(server->Send(small).ok());
  got = client->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, small);

  Bytes big = Pattern(1 << 20, 7);
  ASSERT_TRUE(client->Send(big).ok());
  got = server->Receive(10s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, big);
  Bytes biggest = Pattern(kMaxConnectionFrame, 9);
  ASSERT_TRUE(server->Send(biggest).ok());
  got = client->Receive(10s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, biggest);

  // An empty frame is a frame.
  ASSERT_TRUE(client->Send(Bytes{}).ok());
  got = server->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(got->empty());
}

TEST_F(QuicTest, ServerMaySendFirst) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  ASSERT_TRUE(server->Send(AsBytes("hello from the listener")).ok());
  auto got = client->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(AsString(*got), "hello from the listener");
}

TEST_F(QuicTest, OversizedFrameRefusedBySend) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  Bytes too_big(kMaxConnectionFrame + 1);
  Status s = client->Send(too_big);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_TRUE(client->Send(AsBytes("still usable")).ok());
  auto got = server->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(AsString(*got), "still usable");
}

TEST_F(QuicTest, ManyFramesArriveInOrderFromSeveralThreads) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  constexpr int kFrames = 2000;
  std::thread sender([&] {
    for (int i = 0; i < kFrames; ++i) {
      Bytes f(4 + (i % 300));
      PutU32BE(f.data(), static_cast<uint32_t>(i));
      ASSERT_TRUE(client->Send(f).ok());
    }
  });
  for (int i = 0; i < kFrames; ++i) {
    auto got = server->Receive(10s);
    ASSERT_TRUE(got.ok()) << "frame " << i << ": " << got.status().ToString();
    ASSERT_EQ(got->size(), size_t(4 + (i % 300)));
    ASSERT_EQ(GetU32BE(got->data()), static_cast<uint32_t>(i));
  }
  sender.join();

  // Two senders at once: each one's frames stay in its own order.
  auto send_tagged = [&](uint8_t tag) {
    for (uint32_t i = 0; i < 500; ++i) {
      Bytes f(5);
      f[0] = tag;
      PutU32BE(f.data() + 1, i);
      ASSERT_TRUE(server->Send(f).ok());
    }
  };
  std::thread t1(send_tagged, 1), t2(send_tagged, 2);
  uint32_t next[3] = {0, 0, 0};
  for (int i = 0; i < 1000; ++i) {
    auto got = client->Receive(10s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->size(), 5u);
    uint8_t tag = (*got)[0];
    ASSERT_TRUE(tag == 1 || tag == 2);
    EXPECT_EQ(GetU32BE(got->data() + 1), next[tag]++);
  }
  t1.join();
  t2.join();
}

TEST_F(QuicTest, PeerNameIsTheVerifiedCommonName) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  EXPECT_EQ(client->PeerName(), "node-a");
  EXPECT_EQ(server->PeerName(), "node-b");
  EXPECT_NE(client->Describe().find("quic 127.0.0.1:" + std::to_string(link.listener->port())), std::string::npos)
      << client->Describe();
  EXPECT_NE(client->Describe().find("(node-a)"), std::string::npos) << client->Describe();
  EXPECT_NE(server->Describe().find("(node-b)"), std::string::npos) << server->Describe();
}

TEST_F(QuicTest, ClientCertificateFromAnotherCaRefused) {
  auto l = Listen(ServerOptions());
  ASSERT_NE(l, nullptr);
  QuicOptions o = ClientOptions();
  o.cert_file = rogue_crt_;
  o.key_file = rogue_key_;
  auto c = DialQuic("127.0.0.1", l->port(), o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
  // GnuTLS does not even offer a certificate whose issuer the listener did not
  // name in its CertificateRequest, so the listener sees none.
  EXPECT_NE(c.status().message().find("the server refused the handshake"), std::string::npos) << c.status().ToString();
  auto a = l->Accept(200ms);
  EXPECT_EQ(a.status().code(), StatusCode::kDeadlineExceeded) << a.status().ToString();
}

TEST_F(QuicTest, NoClientCertificateRefused) {
  auto l = Listen(ServerOptions());
  ASSERT_NE(l, nullptr);
  QuicOptions o = ClientOptions();
  o.cert_file.clear();
  o.key_file.clear();
  auto c = DialQuic("127.0.0.1", l->port(), o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
  auto a = l->Accept(200ms);
  EXPECT_EQ(a.status().code(), StatusCode::kDeadlineExceeded) << a.status().ToString();
}

TEST_F(QuicTest, ServerCertificateFromAnotherCaRefusedByClient) {
  QuicOptions so = ServerOptions();
  so.cert_file = rogue_crt_;
  so.key_file = rogue_key_;
  so.ca_file = ca_;  // the rogue server still trusts our clients
  auto l = Listen(so);
  ASSERT_NE(l, nullptr);
  auto c = DialQuic("127.0.0.1", l->port(), ClientOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
  EXPECT_NE(c.status().message().find("server certificate refused"), std::string::npos) << c.status().ToString();
  auto a = l->Accept(200ms);
  EXPECT_FALSE(a.ok());
}

TEST_F(QuicTest, ServerNameMustMatch) {
  auto l = Listen(ServerOptions());
  ASSERT_NE(l, nullptr);
  QuicOptions o = ClientOptions();
  o.server_name = "node-b";  // the listener is node-a
  auto c = DialQuic("127.0.0.1", l->port(), o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
  EXPECT_NE(c.status().message().find("not \"node-b\""), std::string::npos) << c.status().ToString();
  o.server_name = "node-a.dsmil.local";  // a DNS SAN of node-a
  auto ok = DialQuic("127.0.0.1", l->port(), o);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(QuicTest, ClientOnlyCertificateCannotServe) {
  QuicOptions so = ServerOptions();
  so.cert_file = op_crt_;
  so.key_file = op_key_;
  auto l = Listen(so);
  ASSERT_NE(l, nullptr);
  QuicOptions o = ClientOptions();
  o.server_name = "operator-admin";
  auto c = DialQuic("127.0.0.1", l->port(), o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
}

TEST_F(QuicTest, ListenerPinsPeerName) {
  QuicOptions so = ServerOptions();
  so.peer_name = "node-c";
  auto l = Listen(so);
  ASSERT_NE(l, nullptr);
  auto c = DialQuic("127.0.0.1", l->port(), ClientOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << c.status().ToString();
}

TEST_F(QuicTest, CloseWakesReceive) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  auto start = std::chrono::steady_clock::now();
  auto waiter = std::async(std::launch::async, [&] { return client->Receive(30s); });
  std::this_thread::sleep_for(50ms);
  client->Close();
  auto got = waiter.get();
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(client->Send(AsBytes("x")).code(), StatusCode::kUnavailable);
  client->Close();  // idempotent

  // The peer learns of the close.
  auto peer = server->Receive(5s);
  EXPECT_EQ(peer.status().code(), StatusCode::kUnavailable) << peer.status().ToString();
}

TEST_F(QuicTest, FramesSentBeforeCloseAreDelivered) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->Send(Pattern(10000, uint8_t(i))).ok());
  client.reset();  // destructor closes
  for (int i = 0; i < 10; ++i) {
    auto got = server->Receive(5s);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    EXPECT_EQ(*got, Pattern(10000, uint8_t(i)));
  }
  auto end = server->Receive(5s);
  EXPECT_EQ(end.status().code(), StatusCode::kUnavailable) << end.status().ToString();
}

TEST_F(QuicTest, ReceiveTimesOut) {
  Linked link = Link();
  ASSERT_TRUE(link.ok());
  auto& client = link.client;
  auto& server = link.server;
  auto got = client->Receive(50ms);
  EXPECT_EQ(got.status().code(), StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(server->Send(AsBytes("after timeout")).ok());
  got = client->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
}

TEST_F(QuicTest, ListenerAcceptsSeveralConnections) {
  auto l = Listen(ServerOptions());
  ASSERT_NE(l, nullptr);
  constexpr int kConns = 4;
  std::vector<std::future<Result<std::unique_ptr<Connection>>>> dials;
  for (int i = 0; i < kConns; ++i) {
    dials.push_back(std::async(std::launch::async, [&] { return DialQuic("127.0.0.1", l->port(), ClientOptions()); }));
  }
  std::vector<std::unique_ptr<Connection>> servers, clients;
  for (int i = 0; i < kConns; ++i) {
    auto s = l->Accept(5s);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    servers.push_back(std::move(s).value());
  }
  for (auto& d : dials) {
    auto c = d.get();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    clients.push_back(std::move(c).value());
  }
  // Each client's frame comes back on its own connection.
  for (int i = 0; i < kConns; ++i) {
    ASSERT_TRUE(clients[i]->Send(AsBytes("client " + std::to_string(i))).ok());
  }
  std::set<std::string> seen;
  for (auto& s : servers) {
    auto got = s->Receive(5s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    seen.insert(std::string(AsString(*got)));
    ASSERT_TRUE(s->Send(*got).ok());
  }
  EXPECT_EQ(seen.size(), size_t(kConns));
  for (int i = 0; i < kConns; ++i) {
    auto got = clients[i]->Receive(5s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(AsString(*got), "client " + std::to_string(i));
  }
  // Closing the listener leaves accepted connections working.
  l->Close();
  EXPECT_EQ(l->Accept(10ms).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(clients[0]->Send(AsBytes("after listener close")).ok());
  bool found = false;
  for (auto& s : servers) {
    auto got = s->Receive(300ms);
    if (got.ok()) found = AsString(*got) == "after listener close";
  }
  EXPECT_TRUE(found);
}

TEST_F(QuicTest, SlowReaderStopsTheWriter) {
  QuicOptions so = ServerOptions();
  so.receive_window = kMaxConnectionFrame + 4;
  auto l = Listen(so);
  ASSERT_NE(l, nullptr);
  QuicOptions co = ClientOptions();
  co.max_send_buffer = kMaxConnectionFrame + 4;
  auto dial = std::async(std::launch::async, [&] { return DialQuic("127.0.0.1", l->port(), co); });
  auto server = l->Accept(5s);
  auto client = dial.get();
  ASSERT_TRUE(client.ok() && server.ok());
  // The listener does not read: its window fills, then the dialer's buffer.
  Bytes frame = Pattern(64 * 1024, 3);
  int sent = 0;
  Status s;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = (*client)->Send(frame);
    if (!s.ok()) break;
    ++sent;
    if (sent % 8 == 0) std::this_thread::sleep_for(5ms);  // let acknowledgements free the buffer
  }
  ASSERT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_GE(sent, 16);   // at least one window went through
  EXPECT_LE(sent, 100);  // but not without bound
  // Reading drains everything, in order, and the writer may go on.
  for (int i = 0; i < sent; ++i) {
    auto got = (*server)->Receive(10s);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status().ToString();
    ASSERT_EQ(*got, frame);
  }
  Status again;
  for (int i = 0; i < 200; ++i) {
    again = (*client)->Send(AsBytes("unblocked"));
    if (again.ok()) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(again.ok()) << again.ToString();
  auto got = (*server)->Receive(10s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(AsString(*got), "unblocked");
}

TEST_F(QuicTest, IdleConnectionTimesOutUnlessKeptAlive) {
  QuicOptions so = ServerOptions();
  so.idle_timeout = 300ms;
  so.keep_alive = 0ms;
  auto l = Listen(so);
  ASSERT_NE(l, nullptr);
  QuicOptions co = ClientOptions();
  co.idle_timeout = 300ms;
  co.keep_alive = 0ms;
  auto c = DialQuic("127.0.0.1", l->port(), co);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto s = l->Accept(5s);
  ASSERT_TRUE(s.ok());
  auto got = (*c)->Receive(5s);
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_NE(got.status().message().find("idle timeout"), std::string::npos) << got.status().ToString();

  // With keep-alives the same quiet connection stays up.
  co.keep_alive = 50ms;
  c = DialQuic("127.0.0.1", l->port(), co);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  s = l->Accept(5s);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*c)->Receive(900ms).status().code(), StatusCode::kDeadlineExceeded);
  ASSERT_TRUE((*s)->Send(AsBytes("still here")).ok());
  got = (*c)->Receive(5s);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
}

TEST_F(QuicTest, AcceptTimesOutAndCloseWakesIt) {
  auto l = Listen(ServerOptions());
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->Accept(20ms).status().code(), StatusCode::kDeadlineExceeded);
  auto waiter = std::async(std::launch::async, [&] { return l->Accept(30s); });
  std::this_thread::sleep_for(50ms);
  l->Close();
  EXPECT_EQ(waiter.get().status().code(), StatusCode::kUnavailable);
}

TEST_F(QuicTest, BadOptionsAndFilesRefused) {
  QuicOptions o = ServerOptions();
  o.key_file = dir_.Write("open.key", "not read", 0644);
  auto l = ListenQuic("127.0.0.1", 0, o);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kFailedPrecondition) << l.status().ToString();

  o = ServerOptions();
  o.ca_file = dir_.path() + "/missing.crt";
  l = ListenQuic("127.0.0.1", 0, o);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kNotFound) << l.status().ToString();

  o = ServerOptions();
  o.cert_file.clear();
  o.key_file.clear();
  EXPECT_EQ(ListenQuic("127.0.0.1", 0, o).status().code(), StatusCode::kInvalidArgument);

  o = ServerOptions();
  o.key_file = b_key_;  // does not match node-a's certificate
  l = ListenQuic("127.0.0.1", 0, o);
  EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument) << l.status().ToString();
}

TEST_F(QuicTest, DialTimesOutWithoutListener) {
  // A bound UDP socket that never answers, held open while the dial runs.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const uint16_t port = ntohs(addr.sin_port);
  QuicOptions o = ClientOptions();
  o.handshake_timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto c = DialQuic("127.0.0.1", port, o);
  ::close(fd);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kDeadlineExceeded) << c.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

}  // namespace
}  // namespace dsmil::net
