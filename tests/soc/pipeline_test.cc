// The SOC pipeline on real stores, each case twice: on the embedded stores
// (SQLite streams and archive in a temporary directory) and on real Redis 7 +
// PostgreSQL 15 servers started once for the binary (tests/support; a missing
// server binary fails the "servers" cases naming it). Two tenants end to end
// with the stage loops on their own threads, drill 2, SOAR per tenant policy,
// a policy edit taking effect without a restart, tenant isolation, and a
// killed L4 consumer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "devices/soc/pipeline.h"
#include "postgres_server.h"
#include "redis_server.h"
#include "store/archive.h"
#include "store/pg_init.h"
#include "store/redis_acl.h"
#include "store/streams.h"
#include "tenant/policy.h"

namespace dsmil::soc {
namespace {

namespace fs = std::filesystem;
using store::Access;
using store::StreamKind;
using namespace std::chrono_literals;

std::string Event(const std::string& tenant, int i, const std::string& extra = "") {
  char id[40];
  std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012d", tenant == "ALPHA" ? 0xa : 0xb, i);
  return std::string(R"({"event_id":")") + id + R"(","ts_ms":)" + std::to_string(1764245000000 + i) +
         R"(,"source":"sensor","features":{"src_host":"ws-)" + std::to_string(i % 7) +
         R"(","dst_domain":"evil.example","dst_port":4444,"bytes_out":)" + std::to_string(20000000 + i) +
         R"(,"failed_logins":30,"anomaly_score":0.9})" + extra + "}";
}

// Redis (with the tenants' ACL users) and PostgreSQL (with the archive
// schemas and roles), started on first use and shared by the "servers" cases.
struct Servers {
  fs::path dir;
  std::unique_ptr<dsmil::testing::RedisServer> redis;
  std::unique_ptr<dsmil::testing::PostgresServer> postgres;
  std::string admin_password;
  Status status = Status::Ok();

  static Servers& Get() {
    static Servers* s = [] {
      auto* x = new Servers;
      x->status = x->Start();
      return x;
    }();
    return *s;
  }

  Status Start() {
    dir = fs::temp_directory_path() / ("soc-servers-" + NewUuid());
    fs::create_directories(dir / "secrets");
    const std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
    DSMIL_ASSIGN_OR_RETURN(auto passwords, store::EnsureRedisPasswords((dir / "secrets").string(), tenants));
    DSMIL_ASSIGN_OR_RETURN(std::string acl, store::RenderRedisAcl(tenants, passwords));
    admin_password = passwords[store::kRedisAdminUser];
    dsmil::testing::RedisServerOptions ro;
    ro.acl = acl;
    ro.ping_user = store::kRedisAdminUser;
    ro.ping_password = admin_password;
    ro.appendfsync = "everysec";
    DSMIL_ASSIGN_OR_RETURN(redis, dsmil::testing::RedisServer::Start(ro));
    std::vector<store::TenantScope> scopes = {*store::TenantScope::For("ALPHA"), *store::TenantScope::For("BRAVO")};
    DSMIL_ASSIGN_OR_RETURN(std::string sql, store::RenderPgInitSql(scopes, (dir / "secrets").string()));
    dsmil::testing::PostgresServerOptions po;
    po.init_sql = sql;
    DSMIL_ASSIGN_OR_RETURN(postgres, dsmil::testing::PostgresServer::Start(po));
    return Status::Ok();
  }

  store::StoresConfig Config() const {
    store::StoresConfig c;
    c.kind = "servers";
    c.path = (dir / "data").string();
    c.secrets_dir = (dir / "secrets").string();
    c.redis.host = redis->host();
    c.redis.port = redis->port();
    c.postgres.host = postgres->host();
    c.postgres.port = postgres->port();
    c.postgres.dbname = postgres->dbname();
    return c;
  }

  // Empties every stream and archive table between cases.
  Status Reset() {
    std::string cmd = "redis-cli -h " + redis->host() + " -p " + std::to_string(redis->port()) + " --user " +
                      store::kRedisAdminUser + " --pass " + admin_password + " --no-auth-warning FLUSHALL >/dev/null";
    if (std::system(cmd.c_str()) != 0) return Status::Internal("redis-cli FLUSHALL failed");
    auto r = postgres->Psql("TRUNCATE dsmil_alpha.events, dsmil_bravo.events");
    return r.ok() ? Status::Ok() : r.status();
  }
};

class SocPipeline : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("soc-it-" + NewUuid());
    fs::create_directories(dir_ / "policies");
    fs::copy_file(DSMIL_SOURCE_DIR "/deploy/policies/alpha.yaml", dir_ / "policies/alpha.yaml");
    fs::copy_file(DSMIL_SOURCE_DIR "/deploy/policies/bravo.yaml", dir_ / "policies/bravo.yaml");
    if (GetParam() == "servers") {
      Servers& s = Servers::Get();
      ASSERT_TRUE(s.status.ok()) << "Redis + PostgreSQL for the servers cases: " << s.status.ToString();
      Status r = s.Reset();
      ASSERT_TRUE(r.ok()) << r.ToString();
      stores_ = s.Config();
    } else {
      stores_.kind = "embedded";
      stores_.path = (dir_ / "data").string();
    }
    auto l4 = L4Model::Load(DSMIL_SOURCE_DIR "/models/l4_classifier.json");
    ASSERT_TRUE(l4.ok()) << l4.status().ToString();
    l4_ = std::make_unique<L4Model>(std::move(*l4));
    policies_ = std::make_unique<tenant::PolicyStore>((dir_ / "policies").string(), 0ms);
  }
  void TearDown() override {
    workers_.clear();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<store::Streams> Open(const std::string& tenant, Access a) {
    auto s = store::OpenStreams(stores_, *store::TenantScope::For(tenant), a);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<store::Archive> OpenArchive(const std::string& tenant) {
    auto a = store::OpenArchive(stores_, *store::TenantScope::For(tenant));
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? std::move(*a) : nullptr;
  }

  StageWorker* Start(Stage stage, const std::string& tenant, std::chrono::milliseconds min_idle = 30000ms,
                     const std::string& consumer = "") {
    WorkerOptions o;
    o.stage = stage;
    o.tenant = tenant;
    o.device = stage == Stage::kL3 ? 18 : stage == Stage::kL4 ? 25 : 58;
    o.consumer = consumer;
    o.batch = 64;
    o.block = 20ms;
    o.claim_min_idle = min_idle;
    StageModels m;
    m.l3 = &l3_;
    m.l4 = l4_.get();
    m.l8 = &analyzers_[tenant];
    m.policies = policies_.get();
    auto w = std::make_unique<StageWorker>(o, m, Open(tenant, Access::kReader), Open(tenant, Access::kWriter),
                                           stage == Stage::kL8 ? OpenArchive(tenant) : nullptr);
    Status s = w->Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    workers_.push_back(std::move(w));
    return workers_.back().get();
  }

  void Append(const std::string& tenant, StreamKind k, const std::vector<std::string>& v) {
    auto w = Open(tenant, Access::kWriter);
    auto r = w->Append(k, v);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  // Waits until the tenant's archive holds `n` rows.
  uint64_t WaitArchived(const std::string& tenant, uint64_t n, std::chrono::seconds timeout = 60s) {
    auto a = OpenArchive(tenant);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    uint64_t c = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = a->Count();
      if (r.ok()) c = *r;
      if (c >= n) break;
      std::this_thread::sleep_for(20ms);
    }
    return c;
  }

  // Every entry of a stream (oldest first).
  std::vector<store::StreamEntry> All(const std::string& tenant, StreamKind k) {
    auto r = Open(tenant, Access::kReader)->Range(k, "0", 100000);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<store::StreamEntry>{};
  }

  fs::path dir_;
  store::StoresConfig stores_;
  L3Model l3_ = L3Model::Default();
  std::unique_ptr<L4Model> l4_;
  std::map<std::string, L8Analyzer> analyzers_;
  std::unique_ptr<tenant::PolicyStore> policies_;
  std::vector<std::unique_ptr<StageWorker>> workers_;
};

TEST_P(SocPipeline, TwoTenantsEndToEndIsolatedWithTheirOwnSoar) {
  constexpr int kN = 200;
  for (const std::string t : {"ALPHA", "BRAVO"}) {
    std::vector<std::string> v;
    for (int i = 0; i < kN; ++i) v.push_back(Event(t, i));
    Append(t, StreamKind::kL3In, v);
    Append(t, StreamKind::kL3In, {"{broken"});
    for (Stage s : {Stage::kL3, Stage::kL4, Stage::kL8}) Start(s, t);
  }
  EXPECT_EQ(WaitArchived("ALPHA", kN), uint64_t(kN));
  EXPECT_EQ(WaitArchived("BRAVO", kN), uint64_t(kN));
  for (auto& w : workers_) w->Stop();

  for (const std::string t : {"ALPHA", "BRAVO"}) {
    const std::string other = t == "ALPHA" ? "BRAVO" : "ALPHA";
    auto dead = All(t, StreamKind::kDeadLetter);
    ASSERT_EQ(dead.size(), 1u) << t;
    EXPECT_NE(dead[0].payload.find("event: not valid JSON"), std::string::npos);
    std::set<std::string> actions;
    int enriched = 0;
    for (const auto& k : store::kAllStreams) {
      for (const auto& e : All(t, k)) {
        // Nothing of the other tenant in any of this tenant's streams.
        EXPECT_EQ(e.payload.find("\"tenant\":\"" + other + "\""), std::string::npos) << t;
        if (k != StreamKind::kSocEvents) continue;
        auto ev = ParseEvent(e.payload, t);
        ASSERT_TRUE(ev.ok()) << ev.status().ToString();
        if (!ev->enriched) continue;
        ++enriched;
        for (const auto& p : ev->proposals) actions.insert(p.action);
      }
    }
    EXPECT_EQ(enriched, kN) << t;
    if (t == "ALPHA") {
      EXPECT_TRUE(actions.count("ISOLATE_HOST"));
      EXPECT_TRUE(actions.count("BLOCK_DOMAIN"));
      EXPECT_FALSE(actions.count("ALERT_ONLY"));
    } else {
      EXPECT_EQ(actions, std::set<std::string>{"ALERT_ONLY"});
    }
    auto rows = OpenArchive(t)->Recent(1000, 0);
    ASSERT_TRUE(rows.ok());
    for (const auto& r : *rows) EXPECT_EQ(r.body.find("\"tenant\":\"" + other + "\""), std::string::npos);
  }
}

TEST_P(SocPipeline, Drill2LayerDiscrepancyOnAlphaSocEvents) {
  std::string crafted =
      Event("ALPHA", 1, R"(,"l3":{"score":0.95},"l4":{"category":"SOC","severity":"MEDIUM","confidence":0.15})");
  Append("ALPHA", StreamKind::kSocEvents, {crafted});
  Start(Stage::kL8, "ALPHA");
  ASSERT_EQ(WaitArchived("ALPHA", 1), 1u);
  workers_.clear();
  auto soc = All("ALPHA", StreamKind::kSocEvents);
  ASSERT_EQ(soc.size(), 2u);
  auto e = ParseEvent(soc[1].payload, "ALPHA");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->enriched);
  EXPECT_TRUE(e->l8.flags & kFlagLayerDiscrepancy);
  EXPECT_NE(soc[1].payload.find(R"("advml_flags":["LAYER_DISCREPANCY","POSSIBLE_LOG_TAMPER"])"), std::string::npos);
}

TEST_P(SocPipeline, PolicyEditTakesEffectWithoutRestart) {
  // BRAVO allows ALERT_ONLY only; then the operator allows ISOLATE_HOST.
  StageWorker* l8 = Start(Stage::kL8, "BRAVO");
  std::string crit = R"(,"l3":{"score":0.9},"l4":{"category":"NETWORK","severity":"CRITICAL","confidence":0.9})";
  Append("BRAVO", StreamKind::kSocEvents, {Event("BRAVO", 1, crit)});
  ASSERT_EQ(WaitArchived("BRAVO", 1), 1u);
  {
    std::ofstream out(dir_ / "policies/bravo.yaml");
    out << "tenant: BRAVO\nversion: 2\nroe_level: ANALYSIS_ONLY\ncompartments: [SOC]\n"
           "allowed_actions: [ALERT_ONLY, ISOLATE_HOST]\n";
  }
  fs::last_write_time(dir_ / "policies/bravo.yaml", fs::file_time_type::clock::now() + 2s);
  Append("BRAVO", StreamKind::kSocEvents, {Event("BRAVO", 2, crit)});
  ASSERT_EQ(WaitArchived("BRAVO", 2), 2u);
  // A broken edit keeps version 2 in force.
  {
    std::ofstream out(dir_ / "policies/bravo.yaml");
    out << "tenant: BRAVO\nversion: 3\nroe_level: ANALYSIS_ONLY\ncompartments: [SOC]\nallowed_actions: [NUKE]\n";
  }
  fs::last_write_time(dir_ / "policies/bravo.yaml", fs::file_time_type::clock::now() + 4s);
  Append("BRAVO", StreamKind::kSocEvents, {Event("BRAVO", 3, crit)});
  ASSERT_EQ(WaitArchived("BRAVO", 3), 3u);
  EXPECT_TRUE(l8->running());
  workers_.clear();

  std::vector<std::set<std::string>> per_event;
  for (const auto& e : All("BRAVO", StreamKind::kSocEvents)) {
    auto ev = ParseEvent(e.payload, "BRAVO");
    ASSERT_TRUE(ev.ok());
    if (!ev->enriched) continue;
    std::set<std::string> a;
    for (const auto& p : ev->proposals) a.insert(p.action);
    per_event.push_back(a);
  }
  ASSERT_EQ(per_event.size(), 3u);
  EXPECT_EQ(per_event[0], std::set<std::string>{"ALERT_ONLY"});
  EXPECT_EQ(per_event[1], (std::set<std::string>{"ALERT_ONLY", "ISOLATE_HOST"}));
  EXPECT_EQ(per_event[2], (std::set<std::string>{"ALERT_ONLY", "ISOLATE_HOST"}));
  EXPECT_NE(policies_->LastError("BRAVO").find("unknown action 'NUKE'"), std::string::npos);
}

TEST_P(SocPipeline, KilledL4WorkerEveryEventArchivedExactlyOnce) {
  constexpr int kN = 300;
  std::vector<std::string> v;
  for (int i = 0; i < kN; ++i) v.push_back(Event("ALPHA", i));
  Append("ALPHA", StreamKind::kL3In, v);
  Start(Stage::kL3, "ALPHA");
  Start(Stage::kL8, "ALPHA");
  // The L4 consumer "node-a-25" takes a batch and dies without acknowledging it.
  {
    auto r = Open("ALPHA", Access::kReader);
    ASSERT_TRUE(r->EnsureGroup(StreamKind::kL4In, "l4").ok());
    std::vector<store::StreamEntry> got;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (got.empty() && std::chrono::steady_clock::now() < deadline) {
      auto b = r->ReadGroup(StreamKind::kL4In, "l4", "node-a-25", 50, 100ms);
      ASSERT_TRUE(b.ok()) << b.status().ToString();
      got = *b;
    }
    ASSERT_FALSE(got.empty());
  }
  // A worker that runs for a while, then stops mid-stream.
  StageWorker* first = Start(Stage::kL4, "ALPHA", 30000ms, "node-a-25b");
  std::this_thread::sleep_for(100ms);
  first->Stop();
  // The restarted worker claims what the dead consumer held (min_idle 50 ms).
  std::this_thread::sleep_for(100ms);
  StageWorker* again = Start(Stage::kL4, "ALPHA", 50ms, "node-a-25");
  EXPECT_EQ(WaitArchived("ALPHA", kN), uint64_t(kN));
  EXPECT_GT(again->stats().claimed.load(), 0u);
  std::this_thread::sleep_for(200ms);
  workers_.clear();
  auto rows = OpenArchive("ALPHA")->Recent(10000, 0);
  ASSERT_TRUE(rows.ok());
  std::set<std::string> ids;
  for (const auto& r : *rows) ids.insert(r.event_id);
  EXPECT_EQ(rows->size(), size_t(kN));
  EXPECT_EQ(ids.size(), size_t(kN));
}

INSTANTIATE_TEST_SUITE_P(Stores, SocPipeline, ::testing::Values("embedded", "servers"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace dsmil::soc
