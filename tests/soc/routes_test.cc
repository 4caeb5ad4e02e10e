// The SOC control API handlers (node/routes_soc.cc) on the embedded stores:
// POST /v1/events (single, batch, dead letters, certificate coverage) and
// GET /v1/soc/top (403 for an uncovered tenant, the enriched events and stats).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "devices/soc/event.h"
#include "node/control_routes.h"
#include "store/audit_sink.h"
#include "store/streams.h"

namespace dsmil::node {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class SocRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterBuiltinControlRoutes();
    dir_ = fs::temp_directory_path() / ("soc-routes-" + soc::NewUuid());
    config_.name = "node-a";
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
  auto one = Call("POST", "/v1/events", {"ALPHA"}, R"({"events":[{"ts_ms":5,"source":"x"}]})");
  EXPECT_EQ(one.status, 202) << one.body;
  // Nothing valid: 400, still dead-lettered.
  auto none = Call("POST", "/v1/events?tenant=ALPHA", {"*"}, "not json");
  EXPECT_EQ(none.status, 400) << none.body;
  EXPECT_EQ(*(*streams)->Length(store::StreamKind::kDeadLetter), 3u);
}

TEST_F(SocRoutes, RefusesATenantTheCertificateDoesNotCover) {
  auto post = Call("POST", "/v1/events?tenant=BRAVO", {"ALPHA"}, R"({"ts_ms":5,"source":"x"})");
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
  e.l8.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
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

}  // namespace
}  // namespace dsmil::node
