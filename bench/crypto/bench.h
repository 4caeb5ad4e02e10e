// Shared plumbing of the crypto benchmark (bench/crypto): one main
// (crypto_bench.cc) calls RunKemBench and RunDsaBench, each adding rows to a
// BenchReport; main then runs liboqs's speed_kem / speed_sig (when
// LIBOQS_BUILD_DIR is set) and prints every row beside the liboqs figure of the
// same operation. The benchmark prints figures; it never asserts on them.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace dsmil::bench {

struct BenchRow {
  std::string name;              // e.g. "ML-KEM-1024 Encaps"
  double micros = 0;             // median microseconds per operation (0 for throughput rows)
  double gbytes_per_s = 0;       // throughput rows only (e.g. AES-256-GCM)
  double peer_gbytes_per_s = 0;  // throughput of the peer for the same work (0 = none)
  // The liboqs figure to compare with: algorithm and operation as liboqs's
  // speed_kem / speed_sig print them ("ML-KEM-1024", "encaps"); empty = none.
  std::string peer_alg;
  std::string peer_op;
};

class BenchReport {
 public:
  // Adds a latency row (median microseconds per op).
  void AddLatency(std::string name, double micros, std::string peer_alg = {}, std::string peer_op = {}) {
    rows_.push_back({std::move(name), micros, 0, 0, std::move(peer_alg), std::move(peer_op)});
  }
  // Adds a throughput row in GB/s (10^9 bytes per second), optionally with a
  // peer's figure for the same work (printed beside it with the ratio).
  void AddThroughput(std::string name, double gbytes_per_s, double peer_gbytes_per_s = 0) {
    rows_.push_back({std::move(name), 0, gbytes_per_s, peer_gbytes_per_s, {}, {}});
  }
  const std::vector<BenchRow>& rows() const { return rows_; }

 private:
  std::vector<BenchRow> rows_;
};

// Runs `op` `iters` times per run, `runs` runs, and returns the median over
// runs of the mean microseconds per op.
template <typename Op>
double MedianMicros(Op&& op, int iters, int runs = 7) {
  std::vector<double> per_op;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) op();
    auto t1 = std::chrono::steady_clock::now();
    per_op.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / iters);
  }
  std::sort(per_op.begin(), per_op.end());
  return per_op[per_op.size() / 2];
}

// ML-KEM-1024, hybrid KEM and AES-256-GCM rows (kem_bench.cc).
void RunKemBench(BenchReport& report);
// ML-DSA-87 KeyGen / Sign / Verify rows (dsa_bench.cc); peer_alg "ML-DSA-87",
// peer_op "keypair" / "sign" / "verify".
void RunDsaBench(BenchReport& report);

}  // namespace dsmil::bench
