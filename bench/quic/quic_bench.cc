// QUIC transport benchmark over loopback: the cost of one 1 KiB frame round
// trip on an established connection, beside the same ping-pong on raw UDP
// sockets (the limit: two syscalls and two thread wake-ups per direction),
// pipelined one-way frames per second, and the handshake (mutual X.509,
// ECDSA P-384) time. Prints figures; never asserts.
//
// Usage: quic_bench [round_trips (default 20000)] [handshakes (default 50)]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/x509.h"
#include "net/quic.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using dsmil::Bytes;

constexpr size_t kFrame = 1024;

double Micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[idx];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "quic_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& data, mode_t mode) {
  std::string p = dir + "/" + name;
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  chmod(p.c_str(), mode);
  return p;
}

struct RoundTrips {
  std::vector<double> micros;
  double seconds = 0;
};

// Raw UDP ping-pong: an echo thread on one socket, the client on another.
RoundTrips UdpPingPong(int n) {
  int srv = socket(AF_INET, SOCK_DGRAM, 0);
  int cli = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(srv, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("udp bind failed");
  socklen_t len = sizeof(addr);
  getsockname(srv, reinterpret_cast<sockaddr*>(&addr), &len);
  if (connect(cli, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Die("udp connect failed");
  int total = n + 1000;
  std::thread echo([&] {
    std::vector<uint8_t> buf(2048);
    for (int i = 0; i < total; ++i) {
      sockaddr_in from{};
      socklen_t from_len = sizeof(from);
      ssize_t r = recvfrom(srv, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (r < 0) return;
      sendto(srv, buf.data(), static_cast<size_t>(r), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
  });
  std::vector<uint8_t> msg(kFrame, 0x5a), buf(2048);
  RoundTrips out;
  out.micros.reserve(n);
  Clock::time_point start;
  for (int i = 0; i < total; ++i) {
    if (i == 1000) start = Clock::now();
    auto t0 = Clock::now();
    send(cli, msg.data(), msg.size(), 0);
    if (recv(cli, buf.data(), buf.size(), 0) < 0) Die("udp recv failed");
    if (i >= 1000) out.micros.push_back(Micros(Clock::now() - t0));
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  echo.join();
  close(srv);
  close(cli);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  int handshakes = argc > 2 ? std::atoi(argv[2]) : 50;
  if (n <= 0 || handshakes <= 0) Die("usage: quic_bench [round_trips] [handshakes]");

  std::string tmpl = (std::filesystem::temp_directory_path() / "dsmil-quic-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) Die("mkdtemp failed");
  std::string dir = tmpl;
  auto ca = dsmil::crypto::CreateCa("Bench CA", 2);
  if (!ca.ok()) Die(ca.status().ToString());
  auto a = dsmil::crypto::IssueCertificate(
      *ca, {"node-a", {"localhost"}, {"127.0.0.1"}, dsmil::crypto::CertUsage::kBoth, 2});
  auto b = dsmil::crypto::IssueCertificate(*ca, {"node-b", {}, {}, dsmil::crypto::CertUsage::kBoth, 2});
  if (!a.ok() || !b.ok()) Die("issuing certificates failed");
  dsmil::net::QuicOptions so;
  so.ca_file = WriteFile(dir, "ca.crt", ca->cert_pem, 0644);
  so.cert_file = WriteFile(dir, "a.crt", a->cert_pem, 0644);
  so.key_file = WriteFile(dir, "a.key", a->key_pem, 0600);
  dsmil::net::QuicOptions co = so;
  co.cert_file = WriteFile(dir, "b.crt", b->cert_pem, 0644);
  co.key_file = WriteFile(dir, "b.key", b->key_pem, 0600);

  auto listener = dsmil::net::ListenQuic("127.0.0.1", 0, so);
  if (!listener.ok()) Die(listener.status().ToString());
  uint16_t port = (*listener)->port();

  // Echo: every accepted connection gets a thread that sends back each frame.
  std::vector<std::thread> echoes;
  std::thread acceptor([&] {
    for (;;) {
      auto c = (*listener)->Accept(60s);
      if (!c.ok()) return;
      echoes.emplace_back([conn = std::shared_ptr<dsmil::net::Connection>(std::move(c).value())] {
        for (;;) {
          auto f = conn->Receive(60s);
          if (!f.ok() || !conn->Send(*f).ok()) return;
        }
      });
    }
  });

  // Handshakes: dial, wait for the confirmed handshake, close.
  std::vector<double> hs;
  for (int i = 0; i < handshakes; ++i) {
    auto t0 = Clock::now();
    auto c = dsmil::net::DialQuic("127.0.0.1", port, co);
    auto t1 = Clock::now();
    if (!c.ok()) Die(c.status().ToString());
    hs.push_back(Micros(t1 - t0));
  }

  auto conn = dsmil::net::DialQuic("127.0.0.1", port, co);
  if (!conn.ok()) Die(conn.status().ToString());
  auto& c = **conn;
  Bytes frame(kFrame, 0xa5);
  RoundTrips quic;
  quic.micros.reserve(n);
  Clock::time_point start;
  for (int i = 0; i < n + 1000; ++i) {
    if (i == 1000) start = Clock::now();
    auto t0 = Clock::now();
    if (!c.Send(frame).ok()) Die("send failed");
    auto r = c.Receive(10s);
    if (!r.ok()) Die(r.status().ToString());
    if (i >= 1000) quic.micros.push_back(Micros(Clock::now() - t0));
  }
  quic.seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // Pipelined: keep up to 64 frames in flight, count echoed frames per second.
  const int kWindow = 64;
  int pipelined = n * 2;
  int sent = 0, received = 0;
  auto p0 = Clock::now();
  while (received < pipelined) {
    while (sent < pipelined && sent - received < kWindow) {
      if (!c.Send(frame).ok()) Die("send failed");
      ++sent;
    }
    auto r = c.Receive(10s);
    if (!r.ok()) Die(r.status().ToString());
    ++received;
  }
  double pipe_s = std::chrono::duration<double>(Clock::now() - p0).count();

  RoundTrips udp = UdpPingPong(n);

  double q50 = Percentile(quic.micros, 0.50), q99 = Percentile(quic.micros, 0.99);
  double u50 = Percentile(udp.micros, 0.50), u99 = Percentile(udp.micros, 0.99);
  std::printf("quic_bench: loopback, %zu-byte frames, %d round trips after 1000 warm-up\n", kFrame, n);
  std::printf("%-40s %10s %10s %14s\n", "", "p50 us", "p99 us", "round trips/s");
  std::printf("%-40s %10.1f %10.1f %14.0f\n", "QUIC frame round trip (DialQuic)", q50, q99, n / quic.seconds);
  std::printf("%-40s %10.1f %10.1f %14.0f\n", "raw UDP ping-pong (the limit)", u50, u99, n / udp.seconds);
  std::printf("%-40s %10.2f %10.2f %14.2f\n", "ratio QUIC / UDP", q50 / u50, q99 / u99,
              (n / quic.seconds) / (n / udp.seconds));
  auto slow = [](const std::vector<double>& v) {
    return std::count_if(v.begin(), v.end(), [](double x) { return x > 1000; });
  };
  std::printf("round trips over 1 ms: QUIC %ld of %d, UDP %ld of %d; QUIC p90 %.1f us, max %.0f us\n",
              long(slow(quic.micros)), n, long(slow(udp.micros)), n, Percentile(quic.micros, 0.9),
              Percentile(quic.micros, 1.0));
  std::printf("QUIC pipelined echo, %d in flight: %.0f frames/s each way (%.1f MB/s)\n", kWindow, pipelined / pipe_s,
              pipelined / pipe_s * kFrame / 1e6);
  std::printf("QUIC handshake (mutual X.509, P-384), %d dials: median %.2f ms, p90 %.2f ms\n", handshakes,
              Percentile(hs, 0.5) / 1000, Percentile(hs, 0.9) / 1000);

  conn->reset();
  (*listener)->Close();
  acceptor.join();
  for (auto& t : echoes) t.join();
  std::filesystem::remove_all(dir);
  return 0;
}
