// The secure session over the in-process pair, and the handshake core.
#include "net/session.h"

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "net/connection.h"
#include "net/session_wire.h"
#include "session_test_util.h"

namespace dsmil::net {
namespace {

using namespace std::chrono_literals;
using testing::CoreHandshake;
using testing::Ping;
using testing::RefusalCount;
using testing::TestNodes;
namespace sw = session_wire;

struct Established {
  std::unique_ptr<Connection> ca, cb;
  std::unique_ptr<SecureSession> a, b;
};

// node-a initiates to node-b over a fresh pair.
Established Establish(const NodeIdentity& a, const PinnedPeers& a_pins, const NodeIdentity& b,
                      const PinnedPeers& b_pins, SessionOptions options = {}) {
  Established e;
  auto [ca, cb] = MakeConnectionPair();
  e.ca = std::move(ca);
  e.cb = std::move(cb);
  auto accepted = std::async(std::launch::async, [&] { return SecureSession::Accept(*e.cb, b, b_pins, options); });
  auto initiated = SecureSession::Initiate(*e.ca, a, a_pins, options);
  auto acc = accepted.get();
  EXPECT_TRUE(initiated.ok()) << initiated.status().ToString();
  EXPECT_TRUE(acc.ok()) << acc.status().ToString();
  if (initiated.ok()) e.a = std::move(*initiated);
  if (acc.ok()) e.b = std::move(*acc);
  return e;
}

TEST(SessionTest, HandshakeAndTrafficOverPair) {
  const auto& n = TestNodes();
  Registry registry;
  SessionOptions options;
  options.metrics = &registry;
  auto e = Establish(n.a, n.a_pins, n.b, n.b_pins, options);
  const std::string exposed = registry.Expose();
  EXPECT_NE(exposed.find("dsmil_dbe_session_handshakes_total{peer=\"node-b\",role=\"initiator\"} 1"), std::string::npos)
      << exposed;
  EXPECT_NE(exposed.find("dsmil_dbe_session_handshakes_total{peer=\"node-a\",role=\"responder\"} 1"),
            std::string::npos);
  ASSERT_TRUE(e.a && e.b);
  EXPECT_EQ(e.a->peer(), "node-b");
  EXPECT_EQ(e.b->peer(), "node-a");
  EXPECT_EQ(e.b->peer_spiffe_id(), "spiffe://dsmil.local/node/node-a");
  EXPECT_TRUE(std::equal(e.a->k_mac().begin(), e.a->k_mac().end(), e.b->k_mac().begin(), e.b->k_mac().end()));
  EXPECT_EQ(e.a->k_log().size(), 48u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(e.a->Send(Ping("ping " + std::to_string(i))).ok());
    auto got = e.b->Receive(1s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->header().sequence, uint64_t(i));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(got->Find(0x40)->data()), got->Find(0x40)->size()),
              "ping " + std::to_string(i));
    ASSERT_TRUE(e.b->Send(Ping("pong")).ok());
    ASSERT_TRUE(e.a->Receive(1s).ok());
  }
  e.a->Close();
  auto closed = e.b->Receive(1s);
  EXPECT_EQ(closed.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(e.a->Send(Ping()).code(), StatusCode::kUnavailable);
}

TEST(SessionTest, UnpinnedNodeRefused) {
  const auto& n = TestNodes();
  Registry registry;
  SessionOptions options;
  options.metrics = &registry;
  PinnedPeers nobody;
  (void)nobody.Pin("node-c", n.a.public_key);
  auto [ca, cb] = MakeConnectionPair();
  auto accepted =
      std::async(std::launch::async, [&, &cb = cb] { return SecureSession::Accept(*cb, n.b, nobody, options); });
  auto initiated = SecureSession::Initiate(*ca, n.a, n.a_pins, options);
  auto acc = accepted.get();
  ASSERT_FALSE(acc.ok());
  EXPECT_EQ(SessionRefusalReason(acc.status()), "unknown_peer");
  EXPECT_EQ(acc.status().code(), StatusCode::kPermissionDenied);
  ASSERT_FALSE(initiated.ok());
  EXPECT_EQ(SessionRefusalReason(initiated.status()), "peer_refused");
  EXPECT_NE(initiated.status().message().find("unknown_peer"), std::string::npos);
  EXPECT_EQ(RefusalCount(registry, "unknown", "unknown_peer"), 1);
  EXPECT_EQ(registry.Expose().find("dsmil_dbe_session_handshakes_total{"), std::string::npos);
  EXPECT_EQ(RefusalCount(registry, "unknown", "peer_refused"), 1);
}

TEST(SessionTest, MismatchingKeyRefused) {
  const auto& n = TestNodes();
  Registry registry;
  SessionOptions options;
  options.metrics = &registry;
  auto other = GenerateNodeIdentity("node-a");
  ASSERT_TRUE(other.ok());
  PinnedPeers wrong;
  ASSERT_TRUE(wrong.Pin("node-a", other->public_key).ok());
  auto [ca, cb] = MakeConnectionPair();
  auto accepted =
      std::async(std::launch::async, [&, &cb = cb] { return SecureSession::Accept(*cb, n.b, wrong, options); });
  auto initiated = SecureSession::Initiate(*ca, n.a, n.a_pins, options);
  auto acc = accepted.get();
  ASSERT_FALSE(acc.ok());
  EXPECT_EQ(SessionRefusalReason(acc.status()), "key_mismatch");
  EXPECT_FALSE(initiated.ok());
  EXPECT_EQ(RefusalCount(registry, "node-a", "key_mismatch"), 1);

  // And the other way round: the initiator pins another key for node-b.
  PinnedPeers wrong_b;
  ASSERT_TRUE(wrong_b.Pin("node-b", other->public_key).ok());
  HandshakeInitiator i(HandshakeConfig{&n.a, &wrong_b, "", options});
  HandshakeResponder r(HandshakeConfig{&n.b, &n.b_pins, "", options});
  auto accept = r.OnHello(*i.Hello());
  ASSERT_TRUE(accept.ok());
  EXPECT_EQ(SessionRefusalReason(i.OnAccept(*accept).status()), "key_mismatch");
}

TEST(SessionTest, HandshakeTimesOut) {
  const auto& n = TestNodes();
  SessionOptions options;
  options.handshake_timeout = 50ms;
  auto [ca, cb] = MakeConnectionPair();
  auto initiated = SecureSession::Initiate(*ca, n.a, n.a_pins, options);
  EXPECT_EQ(SessionRefusalReason(initiated.status()), "timeout");
  EXPECT_EQ(initiated.status().code(), StatusCode::kDeadlineExceeded);
}

TEST(SessionTest, CertBindingChecked) {
  const auto& n = TestNodes();
  HandshakeInitiator i(HandshakeConfig{&n.a, &n.a_pins, "", {}});
  HandshakeResponder r(HandshakeConfig{&n.b, &n.b_pins, "node-c", {}});  // TLS says node-c
  EXPECT_EQ(SessionRefusalReason(r.OnHello(*i.Hello()).status()), "cert_binding");
}

// Flips one byte in the value of TLV `code` of an encoded handshake message
// (or in the header timestamp when code is 0).
Bytes TamperTlv(const Bytes& wire, uint16_t code) {
  auto msg = sw::DecodeHandshake(wire);
  EXPECT_TRUE(msg.ok());
  if (code == 0) {
    msg->timestamp_ns ^= 1;
  } else {
    Bytes v = *msg->Find(code);
    v[v.size() / 2] ^= 0x01;
    msg->Set(code, v);
  }
  return sw::EncodeHandshake(*msg);
}

std::vector<uint16_t> Codes(const Bytes& wire) {
  std::vector<uint16_t> out{0};
  auto msg = sw::DecodeHandshake(wire);
  if (!msg.ok()) return out;
  const sw::HandshakeMessage& m = *msg;
  for (const auto& tlv : m.tlvs) out.push_back(tlv.first);
  return out;
}

TEST(SessionTest, EveryTranscriptFieldTamperedRefused) {
  const auto& n = TestNodes();
  Registry registry;
  SessionOptions options;
  options.metrics = &registry;
  HandshakeConfig ci{&n.a, &n.a_pins, "", options};
  HandshakeConfig cr{&n.b, &n.b_pins, "", options};
  // A reference run to learn the message shapes.
  Bytes hello0, accept0, finish0;
  {
    HandshakeInitiator i(ci);
    HandshakeResponder r(cr);
    hello0 = *i.Hello();
    accept0 = *r.OnHello(hello0);
    finish0 = *i.OnAccept(accept0);
    ASSERT_TRUE(r.OnFinish(finish0).ok());
  }
  // HELLO tampered in flight: some side refuses.
  for (uint16_t code : Codes(hello0)) {
    HandshakeInitiator i(ci);
    HandshakeResponder r(cr);
    auto accept = r.OnHello(TamperTlv(*i.Hello(), code));
    if (!accept.ok()) {
      EXPECT_FALSE(SessionRefusalReason(accept.status()).empty()) << code;
      continue;
    }
    auto finish = i.OnAccept(*accept);
    EXPECT_FALSE(finish.ok()) << "HELLO TLV " << code;
    EXPECT_FALSE(SessionRefusalReason(finish.status()).empty());
  }
  // ACCEPT tampered: the initiator refuses.
  for (uint16_t code : Codes(accept0)) {
    HandshakeInitiator i(ci);
    HandshakeResponder r(cr);
    auto accept = r.OnHello(*i.Hello());
    ASSERT_TRUE(accept.ok());
    auto finish = i.OnAccept(TamperTlv(*accept, code));
    EXPECT_FALSE(finish.ok()) << "ACCEPT TLV " << code;
  }
  // FINISH tampered: the responder refuses.
  for (uint16_t code : Codes(finish0)) {
    HandshakeInitiator i(ci);
    HandshakeResponder r(cr);
    auto finish = i.OnAccept(*r.OnHello(*i.Hello()));
    ASSERT_TRUE(finish.ok());
    Status s = r.OnFinish(TamperTlv(*finish, code));
    EXPECT_FALSE(s.ok()) << "FINISH TLV " << code;
    EXPECT_TRUE(SessionRefusalReason(s) == "bad_signature" || SessionRefusalReason(s) == "key_confirmation")
        << s.ToString();
  }
  EXPECT_GT(RefusalCount(registry, "node-b", "bad_signature"), 0);
  EXPECT_GT(RefusalCount(registry, "node-a", "bad_signature"), 0);
}

TEST(SessionTest, VersionMismatchRefused) {
  const auto& n = TestNodes();
  HandshakeInitiator i(HandshakeConfig{&n.a, &n.a_pins, "", {}});
  HandshakeResponder r(HandshakeConfig{&n.b, &n.b_pins, "", {}});
  auto hello = sw::DecodeHandshake(*i.Hello());
  const uint8_t v2[] = {2};
  hello->Set(sw::kTlvVersions, v2);
  auto accept = r.OnHello(sw::EncodeHandshake(*hello));
  EXPECT_EQ(SessionRefusalReason(accept.status()), "version_mismatch");
  EXPECT_EQ(SessionRefusalReason(i.OnAccept(MakeAlert(SessionRefusal::kVersionMismatch)).status()), "peer_refused");
}

TEST(SessionTest, MalformedHandshakeRefused) {
  const auto& n = TestNodes();
  HandshakeResponder r(HandshakeConfig{&n.b, &n.b_pins, "", {}});
  EXPECT_EQ(SessionRefusalReason(r.OnHello(AsBytes("garbage")).status()), "malformed");
  EXPECT_EQ(SessionRefusalStatus(SessionRefusal::kReplay, "x").message(), "dbe-session: replay: x");
  EXPECT_EQ(SessionRefusalReason(Status::Internal("dbe-session: nonsense: x")), "");
}

TEST(SessionTest, AutomaticRekeyKeepsTrafficFlowing) {
  const auto& n = TestNodes();
  SessionOptions options;
  options.rekey_after_records = 3;
  auto e = Establish(n.a, n.a_pins, n.b, n.b_pins, options);
  ASSERT_TRUE(e.a && e.b);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(e.a->Send(Ping()).ok());
    ASSERT_TRUE(e.b->Send(Ping()).ok());
    ASSERT_TRUE(e.b->Receive(1s).ok()) << i;
    ASSERT_TRUE(e.a->Receive(1s).ok()) << i;
  }
  EXPECT_GE(e.a->state().send_epoch(), 6);
  EXPECT_EQ(e.a->state().send_epoch(), e.b->state().recv_epoch());
  EXPECT_EQ(e.b->state().send_epoch(), e.a->state().recv_epoch());
  ASSERT_TRUE(e.a->Rekey().ok());
  ASSERT_TRUE(e.a->Send(Ping()).ok());
  ASSERT_TRUE(e.b->Receive(1s).ok());
}

TEST(SessionTest, TimeBudgetRekey) {
  const auto& n = TestNodes();
  FakeClock clock;
  SessionOptions options;
  options.clock = &clock;
  options.rekey_after = 10s;
  auto e = Establish(n.a, n.a_pins, n.b, n.b_pins, options);
  ASSERT_TRUE(e.a && e.b);
  ASSERT_TRUE(e.a->Send(Ping()).ok());
  ASSERT_TRUE(e.b->Receive(1s).ok());
  EXPECT_EQ(e.a->state().send_epoch(), 0);
  clock.Advance(11s);
  ASSERT_TRUE(e.a->Send(Ping()).ok());
  ASSERT_TRUE(e.b->Receive(1s).ok());
  EXPECT_EQ(e.a->state().send_epoch(), 1);
  EXPECT_EQ(e.b->state().recv_epoch(), 1);
}

TEST(SessionTest, IdentityRotationWithoutDroppingInFlightMessages) {
  const auto& n = TestNodes();
  auto old_session = Establish(n.a, n.a_pins, n.b, n.b_pins);
  ASSERT_TRUE(old_session.a && old_session.b);
  // In flight on the old session.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(old_session.a->Send(Ping("old " + std::to_string(i))).ok());
  // node-a rotates its key; node-b pins the new key beside the old one.
  auto rotated = GenerateNodeIdentity("node-a");
  ASSERT_TRUE(rotated.ok());
  PinnedPeers b_pins = n.b_pins;
  ASSERT_TRUE(b_pins.Pin("node-a", rotated->public_key).ok());
  auto new_session = Establish(*rotated, n.a_pins, n.b, b_pins);
  ASSERT_TRUE(new_session.a && new_session.b);
  ASSERT_TRUE(new_session.a->Send(Ping("new")).ok());
  // The old session drains, then closes.
  for (int i = 0; i < 3; ++i) {
    auto got = old_session.b->Receive(1s);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->header().sequence, uint64_t(i));
  }
  old_session.a->Close();
  EXPECT_EQ(old_session.b->Receive(1s).status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(new_session.b->Receive(1s).ok());
  // Once the old pin is removed, the old key is refused.
  PinnedPeers only_new;
  ASSERT_TRUE(only_new.Pin("node-a", rotated->public_key).ok());
  HandshakeInitiator i(HandshakeConfig{&n.a, &n.a_pins, "", {}});
  HandshakeResponder r(HandshakeConfig{&n.b, &only_new, "", {}});
  EXPECT_EQ(SessionRefusalReason(r.OnHello(*i.Hello()).status()), "key_mismatch");
}

TEST(SessionTest, ConnectionPairBasics) {
  auto [a, b] = MakeConnectionPair();
  ASSERT_TRUE(a->Send(AsBytes("x")).ok());
  auto got = b->Receive(100ms);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), 1u);
  EXPECT_EQ(b->Receive(10ms).status().code(), StatusCode::kDeadlineExceeded);
  Bytes big(kMaxConnectionFrame + 1);
  EXPECT_EQ(a->Send(big).code(), StatusCode::kResourceExhausted);
  std::thread closer([&, &a = a] {
    std::this_thread::sleep_for(20ms);
    a->Close();
  });
  EXPECT_EQ(b->Receive(5s).status().code(), StatusCode::kUnavailable);
  closer.join();
  EXPECT_EQ(a->Send(AsBytes("x")).code(), StatusCode::kUnavailable);
  EXPECT_EQ(a->PeerName(), "");
}

}  // namespace
}  // namespace dsmil::net
