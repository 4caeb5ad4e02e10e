// Device 60, Global Strategy (docs/l9.md "Device 60: global strategy"):
// campaigns found in the tenant's own archive, deterministic, an honest empty
// answer, window limits, claim tokens, health and registration.
#include "devices/l9/strategy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "core/metrics.h"
#include "devices/authz.h"
#include "l9_test_env.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "tenant/claims.h"

namespace dsmil::devices::l9 {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

using dsmil::testing::UnixMillis;

using testing::Uuid;

json Event(int n, int64_t ts, const std::string& host, const std::string& category, const std::string& severity,
           const json& l8 = json::object(), const json& features = json::object()) {
  json f = {{"src_host", host}};
  f.update(features);
  json e = {
      {"event_id", Uuid(n)},
      {"ts_ms", ts},
      {"source", "edr-01"},
      {"features", f},
      {"l4", {{"category", category}, {"severity", severity}, {"confidence", 0.9}, {"device", 25}, {"ts_ms", ts}}}};
  if (!l8.empty()) {
    json g = l8;
    g["ts_ms"] = ts;
    e["l8_enrichment"] = g;
    e["enriched"] = true;
  }
  return e;
}

// Two campaigns and noise, within the last hour:
//  A: ransomware on ws-17 spreading to ws-22 over c2.example (3 events);
//  B: a credential campaign against svc-backup on db-01 (2 events,
//     CAMPAIGN_SUSPECTED);
//  noise: two LOW events, one isolated HIGH event on ws-99.
json Seeded(int64_t now) {
  const int64_t t = now - 30 * 60000;
  return json::array({Event(1, t + 1000, "ws-17", "MALWARE", "CRITICAL", {{"threat_intel_flags", {"IOC_MATCH"}}},
                            {{"dst_domain", "c2.example"}, {"file_hash", "ab12"}}),
                      Event(2, t + 2000, "ws-17", "NETWORK", "HIGH", {{"analytics_flags", {"MULTI_VECTOR"}}},
                            {{"dst_ip", "198.51.100.9"}}),
                      Event(3, t + 3000, "ws-22", "MALWARE", "CRITICAL", {{"netsec_flags", {"SUSPICIOUS_EGRESS"}}},
                            {{"dst_domain", "c2.example"}}),
                      Event(4, t + 4000, "db-01", "IDENTITY", "HIGH", {{"analytics_flags", {"CAMPAIGN_SUSPECTED"}}},
                            {{"user", "svc-backup"}}),
                      Event(5, t + 5000, "db-01", "IDENTITY", "MEDIUM", {{"biometrics_flags", {"OFF_HOURS_ACCESS"}}},
                            {{"user", "svc-backup"}}),
                      Event(6, t + 6000, "ws-30", "SOC", "LOW"), Event(7, t + 7000, "ws-31", "SOC", "LOW"),
                      Event(8, t + 8000, "ws-99", "NETWORK", "HIGH")});
}

class StrategyTest : public ::testing::Test {
 protected:
  void SetUp() override { dev_ = std::make_unique<StrategyDevice>(Context()); }
  void TearDown() override { dev_.reset(); }

  DeviceContext Context() {
    return env_.Context(kStrategyDeviceId, {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}});
  }

  std::string Token(const std::string& tenant, const std::string& user = "operator:op-admin") {
    return env_.Token(tenant, user);
  }

  dbe::Message Request(const json& payload, const std::string& tenant = "ALPHA") {
    dbe::Message m(dbe::MsgType::kL9StrategyReq);
    m.header().dst_device = kStrategyDeviceId;
    m.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, "strat-1");
    m.SetString(dbe::TlvType::kPayload, payload.dump());
    m.SetString(dbe::TlvType::kL7ClaimToken, Token(tenant));
    return m;
  }

  void Seed(const std::string& tenant, const json& events) {
    auto archive = store::OpenArchive(stores_, *store::TenantScope::For(tenant));
    ASSERT_TRUE(archive.ok());
    std::vector<store::ArchivedEvent> rows;
    for (const json& e : events) {
      rows.push_back({e["event_id"], e["ts_ms"], e["l4"]["category"], e["l4"]["severity"], e.dump()});
    }
    ASSERT_TRUE((*archive)->Ingest(rows).ok());
  }

  json Summary(const dbe::Message& req) {
    auto r = dev_->Handle(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->type(), dbe::MsgType::kL9StrategyResp) << Reason(*r);
    if (r->type() != dbe::MsgType::kL9StrategyResp) return json();
    return json::parse(AsString(*r->GetBytes(dbe::TlvType::kPayload)));
  }

  static std::string Reason(const dbe::Message& m) { return testing::Reason(m); }
  static std::string Detail(const dbe::Message& m) { return testing::Detail(m); }

  testing::L9Env env_{"l9_strategy_test"};
  const fs::path& dir_ = env_.dir();
  const store::StoresConfig& stores_ = env_.stores();
  Registry& metrics_ = env_.metrics();
  std::unique_ptr<StrategyDevice> dev_;
};

TEST_F(StrategyTest, CampaignsFoundInTheTenantsArchive) {
  Seed("ALPHA", Seeded(UnixMillis()));
  json s = Summary(Request({{"window_hours", 1}}));
  EXPECT_EQ(s["tenant"], "ALPHA");
  EXPECT_EQ(s["events"], 8);
  EXPECT_EQ(s["notable_events"], 6);
  ASSERT_EQ(s["campaigns_total"], 2) << s.dump(1);
  const json& a = s["campaigns"][0];
  EXPECT_EQ(a["rank"], 1);
  EXPECT_EQ(a["events"], 3);
  EXPECT_EQ(a["hosts"], json::array({"ws-17", "ws-22"}));
  EXPECT_EQ(a["categories"], json({{"MALWARE", 2}, {"NETWORK", 1}}));
  EXPECT_EQ(a["severities"], json({{"CRITICAL", 2}, {"HIGH", 1}}));
  EXPECT_EQ(a["top_category"], "MALWARE");
  EXPECT_EQ(a["first_event_id"], Uuid(1));
  EXPECT_LT(a["first_seen_ms"].get<int64_t>(), a["last_seen_ms"].get<int64_t>());
  EXPECT_EQ(a["indicators"]["domains"], json::array({"c2.example"}));
  EXPECT_EQ(a["basis"], json::array({"MULTI_VECTOR", "MULTI_HOST", "MULTI_CATEGORY"}));
  const json& b = s["campaigns"][1];
  EXPECT_EQ(b["events"], 2);
  EXPECT_EQ(b["hosts"], json::array({"db-01"}));
  EXPECT_EQ(b["basis"], json::array({"CAMPAIGN_SUSPECTED"}));
  EXPECT_EQ(s["isolated_notable_events"], 1);  // ws-99
  EXPECT_EQ(s["overall"]["top_categories"][0], json({{"name", "IDENTITY"}, {"count", 2}}));
  EXPECT_EQ(s["overall"]["severities"]["LOW"], 2);
  EXPECT_EQ(s["window"]["hours"], 1);
  EXPECT_EQ(s["window"]["truncated"], false);
  EXPECT_EQ(s["skipped_events"], 0);

  // BRAVO sees none of ALPHA's events.
  json other = Summary(Request({{"window_hours", 720}}, "BRAVO"));
  EXPECT_EQ(other["events"], 0);
  EXPECT_TRUE(other["campaigns"].empty());
}

TEST_F(StrategyTest, SummaryIsDeterministicWhateverTheOrder) {
  const int64_t now = 1764245000000;
  std::vector<soc::SocEvent> events;
  for (const json& e : Seeded(now)) {
    auto p = soc::ParseEvent(e.dump(), "ALPHA");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    events.push_back(*p);
  }
  json first = SummarizeCampaigns(events);
  std::mt19937 rng(7);
  for (int i = 0; i < 5; ++i) {
    std::shuffle(events.begin(), events.end(), rng);
    EXPECT_EQ(SummarizeCampaigns(events), first);
  }
  EXPECT_EQ(first["campaigns"][0]["id"].get<std::string>().rfind("camp-", 0), 0u);
}

TEST_F(StrategyTest, EmptyArchiveAnswersAnEmptySummaryThatSaysSo) {
  json s = Summary(Request({{"window_hours", 24}}));
  EXPECT_EQ(s["events"], 0);
  EXPECT_EQ(s["campaigns_total"], 0);
  EXPECT_TRUE(s["campaigns"].empty());
  EXPECT_TRUE(s["overall"]["categories"].empty());
  EXPECT_NE(s["summary"].get<std::string>().find("No SOC event of tenant ALPHA"), std::string::npos) << s.dump();
}

TEST_F(StrategyTest, WindowOutsideTheLimitsIsRefusedNamingIt) {
  for (const json& p :
       {json{{"window_hours", 0}}, json{{"window_hours", 721}}, json{{"window_hours", "1"}}, json::object()}) {
    auto r = dev_->Handle(Request(p));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(Reason(*r), "BAD_REQUEST") << p.dump();
    EXPECT_NE(Detail(*r).find("1..720"), std::string::npos) << Detail(*r);
  }
  dbe::Message wrong = Request({{"window_hours", 1}});
  wrong.set_type(dbe::MsgType::kL9CoaReq);
  EXPECT_EQ(Reason(*dev_->Handle(wrong)), "UNSUPPORTED_MESSAGE_TYPE");
}

TEST_F(StrategyTest, MissingOrOtherTenantsClaimIsRefused) {
  dbe::Message none = Request({{"window_hours", 1}});
  none.Remove(dbe::TlvType::kL7ClaimToken);
  EXPECT_EQ(Reason(*dev_->Handle(none)), "CLAIM_MISSING");
  dbe::Message other = Request({{"window_hours", 1}});
  other.SetString(dbe::TlvType::kL7ClaimToken, Token("BRAVO"));
  EXPECT_EQ(Reason(*dev_->Handle(other)), "CLAIM_TENANT_MISMATCH");
}

TEST_F(StrategyTest, HealthNeedsStoresAndTheDeviceIsRegistered) {
  EXPECT_EQ(dev_->Health().state, DeviceState::kHealthy);
  DeviceContext bare(kStrategyDeviceId, "", "node-a");
  StrategyDevice unconfigured(bare);
  EXPECT_EQ(unconfigured.Health().state, DeviceState::kNotImplemented);
  EXPECT_EQ(unconfigured.Health().reason.rfind("not configured: ", 0), 0u);
  RegisterBuiltinDevices();
  EXPECT_TRUE(IsImplemented(kStrategyDeviceId));
  EXPECT_EQ(CallerRuleFor(kStrategyDeviceId), CallerRule::kTenantClaim);
}

}  // namespace
}  // namespace dsmil::devices::l9
