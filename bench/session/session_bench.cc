// DBE secure session benchmark (prints, never asserts).
//
//   session_bench [--iterations N] [--stream N] [--handshakes N]
//
// Rows:
//   raw tcp hop          1 KiB ping-pong over plain loopback TCP: half the
//                        round trip (the limit)
//   tcp+tls hop          the same over the TCP + TLS Connection
//   session hop          seal + send + receive + open of a 1 KiB envelope
//                        over the session on TCP + TLS (half round trip)
//   hop overhead         session hop - raw tcp hop (p50, p99)
//   seal+open (cpu)      SessionState::Seal + Open without I/O
//   envelopes/s          one-way stream on one session
//   handshake            full mutual handshake (pair: crypto only; tcp+tls:
//                        over an established TLS connection)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "crypto/x509.h"
#include "dbe/message.h"
#include "net/connection.h"
#include "net/identity.h"
#include "net/session.h"
#include "net/tcp_tls.h"

using namespace dsmil;
using namespace dsmil::net;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kPayload = 1024;

struct Stats {
  double p50, p99, mean;
};
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  return {v[v.size() / 2], v[std::min(v.size() - 1, size_t(double(v.size()) * 0.99))], sum / double(v.size())};
}
double Micros(SteadyClock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
void Row(const char* name, const Stats& s, const char* unit = "us") {
  std::printf("%-28s p50 %9.1f %s   p99 %9.1f %s   mean %9.1f %s\n", name, s.p50, unit, s.p99, unit, s.mean, unit);
}

dbe::Message Envelope() {
  dbe::Message m(dbe::MsgType::kHealthPing);
  m.SetString(dbe::TlvType::kTenantId, "SYSTEM");
  m.SetString(dbe::TlvType::kRequestId, "bench");
  std::string body(kPayload, 'x');
  m.SetBytes(dbe::TlvType::kPayload, AsBytes(body));
  return m;
}

// ---- raw TCP ping-pong ----
bool ReadFull(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}
bool WriteFull(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

std::vector<double> RawTcpHops(int iterations) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(lfd, 1);
  socklen_t len = sizeof(addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  const size_t frame = kPayload + 4;
  std::thread echo([&] {
    int fd = accept(lfd, nullptr, nullptr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::vector<uint8_t> buf(frame);
    while (ReadFull(fd, buf.data(), frame) && WriteFull(fd, buf.data(), frame)) {
    }
    close(fd);
  });
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  std::vector<uint8_t> buf(frame, 7);
  std::vector<double> hops;
  for (int i = 0; i < iterations + 100; ++i) {
    auto t0 = SteadyClock::now();
    WriteFull(fd, buf.data(), frame);
    ReadFull(fd, buf.data(), frame);
    if (i >= 100) hops.push_back(Micros(SteadyClock::now() - t0) / 2);
  }
  close(fd);
  echo.join();
  close(lfd);
  return hops;
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "session_bench: %s: %s\n", what, r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*r);
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& data, int mode) {
  std::string p = dir + "/" + name;
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  std::filesystem::permissions(p, std::filesystem::perms(mode));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 20000, stream = 200000, handshakes = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (a == "--iterations") iterations = v;
    else if (a == "--stream") stream = v;
    else if (a == "--handshakes") handshakes = v;
  }
  // PKI and identities.
  std::string tmpl = (std::filesystem::temp_directory_path() / "dsmil-session-bench-XXXXXX").string();
  std::string dir = mkdtemp(tmpl.data());
  auto ca = crypto::CreateCa("Bench CA", 2);
  auto ca_file = WriteFile(dir, "ca.crt", ca->cert_pem, 0644);
  auto tls = [&](const std::string& node) {
    auto c = crypto::IssueCertificate(*ca, {node, {"localhost"}, {"127.0.0.1"}, crypto::CertUsage::kBoth, 2});
    return TlsOptions{WriteFile(dir, node + ".crt", c->cert_pem, 0644), WriteFile(dir, node + ".key", c->key_pem, 0600),
                      ca_file, true};
  };
  TlsOptions tls_a = tls("node-a"), tls_b = tls("node-b");
  NodeIdentity id_a = *GenerateNodeIdentity("node-a"), id_b = *GenerateNodeIdentity("node-b");
  PinnedPeers pins_a, pins_b;
  (void)pins_a.Pin("node-b", id_b.public_key);
  (void)pins_b.Pin("node-a", id_a.public_key);
  Registry registry;
  SessionOptions options;
  options.metrics = &registry;

  std::printf("DBE secure session benchmark: %zu-byte payload envelopes (%zu-byte frames, %zu-byte records)\n",
              kPayload, dbe::EncodedSize(Envelope()), dbe::EncodedSize(Envelope()) + kRecordOverheadBytes);
  std::printf("hardware threads: %u\n\n", std::thread::hardware_concurrency());

  // 1. raw TCP.
  Stats raw = Summarize(RawTcpHops(iterations));
  Row("raw tcp hop", raw);

  // 2. + 3. over TCP + TLS.
  auto listener = Must(ListenTcpTls("127.0.0.1", 0, tls_b), "listen");
  auto accepted = std::async(std::launch::async, [&] { return Must(listener->Accept(5s), "accept"); });
  auto client = Must(DialTcpTls("127.0.0.1", listener->port(), tls_a), "dial");
  auto server = accepted.get();
  {
    Bytes frame(dbe::EncodedSize(Envelope()) + kRecordOverheadBytes, 1);
    std::thread echo([&] {
      for (int i = 0; i < iterations + 100; ++i) {
        auto f = server->Receive(10s);
        if (!f.ok() || !server->Send(*f).ok()) return;
      }
    });
    std::vector<double> hops;
    for (int i = 0; i < iterations + 100; ++i) {
      auto t0 = SteadyClock::now();
      (void)client->Send(frame);
      (void)client->Receive(10s);
      if (i >= 100) hops.push_back(Micros(SteadyClock::now() - t0) / 2);
    }
    echo.join();
    Row("tcp+tls hop (no session)", Summarize(hops));
  }
  auto accepted_session =
      std::async(std::launch::async, [&] { return Must(SecureSession::Accept(*server, id_b, pins_b, options), "session accept"); });
  auto sa = Must(SecureSession::Initiate(*client, id_a, pins_a, options), "session initiate");
  auto sb = accepted_session.get();
  Stats hop{};
  {
    const dbe::Message env = Envelope();
    std::thread echo([&] {
      for (int i = 0; i < iterations + 100; ++i) {
        auto m = sb->Receive(10s);
        if (!m.ok() || !sb->Send(*m).ok()) return;
      }
    });
    std::vector<double> hops;
    for (int i = 0; i < iterations + 100; ++i) {
      auto t0 = SteadyClock::now();
      (void)sa->Send(env);
      auto m = sa->Receive(10s);
      if (!m.ok()) {
        std::printf("session receive failed: %s\n", m.status().ToString().c_str());
        return 1;
      }
      if (i >= 100) hops.push_back(Micros(SteadyClock::now() - t0) / 2);
    }
    echo.join();
    hop = Summarize(hops);
    Row("session hop (tcp+tls)", hop);
    std::printf("%-28s p50 %9.1f us   p99 %9.1f us   (goal p99 < 100 us)\n", "hop overhead vs raw tcp",
                hop.p50 - raw.p50, hop.p99 - raw.p99);
  }
  // Seal + open, CPU only.
  {
    auto [ca2, cb2] = MakeConnectionPair();
    auto f = std::async(std::launch::async, [&, &cb2 = cb2] { return Must(SecureSession::Accept(*cb2, id_b, pins_b, options), "pair accept"); });
    (void)SecureSession::Initiate(*ca2, id_a, pins_a, options);
    (void)f.get();
  }
  {
    HandshakeInitiator hi(HandshakeConfig{&id_a, &pins_a, "", options});
    HandshakeResponder hr(HandshakeConfig{&id_b, &pins_b, "", options});
    auto acc = hr.OnHello(*hi.Hello());
    (void)hr.OnFinish(*hi.OnAccept(*acc));
    auto s = Must(SessionState::Create(SessionRole::kInitiator, hi.keys(), options), "state");
    auto r = Must(SessionState::Create(SessionRole::kResponder, hr.keys(), options), "state");
    const dbe::Message env = Envelope();
    std::vector<double> v;
    for (int i = 0; i < iterations; ++i) {
      auto t0 = SteadyClock::now();
      auto rec = s->Seal(env);
      auto opened = r->Open(*rec);
      v.push_back(Micros(SteadyClock::now() - t0));
      if (!opened.ok()) return 1;
    }
    Row("seal+open 1 KiB (cpu)", Summarize(v));
  }
  // Envelopes per second, one direction.
  {
    const dbe::Message env = Envelope();
    auto t0 = SteadyClock::now();
    std::thread sender([&] {
      for (int i = 0; i < stream; ++i) {
        while (!sa->Send(env).ok()) std::this_thread::sleep_for(50us);
      }
    });
    int got = 0;
    while (got < stream) {
      auto m = sb->Receive(10s);
      if (!m.ok()) break;
      ++got;
    }
    sender.join();
    double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    std::printf("%-28s %9.0f envelopes/s (%d in %.2f s; goal >= 100000)\n", "session stream (tcp+tls)",
                double(got) / secs, got, secs);
  }
  // Handshakes.
  {
    std::vector<double> pair_times, tls_times;
    for (int i = 0; i < handshakes; ++i) {
      auto [c1, c2] = MakeConnectionPair();
      auto t0 = SteadyClock::now();
      auto f = std::async(std::launch::async, [&, &c2 = c2] { return SecureSession::Accept(*c2, id_b, pins_b, options).ok(); });
      bool ok = SecureSession::Initiate(*c1, id_a, pins_a, options).ok() && f.get();
      pair_times.push_back(Micros(SteadyClock::now() - t0) / 1000);
      if (!ok) return 1;
    }
    for (int i = 0; i < handshakes / 4 + 1; ++i) {
      auto acc = std::async(std::launch::async, [&] { return Must(listener->Accept(5s), "accept"); });
      auto c = Must(DialTcpTls("127.0.0.1", listener->port(), tls_a), "dial");
      auto s = acc.get();
      auto t0 = SteadyClock::now();
      auto f = std::async(std::launch::async, [&] { return SecureSession::Accept(*s, id_b, pins_b, options).ok(); });
      bool ok = SecureSession::Initiate(*c, id_a, pins_a, options).ok() && f.get();
      tls_times.push_back(Micros(SteadyClock::now() - t0) / 1000);
      if (!ok) return 1;
    }
    Row("handshake (pair)", Summarize(pair_times), "ms");
    Row("handshake (tcp+tls)", Summarize(tls_times), "ms");
    std::printf("  (goal < 3 ms; OpenSSL 3.0 ECDH P-384 is ~0.97 ms per operation and each side does two)\n");
  }
  std::filesystem::remove_all(dir);
  return 0;
}
