// ML-DSA-87 KeyGen / Sign / Verify figures for the crypto benchmark.
//
// Rows: median microseconds per op (wall clock, median over runs of the
// per-run mean), compared with liboqs's speed_sig ("ML-DSA-87" keypair / sign /
// verify). Signing time varies with the number of rejection-loop attempts, so
// every operation is also timed one call at a time in thread CPU time (immune
// to other load on the machine): means, and Sign's median and spread.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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

  // Per-call timings in thread CPU time (not disturbed by other processes on a
  // busy machine): Sign's mean, median and spread over its rejection loop.
  auto cpu_micros = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
  };
  struct PerCall {
    double mean, median, p10, p90, p99;
  };
  auto per_call = [&](auto&& op, int calls) {
    std::vector<double> each;
    each.reserve(size_t(calls));
    for (int i = 0; i < calls; ++i) {
      double t0 = cpu_micros();
      op();
      each.push_back(cpu_micros() - t0);
    }
    std::sort(each.begin(), each.end());
    const size_t n = each.size();
    return PerCall{std::accumulate(each.begin(), each.end(), 0.0) / double(n), each[n / 2], each[n / 10],
                   each[n * 9 / 10], each[n * 99 / 100]};
  };
  const PerCall kg = per_call(
      [&] {
        xi[1]++;
        MlDsa87KeyPair k = crypto::MlDsa87KeyGenFromSeed(xi);
        Consume(k.public_key.data());
      },
      500);
  const PerCall sg = per_call(
      [&] {
        auto s = crypto::MlDsa87Sign(kp.secret_key, msg, {});
        Consume(s->data());
      },
      2000);
  const PerCall vf = per_call(
      [&] {
        Status st = crypto::MlDsa87Verify(kp.public_key, msg, {}, *sig);
        if (!st.ok()) std::abort();
      },
      500);
  std::printf(
      "ML-DSA-87 per call, thread CPU time: KeyGen mean %.1f us; Verify mean %.1f us; Sign over 2000 calls: "
      "mean %.1f us, median %.1f us, p10 %.1f us, p90 %.1f us, p99 %.1f us\n",
      kg.mean, vf.mean, sg.mean, sg.median, sg.p10, sg.p90, sg.p99);
  std::printf(
      "ML-DSA-87 ops/s (wall-clock medians): KeyGen %.0f, Sign %.0f, Verify %.0f; "
      "(CPU-time means): KeyGen %.0f, Sign %.0f, Verify %.0f\n",
      1e6 / keygen, 1e6 / sign, 1e6 / verify, 1e6 / kg.mean, 1e6 / sg.mean, 1e6 / vf.mean);

  report.AddLatency("ML-DSA-87 KeyGen", keygen, "ML-DSA-87", "keypair");
  report.AddLatency("ML-DSA-87 Sign", sign, "ML-DSA-87", "sign");
  report.AddLatency("ML-DSA-87 Verify", verify, "ML-DSA-87", "verify");
  report.AddLatency("ML-DSA-87 KeyGen, mean per call (CPU time)", kg.mean, "ML-DSA-87", "keypair");
  report.AddLatency("ML-DSA-87 Sign, mean per call (CPU time)", sg.mean, "ML-DSA-87", "sign");
  report.AddLatency("ML-DSA-87 Sign, median per call (CPU time)", sg.median, "ML-DSA-87", "sign");
  report.AddLatency("ML-DSA-87 Verify, mean per call (CPU time)", vf.mean, "ML-DSA-87", "verify");
}

}  // namespace dsmil::bench
