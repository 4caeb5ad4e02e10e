// The SOC control API handlers (node/routes_soc.cc) on the embedded stores:
// POST /v1/events (single, batch, dead letters, certificate coverage, fields
// only the pipeline writes, event time bounds), GET /v1/soc/top (403 for an
// uncovered tenant, audited in that tenant's chain; the enriched events and
// stats), and an accepted event run through the three stages into the archive.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "devices/soc/event.h"
#include "devices/soc/pipeline.h"
#include "node/control_routes.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/streams.h"
#include "support/clock_util.h"
#include "tenant/policy.h"

namespace dsmil::node {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class SocRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBuiltinControlRoutes();
    dir_ = fs::temp_directory_path() / ("soc-routes-" + soc::NewUuid());
    // routes_soc.cc keeps one Streams connection per (node, tenant) for the
    // process: a name per test keeps each test on its own directory.
    config_.name = "node-a-" + soc::NewUuid().substr(0, 8);
    config_.stores.kind = "embedded";
    config_.stores.path = dir_.string();
    config_.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}};
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  net::HttpResponse Call(const std::string& method, const std::string& target, std::vector<std::string> tenants,
                         const std::string& body = "") {
    net::HttpRequest req;
    req.method = method;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.body = body;
    req.client_cert_cn = "operator";
    req.client_cert_tenants = std::move(tenants);
    bool mismatch = false;
    const ControlRoute* route = FindControlRoute(method, req.path, &mismatch);
    EXPECT_NE(route, nullptr) << method << " " << req.path;
    if (!route) return {};
    ControlContext ctx{config_, {}, {}, log_, audit()};
    return route->handler(ctx, req);
  }

  std::unique_ptr<store::Streams> Streams(const std::string& tenant, store::Access a) {
    auto s = store::OpenStreams(config_.stores, *store::TenantScope::For(tenant), a);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  uint64_t Length(const std::string& tenant, store::StreamKind k) {
    auto n = Streams(tenant, store::Access::kReader)->Length(k);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : 0;
  }
  std::vector<store::AuditRow> Audit(const std::string& tenant) {
    auto a = store::OpenArchive(config_.stores, *store::TenantScope::For(tenant));
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    if (!a.ok()) return {};
    auto rows = (*a)->ReadAudit();
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : std::vector<store::AuditRow>{};
  }

  fs::path dir_;
  NodeConfig config_;
  Logger log_;
  std::unique_ptr<store::AuditSink> audit_;
  store::AuditSink& audit() {
    if (!audit_) audit_ = std::make_unique<store::AuditSink>(config_.stores, nullptr);
    return *audit_;
  }
};

TEST_F(SocRoutes, IngestsBatchesAndDeadLettersTheRest) {
  std::string body = R"([{"ts_ms":1764245000000,"source":"fw","features":{"dst_port":443}},)"
                     R"({"ts_ms":1764245000001,"source":"fw","features":{"dst_port":70000}},)"
                     R"({"ts_ms":1764245000002,"source":"fw","tenant":"BRAVO"}])";
  auto r = Call("POST", "/v1/events?tenant=ALPHA", {"ALPHA"}, body);
  EXPECT_EQ(r.status, 202) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["accepted"], 1);
  EXPECT_EQ(j["rejected"], 2);
  EXPECT_EQ(j["errors"][0]["reason"], "event: features.dst_port: must be an integer in 0..65535, got 70000");
  auto streams = store::OpenStreams(config_.stores, *store::TenantScope::For("ALPHA"), store::Access::kReader);
  ASSERT_TRUE(streams.ok()) << streams.status().ToString();
  EXPECT_EQ(*(*streams)->Length(store::StreamKind::kL3In), 1u);
  EXPECT_EQ(*(*streams)->Length(store::StreamKind::kDeadLetter), 2u);
  auto bravo = store::OpenStreams(config_.stores, *store::TenantScope::For("BRAVO"), store::Access::kReader);
  EXPECT_EQ(*(*bravo)->Length(store::StreamKind::kL3In), 0u);

  // The tenant from a certificate that names one; {"events": [...]} form.
  auto one = Call("POST", "/v1/events", {"ALPHA"}, R"({"events":[{"ts_ms":1764245000000,"source":"x"}]})");
  EXPECT_EQ(one.status, 202) << one.body;
  // Nothing valid: 400, still dead-lettered.
  auto none = Call("POST", "/v1/events?tenant=ALPHA", {"*"}, "not json");
  EXPECT_EQ(none.status, 400) << none.body;
  EXPECT_EQ(*(*streams)->Length(store::StreamKind::kDeadLetter), 3u);
}

TEST_F(SocRoutes, RefusesATenantTheCertificateDoesNotCover) {
  auto post = Call("POST", "/v1/events?tenant=BRAVO", {"ALPHA"}, R"({"ts_ms":1764245000000,"source":"x"})");
  EXPECT_EQ(post.status, 403) << post.body;
  EXPECT_NE(post.body.find("does not cover tenant BRAVO"), std::string::npos);
  auto top = Call("GET", "/v1/soc/top?tenant=BRAVO", {"ALPHA"});
  EXPECT_EQ(top.status, 403) << top.body;
  EXPECT_EQ(Call("GET", "/v1/soc/top?tenant=CHARLIE", {"*"}).status, 404);
}

TEST_F(SocRoutes, TopShowsEnrichedEventsAndStats) {
  soc::SocEvent e;
  e.event_id = soc::NewUuid();
  e.tenant = "ALPHA";
  e.ts_ms = 1764245000000;
  e.source = "fw";
  e.l4 = {true, soc::Category::kNetwork, soc::Severity::kCritical, 0.9, 25, 1};
  e.l8.present = true;
  e.l8.flags = soc::kFlagCampaignSuspected | soc::kFlagMultiVector;
  e.l8.ts_ms = dsmil::testing::UnixMillis();
  e.proposals = {{"ISOLATE_HOST", "ws-17", "CAMPAIGN_SUSPECTED"}};
  e.enriched = true;
  auto w = store::OpenStreams(config_.stores, *store::TenantScope::For("ALPHA"), store::Access::kWriter);
  ASSERT_TRUE(w.ok());
  std::vector<std::string> v = {soc::EventToJson(e)};
  ASSERT_TRUE((*w)->Append(store::StreamKind::kSocEvents, v).ok());

  auto r = Call("GET", "/v1/soc/top?tenant=ALPHA", {"ALPHA"});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["events"].size(), 1u);
  EXPECT_EQ(j["events"][0]["severity"], "CRITICAL");
  EXPECT_EQ(j["events"][0]["flags"], json::array({"CAMPAIGN_SUSPECTED", "MULTI_VECTOR"}));
  EXPECT_EQ(j["stats"]["events"], 1);
  EXPECT_EQ(j["stats"]["devices"][1]["device"], 52);
  EXPECT_EQ(j["stats"]["devices"][1]["flags"], 2);
  EXPECT_EQ(j["stats"]["devices"][7]["proposals"], 1);
  EXPECT_FALSE(j.contains("shrink"));
  auto filtered = Call("GET", "/v1/soc/top?tenant=ALPHA&severity=LOW", {"ALPHA"});
  EXPECT_EQ(json::parse(filtered.body)["events"].size(), 0u);
  EXPECT_EQ(Call("GET", "/v1/soc/top?tenant=ALPHA&severity=HUGE", {"ALPHA"}).status, 400);
}

TEST_F(SocRoutes, RefusesEveryFieldThePipelineWrites) {
  const std::string base = R"("ts_ms":1764245000000,"source":"fw","features":{"src_host":"ws-17","user":"bob"})";
  const std::map<std::string, std::string> forged = {
      {"enriched", R"("enriched":true)"},
      {"soar", R"("soar":{"proposals":[{"action":"ISOLATE_HOST","target":"ws-17","reason":"CAMPAIGN_SUSPECTED"},)"
               R"({"action":"DISABLE_ACCOUNT","target":"bob","reason":"BIOMETRIC_MISMATCH"}]})"},
      {"l3", R"("l3":{"score":0.99,"decision":"PRIORITY","device":18})"},
      {"l4", R"("l4":{"category":"IDENTITY","severity":"CRITICAL","confidence":0.9})"},
      {"l8_enrichment", R"("l8_enrichment":{"analytics_flags":["CAMPAIGN_SUSPECTED"]})"},
      {"ingest_ts_ms", R"("ingest_ts_ms":1764245000100)"},
  };
  for (const auto& [field, text] : forged) {
    auto r = Call("POST", "/v1/events?tenant=BRAVO", {"BRAVO"}, "{" + base + "," + text + "}");
    EXPECT_EQ(r.status, 400) << field << ": " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    std::string error = j.value("error", "");
    EXPECT_EQ(error.rfind("event 0: field '" + field + "' is written by the pipeline (", 0), 0u) << error;
    EXPECT_NE(error.find("cannot be supplied by a client"), std::string::npos) << error;
  }
  // The example of the finding, in a batch after a valid event: the whole request is refused.
  auto batch = Call("POST", "/v1/events?tenant=BRAVO", {"BRAVO"},
                    "[{" + base + "},{" + base + "," + forged.at("soar") + R"(,"enriched":true}])");
  EXPECT_EQ(batch.status, 400) << batch.body;
  EXPECT_EQ(json::parse(batch.body)["error"],
            "event 1: field 'soar' is written by the pipeline (device 58) and cannot be supplied by a client");
  EXPECT_EQ(json::parse(batch.body)["accepted"], 0);
  // Nothing was appended anywhere.
  for (auto k : store::kAllStreams) EXPECT_EQ(Length("BRAVO", k), 0u) << store::StreamSuffix(k);
}

TEST_F(SocRoutes, RefusesEventTimesInSecondsOrFarAhead) {
  auto secs = Call("POST", "/v1/events?tenant=ALPHA", {"ALPHA"}, R"({"ts_ms":1764245000,"source":"fw"})");
  EXPECT_EQ(secs.status, 400) << secs.body;
  std::string reason = json::parse(secs.body)["errors"][0]["reason"];
  EXPECT_EQ(reason.rfind("event: ts_ms: ", 0), 0u) << reason;
  EXPECT_NE(reason.find("seconds"), std::string::npos) << reason;
  EXPECT_NE(reason.find("1764245000000"), std::string::npos) << reason;

  auto old = Call("POST", "/v1/events?tenant=ALPHA", {"ALPHA"}, R"({"ts_ms":5,"source":"fw"})");
  EXPECT_EQ(old.status, 400) << old.body;
  EXPECT_NE(old.body.find("2000-01-01"), std::string::npos) << old.body;

  std::string ahead = std::to_string(dsmil::testing::UnixMillis() + 3 * 86400000LL);
  auto future = Call("POST", "/v1/events?tenant=ALPHA", {"ALPHA"}, R"({"ts_ms":)" + ahead + R"(,"source":"fw"})");
  EXPECT_EQ(future.status, 400) << future.body;
  EXPECT_NE(future.body.find("event: ts_ms: "), std::string::npos) << future.body;
  EXPECT_NE(future.body.find("in the future"), std::string::npos) << future.body;

  std::string soon = std::to_string(dsmil::testing::UnixMillis() + 3600000);
  EXPECT_EQ(Call("POST", "/v1/events?tenant=ALPHA", {"ALPHA"}, R"({"ts_ms":)" + soon + R"(,"source":"fw"})").status,
            202);
  EXPECT_EQ(Length("ALPHA", store::StreamKind::kL3In), 1u);
}

TEST_F(SocRoutes, UncoveredTenantIsRefusedAndAuditedInThatTenantsChain) {
  auto top = Call("GET", "/v1/soc/top?tenant=BRAVO", {"ALPHA"});
  EXPECT_EQ(top.status, 403) << top.body;
  auto post = Call("POST", "/v1/events?tenant=BRAVO", {"ALPHA"}, R"({"ts_ms":1764245000000,"source":"x"})");
  EXPECT_EQ(post.status, 403) << post.body;
  EXPECT_EQ(Length("BRAVO", store::StreamKind::kL3In), 0u);

  auto rows = Audit("BRAVO");
  ASSERT_EQ(rows.size(), 2u);
  const char* paths[] = {"/v1/soc/top", "/v1/events"};
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(rows[i].event_type, "TENANT_ESCAPE_ATTEMPT");
    EXPECT_EQ(rows[i].actor, "operator");
    json d = json::parse(rows[i].detail);
    EXPECT_EQ(d["reason"], "CERT_DOES_NOT_COVER_TENANT") << rows[i].detail;
    EXPECT_EQ(d["path"], paths[i]) << rows[i].detail;
    EXPECT_EQ(d["cert_tenants"], json::array({"ALPHA"})) << rows[i].detail;
    EXPECT_TRUE(d.contains("peer")) << rows[i].detail;
  }
  EXPECT_TRUE(Audit("ALPHA").empty());
}

TEST_F(SocRoutes, ReservedOrMalformedTenantIsABadRequest) {
  for (const std::string path : {"/v1/soc/top", "/v1/events"}) {
    std::string method = path == "/v1/events" ? "POST" : "GET";
    std::string body = R"({"ts_ms":1764245000000,"source":"x"})";
    auto sys = Call(method, path + "?tenant=SYSTEM", {"*"}, body);
    EXPECT_EQ(sys.status, 400) << sys.body;
    EXPECT_NE(sys.body.find("'SYSTEM' is reserved"), std::string::npos) << sys.body;
    auto empty = Call(method, path + "?tenant=", {"*"}, body);
    EXPECT_EQ(empty.status, 400) << empty.body;
    EXPECT_NE(empty.body.find("tenant: empty"), std::string::npos) << empty.body;
    auto lower = Call(method, path + "?tenant=alpha", {"*"}, body);
    EXPECT_EQ(lower.status, 400) << lower.body;
    EXPECT_NE(lower.body.find("upper case"), std::string::npos) << lower.body;
  }
  EXPECT_TRUE(Audit("ALPHA").empty());
}

// Runs the three stages of `tenant` once each on the embedded stores.
class SocRoutesWithPipeline : public SocRoutes {
 protected:
  void SetUp() override {
    SocRoutes::SetUp();
    auto l4 = soc::L4Model::Load(DSMIL_SOURCE_DIR "/models/l4_classifier.json");
    ASSERT_TRUE(l4.ok()) << l4.status().ToString();
    l4_ = std::make_unique<soc::L4Model>(std::move(*l4));
    policies_ = std::make_unique<tenant::PolicyStore>(DSMIL_SOURCE_DIR "/deploy/policies");
  }

  void RunStages(const std::string& tenant) {
    for (soc::Stage stage : {soc::Stage::kL3, soc::Stage::kL4, soc::Stage::kL8}) {
      soc::WorkerOptions o;
      o.stage = stage;
      o.tenant = tenant;
      o.device = stage == soc::Stage::kL3 ? 18 : stage == soc::Stage::kL4 ? 25 : 58;
      soc::StageModels m{&l3_, l4_.get(), &analyzers_[tenant], policies_.get()};
      auto archive = stage == soc::Stage::kL8
                         ? store::OpenArchive(config_.stores, *store::TenantScope::For(tenant))
                         : Result<std::unique_ptr<store::Archive>>(std::unique_ptr<store::Archive>());
      ASSERT_TRUE(archive.ok()) << archive.status().ToString();
      soc::StageWorker w(o, m, Streams(tenant, store::Access::kReader), Streams(tenant, store::Access::kWriter),
                         std::move(*archive));
      ASSERT_TRUE(w.Prepare().ok());
      for (int i = 0; i < 4; ++i) {
        auto n = w.RunOnce(std::chrono::milliseconds(0));
        ASSERT_TRUE(n.ok()) << n.status().ToString();
      }
    }
  }

  soc::L3Model l3_ = soc::L3Model::Default();
  std::unique_ptr<soc::L4Model> l4_;
  std::map<std::string, soc::L8Analyzer> analyzers_;
  std::unique_ptr<tenant::PolicyStore> policies_;
};

TEST_F(SocRoutesWithPipeline, AcceptedEventReachesTheArchiveWithTheTenantsOwnSoar) {
  std::string body = R"({"ts_ms":1764245000000,"source":"fw","features":{"src_host":"ws-17","user":"bob",)"
                     R"("dst_domain":"cdn-update.example","dst_port":4444,"bytes_out":52000000,)"
                     R"("failed_logins":30,"biometric_score":0.1,"anomaly_score":0.92}})";
  auto r = Call("POST", "/v1/events?tenant=BRAVO", {"BRAVO"}, body);
  ASSERT_EQ(r.status, 202) << r.body;
  std::string id = json::parse(r.body)["event_ids"][0];
  RunStages("BRAVO");

  auto archive = store::OpenArchive(config_.stores, *store::TenantScope::For("BRAVO"));
  ASSERT_TRUE(archive.ok());
  auto row = (*archive)->Get(id);
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  ASSERT_TRUE(row->has_value()) << "event " << id << " is not in BRAVO's archive";
  auto e = soc::ParseEvent((*row)->body, "BRAVO");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->enriched);
  EXPECT_EQ(e->l3.device, 18);
  EXPECT_EQ(e->l4.device, 25);
  ASSERT_FALSE(e->proposals.empty());
  for (const auto& p : e->proposals) EXPECT_EQ(p.action, "ALERT_ONLY");  // BRAVO's policy

  auto top = Call("GET", "/v1/soc/top?tenant=BRAVO", {"BRAVO"});
  ASSERT_EQ(top.status, 200) << top.body;
  json j = json::parse(top.body);
  ASSERT_EQ(j["events"].size(), 1u) << top.body;
  for (const auto& p : j["events"][0]["proposals"]) EXPECT_EQ(p["action"], "ALERT_ONLY") << top.body;
}

TEST_F(SocRoutesWithPipeline, ForgedEntryAppendedToL3InIsDeadLettered) {
  std::string forged = R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","ts_ms":1764245000000,"source":"fw",)"
                       R"("features":{"src_host":"ws-17"},"enriched":true,)"
                       R"("soar":{"proposals":[{"action":"ISOLATE_HOST","target":"ws-17","reason":"x"}]}})";
  std::vector<std::string> v = {forged};
  ASSERT_TRUE(Streams("BRAVO", store::Access::kWriter)->Append(store::StreamKind::kL3In, v).ok());
  RunStages("BRAVO");
  EXPECT_EQ(Length("BRAVO", store::StreamKind::kL4In), 0u);
  EXPECT_EQ(Length("BRAVO", store::StreamKind::kSocEvents), 0u);
  auto dead = Streams("BRAVO", store::Access::kReader)->Range(store::StreamKind::kDeadLetter, "0", 10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  json d = json::parse((*dead)[0].payload);
  EXPECT_EQ(d["stage"], "l3");
  EXPECT_EQ(d["reason"],
            "event: field 'soar' is written by the pipeline (device 58) and cannot be supplied by a client");
  auto top = Call("GET", "/v1/soc/top?tenant=BRAVO", {"BRAVO"});
  EXPECT_EQ(json::parse(top.body)["events"].size(), 0u) << top.body;
}

}  // namespace
}  // namespace dsmil::node
