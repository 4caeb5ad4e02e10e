// bench_soc: the SOC pipeline's figures (docs/soc.md). Prints, never asserts.
//
//  1. L8 analytics in one process: Analyze + SOAR over parsed events (goal >= 1,000,000/s).
//  2. Per-stage rate of each transformation (parse + model + serialize) beside the
//     throughput SLOs of spec §6.1 (L3 > 1,000/s, L4 > 500/s, L8 > 10,000/s).
//  3. End to end, two tenants, on the embedded stores and on local Redis 7 + PostgreSQL 15
//     (ACL users and roles as in production): events/s from {T}_L3_IN to the archive in a
//     burst, and the p50/p99 latency (ingest_ts_ms -> l8_enrichment.ts_ms, taken just
//     before the archive write) at a paced 500 events/s per tenant.
//  4. The Redis-bound limit: redis-benchmark's pipelined XADD rate (800-byte entry) on a local
//     redis-server divided by the Redis operations one event costs in this pipeline.
//
//   bench_soc [--events N] [--l8-events N]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "devices/l8/sigma.h"
#include "devices/soc/pipeline.h"
#include "postgres_server.h"
#include "redis_server.h"
#include "store/archive.h"
#include "store/pg_init.h"
#include "store/redis_acl.h"
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
                                "c2 callback",        "bulk download",      "log integrity check"};
  char id[40];
  std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012d", tenant == "ALPHA" ? 0xa : 0xb, i);
  std::string s = std::string(R"({"event_id":")") + id + R"(","tenant":")" + tenant + R"(","ts_ms":)" +
                  std::to_string(1764245000000 + i) + R"(,"ingest_ts_ms":)" + std::to_string(ingest_ms) +
                  R"(,"source":"bench","features":{"src_host":"ws-)" + std::to_string(i % 500) +
                  R"(","dst_domain":"d)" + std::to_string(i % 97) + R"(.example","dst_port":)" +
                  std::to_string(i % 3 ? 443 : 4444) + R"(,"bytes_out":)" +
                  std::to_string((int64_t(i) * 7919) % 30000000) + R"(,"failed_logins":)" + std::to_string(i % 13) +
                  R"(,"kex":")" + (i % 4 ? "X25519MLKEM768" : "X25519") + R"(","anomaly_score":)" +
                  std::to_string((i % 10) / 10.0) + R"(,"signature":")" + kSigs[i % 6] + R"("}})";
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
  size_t i = std::min(v.size() - 1, size_t(std::llround(q * double(v.size() - 1))));
  return double(v[i]);
}

struct Models {
  const L3Model* l3;
  const L4Model* l4;
  tenant::PolicyStore* policies;
};

struct E2E {
  std::string error;
  uint64_t archived = 0, expected = 0;
  double seconds = 0, rate = 0, p50_ms = 0, p99_ms = 0;
  uint64_t acked[3] = {0, 0, 0};
};

// Runs the three stages of both tenants on `sc`, appends `n` events per tenant to
// {T}_L3_IN (ids from `offset`; paced at `per_second` per tenant when > 0, else as
// fast as possible) and waits until the archives hold them.
E2E RunE2E(const store::StoresConfig& sc, const Models& models, size_t n, int offset, int per_second) {
  E2E out;
  const std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
  std::map<std::string, L8Analyzer> analyzers;
  std::vector<std::unique_ptr<StageWorker>> workers;
  auto fail = [&](const Status& s) {
    out.error = s.ToString();
    return out;
  };
  std::vector<std::unique_ptr<store::Archive>> archives;
  std::vector<uint64_t> base;
  for (const auto& t : tenants) {
    auto scope = *store::TenantScope::For(t);
    auto ar = store::OpenArchive(sc, scope);
    if (!ar.ok()) return fail(ar.status());
    auto c = (*ar)->Count();
    base.push_back(c.ok() ? *c : 0);
    archives.push_back(std::move(*ar));
    for (Stage st : {Stage::kL3, Stage::kL4, Stage::kL8}) {
      WorkerOptions o;
      o.stage = st;
      o.tenant = t;
      o.device = st == Stage::kL3 ? 18 : st == Stage::kL4 ? 25 : 58;
      o.batch = 256;
      o.block = std::chrono::milliseconds(5);
      StageModels m{models.l3, models.l4, &analyzers[t], models.policies};
      std::unique_ptr<store::Archive> arch;
      if (st == Stage::kL8) {
        auto a = store::OpenArchive(sc, scope);
        if (!a.ok()) return fail(a.status());
        arch = std::move(*a);
      }
      auto r = store::OpenStreams(sc, scope, store::Access::kReader);
      if (!r.ok()) return fail(r.status());
      auto w = store::OpenStreams(sc, scope, store::Access::kWriter);
      if (!w.ok()) return fail(w.status());
      workers.push_back(std::make_unique<StageWorker>(o, m, std::move(*r), std::move(*w), std::move(arch)));
      Status s = workers.back()->Start();
      if (!s.ok()) return fail(s);
    }
  }
  auto t0 = Clock::now();
  std::vector<std::thread> producers;
  producers.reserve(tenants.size());
  for (const auto& t : tenants) {
    producers.emplace_back([&, t] {
      auto w = store::OpenStreams(sc, *store::TenantScope::For(t), store::Access::kWriter);
      if (!w.ok()) return;
      const size_t chunk = per_second > 0 ? std::max<size_t>(1, size_t(per_second) / 50) : 200;
      for (size_t i = 0; i < n; i += chunk) {
        if (per_second > 0) {
          auto due = t0 + std::chrono::microseconds(int64_t(i) * 1000000 / per_second);
          std::this_thread::sleep_until(due);
        }
        std::vector<std::string> batch;
        for (size_t j = i; j < std::min(n, i + chunk); ++j) batch.push_back(EventJson(t, offset + int(j), WallMs()));
        (void)(*w)->Append(store::StreamKind::kL3In, batch);
      }
    });
  }
  for (auto& p : producers) p.join();
  out.expected = 2 * n;
  auto deadline = Clock::now() + std::chrono::seconds(120);
  int polls = 0;
  while (Clock::now() < deadline) {
    out.archived = 0;
    for (size_t i = 0; i < archives.size(); ++i) {
      auto c = archives[i]->Count();
      if (c.ok()) out.archived += *c - base[i];
    }
    if (out.archived >= out.expected) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (++polls % 500 == 0) {
      std::fprintf(stderr, "   ... %llu of %llu archived\n", static_cast<unsigned long long>(out.archived),
                   static_cast<unsigned long long>(out.expected));
      for (auto& w : workers) {
        if (!w->last_error().empty()) {
          std::fprintf(stderr, "   %s %s: %s\n", w->options().tenant.c_str(),
                       std::string(StageName(w->options().stage)).c_str(), w->last_error().c_str());
        }
      }
    }
  }
  auto elapsed = Clock::now() - t0;
  for (auto& w : workers) w->Stop();
  for (auto& w : workers) out.acked[int(w->options().stage)] += w->stats().processed.load();
  out.seconds = std::chrono::duration<double>(elapsed).count();
  out.rate = double(out.archived) / out.seconds;
  std::vector<int64_t> lat;
  for (auto& a : archives) {
    auto rows = a->Recent(n, 0);
    if (!rows.ok()) continue;
    for (const auto& r : *rows) {
      auto e = ParseEvent(r.body, a->scope().tenant());
      if (e.ok() && e->ingest_ts_ms > 0) lat.push_back(e->l8.ts_ms - e->ingest_ts_ms);
    }
  }
  out.p50_ms = Percentile(lat, 0.5);
  out.p99_ms = Percentile(lat, 0.99);
  return out;
}

void PrintE2E(const E2E& r, const char* label, size_t n) {
  if (!r.error.empty()) {
    std::printf("   %s: not measured: %s\n", label, r.error.c_str());
    return;
  }
  std::printf(
      "   %-24s %zu events/tenant: %s events/s archived (%llu of %llu in %.2f s); "
      "L3_IN -> archive p50 %.0f ms, p99 %.0f ms\n",
      label, n, Fmt(r.rate).c_str(), static_cast<unsigned long long>(r.archived),
      static_cast<unsigned long long>(r.expected), r.seconds, r.p50_ms, r.p99_ms);
}

// Redis with the tenants' ACL users and PostgreSQL with the archive schemas and roles.
Status StartServers(const fs::path& tmp, store::StoresConfig* sc, std::unique_ptr<dsmil::testing::RedisServer>* redis,
                    std::string* admin_password) {
  static std::unique_ptr<dsmil::testing::PostgresServer> postgres;
  fs::create_directories(tmp / "secrets");
  const std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
  DSMIL_ASSIGN_OR_RETURN(auto passwords, store::EnsureRedisPasswords((tmp / "secrets").string(), tenants));
  DSMIL_ASSIGN_OR_RETURN(std::string acl, store::RenderRedisAcl(tenants, passwords));
  *admin_password = passwords[store::kRedisAdminUser];
  dsmil::testing::RedisServerOptions ro;
  ro.acl = acl;
  ro.ping_user = store::kRedisAdminUser;
  ro.ping_password = *admin_password;
  ro.appendfsync = "everysec";
  DSMIL_ASSIGN_OR_RETURN(*redis, dsmil::testing::RedisServer::Start(ro));
  std::vector<store::TenantScope> scopes = {*store::TenantScope::For("ALPHA"), *store::TenantScope::For("BRAVO")};
  DSMIL_ASSIGN_OR_RETURN(std::string sql, store::RenderPgInitSql(scopes, (tmp / "secrets").string()));
  dsmil::testing::PostgresServerOptions po;
  po.init_sql = sql;
  po.fsync = true;
  DSMIL_ASSIGN_OR_RETURN(postgres, dsmil::testing::PostgresServer::Start(po));
  sc->kind = "servers";
  sc->path = (tmp / "servers").string();
  sc->secrets_dir = (tmp / "secrets").string();
  sc->redis.host = (*redis)->host();
  sc->redis.port = (*redis)->port();
  sc->postgres.host = postgres->host();
  sc->postgres.port = postgres->port();
  sc->postgres.dbname = postgres->dbname();
  return Status::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  size_t n_e2e = 20000, n_l8 = 200000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--events")) {
      n_e2e = std::stoul(argv[++i]);
    } else if (!std::strcmp(argv[i], "--l8-events")) {
      n_l8 = std::stoul(argv[++i]);
    }
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

  // 20,000 ALPHA events as L8 receives them (parsed, scored by L3 and L4).
  auto ClassifiedEvents = [&] {
    std::vector<SocEvent> events;
    events.reserve(20000);
    for (int i = 0; i < 20000; ++i) {
      auto e = ParseEvent(EventJson("ALPHA", i, 0), "ALPHA");
      ApplyL3(l3, 18, 0, *e);
      ApplyL4(l4, 25, 0, *e);
      events.push_back(std::move(*e));
    }
    return events;
  };

  // ---- 1. L8 analytics in one process ----
  {
    std::vector<SocEvent> events = ClassifiedEvents();
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
    std::printf("   %s events/s   (goal >= 1,000,000/s: %s)   flagged %.0f%%, %.2f proposals/event\n\n", Fmt(r).c_str(),
                r >= 1e6 ? "met" : "NOT met", 100.0 * double(flagged) / double(done), double(proposals) / double(done));
  }

  // ---- 1b. L8 analytics with the tenant's Sigma rules ----
  // The shipped rules (deploy/sigma/rules/alpha) repeated under distinct ids
  // up to 100 and 1,000 rules, matched on every event after Analyze + SOAR;
  // beside the same loop without rules, in the same run.
  {
    std::vector<SocEvent> events = ClassifiedEvents();
    auto fields = SigmaFieldMap::Load(DSMIL_SOURCE_DIR "/deploy/sigma/fieldmap.yaml");
    std::vector<std::string> texts;
    std::error_code ec;
    for (const auto& f : std::filesystem::directory_iterator(DSMIL_SOURCE_DIR "/deploy/sigma/rules/alpha", ec)) {
      std::ifstream in(f.path());
      std::ostringstream ss;
      ss << in.rdbuf();
      texts.push_back(ss.str());
    }
    std::sort(texts.begin(), texts.end());
    auto run = [&](size_t n_rules, size_t* hits) -> double {
      std::vector<std::shared_ptr<const SigmaRule>> rules;
      for (size_t k = 0; k < n_rules && fields.ok() && !texts.empty(); ++k) {
        std::string t = texts[k % texts.size()];
        size_t id = t.find("\nid:");
        if (id != std::string::npos) t.replace(id + 1, t.find('\n', id + 1) - id - 1, "id: bench-" + std::to_string(k));
        auto r = ParseSigmaRule(t, "bench-" + std::to_string(k) + ".yml", *fields);
        if (r.ok()) rules.push_back(std::make_shared<const SigmaRule>(std::move(*r)));
      }
      SigmaRuleSet set(std::move(rules), {});
      L8Analyzer a;
      std::vector<SigmaMatch> out;
      size_t done = 0;
      *hits = 0;
      auto t0 = Clock::now();
      while (done < n_l8) {
        for (auto& e : events) {
          a.Analyze(e, 1);
          ProposeActions(e, alpha_allowed);
          if (n_rules > 0) {
            out.clear();
            set.MatchInto(e, out);
            *hits += out.size();
          }
          if (++done == n_l8) break;
        }
      }
      return Rate(done, Clock::now() - t0);
    };
    size_t h0 = 0, h100 = 0, h1000 = 0;
    double r0 = run(0, &h0), r100 = run(100, &h100), r1000 = run(1000, &h1000);
    std::printf("1b. L8 analytics + the tenant's Sigma rules, one thread, parsed events%s\n",
                fields.ok() ? "" : (" (field map: " + fields.status().message() + ")").c_str());
    std::printf("   analyzer alone   %s events/s\n", Fmt(r0).c_str());
    std::printf("   + 100 rules      %s events/s   %.3fx the analyzer alone   %.2f hits/event\n", Fmt(r100).c_str(),
                r100 / r0, double(h100) / double(n_l8));
    std::printf("   + 1,000 rules    %s events/s   %.3fx the analyzer alone   %.2f hits/event\n\n", Fmt(r1000).c_str(),
                r1000 / r0, double(h1000) / double(n_l8));
  }

  // ---- 2. Per-stage transformation rate ----
  {
    const int n = 20000;
    std::vector<std::string> in;
    in.reserve(n);
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
    std::printf("   %-4s %12s events/s   SLO > %s/s  x%.1f   (avg enriched event %zu bytes)\n\n", "L8", Fmt(r8).c_str(),
                "10,000", r8 / 10000, bytes / size_t(n));
  }

  // ---- 3. End to end, two tenants: embedded stores, then Redis + PostgreSQL ----
  fs::path tmp = fs::temp_directory_path() / ("bench-soc-" + NewUuid());
  fs::create_directories(tmp / "policies");
  fs::copy_file(DSMIL_SOURCE_DIR "/deploy/policies/alpha.yaml", tmp / "policies/alpha.yaml");
  fs::copy_file(DSMIL_SOURCE_DIR "/deploy/policies/bravo.yaml", tmp / "policies/bravo.yaml");
  tenant::PolicyStore policies((tmp / "policies").string());
  Models models{&l3, &l4, &policies};
  {
    store::StoresConfig sc;
    sc.kind = "embedded";
    sc.path = (tmp / "embedded").string();
    std::printf("3a. End to end on the embedded stores (SQLite), two tenants\n");
    PrintE2E(RunE2E(sc, models, n_e2e, 0, 0), "burst", n_e2e);
    PrintE2E(RunE2E(sc, models, 3000, 1000000, 500), "paced 500/s per tenant", 3000);
  }
  std::unique_ptr<dsmil::testing::RedisServer> redis;
  std::string admin_password;
  {
    std::printf("3b. End to end on Redis 7 + PostgreSQL 15 (local servers, tenant ACL users and roles), two tenants\n");
    store::StoresConfig sc;
    Status st = StartServers(tmp, &sc, &redis, &admin_password);
    if (!st.ok()) {
      std::printf("   not measured: %s\n\n", st.ToString().c_str());
    } else {
      PrintE2E(RunE2E(sc, models, n_e2e, 2000000, 0), "burst", n_e2e);
      PrintE2E(RunE2E(sc, models, 3000, 3000000, 500), "paced 500/s per tenant", 3000);
    }
  }

  // ---- 4. The Redis-bound limit ----
  {
    // Redis operations per event: ingest XADD; L3 XREADGROUP share, 2 XADD, XACK; L4 the
    // same; L8 XREADGROUP share, XADD (enriched copy), XACK, plus reading and acking its
    // own enriched copy. Batched reads count as one op per event here (upper bound).
    const double kOpsPerEvent = 1 + 4 + 4 + 5;
    std::printf("4. Redis-bound limit (pipelined XADD rate of an 800-byte event / %.0f Redis ops per event)\n",
                kOpsPerEvent);
    std::unique_ptr<dsmil::testing::RedisServer> plain;
    dsmil::testing::RedisServerOptions ro;
    ro.appendonly = false;
    auto server = dsmil::testing::RedisServer::Start(ro);
    if (!server.ok()) {
      std::printf("   not measured: %s\n", server.status().ToString().c_str());
    } else {
      std::string cmd = "redis-benchmark -h 127.0.0.1 -p " + std::to_string((*server)->port()) +
                        " -n 200000 -P 32 -q XADD benchstream MAXLEN '~' 100000 '*' data " + std::string(800, 'x') +
                        " 2>&1";
      FILE* p = ::popen(cmd.c_str(), "r");
      std::string out;
      char buf[4096];
      size_t got;
      while (p && (got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
      if (p) ::pclose(p);
      double rps = 0;
      size_t at = out.rfind(" requests per second");
      if (at != std::string::npos) {
        size_t colon = out.rfind(": ", at);
        if (colon != std::string::npos) rps = std::atof(out.c_str() + colon + 2);
      }
      if (rps <= 0) {
        std::printf("   not measured: redis-benchmark gave no XADD figure\n");
      } else {
        std::printf(
            "   redis-benchmark XADD (pipeline 32, AOF off): %s ops/s -> at most %s events/s per Redis instance\n",
            Fmt(rps).c_str(), Fmt(rps / kOpsPerEvent).c_str());
      }
    }
  }
  redis.reset();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}
