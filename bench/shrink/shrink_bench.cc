// SHRINK and L5 model figures; asserts nothing.
//
//   SHRINK   ShrinkMonitor::Ingest of operator-sized texts (features, three
//            scores, decayed per-tenant state), texts/s, beside the peer: a
//            bare pass that only splits the same texts into lower-cased
//            words, interleaved round by round; median and spread of the
//            per-round ratio.
//   L5       FitHoltWinters on 14 days of hourly counts + a 24 h forecast with
//            intervals, wall time p50/p99 beside the 200 ms SLO of spec §6.1
//            (the model part of a device-33 request; the archive read is not
//            included).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "devices/l5/holt_winters.h"
#include "devices/shrink/monitor.h"

namespace {

using namespace dsmil::devices;

std::string CpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

double Load() {
  std::ifstream f("/proc/loadavg");
  double l = 0;
  f >> l;
  return l;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

std::vector<std::string> Texts() {
  const char* words[] = {"check",  "the",    "host",   "now",      "i",       "am",    "not",      "sure",
                         "maybe",  "panic",  "always", "every",    "alert",   "from",  "firewall", "urgent",
                         "please", "review", "sorry",  "confused", "failing", "ALPHA", "network",  "again"};
  std::mt19937 rng(1);
  std::vector<std::string> out;
  for (int i = 0; i < 1000; ++i) {
    std::string t;
    size_t n = 10 + rng() % 60;  // 10-70 words: a chat prompt or a short note
    for (size_t k = 0; k < n; ++k) {
      t += words[rng() % (sizeof words / sizeof *words)];
      t += (k % 12 == 11) ? ". " : (rng() % 20 == 0 ? "! " : " ");
    }
    out.push_back(std::move(t));
  }
  return out;
}

// The peer: split into lower-cased words and count them, nothing else.
size_t CountWords(const std::string& t) {
  size_t n = 0;
  std::string w;
  for (char c : t) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      w += char(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      n += w.size() > 0;
      w.clear();
    }
  }
  return n + !w.empty();
}

}  // namespace

int main() {
  std::printf("CPU: %s, load %.2f\n", CpuModel().c_str(), Load());
  auto texts = Texts();
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  std::printf("SHRINK: %zu texts, %.0f bytes mean\n", texts.size(), double(bytes) / double(texts.size()));
  shrink::MonitorOptions mo;
  mo.tenants = {"ALPHA", "BRAVO"};
  shrink::ShrinkMonitor monitor(mo);
  std::vector<double> ours, peer, ratio;
  volatile size_t sink = 0;
  double cpu0 = CpuSeconds();
  auto wall0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 15; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < texts.size(); ++i) {
      (void)monitor.Ingest(i % 2 ? "ALPHA" : "BRAVO", shrink::TextSource::kL7Chat, texts[i]);
    }
    auto t1 = std::chrono::steady_clock::now();
    for (const auto& t : texts) sink = sink + CountWords(t);
    auto t2 = std::chrono::steady_clock::now();
    double a = double(texts.size()) / std::chrono::duration<double>(t1 - t0).count();
    double b = double(texts.size()) / std::chrono::duration<double>(t2 - t1).count();
    ours.push_back(a);
    peer.push_back(b);
    ratio.push_back(a / b);
  }
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("  Ingest        %9.0f texts/s (median of 15 rounds; min %.0f, max %.0f)\n", Pct(ours, 0.5),
              *std::min_element(ours.begin(), ours.end()), *std::max_element(ours.begin(), ours.end()));
  std::printf("  word split    %9.0f texts/s (peer, same rounds)\n", Pct(peer, 0.5));
  std::printf("  ratio ours/peer: median %.2f (min %.2f, max %.2f); CPU %.2f s of %.2f s wall\n", Pct(ratio, 0.5),
              *std::min_element(ratio.begin(), ratio.end()), *std::max_element(ratio.begin(), ratio.end()),
              CpuSeconds() - cpu0, wall);

  // L5: fit + forecast.
  std::mt19937 rng(2);
  std::vector<double> y;
  for (size_t t = 0; t < 14 * 24; ++t) {
    double mean = 60 + 25 * std::sin(2 * M_PI * double(t % 24) / 24);
    y.push_back(double(std::poisson_distribution<int>(mean)(rng)));
  }
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto m = l5::FitHoltWinters(y, 24);
    auto fc = l5::Forecast(*m, 24);
    sink = sink + fc.size();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf(
      "L5 Holt-Winters fit (14 days hourly, 144-point grid) + 24 h forecast: p50 %.2f ms, p99 %.2f ms "
      "(SLO of device 33: 200 ms p99, ratio %.4f)\n",
      Pct(ms, 0.5), Pct(ms, 0.99), Pct(ms, 0.99) / 200.0);
  return 0;
}
