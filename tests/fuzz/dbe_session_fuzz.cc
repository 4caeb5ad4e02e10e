// Fuzz target: arbitrary bytes as session handshake messages and as sealed
// records, fed to the transport-free session core (docs/dbe-session.md).
// Never crashes; refusals are ordinary Status values.
//
// Input: byte 0 selects what the rest is:
//   0  SESSION_HELLO to a fresh responder
//   1  SESSION_ACCEPT to an initiator that sent its HELLO
//   2  SESSION_FINISH to a responder that accepted a valid HELLO
//   3  a run of records (u16be length + bytes each) to one receiving
//      SessionState with fixed keys
// Every input is also decoded as a handshake message; a decoded message must
// re-encode to the same bytes.
//
// Identities and record keys are fixed (seeded) so that the seed corpus holds
// messages and records that pass every check.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "crypto/mldsa.h"
#include "net/identity.h"
#include "net/session.h"
#include "net/session_wire.h"

namespace dsmil::net::fuzz {

class NullSink final : public LogSink {
 public:
  void Write(const LogRecord&) override {}
};

struct Fixture {
  FakeClock clock;
  Registry registry;
  Logger logger{LogLabels{}, LoggerOptions{LogLevel::kError, std::make_shared<NullSink>(), nullptr}};
  NodeIdentity a, b;
  PinnedPeers a_pins, b_pins;
  SessionKeys keys;
  SessionOptions options;
  Bytes valid_hello;

  static NodeIdentity Seeded(const char* node, uint8_t seed) {
    uint8_t xi[crypto::kMlDsa87SeedBytes];
    std::memset(xi, seed, sizeof(xi));
    auto kp = crypto::MlDsa87KeyGenFromSeed(std::span<const uint8_t, crypto::kMlDsa87SeedBytes>(xi, sizeof(xi)));
    NodeIdentity id;
    id.node = node;
    id.spiffe_id = SpiffeIdForNode(node);
    id.cert_cn = node;
    id.public_key = kp.public_key;
    id.secret_key = crypto::ToSecret(kp.secret_key);
    return id;
  }

  Fixture() {
    a = Seeded("node-a", 0xA1);
    b = Seeded("node-b", 0xB2);
    (void)a_pins.Pin("node-b", b.public_key);
    (void)b_pins.Pin("node-a", a.public_key);
    options.clock = &clock;
    options.metrics = &registry;
    options.logger = &logger;
    options.replay_window = 64;
    keys.enc_i2r = crypto::SecretBytes(32, 0x11);
    keys.enc_r2i = crypto::SecretBytes(32, 0x22);
    keys.iv_i2r = crypto::SecretBytes(12, 0x33);
    keys.iv_r2i = crypto::SecretBytes(12, 0x44);
    keys.k_mac = crypto::SecretBytes(48, 0x55);
    keys.k_log = crypto::SecretBytes(48, 0x66);
    keys.k_rekey = crypto::SecretBytes(48, 0x77);
    keys.peer_node = "node-a";
    HandshakeInitiator i(HandshakeConfig{&a, &a_pins, "", options});
    valid_hello = *i.Hello();
  }
};

Fixture& GetFixture() {
  static Fixture* f = new Fixture();
  return *f;
}

void CheckRoundTrip(ByteView data) {
  auto msg = session_wire::DecodeHandshake(data);
  if (!msg.ok()) return;
  Bytes again = session_wire::EncodeHandshake(*msg);
  if (again.size() != data.size() || std::memcmp(again.data(), data.data(), data.size()) != 0) __builtin_trap();
}

void RunOne(const uint8_t* data, size_t size) {
  if (size == 0) return;
  Fixture& f = GetFixture();
  ByteView rest(data + 1, size - 1);
  CheckRoundTrip(rest);
  switch (data[0] % 4) {
    case 0: {
      HandshakeResponder r(HandshakeConfig{&f.b, &f.b_pins, "", f.options});
      (void)r.OnHello(rest);
      break;
    }
    case 1: {
      HandshakeInitiator i(HandshakeConfig{&f.a, &f.a_pins, "", f.options});
      if (!i.Hello().ok()) __builtin_trap();
      (void)i.OnAccept(rest);
      break;
    }
    case 2: {
      HandshakeResponder r(HandshakeConfig{&f.b, &f.b_pins, "", f.options});
      if (!r.OnHello(f.valid_hello).ok()) __builtin_trap();
      (void)r.OnFinish(rest);
      break;
    }
    default: {
      auto state = SessionState::Create(SessionRole::kResponder, f.keys, f.options);
      if (!state.ok()) __builtin_trap();
      size_t off = 0;
      while (rest.size() - off >= 2) {
        size_t len = size_t(rest[off]) << 8 | rest[off + 1];
        off += 2;
        len = std::min(len, rest.size() - off);
        (void)(*state)->Open(rest.subspan(off, len));
        off += len;
      }
      break;
    }
  }
}

}  // namespace dsmil::net::fuzz

#ifndef DSMIL_SESSION_FUZZ_NO_MAIN
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dsmil::net::fuzz::RunOne(data, size);
  return 0;
}
#endif
