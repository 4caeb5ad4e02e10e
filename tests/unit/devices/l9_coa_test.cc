// Device 59, the COA engine (docs/l9.md "Device 59: courses of action"):
// three ranked COAs per scenario, deterministic, only actions the tenant's
// policy bundle allows, the ROE check of spec §4.4, scenario limits, claim
// tokens, and the pending/accepted/rejected store.
#include "devices/l9/coa.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

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

// One SOC event as archived (docs/events.md), with L4 and L8 parts.
json Event(int n, const std::string& host, const std::string& category, const std::string& severity,
           const json& l8 = json::object(), const json& features = json::object(),
           const json& proposals = json::array()) {
  json f = {{"src_host", host}};
  f.update(features);
  json e = {
      {"event_id", Uuid(n)},
      {"ts_ms", UnixMillis() - 60000 + n},
      {"source", "edr-01"},
      {"features", f},
      {"l4",
       {{"category", category}, {"severity", severity}, {"confidence", 0.9}, {"device", 25}, {"ts_ms", UnixMillis()}}}};
  if (!l8.empty()) {
    json g = l8;
    g["ts_ms"] = UnixMillis();
    e["l8_enrichment"] = g;
    e["enriched"] = true;
  }
  if (!proposals.empty()) e["soar"] = {{"proposals", proposals}};
  return e;
}

// Ransomware on ws-17 moving laterally to ws-22, with C2 egress.
json Ransomware() {
  return json::array(
      {Event(1, "ws-17", "MALWARE", "CRITICAL",
             {{"threat_intel_flags", {"IOC_MATCH"}}, {"ioc_matches", {"c2.example"}}},
             {{"dst_domain", "c2.example"}, {"file_hash", "ab12"}},
             {{{"action", "ISOLATE_HOST"}, {"target", "ws-17"}, {"reason", "IOC_MATCH"}}}),
       Event(2, "ws-17", "NETWORK", "HIGH", {{"analytics_flags", {"CAMPAIGN_SUSPECTED", "MULTI_VECTOR"}}},
             {{"dst_ip", "10.0.0.22"}}),
       Event(3, "ws-22", "MALWARE", "CRITICAL", {{"netsec_flags", {"SUSPICIOUS_EGRESS"}}},
             {{"dst_domain", "c2.example"}, {"user", "svc-backup"}}),
       Event(4, "ws-22", "IDENTITY", "HIGH", {{"biometrics_flags", {"OFF_HOURS_ACCESS"}}}, {{"user", "svc-backup"}}),
       Event(5, "ws-30", "SOC", "LOW")});
}

class CoaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "policies");
    std::ofstream(dir_ / "policies" / "alpha.yaml")
        << "tenant: ALPHA\nversion: 1\nroe_level: SOC_ASSIST\ncompartments: [SOC]\n"
           "allowed_actions: [ISOLATE_HOST, BLOCK_DOMAIN, ALERT_ONLY]\n";
    std::ofstream(dir_ / "policies" / "bravo.yaml")
        << "tenant: BRAVO\nversion: 1\nroe_level: ANALYSIS_ONLY\ncompartments: [SOC]\nallowed_actions: [ALERT_ONLY]\n";
    dev_ = std::make_unique<CoaDevice>(Context());
  }
  void TearDown() override { dev_.reset(); }

  DeviceContext Context() {
    DeviceContext ctx =
        env_.Context(kCoaDeviceId, {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}});
    ctx.config.Put("policies", PoliciesConfig{(dir_ / "policies").string()});
    return ctx;
  }

  std::string Token(const std::string& tenant, const std::string& user = "operator:op-admin") {
    return env_.Token(tenant, user);
  }

  dbe::Message Request(const json& scenario, const std::string& tenant = "ALPHA",
                       const std::string& roe = "SOC_ASSIST") {
    dbe::Message m(dbe::MsgType::kL9CoaReq);
    m.header().src_device = 0;
    m.header().dst_device = kCoaDeviceId;
    m.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, "coa-req-1");
    if (!roe.empty()) m.SetString(dbe::TlvType::kRoeLevel, roe);
    m.SetString(dbe::TlvType::kPayload, scenario.dump());
    m.SetString(dbe::TlvType::kL7ClaimToken, Token(tenant));
    return m;
  }

  json Coas(const dbe::Message& req) {
    auto r = dev_->Handle(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->type(), dbe::MsgType::kL9CoaResp) << Reason(*r) << " " << Detail(*r);
    if (r->type() != dbe::MsgType::kL9CoaResp) return json();
    return json::parse(AsString(*r->GetBytes(dbe::TlvType::kPayload)));
  }

  static std::string Reason(const dbe::Message& m) { return testing::Reason(m); }
  static std::string Detail(const dbe::Message& m) { return testing::Detail(m); }

  std::vector<store::AuditRow> AuditRows(const std::string& tenant) { return env_.AuditRows(tenant); }

  testing::L9Env env_{"l9_coa_test"};
  const fs::path& dir_ = env_.dir();
  const store::StoresConfig& stores_ = env_.stores();
  Registry& metrics_ = env_.metrics();
  std::unique_ptr<CoaDevice> dev_;
};

TEST_F(CoaTest, ThreeRankedCoasForRansomwareWithLateralMovement) {
  json body = Coas(Request({{"source", "analyst"}, {"events", Ransomware()}}));
  ASSERT_EQ(body["coas"].size(), 3u) << body.dump();
  std::set<std::string> kinds;
  int rank = 0;
  for (const json& c : body["coas"]) {
    kinds.insert(c["kind"]);
    EXPECT_EQ(c["rank"], ++rank);
    EXPECT_EQ(c["id"].get<std::string>().rfind("coa-", 0), 0u);
    EXPECT_FALSE(c["title"].get<std::string>().empty());
    EXPECT_FALSE(c["expected_effect"].get<std::string>().empty());
    EXPECT_TRUE(c["risk"]["level"] == "low" || c["risk"]["level"] == "medium" || c["risk"]["level"] == "high");
    EXPECT_EQ(c["state"], "pending");
    for (const json& a : c["actions"]) {
      std::string act = a["action"];
      EXPECT_TRUE(act == "ISOLATE_HOST" || act == "BLOCK_DOMAIN" || act == "ALERT_ONLY") << act;
    }
  }
  EXPECT_EQ(kinds, (std::set<std::string>{"CONTAIN", "INVESTIGATE", "ESCALATE"}));
  // A critical scenario ranks containment first, and it covers both hosts and the C2 domain.
  const json& top = body["coas"][0];
  EXPECT_EQ(top["kind"], "CONTAIN");
  EXPECT_EQ(top["roe_level"], "SOC_ASSIST");
  std::set<std::string> targets;
  for (const json& a : top["actions"]) {
    targets.insert(a["action"].get<std::string>() + " " + a["target"].get<std::string>());
  }
  EXPECT_TRUE(targets.count("ISOLATE_HOST ws-17") && targets.count("ISOLATE_HOST ws-22") &&
              targets.count("BLOCK_DOMAIN c2.example"))
      << top.dump();
  EXPECT_EQ(body["scenario"]["events"], 5);
  EXPECT_EQ(body["scenario"]["hosts"], json({"ws-17", "ws-22", "ws-30"}));
  EXPECT_GT(body["scenario"]["threat_score"].get<int>(), 50);
  EXPECT_NE(metrics_.Expose().find("dsmil_coa_generated_total{tenant_id=\"ALPHA\"} 3"), std::string::npos);
  EXPECT_NE(metrics_.Expose().find("dsmil_coa_pending{tenant_id=\"ALPHA\"} 3"), std::string::npos);
  EXPECT_NE(metrics_.Expose().find("dsmil_coa_latency_seconds_count 1"), std::string::npos);
}

TEST_F(CoaTest, SameScenarioGivesTheSameCoasWhateverTheOrder) {
  json events = Ransomware();
  json first = Coas(Request({{"source", "analyst"}, {"events", events}}));
  std::reverse(events.begin(), events.end());
  json second = Coas(Request({{"source", "analyst"}, {"events", events}}));
  EXPECT_EQ(first["coas"], second["coas"]);
  EXPECT_EQ(first["scenario"]["digest"], second["scenario"]["digest"]);
  // Stored once: the same COA ids are not duplicated.
  auto store = CoaStore::Open(stores_, "ALPHA");
  ASSERT_TRUE(store.ok());
  EXPECT_EQ(store->List()->size(), 3u);
}

TEST_F(CoaTest, SocSourceReadsTheTenantsArchive) {
  auto archive = store::OpenArchive(stores_, *store::TenantScope::For("ALPHA"));
  ASSERT_TRUE(archive.ok());
  std::vector<store::ArchivedEvent> rows;
  for (const json& e : Ransomware()) {
    rows.push_back({e["event_id"], e["ts_ms"], e["l4"]["category"], e["l4"]["severity"], e.dump()});
  }
  ASSERT_TRUE((*archive)->Ingest(rows).ok());
  json body = Coas(Request({{"source", "soc"}, {"window_minutes", 15}}));
  EXPECT_EQ(body["scenario"]["source"], "soc");
  EXPECT_EQ(body["scenario"]["events"], 5);
  EXPECT_EQ(body["coas"].size(), 3u);
  // BRAVO's archive is empty: nothing to derive COAs from.
  auto r = dev_->Handle(Request({{"source", "soc"}, {"window_minutes", 15}}, "BRAVO", "ANALYSIS_ONLY"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Reason(*r), "EMPTY_SCENARIO");
  r = dev_->Handle(Request({{"source", "soc"}, {"window_minutes", 0}}));
  EXPECT_EQ(Reason(*r), "BAD_SCENARIO");
}

TEST_F(CoaTest, RoeMismatchIsRefusedAndAudited) {
  auto r = dev_->Handle(Request({{"source", "analyst"}, {"events", Ransomware()}}, "ALPHA", "ANALYSIS_ONLY"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type(), dbe::MsgType::kError);
  EXPECT_EQ(Reason(*r), "ROE_MISMATCH");
  EXPECT_NE(Detail(*r).find("SOC_ASSIST"), std::string::npos) << Detail(*r);
  r = dev_->Handle(Request({{"source", "analyst"}, {"events", Ransomware()}}, "ALPHA", ""));
  EXPECT_EQ(Reason(*r), "ROE_MISMATCH");
  auto rows = AuditRows("ALPHA");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[0].detail.find("ROE_MISMATCH"), std::string::npos) << rows[0].detail;
  EXPECT_NE(rows[0].detail.find("dbe:device59"), std::string::npos) << rows[0].detail;
  EXPECT_NE(metrics_.Expose().find("dsmil_coa_refusals_total{tenant_id=\"ALPHA\",reason=\"ROE_MISMATCH\"} 2"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(CoaFile(stores_, "ALPHA")));  // nothing generated
}

TEST_F(CoaTest, AlertOnlyTenantGetsNoActionOutsideItsPolicy) {
  json body = Coas(Request({{"source", "analyst"}, {"events", Ransomware()}}, "BRAVO", "ANALYSIS_ONLY"));
  ASSERT_EQ(body["coas"].size(), 3u);
  for (const json& c : body["coas"]) {
    for (const json& a : c["actions"]) EXPECT_EQ(a["action"], "ALERT_ONLY") << c.dump();
    EXPECT_EQ(c["roe_level"], "ANALYSIS_ONLY");
    EXPECT_TRUE(c["within_roe"].get<bool>());
  }
  EXPECT_EQ(body["policy"]["allowed_actions"], json({"ALERT_ONLY"}));
}

TEST_F(CoaTest, AnalystScenarioOverTheLimitIsRefusedNamingIt) {
  json events = json::array();
  for (size_t i = 0; i <= kMaxScenarioEvents; ++i) events.push_back(json::object());
  auto r = dev_->Handle(Request({{"source", "analyst"}, {"events", events}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Reason(*r), "SCENARIO_TOO_LARGE");
  EXPECT_NE(Detail(*r).find("1001 events; the limit is 1000"), std::string::npos) << Detail(*r);
  // Each event is validated, and the error names it.
  json bad = Ransomware();
  bad[2]["ts_ms"] = 5;
  r = dev_->Handle(Request({{"source", "analyst"}, {"events", bad}}));
  EXPECT_EQ(Reason(*r), "BAD_SCENARIO");
  EXPECT_EQ(Detail(*r).rfind("events[2]: ", 0), 0u) << Detail(*r);
}

TEST_F(CoaTest, MissingOrForgedClaimIsRefused) {
  dbe::Message none = Request({{"source", "analyst"}, {"events", Ransomware()}});
  none.Remove(dbe::TlvType::kL7ClaimToken);
  EXPECT_EQ(Reason(*dev_->Handle(none)), "CLAIM_MISSING");
  dbe::Message other = Request({{"source", "analyst"}, {"events", Ransomware()}});
  other.SetString(dbe::TlvType::kL7ClaimToken, Token("BRAVO"));
  EXPECT_EQ(Reason(*dev_->Handle(other)), "CLAIM_TENANT_MISMATCH");
  dbe::Message forged = Request({{"source", "analyst"}, {"events", Ransomware()}});
  std::string t = Token("ALPHA");
  t[t.size() - 5] ^= 1;
  forged.SetString(dbe::TlvType::kL7ClaimToken, t);
  EXPECT_EQ(Reason(*dev_->Handle(forged)), "CLAIM_INVALID");
  EXPECT_FALSE(fs::exists(CoaFile(stores_, "ALPHA")));
}

TEST_F(CoaTest, AcceptAndRejectAreStoredAndListed) {
  const json events = Ransomware();
  json body = Coas(Request({{"source", "analyst"}, {"events", events}}));
  ASSERT_EQ(body["coas"].size(), 3u);
  auto store = CoaStore::Open(stores_, "ALPHA");
  ASSERT_TRUE(store.ok());
  ASSERT_EQ(store->List("pending")->size(), 3u);
  EXPECT_EQ(dev_->StatusDetail(), "COAs: 3 pending");  // the L9 line of dsmilctl status
  std::string a = body["coas"][0]["id"], b = body["coas"][1]["id"];
  auto acc = store->Decide(a, true, "local:alice", UnixMillis());
  ASSERT_TRUE(acc.ok()) << acc.status().ToString();
  EXPECT_EQ(acc->state, "accepted");
  EXPECT_TRUE(store->Decide(b, false, "local:bob", UnixMillis()).ok());
  EXPECT_EQ(store->Decide(a, false, "local:bob", UnixMillis()).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Decide("coa-0000000000000000", true, "x", UnixMillis()).status().code(), StatusCode::kNotFound);
  auto accepted = store->List("accepted");
  ASSERT_EQ(accepted->size(), 1u);
  EXPECT_EQ((*accepted)[0].decided_by, "local:alice");
  EXPECT_EQ(store->List("rejected")->size(), 1u);
  EXPECT_EQ(*store->Pending(), 1u);
  EXPECT_EQ(dev_->StatusDetail(), "COAs: 1 pending");
  EXPECT_NE(metrics_.Expose().find("dsmil_coa_pending{tenant_id=\"ALPHA\"} 1"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(CoaFile(stores_, "ALPHA").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((stores_.path + "/l9").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // A decided COA keeps its state when the same scenario is generated again.
  json again = Coas(Request({{"source", "analyst"}, {"events", events}}));
  EXPECT_EQ(again["coas"][0]["state"], "accepted");
  EXPECT_EQ(again["coas"][0]["decided_by"], "local:alice");
}

TEST_F(CoaTest, HealthNeedsStoresAndTheDeviceIsRegistered) {
  EXPECT_EQ(dev_->Health().state, DeviceState::kHealthy);
  DeviceContext bare(kCoaDeviceId, "", "node-a");
  bare.config.Declare<PoliciesConfig>("policies");  // declared, absent from the node config
  CoaDevice unconfigured(bare);
  EXPECT_EQ(unconfigured.Health().state, DeviceState::kNotImplemented);
  EXPECT_EQ(unconfigured.Health().reason.rfind("not configured: ", 0), 0u);
  RegisterBuiltinDevices();
  EXPECT_TRUE(IsImplemented(kCoaDeviceId));
  EXPECT_EQ(DeclaredSections(kCoaDeviceId), std::vector<std::string>{"policies"});
  EXPECT_EQ(CallerRuleFor(kCoaDeviceId), CallerRule::kTenantClaim);
}

}  // namespace
}  // namespace dsmil::devices::l9
