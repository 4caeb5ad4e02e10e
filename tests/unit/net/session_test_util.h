// Identities and handshakes shared by the session tests.
#pragma once

#include <gtest/gtest.h>

#include <future>
#include <memory>

#include "core/clock.h"
#include "core/metrics.h"
#include "dbe/message.h"
#include "net/identity.h"
#include "net/session.h"

namespace dsmil::net::testing {

struct Nodes {
  NodeIdentity a, b;
  PinnedPeers a_pins, b_pins;  // what node-a pins (node-b), what node-b pins (node-a)
};

inline const Nodes& TestNodes() {
  static Nodes* n = [] {
    auto* nodes = new Nodes();
    nodes->a = *GenerateNodeIdentity("node-a");
    nodes->b = *GenerateNodeIdentity("node-b");
    (void)nodes->a_pins.Pin("node-b", nodes->b.public_key);
    (void)nodes->b_pins.Pin("node-a", nodes->a.public_key);
    return nodes;
  }();
  return *n;
}

// Runs the core handshake in memory; returns both sides' keys.
struct CoreKeys {
  SessionKeys initiator, responder;
};
inline CoreKeys CoreHandshake(const SessionOptions& options = {}) {
  const Nodes& n = TestNodes();
  HandshakeInitiator i(HandshakeConfig{&n.a, &n.a_pins, "", options});
  HandshakeResponder r(HandshakeConfig{&n.b, &n.b_pins, "", options});
  auto hello = i.Hello();
  EXPECT_TRUE(hello.ok());
  auto accept = r.OnHello(*hello);
  EXPECT_TRUE(accept.ok()) << accept.status().ToString();
  auto finish = i.OnAccept(*accept);
  EXPECT_TRUE(finish.ok()) << finish.status().ToString();
  EXPECT_TRUE(r.OnFinish(*finish).ok());
  return CoreKeys{std::move(i.keys()), std::move(r.keys())};
}

inline dbe::Message Ping(std::string_view body = "hello") {
  dbe::Message m(dbe::MsgType::kHealthPing);
  m.SetString(dbe::TlvType::kTenantId, "SYSTEM");
  m.SetString(dbe::TlvType::kRequestId, "r1");
  m.SetBytes(dbe::TlvType::kPayload, AsBytes(body));
  return m;
}

inline double RefusalCount(const Registry& registry, std::string_view peer, std::string_view reason) {
  const auto* fam = dynamic_cast<const CounterFamily*>(registry.Find("dsmil_dbe_session_refusals_total"));
  if (fam == nullptr) return 0;
  double v = 0;
  fam->ForEach([&](const std::vector<std::string>& labels, double value) {
    if (labels[0] == peer && labels[1] == reason) v = value;
  });
  return v;
}

}  // namespace dsmil::net::testing
