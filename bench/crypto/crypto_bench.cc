// crypto_bench: DSMIL's ML-KEM-1024, ML-DSA-87, hybrid KEM and AES-256-GCM
// figures beside liboqs's own speed_kem / speed_sig on the same machine, in
// the same run. Prints; never asserts.
//
//   LIBOQS_BUILD_DIR=/path/to/liboqs-build [LIBOQS_AVX2_BUILD_DIR=...] crypto_bench
//
// LIBOQS_BUILD_DIR is a liboqs build tree (its tests/speed_kem and
// tests/speed_sig are run); LIBOQS_AVX2_BUILD_DIR optionally a second one
// (e.g. the AVX2-optimised build) shown in its own column. LIBOQS_SECONDS sets
// how long liboqs runs each operation (default 2). liboqs runs just before the
// matching group of our rows, so both see the same machine load.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench.h"

namespace dsmil::bench {
namespace {

using PeerFigures = std::map<std::pair<std::string, std::string>, double>;  // (alg, op) -> µs

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  size_t b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Runs `cmd` and parses liboqs's speed table: an algorithm row (name, empty
// iterations column) followed by operation rows whose 4th column is the mean
// time in microseconds.
bool RunLiboqs(const std::string& cmd, PeerFigures& out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  std::string alg;
  char line[1024];
  bool any = false;
  while (fgets(line, sizeof(line), p) != nullptr) {
    std::stringstream ss(line);
    std::string col;
    std::vector<std::string> cols;
    while (std::getline(ss, col, '|')) cols.push_back(Trim(col));
    if (cols.size() < 4) continue;
    if (cols[1].empty()) {
      alg = cols[0];
    } else if (!alg.empty()) {
      char* end = nullptr;
      double us = std::strtod(cols[3].c_str(), &end);
      if (end != cols[3].c_str()) {
        out[{alg, cols[0]}] = us;
        any = true;
      }
    }
  }
  int rc = pclose(p);
  return any && rc == 0;
}

// Runs liboqs's speed program for one algorithm from the build in `dir`.
void CollectPeer(const char* dir, const char* program, const char* alg, PeerFigures& out) {
  if (dir == nullptr) return;
  const char* secs = std::getenv("LIBOQS_SECONDS");
  std::string cmd = std::string(dir) + "/tests/" + program + " -d " + (secs ? secs : "2") + " " + alg + " 2>&1";
  if (!RunLiboqs(cmd, out)) std::printf("note: could not run %s\n", cmd.c_str());
}

std::string LoadAverage() {
  FILE* f = std::fopen("/proc/loadavg", "r");
  if (f == nullptr) return "?";
  char buf[64] = {0};
  if (std::fgets(buf, sizeof(buf), f) == nullptr) buf[0] = 0;
  std::fclose(f);
  std::string s(buf);
  return s.substr(0, s.find(' '));
}

}  // namespace
}  // namespace dsmil::bench

int main() {
  using namespace dsmil::bench;
  BenchReport report;
  const char* dir = std::getenv("LIBOQS_BUILD_DIR");
  const char* dir2 = std::getenv("LIBOQS_AVX2_BUILD_DIR");
  std::printf(
      "crypto_bench: median over 7 runs of the mean per operation (wall clock); "
      "1-minute load average at start: %s\n",
      LoadAverage().c_str());
  if (dir == nullptr) {
    std::printf(
        "note: LIBOQS_BUILD_DIR is unset: no liboqs comparison (set it to a liboqs build "
        "tree holding tests/speed_kem and tests/speed_sig)\n");
  } else {
    std::printf("liboqs (portable): %s\n", dir);
  }
  if (dir2 != nullptr) std::printf("liboqs (second build): %s\n", dir2);

  // Each group runs right after liboqs's figures for it, so both see the same
  // machine load.
  PeerFigures portable, avx2;
  CollectPeer(dir, "speed_kem", "ML-KEM-1024", portable);
  CollectPeer(dir2, "speed_kem", "ML-KEM-1024", avx2);
  RunKemBench(report);
#ifdef DSMIL_HAVE_DSA_BENCH
  CollectPeer(dir, "speed_sig", "ML-DSA-87", portable);
  CollectPeer(dir2, "speed_sig", "ML-DSA-87", avx2);
  RunDsaBench(report);
#else
  std::printf("note: bench/crypto/dsa_bench.cc not present; no ML-DSA-87 figures\n");
#endif

  std::printf("\n%-48s %12s %12s %12s %9s", "operation", "ours (us)", "ours (op/s)", "liboqs (us)", "ours/oqs");
  if (dir2) std::printf(" %12s %9s", "oqs-2 (us)", "ours/oqs2");
  std::printf("\n");
  for (const auto& row : report.rows()) {
    if (row.gbytes_per_s > 0) {
      std::printf("%-48s %12s %7.3f GB/s", row.name.c_str(), "", row.gbytes_per_s);
      if (row.peer_gbytes_per_s > 0) {
        std::printf("  peer %.3f GB/s, ours/peer %.2f", row.peer_gbytes_per_s,
                    row.gbytes_per_s / row.peer_gbytes_per_s);
      }
      std::printf("\n");
      continue;
    }
    std::printf("%-48s %12.1f %12.0f", row.name.c_str(), row.micros, 1e6 / row.micros);
    auto print_peer = [&](const PeerFigures& peer) {
      auto it = peer.find({row.peer_alg, row.peer_op});
      if (it == peer.end() || it->second <= 0) {
        std::printf(" %12s %9s", "-", "-");
      } else {
        std::printf(" %12.1f %9.2f", it->second, row.micros / it->second);
      }
    };
    print_peer(portable);
    if (dir2) print_peer(avx2);
    std::printf("\n");
  }
  std::printf("\nliboqs figures are its speed_kem / speed_sig means; ours/oqs < 1 means faster.\n");
  return 0;
}
