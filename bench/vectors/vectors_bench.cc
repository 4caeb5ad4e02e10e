// bench_vectors: the embedded vector store (hnswlib via store::Vectors)
// beside an exact brute-force scan, on N random 384-dim vectors.
//
//   bench_vectors [--n 100000] [--dim 384] [--queries 1000] [--k 10]
//                 [--data clustered|gaussian] [--batch 10000] [--seed 1]
//                 [--dir /tmp]
//
// clustered: points scattered around N/1000 centres (closer to real text
// embeddings); gaussian: i.i.d. normal components (the hardest case for a
// graph index: no structure at all). Queries are fresh draws from the same
// distribution. The brute-force peer scans all N normalised vectors with the
// same SIMD inner-product kernel hnswlib uses, one query at a time on one
// thread, exactly as a search runs. Prints figures, never asserts.
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "store/vectors.h"
#include "store/vectors_internal.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// CPU time of the calling thread in milliseconds: on a shared machine the
// wall-clock tail includes time the thread was not running at all.
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

struct Options {
  size_t n = 100000;
  size_t dim = 384;
  size_t queries = 1000;
  size_t k = 10;
  std::string data = "clustered";
  size_t batch = 10000;
  unsigned seed = 1;
  std::string dir = "/tmp";
};

bool Parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    std::string v = argv[++i];
    if (a == "--n")
      o.n = std::stoul(v);
    else if (a == "--dim")
      o.dim = std::stoul(v);
    else if (a == "--queries")
      o.queries = std::stoul(v);
    else if (a == "--k")
      o.k = std::stoul(v);
    else if (a == "--data")
      o.data = v;
    else if (a == "--batch")
      o.batch = std::stoul(v);
    else if (a == "--seed")
      o.seed = unsigned(std::stoul(v));
    else if (a == "--dir")
      o.dir = v;
    else
      return false;
  }
  return o.n > 0 && o.dim > 0 && o.queries > 0 && o.k > 0 && o.batch > 0 &&
         (o.data == "clustered" || o.data == "gaussian");
}

class Generator {
 public:
  Generator(const Options& o) : o_(o), rng_(o.seed) {
    if (o.data == "clustered") {
      size_t c = std::max<size_t>(16, o.n / 1000);
      centres_.resize(c * o.dim);
      std::normal_distribution<float> nd(0, 1);
      for (auto& x : centres_) x = nd(rng_);
    }
  }
  void Next(float* out) {
    std::normal_distribution<float> nd(0, 1);
    if (centres_.empty()) {
      for (size_t i = 0; i < o_.dim; ++i) out[i] = nd(rng_);
      return;
    }
    size_t c = std::uniform_int_distribution<size_t>(0, centres_.size() / o_.dim - 1)(rng_);
    const float* centre = &centres_[c * o_.dim];
    for (size_t i = 0; i < o_.dim; ++i) out[i] = centre[i] + 0.5f * nd(rng_);
  }

 private:
  const Options& o_;
  std::mt19937 rng_;
  std::vector<float> centres_;
};

void Normalize(float* v, size_t dim) {
  double s = 0;
  for (size_t i = 0; i < dim; ++i) s += double(v[i]) * v[i];
  float inv = float(1 / std::sqrt(s));
  for (size_t i = 0; i < dim; ++i) v[i] *= inv;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, size_t(std::ceil(p * double(v.size()))) - 1);
  return v[i];
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!Parse(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: bench_vectors [--n N] [--dim D] [--queries Q] [--k K] [--data clustered|gaussian] "
                 "[--batch B] [--seed S] [--dir DIR]\n");
    return 2;
  }
  std::printf("bench_vectors: %zu x %zu-dim %s vectors, %zu queries, k=%zu, %u hardware threads\n", o.n, o.dim,
              o.data.c_str(), o.queries, o.k, std::thread::hardware_concurrency());

  Generator gen(o);
  std::vector<float> data(o.n * o.dim);
  for (size_t i = 0; i < o.n; ++i) gen.Next(&data[i * o.dim]);
  std::vector<float> queries(o.queries * o.dim);
  for (size_t i = 0; i < o.queries; ++i) gen.Next(&queries[i * o.dim]);

  std::string tmpl = o.dir + "/dsmil-bench-vectors-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  dsmil::store::StoresConfig config;
  config.path = tmpl;
  auto scope = dsmil::store::TenantScope::For("BENCH").value();
  auto opened = dsmil::store::OpenVectors(config, scope);
  if (!opened.ok()) {
    std::fprintf(stderr, "bench_vectors: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto store = std::move(opened.value());
  if (dsmil::Status s = store->CreateCollection("bench", o.dim); !s.ok()) {
    std::fprintf(stderr, "bench_vectors: %s\n", s.ToString().c_str());
    return 1;
  }

  // Build: upserts in batches (each batch of >= 4096 new points is inserted
  // by up to 8 threads inside the store).
  auto t0 = Clock::now();
  std::vector<dsmil::store::VectorPoint> batch;
  for (size_t start = 0; start < o.n; start += o.batch) {
    batch.clear();
    for (size_t i = start; i < std::min(o.n, start + o.batch); ++i) {
      batch.push_back({i, std::vector<float>(&data[i * o.dim], &data[(i + 1) * o.dim]), ""});
    }
    if (dsmil::Status s = store->Upsert("bench", batch); !s.ok()) {
      std::fprintf(stderr, "bench_vectors: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  double build_s = Seconds(t0, Clock::now());
  auto t1 = Clock::now();
  if (dsmil::Status s = store->Flush(); !s.ok()) {
    std::fprintf(stderr, "bench_vectors: %s\n", s.ToString().c_str());
    return 1;
  }
  double flush_s = Seconds(t1, Clock::now());
  uintmax_t index_bytes = std::filesystem::file_size(tmpl + "/vectors/bench_bench/index.bin");

  // HNSW searches, one at a time.
  std::vector<double> hnsw_ms, hnsw_cpu_ms;
  std::vector<std::vector<uint64_t>> found(o.queries);
  for (size_t q = 0; q < o.queries; ++q) {
    std::span<const float> query(&queries[q * o.dim], o.dim);
    double ca = ThreadCpuMs();
    auto a = Clock::now();
    auto hits = store->Search("bench", query, o.k);
    auto b = Clock::now();
    hnsw_cpu_ms.push_back(ThreadCpuMs() - ca);
    if (!hits.ok()) {
      std::fprintf(stderr, "bench_vectors: %s\n", hits.status().ToString().c_str());
      return 1;
    }
    hnsw_ms.push_back(Seconds(a, b) * 1e3);
    for (const auto& h : hits.value()) found[q].push_back(h.id);
  }

  // The peer: exact scan with hnswlib's inner-product kernel.
  for (size_t i = 0; i < o.n; ++i) Normalize(&data[i * o.dim], o.dim);
  auto dist = dsmil::store::vectors_internal::HnswInnerProductDistance(o.dim);
  const size_t dim = o.dim;
  const void* param = &dim;
  std::vector<double> exact_ms, exact_cpu_ms;
  double recall_sum = 0;
  std::vector<std::pair<float, uint64_t>> scored(o.n);
  for (size_t q = 0; q < o.queries; ++q) {
    std::vector<float> query(&queries[q * o.dim], &queries[(q + 1) * o.dim]);
    double ca = ThreadCpuMs();
    auto a = Clock::now();
    Normalize(query.data(), o.dim);
    for (size_t i = 0; i < o.n; ++i) scored[i] = {dist(query.data(), &data[i * o.dim], param), i};
    size_t k = std::min(o.k, o.n);
    std::partial_sort(scored.begin(), scored.begin() + long(k), scored.end());
    auto b = Clock::now();
    exact_ms.push_back(Seconds(a, b) * 1e3);
    exact_cpu_ms.push_back(ThreadCpuMs() - ca);
    size_t hit = 0;
    for (size_t j = 0; j < k; ++j) {
      hit += std::find(found[q].begin(), found[q].end(), scored[j].second) != found[q].end();
    }
    recall_sum += double(hit) / double(k);
  }
  double recall = recall_sum / double(o.queries);

  double hp50 = Percentile(hnsw_ms, 0.50), hp99 = Percentile(hnsw_ms, 0.99), hmean = Mean(hnsw_ms);
  double ep50 = Percentile(exact_ms, 0.50), ep99 = Percentile(exact_ms, 0.99), emean = Mean(exact_ms);
  std::printf("build      %.1f s for %zu points (%.0f points/s), flush %.2f s, index.bin %.1f MiB\n", build_s, o.n,
              double(o.n) / build_s, flush_s, double(index_bytes) / (1 << 20));
  std::printf("hnsw       search p50 %.3f ms  p99 %.3f ms  mean %.3f ms  (%.0f queries/s on one thread)\n", hp50, hp99,
              hmean, 1e3 / hmean);
  std::printf("exact scan search p50 %.3f ms  p99 %.3f ms  mean %.3f ms  (%.0f queries/s on one thread)\n", ep50, ep99,
              emean, 1e3 / emean);
  double hc50 = Percentile(hnsw_cpu_ms, 0.50), hc99 = Percentile(hnsw_cpu_ms, 0.99);
  double ec50 = Percentile(exact_cpu_ms, 0.50), ec99 = Percentile(exact_cpu_ms, 0.99);
  std::printf(
      "cpu time   hnsw p50 %.3f ms  p99 %.3f ms; exact scan p50 %.3f ms  p99 %.3f ms (thread CPU time per query)\n",
      hc50, hc99, ec50, ec99);
  std::printf("ratio      exact/hnsw wall p50 %.1fx  p99 %.1fx; cpu p50 %.1fx  p99 %.1fx\n", ep50 / hp50, ep99 / hp99,
              ec50 / hc50, ec99 / hc99);
  std::printf("recall@%zu  %.4f (hnsw vs exact, %zu queries)\n", o.k, recall, o.queries);
  std::printf("goal       recall@10 >= 0.95: %s; p99 < 5 ms: wall %s, cpu %s\n", recall >= 0.95 ? "met" : "NOT met",
              hp99 < 5.0 ? "met" : "NOT met", hc99 < 5.0 ? "met" : "NOT met");
  store.reset();
  std::filesystem::remove_all(tmpl);
  return 0;
}
