// dbe_inject: attacks a running node's DBE endpoint from a pinned peer, for
// the network-namespace test (tests/netns/netns_test.py).
//
// It dials the target over TCP + TLS or QUIC with a real node's certificate,
// opens a real SecureSession with that node's ML-DSA-87 identity (so the
// target sees a pinned peer), sends one valid request envelope and waits for
// its reply, then, by mode:
//   replay   re-sends the recorded sealed record of that envelope, byte for
//            byte, on the underlying connection (receiver: reason "replay");
//   bitflip  seals the next envelope without sending it, flips one bit of its
//            ciphertext and sends that (receiver: "tampered"), then sends the
//            intact record;
//   stale    opens a second session whose clock is 10 minutes behind and
//            sends an envelope on it (receiver: "stale"), then moves that
//            clock to the present and sends one more.
// After each attack a valid envelope must still be answered on the same
// session, which shows that the attack record was read (records are handled
// in order) and that the refusal left the session usable; a reply to the
// attack record itself means the target accepted it.
//
// Exit: 0 the attack was sent, no reply came to it and the follow-up was
// answered; 1 the target answered the attack or did not answer a valid
// envelope; 2 usage; 3 no session (dial or handshake failed).
//
// Usage:
//   dbe_inject --target HOST:PORT --transport tcp|quic --cert F --key F --ca F
//              --keys-dir DIR --node NAME --peer NAME --mode replay|bitflip|stale
//              [--tenant ALPHA] [--device 61]
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/coding.h"
#include "core/status.h"
#include "dbe/message.h"
#include "dbe/registry.h"
#include "net/connection.h"
#include "net/identity.h"
#include "net/quic.h"
#include "net/session.h"
#include "net/tcp_tls.h"
#include "net/tls.h"

namespace dsmil::net {
namespace {

constexpr auto kReplyWait = std::chrono::seconds(5);
// Shorter than the target's peer_timeout (1.5 s, docs/dbe-session.md §6b):
// this tool sends no keep-alives, and a refused record still counts as heard.
constexpr auto kSilenceWait = std::chrono::milliseconds(1200);

// Wraps a real Connection and records every frame sent through it. While
// holding, frames are recorded but not forwarded (the caller sends them, or
// an altered copy, through inner()).
class RecordingConnection final : public Connection {
 public:
  explicit RecordingConnection(Connection& inner) : inner_(inner) {}

  Status Send(ByteView frame) override {
    bool hold;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_.emplace_back(frame.begin(), frame.end());
      hold = hold_;
    }
    if (hold) return Status::Ok();
    return inner_.Send(frame);
  }
  Result<Bytes> Receive(std::chrono::milliseconds timeout) override { return inner_.Receive(timeout); }
  void Close() override { inner_.Close(); }
  std::string PeerName() const override { return inner_.PeerName(); }
  std::string Describe() const override { return "recording " + inner_.Describe(); }

  void set_hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
  }
  // The last frame sent (or held); empty when none.
  Bytes last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.empty() ? Bytes{} : sent_.back();
  }
  Connection& inner() { return inner_; }

 private:
  Connection& inner_;
  mutable std::mutex mu_;
  std::vector<Bytes> sent_;  // GUARDED_BY(mu_)
  bool hold_ = false;        // GUARDED_BY(mu_)
};

struct Args {
  std::string host;
  uint16_t port = 0;
  std::string transport, cert, key, ca, keys_dir, node, peer, mode;
  std::string tenant = "ALPHA";
  int device = 61;
};

void Usage(const std::string& why) {
  std::cerr << "dbe_inject: " << why << "\n"
            << "usage: dbe_inject --target HOST:PORT --transport tcp|quic --cert F --key F --ca F\n"
            << "                  --keys-dir DIR --node NAME --peer NAME --mode replay|bitflip|stale\n"
            << "                  [--tenant ALPHA] [--device 61]\n";
}

bool ParseArgs(int argc, char** argv, Args* a) {
  std::map<std::string, std::string> kv;
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) {
      Usage("expected --OPTION VALUE pairs, got '" + k + "'");
      return false;
    }
    kv[k.substr(2)] = argv[i + 1];
  }
  for (const char* need : {"target", "transport", "cert", "key", "ca", "keys-dir", "node", "peer", "mode"}) {
    if (!kv.count(need)) {
      Usage(std::string("--") + need + " is required");
      return false;
    }
  }
  const std::string& target = kv["target"];
  auto colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    Usage("--target: '" + target + "' is not HOST:PORT");
    return false;
  }
  a->host = target.substr(0, colon);
  try {
    int port = std::stoi(target.substr(colon + 1));
    if (port < 1 || port > 65535) throw std::out_of_range("port");
    a->port = uint16_t(port);
    if (kv.count("device")) a->device = std::stoi(kv["device"]);
  } catch (const std::exception&) {
    Usage("--target port or --device is not a number in range");
    return false;
  }
  a->transport = kv["transport"];
  a->cert = kv["cert"];
  a->key = kv["key"];
  a->ca = kv["ca"];
  a->keys_dir = kv["keys-dir"];
  a->node = kv["node"];
  a->peer = kv["peer"];
  a->mode = kv["mode"];
  if (kv.count("tenant")) a->tenant = kv["tenant"];
  if (a->transport != "tcp" && a->transport != "quic") {
    Usage("--transport: '" + a->transport + "' is not tcp or quic");
    return false;
  }
  if (a->mode != "replay" && a->mode != "bitflip" && a->mode != "stale") {
    Usage("--mode: '" + a->mode + "' is not replay, bitflip or stale");
    return false;
  }
  if (a->device < 0 || a->device > 103) {
    Usage("--device: " + std::to_string(a->device) + " is not a device id 0..103");
    return false;
  }
  return true;
}

Result<std::unique_ptr<Connection>> Dial(const Args& a) {
  if (a.transport == "quic") {
    QuicOptions q;
    q.cert_file = a.cert;
    q.key_file = a.key;
    q.ca_file = a.ca;
    return DialQuic(a.host, a.port, q);
  }
  TlsOptions tls{a.cert, a.key, a.ca, /*require_client_cert=*/true};
  TcpTlsDialOptions o;
  o.expected_peer_cn = a.peer;
  return DialTcpTls(a.host, a.port, tls, o);
}

// One link: the real connection, its recorder and the session over it.
struct Link {
  std::unique_ptr<Connection> conn;
  std::unique_ptr<RecordingConnection> rec;
  std::unique_ptr<SecureSession> session;
};

Result<Link> Open(const Args& a, const NodeIdentity& me, const PinnedPeers& pins, SessionOptions options,
                  const char* what) {
  Link l;
  DSMIL_ASSIGN_OR_RETURN(l.conn, Dial(a));
  l.rec = std::make_unique<RecordingConnection>(*l.conn);
  auto s = SecureSession::Initiate(*l.rec, me, pins, options);
  if (!s.ok()) return s.status().WithContext(std::string(what) + " session");
  l.session = std::move(*s);
  if (l.session->peer() != a.peer) {
    return Status::Unauthenticated("dialled " + a.peer + " but the session is with " + l.session->peer());
  }
  std::cout << what << " session: " << a.node << " -> " << l.session->peer() << " over " << l.conn->Describe() << "\n";
  return l;
}

dbe::Message Request(const Args& a, const std::string& request_id) {
  dbe::Message m(dbe::MsgType::kL9Nc3Query);
  m.header().src_device = 43;
  m.header().dst_device = uint16_t(a.device);
  m.SetString(dbe::TlvType::kTenantId, a.tenant);
  m.SetString(dbe::TlvType::kRequestId, request_id);
  m.SetString(dbe::TlvType::kRoeTokenId, "ROE-DBE-INJECT");
  return m;
}

std::string Describe(const dbe::Message& m) {
  auto id = m.GetString(dbe::TlvType::kRequestId);
  return std::string(dbe::MsgTypeName(m.type())) + " device " + std::to_string(m.header().src_device) + " -> device " +
         std::to_string(m.header().dst_device) + " request_id " + (id.ok() ? std::string(*id) : std::string("(none)"));
}

// Waits for the reply to `request_id`. OK with the reply; an error otherwise.
Result<dbe::Message> AwaitReply(SecureSession& s, const std::string& request_id, std::chrono::milliseconds wait) {
  auto end = std::chrono::steady_clock::now() + wait;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Status::DeadlineExceeded("no reply to " + request_id);
    auto r = s.Receive(left);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kDeadlineExceeded || r.status().code() == StatusCode::kUnavailable ||
          r.status().code() == StatusCode::kDataLoss) {
        return r.status();
      }
      std::cout << "  record from the target refused: " << r.status().ToString() << "\n";
      continue;
    }
    auto id = r->GetString(dbe::TlvType::kRequestId);
    if (id.ok() && *id == request_id) return std::move(*r);
    std::cout << "  unrelated message: " << Describe(*r) << "\n";
  }
}

// Sends a valid request on `s` and requires its reply.
Status RoundTrip(const Args& a, SecureSession& s, const std::string& request_id, const char* what) {
  DSMIL_RETURN_IF_ERROR(s.Send(Request(a, request_id)));
  auto r = AwaitReply(s, request_id, kReplyWait);
  if (!r.ok()) return r.status().WithContext(std::string(what) + ": valid envelope " + request_id + " not answered");
  std::cout << what << ": sent " << request_id << ", answered by " << Describe(*r) << "\n";
  return Status::Ok();
}

// After an attack record: no reply may come to `attack_id`.
Status ExpectNoReply(SecureSession& s, const std::string& attack_id) {
  auto r = AwaitReply(s, attack_id, kSilenceWait);
  if (r.ok()) return Status::FailedPrecondition("the target answered the attack envelope " + attack_id);
  if (r.status().code() != StatusCode::kDeadlineExceeded) return r.status();
  std::cout << "no reply to " << attack_id << " (refused)\n";
  return Status::Ok();
}

int Run(const Args& a) {
  auto me = LoadNodeIdentity(a.keys_dir, a.node);
  if (!me.ok()) {
    std::cerr << "dbe_inject: identity: " << me.status().ToString() << "\n";
    return 2;
  }
  auto pins = LoadPinnedPeers(a.keys_dir + "/peer_keys");
  if (!pins.ok()) {
    std::cerr << "dbe_inject: pinned peers: " << pins.status().ToString() << "\n";
    return 2;
  }
  auto link = Open(a, *me, *pins, {}, "first");
  if (!link.ok()) {
    std::cerr << "dbe_inject: " << link.status().ToString() << "\n";
    return 3;
  }
  SecureSession& s = *link->session;
  RecordingConnection& rec = *link->rec;
  const std::string tag = a.mode + "-" + std::to_string(DefaultClock().NowUnixNanos());
  Status st = RoundTrip(a, s, tag + "-valid", "valid");
  if (!st.ok()) {
    std::cerr << "dbe_inject: " << st.ToString() << "\n";
    return 1;
  }
  Bytes recorded = rec.last();
  if (a.mode == "replay") {
    st = link->conn->Send(recorded);
    if (st.ok()) {
      std::cout << "replay: re-sent the recorded record of " << tag << "-valid (" << recorded.size()
                << " bytes) as is\n";
      st = ExpectNoReply(s, tag + "-valid");
    }
    if (st.ok()) st = RoundTrip(a, s, tag + "-after", "after replay");
  } else if (a.mode == "bitflip") {
    rec.set_hold(true);
    st = s.Send(Request(a, tag + "-flipped"));
    rec.set_hold(false);
    Bytes held = rec.last();
    if (st.ok() && held.size() <= kRecordOverheadBytes) {
      st = Status::Internal("the held record is too short to flip a ciphertext bit");
    }
    if (st.ok()) {
      Bytes flipped = held;
      size_t at = kRecordHeaderBytes + (held.size() - kRecordOverheadBytes) / 2;
      flipped[at] ^= 0x10;
      st = link->conn->Send(flipped);
      if (st.ok()) {
        std::cout << "bitflip: sent the record of " << tag << "-flipped with bit 4 of byte " << at
                  << " (ciphertext) flipped\n";
        st = ExpectNoReply(s, tag + "-flipped");
      }
      // The intact record, same sequence number: it must still be accepted.
      if (st.ok()) st = link->conn->Send(held);
      if (st.ok()) {
        auto r = AwaitReply(s, tag + "-flipped", kReplyWait);
        if (!r.ok()) {
          st = r.status().WithContext("the intact record after the flipped one was not answered");
        } else {
          std::cout << "bitflip: the intact record was answered by " << Describe(*r) << "\n";
        }
      }
    }
  } else {  // stale
    const auto skew = std::chrono::minutes(10);
    FakeClock behind(DefaultClock().NowUnixNanos() - std::chrono::nanoseconds(skew).count());
    SessionOptions o;
    o.clock = &behind;
    auto second = Open(a, *me, *pins, o, "second (clock 10 min behind)");
    if (!second.ok()) {
      std::cerr << "dbe_inject: " << second.status().ToString() << "\n";
      return 3;
    }
    SecureSession& s2 = *second->session;
    st = s2.Send(Request(a, tag + "-stale"));
    if (st.ok()) {
      std::cout << "stale: sent " << tag << "-stale with a timestamp 10 minutes old\n";
      st = ExpectNoReply(s2, tag + "-stale");
    }
    if (st.ok()) {
      behind.SetUnixNanos(DefaultClock().NowUnixNanos());
      st = RoundTrip(a, s2, tag + "-after", "after stale (clock set to now)");
    }
    s2.Close();
    second->conn->Close();
  }
  s.Close();
  link->conn->Close();
  if (!st.ok()) {
    std::cerr << "dbe_inject: " << a.mode << ": " << st.ToString() << "\n";
    return 1;
  }
  std::cout << a.mode << ": done\n";
  return 0;
}

}  // namespace
}  // namespace dsmil::net

int main(int argc, char** argv) {
  dsmil::net::Args a;
  if (!dsmil::net::ParseArgs(argc, argv, &a)) return 2;
  return dsmil::net::Run(a);
}
