// ML-DSA-87 KeyGen / Sign / Verify figures for the crypto benchmark.
//
// Rows: median microseconds per op (median over runs of the per-run mean),
// compared with liboqs's speed_sig ("ML-DSA-87" keypair / sign / verify).
// Signing time varies with the number of rejection-loop attempts, so Sign is
// also timed one call at a time and its mean and spread are printed.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <vector>

#include "bench.h"
#include "crypto/mldsa.h"

namespace dsmil::bench {
namespace {

// Keeps the optimiser from dropping a result.
void Consume(const void* p) { asm volatile("" : : "r"(p) : "memory"); }

}  // namespace

void RunDsaBench(BenchReport& report) {
  using crypto::MlDsa87KeyPair;
  std::array<uint8_t, 32> xi{};
  xi[0] = 1;
  MlDsa87KeyPair kp = crypto::MlDsa87KeyGenFromSeed(xi);
  std::vector<uint8_t> msg(59, 0x5C);  // a short message, as in liboqs speed_sig
  auto sig = crypto::MlDsa87Sign(kp.secret_key, msg, {});
  if (!sig.ok()) {
    std::fprintf(stderr, "dsa_bench: sign failed: %s\n", sig.status().ToString().c_str());
    std::abort();
  }

  const double keygen = MedianMicros(
      [&] {
        xi[1]++;
        MlDsa87KeyPair k = crypto::MlDsa87KeyGenFromSeed(xi);
        Consume(k.public_key.data());
      },
      200);
  // Hedged signing (the default): fresh rnd each call, so the number of
  // rejection attempts varies as it does in use.
  const double sign = MedianMicros(
      [&] {
        auto s = crypto::MlDsa87Sign(kp.secret_key, msg, {});
        Consume(s->data());
      },
      200);
  const double verify = MedianMicros(
      [&] {
        Status st = crypto::MlDsa87Verify(kp.public_key, msg, {}, *sig);
        if (!st.ok()) std::abort();
      },
      200);

  // Per-call Sign timings: mean, median and spread of the rejection loop.
  std::vector<double> each;
  each.reserve(2000);
  for (int i = 0; i < 2000; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto s = crypto::MlDsa87Sign(kp.secret_key, msg, {});
    auto t1 = std::chrono::steady_clock::now();
    Consume(s->data());
    each.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(each.begin(), each.end());
  const double mean = std::accumulate(each.begin(), each.end(), 0.0) / double(each.size());
  std::printf(
      "ML-DSA-87 Sign per call over %zu calls: mean %.1f us, median %.1f us, p10 %.1f us, "
      "p90 %.1f us, p99 %.1f us\n",
      each.size(), mean, each[each.size() / 2], each[each.size() / 10], each[each.size() * 9 / 10],
      each[each.size() * 99 / 100]);
  std::printf("ML-DSA-87 ops/s: KeyGen %.0f, Sign %.0f (mean-based %.0f), Verify %.0f\n", 1e6 / keygen, 1e6 / sign,
              1e6 / mean, 1e6 / verify);

  report.AddLatency("ML-DSA-87 KeyGen", keygen, "ML-DSA-87", "keypair");
  report.AddLatency("ML-DSA-87 Sign (median)", sign, "ML-DSA-87", "sign");
  report.AddLatency("ML-DSA-87 Sign (mean)", mean, "ML-DSA-87", "sign");
  report.AddLatency("ML-DSA-87 Verify", verify, "ML-DSA-87", "verify");
}

}  // namespace dsmil::bench
