#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "devices/l8/l8_analytics.h"
#include "tenant/policy.h"

namespace dsmil::soc {
namespace {

SocEvent Classified(Category c, Severity s, double conf = 0.9, int64_t ts = 1'000'000) {
  SocEvent e;
  e.event_id = NewUuid();
  e.tenant = "ALPHA";
  e.ts_ms = ts;
  e.source = "test";
  e.l4.present = true;
  e.l4.category = c;
  e.l4.severity = s;
  e.l4.confidence = conf;
  return e;
}

TEST(L8, Drill2LayerDiscrepancy) {
  L8Analyzer a;
  SocEvent e = Classified(Category::kSoc, Severity::kMedium, 0.15);
  e.l3.present = true;
  e.l3.score = 0.95;
  uint32_t f = a.Analyze(e, 5);
  EXPECT_TRUE(f & kFlagLayerDiscrepancy);
  EXPECT_TRUE(f & kFlagPossibleLogTamper);
  std::string j = EventToJson(e);
  EXPECT_NE(j.find(R"("advml_flags":["LAYER_DISCREPANCY","POSSIBLE_LOG_TAMPER"])"), std::string::npos) << j;

  SocEvent ok = Classified(Category::kSoc, Severity::kMedium, 0.5);
  ok.l3.present = true;
  ok.l3.score = 0.95;  // difference 0.45: not flagged
  EXPECT_EQ(a.Analyze(ok, 5) & kFlagLayerDiscrepancy, 0u);
}

TEST(L8, CampaignWithinTheWindowOnly) {
  L8Config c;
  c.window_ms = 60'000;
  L8Analyzer a(c);
  uint32_t last = 0;
  for (int i = 0; i < 5; ++i) {
    SocEvent e = Classified(Category::kNetwork, Severity::kHigh, 0.9, 1'000'000 + i * 1000);
    e.features.src_host = "ws-17";
    last = a.Analyze(e, 0);
    if (i < 4) {
      EXPECT_EQ(last & kFlagCampaignSuspected, 0u) << i;
    }
  }
  EXPECT_TRUE(last & kFlagCampaignSuspected);
  // Another host, spread beyond the window: no campaign.
  for (int i = 0; i < 6; ++i) {
    SocEvent e = Classified(Category::kNetwork, Severity::kCritical, 0.9, 2'000'000 + i * 61'000);
    e.features.src_host = "ws-18";
    EXPECT_EQ(a.Analyze(e, 0) & kFlagCampaignSuspected, 0u);
  }
}

TEST(L8, MultiVector) {
  L8Analyzer a;
  uint32_t f = 0;
  for (Category c : {Category::kNetwork, Category::kIdentity, Category::kMalware}) {
    SocEvent e = Classified(c, Severity::kLow);
    e.features.src_ip = "10.0.0.9";
    f = a.Analyze(e, 0);
  }
  EXPECT_TRUE(f & kFlagMultiVector);
  EXPECT_EQ(a.tracked_sources(), 1u);
}

TEST(L8, CryptoIntelBiometricsEnclaveNetwork) {
  auto iocs = IocSet::Parse("# ALPHA indicators\nevil.example\n198.51.100.7  # c2\nDEADBEEF\n");
  ASSERT_TRUE(iocs.ok());
  L8Analyzer a({}, std::make_shared<const IocSet>(std::move(*iocs)));
  SocEvent e = Classified(Category::kCrypto, Severity::kLow);
  e.features.kex = "X25519";
  e.features.tls_version = "1.0";
  e.features.dst_domain = "cdn.EVIL.example";
  e.features.file_hash = "deadbeef";
  e.features.login_hour = 3;
  e.features.biometric_score = 0.1;
  e.features.enclave_attestation = "failed";
  e.features.bytes_out = 50'000'000;
  e.features.dst_port = 4444;
  e.features.distinct_ports = 500;
  uint32_t f = a.Analyze(e, 0);
  for (uint32_t want : {kFlagNonPqcChannel, kFlagDeprecatedTls, kFlagIocMatch, kFlagOffHoursAccess,
                        kFlagBiometricMismatch, kFlagAttestationFailed, kFlagSuspiciousEgress, kFlagPortScan}) {
    EXPECT_TRUE(f & want) << FlagName(want);
  }
  EXPECT_EQ(e.l8.ioc_matches, (std::vector<std::string>{"evil.example", "deadbeef"}));

  SocEvent pq = Classified(Category::kCrypto, Severity::kLow);
  pq.features.kex = "X25519MLKEM768";
  pq.features.bytes_out = 5000;
  pq.features.dst_port = 443;
  EXPECT_EQ(a.Analyze(pq, 0), 0u);
}

TEST(Soar, ProposalsFollowTheTenantPolicy) {
  auto alpha = tenant::LoadPolicyBundle(DSMIL_SOURCE_DIR "/deploy/policies/alpha.yaml", "ALPHA");
  auto bravo = tenant::LoadPolicyBundle(DSMIL_SOURCE_DIR "/deploy/policies/bravo.yaml", "BRAVO");
  ASSERT_TRUE(alpha.ok()) << alpha.status().ToString();
  ASSERT_TRUE(bravo.ok()) << bravo.status().ToString();
  EXPECT_EQ(alpha->roe_level, "SOC_ASSIST");
  EXPECT_EQ(bravo->roe_level, "ANALYSIS_ONLY");

  SocEvent e = Classified(Category::kNetwork, Severity::kCritical);
  e.features.src_host = "ws-17";
  e.features.dst_domain = "evil.example";
  L8Analyzer a;
  a.Analyze(e, 0);
  SocEvent b = e;
  ProposeActions(e, alpha->allowed_actions);
  ASSERT_EQ(e.proposals.size(), 2u);
  EXPECT_EQ(e.proposals[0].action, "ISOLATE_HOST");
  EXPECT_EQ(e.proposals[0].target, "ws-17");
  EXPECT_EQ(e.proposals[1].action, "BLOCK_DOMAIN");
  EXPECT_EQ(e.proposals[1].target, "evil.example");

  ProposeActions(b, bravo->allowed_actions);
  ASSERT_EQ(b.proposals.size(), 1u);
  EXPECT_EQ(b.proposals[0].action, "ALERT_ONLY");

  SocEvent quiet = Classified(Category::kSoc, Severity::kLow);
  a.Analyze(quiet, 0);
  EXPECT_EQ(ProposeActions(quiet, {"ISOLATE_HOST", "ALERT_ONLY"}), 0u);
}

TEST(Policy, ValidationNamesTheProblem) {
  auto bad = [](const std::string& y) { return tenant::ParsePolicyBundle(y, "x.yaml", "ALPHA").status().message(); };
  EXPECT_EQ(bad("tenant: ALPHA\nroe_level: SOC_ASSIST\ncompartments: [SOC]\nallowed_actions: [NUKE]\n"),
            "x.yaml: allowed_actions[0]: unknown action 'NUKE' (ISOLATE_HOST, BLOCK_DOMAIN, BLOCK_IP, "
            "DISABLE_ACCOUNT, QUARANTINE_FILE, ALERT_ONLY)");
  EXPECT_EQ(bad("tenant: BRAVO\nroe_level: SOC_ASSIST\ncompartments: [SOC]\nallowed_actions: []\n"),
            "x.yaml: tenant: the file names 'BRAVO', expected 'ALPHA'");
  EXPECT_EQ(bad("tenant: ALPHA\nroe_level: GOD_MODE\ncompartments: [SOC]\nallowed_actions: []\n"),
            "x.yaml: roe_level: unknown level 'GOD_MODE' (ANALYSIS_ONLY, SOC_ASSIST, TRAINING)");
  EXPECT_EQ(bad("tenant: ALPHA\nroe_level: SOC_ASSIST\ncompartments: [MOON]\nallowed_actions: []\n"),
            "x.yaml: compartments[0]: unknown compartment 'MOON'");
  EXPECT_EQ(bad("tenant: ALPHA\ncolour: red\n"), "x.yaml: unknown key 'colour'");
  EXPECT_EQ(bad("[1, 2"), bad("[1, 2"));  // a YAML error, reported (not thrown)
  EXPECT_FALSE(tenant::ParsePolicyBundle("[1, 2", "x.yaml").ok());
}

TEST(Policy, ReloadsOnChangeAndKeepsTheLastGoodOne) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("soc-policy-" + NewUuid());
  fs::create_directories(dir);
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "alpha.yaml") << text;
    // A distinct mtime even on coarse file systems.
    static int bump = 0;
    fs::last_write_time(dir / "alpha.yaml", fs::file_time_type::clock::now() + std::chrono::seconds(++bump));
  };
  write("tenant: ALPHA\nversion: 1\nroe_level: SOC_ASSIST\ncompartments: [SOC]\nallowed_actions: [ALERT_ONLY]\n");
  tenant::PolicyStore store(dir.string(), std::chrono::milliseconds(0));
  auto p1 = store.Get("ALPHA");
  ASSERT_TRUE(p1.ok()) << p1.status().ToString();
  EXPECT_TRUE((*p1)->Allows("ALERT_ONLY"));
  EXPECT_FALSE((*p1)->Allows("ISOLATE_HOST"));

  write("tenant: ALPHA\nversion: 2\nroe_level: SOC_ASSIST\ncompartments: [SOC]\nallowed_actions: [ISOLATE_HOST]\n");
  auto p2 = store.Get("ALPHA");
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ((*p2)->version, 2);
  EXPECT_TRUE((*p2)->Allows("ISOLATE_HOST"));

  write("tenant: ALPHA\nversion: 3\nroe_level: SOC_ASSIST\ncompartments: [SOC]\nallowed_actions: [LAUNCH]\n");
  auto p3 = store.Get("ALPHA");
  ASSERT_TRUE(p3.ok());
  EXPECT_EQ((*p3)->version, 2);  // the last good one
  EXPECT_NE(store.LastError("ALPHA").find("unknown action 'LAUNCH'"), std::string::npos) << store.LastError("ALPHA");

  EXPECT_EQ(store.Get("BRAVO").status().code(), StatusCode::kNotFound);
  auto dir_from = tenant::PolicyDirFromSection(R"({"dir":"../deploy/policies"})", "/etc/dsmil");
  ASSERT_TRUE(dir_from.ok());
  EXPECT_EQ(*dir_from, "/etc/dsmil/../deploy/policies");
  EXPECT_EQ(tenant::PolicyDirFromSection("{}", "/x").status().message(),
            "policies.dir: must name the directory of the tenant policy files");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsmil::soc
