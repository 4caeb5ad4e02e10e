// bench_llm: the LLM engine on a TinyLlama-shaped model (1.1B parameters,
// n_embd 2048, 22 layers, 32 heads / 4 KV heads, n_ff 5632, vocab 32000, Q8_0)
// written with random weights into a temporary directory, or on --model F.
//
// Prints, at each thread count (default 1 and 2):
//   prompt tok/s (a 512-token prompt in one request; its time to first token)
//   generated tok/s (128 tokens after it, one sequence)
//   the memory-bandwidth limit: measured read bandwidth of the mapped weights
//   (same run, same threads) ÷ weight bytes read per token, and our ratio to it
// then the aggregate generated tok/s of 8 concurrent requests (continuous
// batching), and, when $LLAMA_BENCH names a llama-bench binary (built by hand
// outside this repository), llama.cpp's figures on the same file
// (-p 512 -n 128 -t 1,2) with our/llama.cpp ratios. Without it that column is
// skipped and the benchmark says so.
//
// Flags: --model F, --threads 1,2, --prompt 512, --gen 128, --concurrent 8,
// --concurrent-gen 64, --keep (keep the generated model and print its path).
#include <sys/wait.h>
#include <unistd.h>

#include <immintrin.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "llm/engine.h"
#include "llm/gguf_writer.h"
#include "llm/kernels.h"
#include "llm/threadpool.h"

namespace {

using namespace dsmil;
using namespace dsmil::llm;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CPU seconds used by this process so far (all threads).
double ProcessCpu() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

struct Args {
  std::string model;
  std::vector<int> threads = {1, 2};
  int prompt = 512;
  int gen = 128;
  int concurrent = 8;
  int concurrent_gen = 64;
  bool keep = false;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--keep") {
      a->keep = true;
      continue;
    }
    if ((v = next()) == nullptr) {
      std::fprintf(stderr, "bench_llm: %s needs a value\n", k.c_str());
      return false;
    }
    if (k == "--model") {
      a->model = v;
    } else if (k == "--threads") {
      a->threads.clear();
      for (std::string s = v; !s.empty();) {
        size_t c = s.find(',');
        a->threads.push_back(std::max(1, std::atoi(s.substr(0, c).c_str())));
        s = c == std::string::npos ? "" : s.substr(c + 1);
      }
    } else if (k == "--prompt") {
      a->prompt = std::max(1, std::atoi(v));
    } else if (k == "--gen") {
      a->gen = std::max(2, std::atoi(v));
    } else if (k == "--concurrent") {
      a->concurrent = std::max(1, std::atoi(v));
    } else if (k == "--concurrent-gen") {
      a->concurrent_gen = std::max(2, std::atoi(v));
    } else {
      std::fprintf(stderr, "bench_llm: unknown flag %s\n", k.c_str());
      return false;
    }
  }
  return !a->threads.empty();
}

__attribute__((target("avx2"))) uint64_t SumAvx2(const uint8_t* p, size_t n) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc0 = _mm256_add_epi64(acc0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    acc1 = _mm256_add_epi64(acc1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
  }
  acc0 = _mm256_add_epi64(acc0, acc1);
  uint64_t lanes[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), acc0);
  uint64_t s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) s += p[i];
  return s;
}

uint64_t SumScalar(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; ++i) s += p[i];
  return s;
}

// Read bandwidth (GB/s) over [base, base + n) with `threads` threads: best of 3 passes.
double ReadBandwidth(const uint8_t* base, size_t n, int threads) {
  ThreadPool pool(threads);
  const size_t chunk = 1 << 20;
  const int64_t tasks = int64_t((n + chunk - 1) / chunk);
  const bool avx2 = KernelIsaSupported(KernelIsa::kAvx2);
  double best = 0;
  std::atomic<uint64_t> sink{0};
  for (int pass = 0; pass < 3; ++pass) {
    auto t0 = Clock::now();
    pool.ParallelFor(tasks, [&](int64_t t) {
      const size_t off = size_t(t) * chunk, len = std::min(chunk, n - off);
      sink.fetch_add(avx2 ? SumAvx2(base + off, len) : SumScalar(base + off, len), std::memory_order_relaxed);
    });
    best = std::max(best, double(n) / Since(t0) / 1e9);
  }
  if (sink.load() == 42) std::fprintf(stderr, " ");
  return best;
}

std::vector<int32_t> RandomPrompt(int n, uint32_t n_vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> d(3, int32_t(n_vocab) - 1);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = d(rng);
  out[0] = 1;  // bos
  return out;
}

struct Single {
  double prompt_tps = 0, gen_tps = 0, ttft_ms = 0;
  double gen0_tps = 0;                     // generated from a 1-token context, like llama-bench's tg test
  double prompt_share = 0, gen_share = 0;  // CPU seconds ÷ (wall seconds × threads) of each phase
};

struct LlamaFigures {
  double pp = 0, tg = 0;
};

// Runs llama-bench and reads its JSON: {n_threads -> (pp, tg)}.
std::vector<std::pair<int, LlamaFigures>> RunLlamaBench(const std::string& bin, const std::string& model,
                                                        const Args& a) {
  std::string threads;
  for (int t : a.threads) threads += (threads.empty() ? "" : ",") + std::to_string(t);
  std::string cmd = "'" + bin + "' -m '" + model + "' -p " + std::to_string(a.prompt) + " -n " + std::to_string(a.gen) +
                    " -t " + threads + " -o json 2>/dev/null";
  std::printf("running: %s\n", cmd.c_str());
  std::fflush(stdout);
  FILE* p = popen(cmd.c_str(), "r");
  std::vector<std::pair<int, LlamaFigures>> out;
  if (p == nullptr) return out;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int rc = pclose(p);
  if (rc != 0) std::printf("llama-bench exited with status %d\n", WEXITSTATUS(rc));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    std::printf("llama-bench printed no JSON array; llama.cpp column skipped\n");
    return out;
  }
  for (const auto& row : j) {
    int t = row.value("n_threads", 0);
    double ts = row.value("avg_ts", 0.0);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == t; });
    if (it == out.end()) {
      out.push_back({t, {}});
      it = out.end() - 1;
    }
    if (row.value("n_prompt", 0) > 0) it->second.pp = ts;
    if (row.value("n_gen", 0) > 0) it->second.tg = ts;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!ParseArgs(argc, argv, &a)) return 2;
  std::filesystem::path tmp;
  std::string path = a.model;
  if (path.empty()) {
    char dir[] = "/tmp/bench_llm.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::perror("mkdtemp");
      return 2;
    }
    tmp = dir;
    path = (tmp / "tinyllama-1.1b-q8_0-random.gguf").string();
    auto spec = RandomModelShape("1.1b");
    if (!spec.ok()) return 2;
    spec->type = GgmlType::kQ8_0;
    std::printf("writing a TinyLlama-shaped Q8_0 model with random weights to %s\n", path.c_str());
    std::fflush(stdout);
    auto t0 = Clock::now();
    Status s = WriteRandomLlamaModel(*spec, path);
    if (!s.ok()) {
      std::fprintf(stderr, "bench_llm: %s\n", s.ToString().c_str());
      return 2;
    }
    std::printf("written in %.1f s\n", Since(t0));
  }

  std::printf("kernels: %s\n", KernelDescription().c_str());
  int max_threads = *std::max_element(a.threads.begin(), a.threads.end());
  std::vector<std::pair<int, Single>> singles;
  std::vector<std::pair<int, double>> bandwidth;
  uint64_t bytes_per_token = 0;
  for (int t : a.threads) {
    EngineOptions opt;
    opt.threads = t;
    opt.max_sequences = 1;
    opt.n_ctx = uint32_t(a.prompt + a.gen + 8);
    auto engine = Engine::Load(path, opt);
    if (!engine.ok()) {
      std::fprintf(stderr, "bench_llm: %s\n", engine.status().ToString().c_str());
      return 2;
    }
    const Model& m = (*engine)->model();
    bytes_per_token = m.WeightBytesPerToken();
    if (singles.empty()) {
      const LlamaHParams& hp = m.hparams();
      std::printf("model: %s: n_embd %u, %u layers, %u heads / %u kv, n_ff %u, vocab %u, %.1f MB read per token\n",
                  path.c_str(), hp.n_embd, hp.n_layer, hp.n_head, hp.n_head_kv, hp.n_ff, hp.n_vocab,
                  bytes_per_token / 1e6);
    }
    // Bandwidth over the mapped weights, exactly what a decode step reads.
    const GgufFile& f = m.file();
    const uint8_t* lo = nullptr;
    const uint8_t* hi = nullptr;
    for (const GgufTensor& ten : f.tensors()) {
      if (lo == nullptr || ten.data < lo) lo = ten.data;
      if (hi == nullptr || ten.data + ten.bytes > hi) hi = ten.data + ten.bytes;
    }
    bandwidth.push_back({t, ReadBandwidth(lo, size_t(hi - lo), t)});

    GenerationRequest req;
    req.prompt_tokens = RandomPrompt(a.prompt, m.hparams().n_vocab, 7);
    req.params.temperature = 0;
    req.params.max_tokens = a.gen;
    req.params.ignore_eos = true;
    // CPU time at the start, at the first token and at the end: how much of
    // the threads' time the machine actually gave us in each phase.
    double cpu_first = 0;
    auto first_wall = Clock::now();
    const double cpu0 = ProcessCpu();
    const auto wall0 = Clock::now();
    auto r = (*engine)->Generate(req, [&](const TokenEvent&) {
      if (cpu_first == 0) {
        cpu_first = ProcessCpu();
        first_wall = Clock::now();
      }
      return true;
    });
    const double cpu1 = ProcessCpu();
    const auto wall1 = Clock::now();
    if (!r.ok()) {
      std::fprintf(stderr, "bench_llm: %s\n", r.status().ToString().c_str());
      return 2;
    }
    // The same generation from a 1-token context: what llama-bench's tg test
    // measures (its -n run starts at an empty context), for a like-for-like ratio.
    GenerationRequest req0 = req;
    req0.prompt_tokens = RandomPrompt(1, m.hparams().n_vocab, 11);
    auto r0 = (*engine)->Generate(req0, [](const TokenEvent&) { return true; });
    if (!r0.ok()) {
      std::fprintf(stderr, "bench_llm: %s\n", r0.status().ToString().c_str());
      return 2;
    }
    Single s;
    s.gen0_tps = r0->decode_tokens_per_s;
    s.ttft_ms = r->time_to_first_token_s * 1e3;
    s.prompt_tps = a.prompt / r->time_to_first_token_s;
    s.gen_tps = r->decode_tokens_per_s;
    s.prompt_share = (cpu_first - cpu0) / (std::chrono::duration<double>(first_wall - wall0).count() * t);
    s.gen_share = (cpu1 - cpu_first) / (std::chrono::duration<double>(wall1 - first_wall).count() * t);
    singles.push_back({t, s});
    std::printf(
        "threads %d: prompt %d tokens %.2f tok/s (time to first token %.0f ms); generated %d tokens %.2f tok/s; "
        "CPU share %.0f%% / %.0f%%; from a 1-token context %.2f tok/s\n",
        t, a.prompt, s.prompt_tps, s.ttft_ms, r->completion_tokens, s.gen_tps, s.prompt_share * 100, s.gen_share * 100,
        s.gen0_tps);
    std::fflush(stdout);
  }

  // Aggregate: concurrent requests on one engine (continuous batching).
  double aggregate = 0, per_seq = 0;
  int total_tokens = 0;
  double wall = 0;
  {
    EngineOptions opt;
    opt.threads = max_threads;
    opt.max_sequences = uint32_t(a.concurrent);
    opt.n_ctx = uint32_t(64 + a.concurrent_gen + 8);
    auto engine = Engine::Load(path, opt);
    if (!engine.ok()) return 2;
    std::vector<std::shared_ptr<Generation>> gens;
    auto t0 = Clock::now();
    for (int i = 0; i < a.concurrent; ++i) {
      GenerationRequest req;
      req.prompt_tokens = RandomPrompt(64, (*engine)->model().hparams().n_vocab, 100 + i);
      req.params.temperature = 0.8f;
      req.params.seed = i;
      req.params.max_tokens = a.concurrent_gen;
      req.params.ignore_eos = true;
      auto g = (*engine)->Submit(req);
      if (!g.ok()) {
        std::fprintf(stderr, "bench_llm: %s\n", g.status().ToString().c_str());
        return 2;
      }
      gens.push_back(*g);
    }
    for (auto& g : gens) {
      auto r = g->Wait();
      if (!r.ok()) return 2;
      total_tokens += r->completion_tokens;
      per_seq += r->decode_tokens_per_s / a.concurrent;
    }
    wall = Since(t0);
    aggregate = total_tokens / wall;
  }

  std::vector<std::pair<int, LlamaFigures>> llama;
  const char* lb = std::getenv("LLAMA_BENCH");
  if (lb != nullptr && *lb) {
    llama = RunLlamaBench(lb, path, a);
  } else {
    std::printf(
        "LLAMA_BENCH is not set: the llama.cpp column is skipped (build llama-bench by hand outside the "
        "repository and set LLAMA_BENCH to its path)\n");
  }

  std::printf(
      "\ngen tok/s: after the %d-token prompt; gen@1: from a 1-token context, as llama-bench's tg test\n"
      "(tg ratio = gen@1 / llama tg, like for like)\n",
      a.prompt);
  std::printf("%-8s %14s %10s %10s %10s %10s %14s %9s %14s %14s %9s %9s\n", "threads", "prompt tok/s", "gen tok/s",
              "gen@1", "TTFT ms", "read GB/s", "limit tok/s", "gen/limit", "llama pp t/s", "llama tg t/s", "pp ratio",
              "tg ratio");
  for (size_t i = 0; i < singles.size(); ++i) {
    const int t = singles[i].first;
    const Single& s = singles[i].second;
    const double bw = bandwidth[i].second;
    const double limit = bw * 1e9 / double(bytes_per_token);
    LlamaFigures lf;
    for (auto& [lt, f] : llama) {
      if (lt == t) lf = f;
    }
    char pp[32] = "-", tg[32] = "-", ppr[32] = "-", tgr[32] = "-";
    if (lf.pp > 0) {
      std::snprintf(pp, sizeof pp, "%.2f", lf.pp);
      std::snprintf(ppr, sizeof ppr, "%.2fx", s.prompt_tps / lf.pp);
    }
    if (lf.tg > 0) {
      std::snprintf(tg, sizeof tg, "%.2f", lf.tg);
      std::snprintf(tgr, sizeof tgr, "%.2fx", s.gen0_tps / lf.tg);
    }
    std::printf("%-8d %14.2f %10.2f %10.2f %10.0f %10.2f %14.2f %8.2fx %14s %14s %9s %9s\n", t, s.prompt_tps, s.gen_tps,
                s.gen0_tps, s.ttft_ms, bw, limit, s.gen0_tps / limit, pp, tg, ppr, tgr);
  }
  std::printf(
      "\nCPU share = CPU seconds used ÷ (wall seconds × threads) in that phase; below 100%% the machine\n"
      "was busy with other work. Per CPU-second (tok/s ÷ share), what an idle machine would give:\n");
  for (auto& [t, s] : singles) {
    std::printf("threads %d: prompt %.0f%% share -> %.2f tok/s; generation %.0f%% share -> %.2f tok/s\n", t,
                s.prompt_share * 100, s.prompt_tps / std::max(1e-9, s.prompt_share), s.gen_share * 100,
                s.gen_tps / std::max(1e-9, s.gen_share));
  }
  std::printf(
      "\naggregate, %d concurrent requests (64-token prompts, %d generated each, %d threads): %.2f tok/s "
      "generated (%d tokens in %.1f s), %.2f tok/s per sequence while decoding\n",
      a.concurrent, a.concurrent_gen, max_threads, aggregate, total_tokens, wall, per_seq);
  if (!tmp.empty()) {
    if (a.keep) {
      std::printf("model kept at %s\n", path.c_str());
    } else {
      std::filesystem::remove_all(tmp);
    }
  }
  return 0;
}
