// ML-KEM-1024, hybrid KEM and AES-256-GCM figures for the crypto benchmark.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench.h"
#include "crypto/hybrid.h"
#include "crypto/mlkem.h"
#include "crypto/ossl.h"

namespace dsmil::bench {
namespace {

void Consume(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "kem_bench: %s: %s\n", what, r.status().ToString().c_str());
    std::abort();
  }
  return std::move(r).value();
}

// AES-256-GCM throughput of `openssl speed` on 1 KiB blocks (the same
// library's own loop: the peer for our wrapper), in GB/s; 0 if unavailable.
double OpensslSpeedAesGcm() {
  FILE* p = popen("openssl speed -mr -aead -evp aes-256-gcm -bytes 1024 -seconds 1 2>/dev/null", "r");
  if (p == nullptr) return 0;
  char line[512];
  double bytes_per_s = 0;
  while (fgets(line, sizeof(line), p) != nullptr) {
    // "+F:<n>:AES-256-GCM:<bytes per second>"
    if (std::strncmp(line, "+F:", 3) == 0) {
      const char* last = std::strrchr(line, ':');
      if (last != nullptr) bytes_per_s = std::strtod(last + 1, nullptr);
    }
  }
  pclose(p);
  return bytes_per_s / 1e9;
}

}  // namespace

void RunKemBench(BenchReport& report) {
  auto kp = Must(crypto::MlKem1024KeyGen(), "keygen");
  auto enc = Must(crypto::MlKem1024Encaps(kp.ek), "encaps");

  report.AddLatency("ML-KEM-1024 KeyGen", MedianMicros([] { Consume(crypto::MlKem1024KeyGen()->ek.data()); }, 300),
                    "ML-KEM-1024", "keygen");
  report.AddLatency("ML-KEM-1024 Encaps",
                    MedianMicros([&] { Consume(crypto::MlKem1024Encaps(kp.ek)->ciphertext.data()); }, 300),
                    "ML-KEM-1024", "encaps");
  report.AddLatency("ML-KEM-1024 Decaps",
                    MedianMicros([&] { Consume(crypto::MlKem1024Decaps(kp.dk, enc.ciphertext)->data()); }, 300),
                    "ML-KEM-1024", "decaps");

  // Hybrid: the initiator's two steps and the responder's one, and the whole
  // exchange (both sides, no network).
  const Bytes transcript(64, 0x7E);
  auto init = Must(crypto::HybridInitiator::Start(), "hybrid start");
  auto resp = Must(crypto::HybridRespond(init.offer(), transcript), "hybrid respond");
  report.AddLatency("Hybrid initiator Start (P-384 + ML-KEM keygen)",
                    MedianMicros([] { Consume(&*crypto::HybridInitiator::Start()); }, 100));
  report.AddLatency(
      "Hybrid responder Respond",
      MedianMicros([&] { Consume(crypto::HybridRespond(init.offer(), transcript)->message.data()); }, 100));
  report.AddLatency("Hybrid initiator Finish",
                    MedianMicros([&] { Consume(init.Finish(resp.message, transcript)->data()); }, 100));
  report.AddLatency("Hybrid KEM full exchange (both sides)", MedianMicros(
                                                                 [&] {
                                                                   auto i = crypto::HybridInitiator::Start();
                                                                   auto r =
                                                                       crypto::HybridRespond(i->offer(), transcript);
                                                                   auto s = i->Finish(r->message, transcript);
                                                                   if (!s.ok() || *s != r->shared_secret) std::abort();
                                                                 },
                                                                 50));

  // AES-256-GCM on 1 KiB messages, one reusable key context.
  auto gcm = Must(crypto::AesGcm::Create(Bytes(32, 0x42)), "aes key");
  Bytes msg(1024, 0xA5), nonce(12, 0), out, back;
  uint64_t counter = 0;
  const int kIters = 20000;
  double seal_us = MedianMicros(
      [&] {
        PutU64BE(nonce.data() + 4, ++counter);
        if (!gcm.Seal(nonce, msg, {}, out).ok()) std::abort();
        Consume(out.data());
      },
      kIters);
  if (!gcm.Seal(nonce, msg, {}, out).ok()) std::abort();
  double open_us = MedianMicros(
      [&] {
        if (!gcm.Open(nonce, out, {}, back).ok()) std::abort();
        Consume(back.data());
      },
      kIters);
  const double peer = OpensslSpeedAesGcm();
  report.AddThroughput("AES-256-GCM seal, 1 KiB messages (peer: openssl speed)", 1024.0 / seal_us / 1e3, peer);
  report.AddThroughput("AES-256-GCM open, 1 KiB messages", 1024.0 / open_us / 1e3);
}

}  // namespace dsmil::bench
