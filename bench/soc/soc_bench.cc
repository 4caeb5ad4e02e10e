// bench_soc: the SOC pipeline's figures (docs/soc.md). Prints, never asserts.
//
//  1. L8 analytics in one process: Analyze + SOAR over parsed events (goal >= 1,000,000/s).
//  2. Per-stage rate of each transformation (parse + model + serialize) beside the
//     throughput SLOs of spec §6.1 (L3 > 1,000/s, L4 > 500/s, L8 > 10,000/s).
//  3. End to end on the embedded stores, two tenants: events/s from {T}_L3_IN to the
//     archive and the p50/p99 latency (ingest_ts_ms -> l8_enrichment.ts_ms, which is
//     taken just before the archive write).
//  4. The Redis-bound limit: redis-benchmark's pipelined XADD rate on a local
//     redis-server divided by the Redis operations one event costs in this pipeline.
//
//   bench_soc [--events N] [--l8-events N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "devices/soc/pipeline.h"
#include "redis_server.h"
#include "store/archive.h"
#include "store/streams.h"
#include "tenant/policy.h"

namespace {

using namespace dsmil;
using namespace dsmil::soc;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EventJson(const std::string& tenant, int i, int64_t ingest_ms) {
  static const char* kSigs[] = {"port scan detected", "failed login burst", "tls handshake classical kex",
                                "c2 callback", "bulk download", "log integrity check"};
  char id[40];
  std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012d", tenant == "ALPHA" ? 0xa : 0xb, i);
  std::string s = std::string(R"({"event_id":")") + id + R"(","tenant":")" + tenant + R"(","ts_ms":)" +
                  std::to_string(1764245000000 + i) + R"(,"ingest_ts_ms":)" + std::to_string(ingest_ms) +
                  R"(,"source":"bench","features":{"src_host":"ws-)" + std::to_string(i % 500) +
                  R"(","dst_domain":"d)" + std::to_string(i % 97) + R"(.example","dst_port":)" +
                  std::to_string(i % 3 ? 443 : 4444) + R"(,"bytes_out":)" + std::to_string((i * 7919) % 30000000) +
                  R"(,"failed_logins":)" + std::to_string(i % 13) + R"(,"kex":")" +
                  (i % 4 ? "X25519MLKEM768" : "X25519") + R"(","anomaly_score":)" + std::to_string((i % 10) / 10.0) +
                  R"(,"signature":")" + kSigs[i % 6] + R"("}})";
  return s;
}

double Rate(size_t n, Clock::duration d) { return double(n) / std::chrono::duration<double>(d).count(); }

std::string Fmt(double v) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.0f", v);
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0 && (n - i) % 3 == 0) out.push_back(',');
    out.push_back(buf[i]);
  }
  return out;
}

double Percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5));
  return double(v[i]);
}

}  // namespace

int main(int argc, char** argv) {
  size_t n_e2e = 20000, n_l8 = 200000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--events")) n_e2e = std::stoul(argv[++i]);
    else if (!std::strcmp(argv[i], "--l8-events")) n_l8 = std::stoul(argv[++i]);
  }
  auto l4r = L4Model::Load(DSMIL_SOURCE_DIR "/models/l4_classifier.json");
  if (!l4r.ok()) {
    std::fprintf(stderr, "bench_soc: %s\n", l4r.status().ToString().c_str());
    return 2;
  }
  L4Model l4 = std::move(*l4r);
  L3Model l3 = L3Model::Default();
  std::vector<std::string> alpha_allowed = {"ISOLATE_HOST", "BLOCK_DOMAIN"};
  std::printf("bench_soc: SOC pipeline figures (%u hardware threads)\n\n", std::thread::hardware_concurrency());

  // ---- 1. L8 analytics in one process ----
  {
    std::vector<SocEvent> events;
    events.reserve(20000);
    for (int i = 0; i < 20000; ++i) {
      auto e = ParseEvent(EventJson("ALPHA", i, 0), "ALPHA");
      ApplyL3(l3, 18, 0, *e);
      ApplyL4(l4, 25, 0, *e);
      events.push_back(std::move(*e));
    }
    L8Analyzer a;
    uint64_t flagged = 0, proposals = 0;
    size_t done = 0;
    auto t0 = Clock::now();
    while (done < n_l8) {
      for (auto& e : events) {
        flagged += a.Analyze(e, 1) != 0;
        proposals += ProposeActions(e, alpha_allowed);
        if (++done == n_l8) break;
      }
    }
    double r = Rate(done, Clock::now() - t0);
    std::printf("1. L8 analytics (devices 51-58 rules + SOAR), one thread, parsed events\n");
    std::printf("   %s events/s   (goal >= 1,000,000/s: %s)   flagged %.0f%%, %.2f proposals/event\n\n",
                Fmt(r).c_str(), r >= 1e6 ? "met" : "NOT met", 100.0 * double(flagged) / double(done),
                double(proposals) / double(done));
  }

  // ---- 2. Per-stage transformation rate ----
  {
    const int n = 20000;
    std::vector<std::string> in;
    for (int i = 0; i < n; ++i) in.push_back(EventJson("ALPHA", i, 0));
    std::vector<std::string> out3, out4;
    auto t0 = Clock::now();
    for (const auto& s : in) {
      auto e = ParseEvent(s, "ALPHA");
      ApplyL3(l3, 18, 1, *e);
      out3.push_back(EventToJson(*e));
    }
    double r3 = Rate(n, Clock::now() - t0);
    t0 = Clock::now();
    for (const auto& s : out3) {
      auto e = ParseEvent(s, "ALPHA");
      ApplyL4(l4, 25, 1, *e);
      out4.push_back(EventToJson(*e));
    }
    double r4 = Rate(n, Clock::now() - t0);
    L8Analyzer a;
    t0 = Clock::now();
    size_t bytes = 0;
    for (const auto& s : out4) {
      auto e = ParseEvent(s, "ALPHA");
      ApplyL8(a, alpha_allowed, 1, *e);
      bytes += EventToJson(*e).size();
    }
    double r8 = Rate(n, Clock::now() - t0);
    std::printf("2. Per-stage transformation, one thread (JSON parse + model + JSON write)\n");
    std::printf("   %-4s %12s events/s   SLO > %s/s   x%.0f\n", "L3", Fmt(r3).c_str(), "1,000", r3 / 1000);
    std::printf("   %-4s %12s events/s   SLO > %s/s     x%.0f\n", "L4", Fmt(r4).c_str(), "500", r4 / 500);
    std::printf("   %-4s %12s events/s   SLO > %s/s  x%.1f   (avg enriched event %zu bytes)\n\n", "L8",
                Fmt(r8).c_str(), "10,000", r8 / 10000, bytes / size_t(n));
  }

  // ---- 3. End to end on the embedded stores, two tenants ----
  {
    fs::path dir = fs::temp_directory_path() / ("bench-soc-" + NewUuid());
    fs::create_directories(dir / "policies");
    fs::copy_file(DSMIL_SOURCE_DIR "/deploy/policies/alpha.yaml", dir / "policies/alpha.yaml");
    fs::copy_file(DSMIL_SOURCE_DIR "/deploy/policies/bravo.yaml", dir / "policies/bravo.yaml");
    store::StoresConfig sc;
    sc.kind = "embedded";
    sc.path = (dir / "data").string();
    tenant::PolicyStore policies((dir / "policies").string());
    std::map<std::string, L8Analyzer> analyzers;
    std::vector<std::unique_ptr<StageWorker>> workers;
    bool ok = true;
    auto open = [&](const std::string& t, store::Access a) -> std::unique_ptr<store::Streams> {
      auto s = store::OpenStreams(sc, *store::TenantScope::For(t), a);
      if (!s.ok()) {
        std::printf("   embedded streams: %s\n", s.status().ToString().c_str());
        ok = false;
        return nullptr;
      }
      return std::move(*s);
    };
    const std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
    for (const auto& t : tenants) {
      for (Stage st : {Stage::kL3, Stage::kL4, Stage::kL8}) {
        WorkerOptions o;
        o.stage = st;
        o.tenant = t;
        o.device = st == Stage::kL3 ? 18 : st == Stage::kL4 ? 25 : 58;
        o.batch = 256;
        o.block = std::chrono::milliseconds(5);
        StageModels m{&l3, &l4, &analyzers[t], &policies};
        std::unique_ptr<store::Archive> arch;
        if (st == Stage::kL8) {
          auto a = store::OpenArchive(sc, *store::TenantScope::For(t));
          if (!a.ok()) {
            std::printf("   embedded archive: %s\n", a.status().ToString().c_str());
            ok = false;
            break;
          }
          arch = std::move(*a);
        }
        auto r = open(t, store::Access::kReader);
        auto w = open(t, store::Access::kWriter);
        if (!ok) break;
        workers.push_back(std::make_unique<StageWorker>(o, m, std::move(r), std::move(w), std::move(arch)));
      }
    }
    std::printf("3. End to end on the embedded stores (SQLite), two tenants, %zu events each\n", n_e2e);
    if (ok) {
      for (auto& w : workers) {
        Status s = w->Start();
        if (!s.ok()) {
          std::printf("   start: %s\n", s.ToString().c_str());
          ok = false;
        }
      }
    }
    if (ok) {
      auto t0 = Clock::now();
      std::vector<std::thread> producers;
      for (const auto& t : tenants) {
        producers.emplace_back([&, t] {
          auto w = open(t, store::Access::kWriter);
          if (!w) return;
          for (size_t i = 0; i < n_e2e; i += 200) {
            std::vector<std::string> batch;
            for (size_t j = i; j < std::min(n_e2e, i + 200); ++j) batch.push_back(EventJson(t, int(j), WallMs()));
            (void)w->Append(store::StreamKind::kL3In, batch);
          }
        });
      }
      for (auto& p : producers) p.join();
      std::vector<std::unique_ptr<store::Archive>> archives;
      for (const auto& t : tenants) {
        auto ar = store::OpenArchive(sc, *store::TenantScope::For(t));
        if (ar.ok()) archives.push_back(std::move(*ar));
      }
      auto deadline = Clock::now() + std::chrono::seconds(300);
      uint64_t total = 0;
      while (Clock::now() < deadline) {
        total = 0;
        for (auto& a : archives) {
          auto c = a->Count();
          if (c.ok()) total += *c;
        }
        if (total >= 2 * n_e2e) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      auto elapsed = Clock::now() - t0;
      for (auto& w : workers) w->Stop();
      std::vector<int64_t> lat;
      for (auto& a : archives) {
        auto rows = a->Recent(n_e2e, 0);
        if (!rows.ok()) continue;
        for (const auto& r : *rows) {
          auto e = ParseEvent(r.body, a->scope().tenant());
          if (e.ok() && e->ingest_ts_ms > 0) lat.push_back(e->l8.ts_ms - e->ingest_ts_ms);
        }
      }
      std::printf("   %s events/s archived (%llu of %zu in %.2f s), latency L3_IN -> archive p50 %.0f ms, p99 %.0f ms\n",
                  Fmt(Rate(total, elapsed)).c_str(), static_cast<unsigned long long>(total), 2 * n_e2e,
                  std::chrono::duration<double>(elapsed).count(), Percentile(lat, 0.5), Percentile(lat, 0.99));
      uint64_t per_stage[3] = {0, 0, 0};
      for (auto& w : workers) per_stage[int(w->options().stage)] += w->stats().processed.load();
      std::printf("   entries acknowledged: L3 %llu, L4 %llu, L8 %llu (L8 also acks its own enriched copies)\n",
                  static_cast<unsigned long long>(per_stage[0]), static_cast<unsigned long long>(per_stage[1]),
                  static_cast<unsigned long long>(per_stage[2]));
      std::printf("   (latency includes the producer's head start: events are appended faster than the stages drain)\n");
    }
    workers.clear();
    std::error_code ec;
    fs::remove_all(dir, ec);
    std::printf("\n");
  }

  // ---- 4. The Redis-bound limit ----
  {
    // Redis operations per event: ingest XADD; L3 XREADGROUP share, 2 XADD, XACK; L4 the
    // same; L8 XREADGROUP share, XADD (enriched copy), XACK, plus reading and acking its
    // own enriched copy. Batched reads count as one op per event here (upper bound).
    const double kOpsPerEvent = 1 + 4 + 4 + 5;
    std::printf("4. Redis-bound limit (pipelined XADD rate / %.0f Redis ops per event)\n", kOpsPerEvent);
    dsmil::testing::RedisServerOptions ro;
    ro.appendonly = false;
    auto server = dsmil::testing::RedisServer::Start(ro);
    if (!server.ok()) {
      std::printf("   not measured: %s\n", server.status().ToString().c_str());
    } else {
      std::string cmd = "redis-benchmark -h 127.0.0.1 -p " + std::to_string((*server)->port()) +
                        " -t xadd -n 200000 -P 32 -q 2>&1";
      FILE* p = ::popen(cmd.c_str(), "r");
      double rps = 0;
      char line[512];
      while (p && std::fgets(line, sizeof line, p)) {
        const char* at = std::strstr(line, "XADD");
        if (!at) continue;
        const char* colon = std::strchr(at, ':');
        if (colon) rps = std::atof(colon + 1);
      }
      if (p) ::pclose(p);
      if (rps <= 0) {
        std::printf("   not measured: redis-benchmark gave no XADD figure (%s)\n", cmd.c_str());
      } else {
        std::printf("   redis-benchmark XADD (pipeline 32): %s ops/s -> at most %s events/s per Redis instance\n",
                    Fmt(rps).c_str(), Fmt(rps / kOpsPerEvent).c_str());
      }
    }
    std::printf("   e2e on Redis + PostgreSQL: not run by this benchmark (see the report of tests/soc)\n");
  }
  return 0;
}
