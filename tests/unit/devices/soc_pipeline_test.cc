#include "devices/l8/sigma.h"
#include "devices/soc/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/dsmil_metrics.h"
#include "soc_fakes.h"
#include "tenant/policy.h"

namespace dsmil::soc {
namespace {

using store::StreamKind;
using testing::FakeArchive;
using testing::FakeArchiveData;
using testing::FakeStreams;
using testing::FakeStreamServer;

std::string Event(int i, const std::string& extra = "") {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
  return std::string(R"({"event_id":")") + id + R"(","ts_ms":)" + std::to_string(1764245000000 + i) +
         R"(,"source":"sensor","features":{"src_host":"ws-17","dst_domain":"evil.example","bytes_out":)" +
         std::to_string(1000 + i) + R"(,"failed_logins":30,"anomaly_score":0.9})" + extra + "}";
}

class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_shared<FakeStreamServer>();
    archive_ = std::make_shared<FakeArchiveData>();
    auto l4 = L4Model::Load(DSMIL_SOURCE_DIR "/models/l4_classifier.json");
    ASSERT_TRUE(l4.ok()) << l4.status().ToString();
    l4_ = std::make_unique<L4Model>(std::move(*l4));
    policies_ = std::make_unique<tenant::PolicyStore>(DSMIL_SOURCE_DIR "/deploy/policies");
  }

  std::unique_ptr<StageWorker> Worker(Stage stage, const std::string& tenant, const std::string& consumer = "",
                                      std::chrono::milliseconds min_idle = std::chrono::milliseconds(30000),
                                      StandardMetrics* metrics = nullptr) {
    auto scope = *store::TenantScope::For(tenant);
    WorkerOptions o;
    o.stage = stage;
    o.tenant = tenant;
    o.device = stage == Stage::kL3 ? 18 : stage == Stage::kL4 ? 25 : 58;
    o.consumer = consumer;
    o.batch = 16;
    o.claim_min_idle = min_idle;
    o.now_ms = [] { return int64_t(1764245100000); };
    StageModels m;
    m.l3 = &l3_;
    m.l4 = l4_.get();
    m.l8 = &analyzers_[tenant];
    m.policies = policies_.get();
    m.sigma = sigma_.get();
    return std::make_unique<StageWorker>(o, m, std::make_unique<FakeStreams>(server_, scope),
                                         std::make_unique<FakeStreams>(server_, scope),
                                         std::make_unique<FakeArchive>(archive_, scope), metrics);
  }

  void Append(const std::string& tenant, StreamKind k, const std::vector<std::string>& v) {
    FakeStreams w(server_, *store::TenantScope::For(tenant));
    ASSERT_TRUE(w.Append(k, v).ok());
  }

  // Runs the worker until it has nothing left.
  static size_t Drain(StageWorker& w) {
    size_t total = 0;
    for (;;) {
      auto r = w.RunOnce(std::chrono::milliseconds(0));
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || *r == 0) return total;
      total += *r;
    }
  }

  std::shared_ptr<FakeStreamServer> server_;
  std::shared_ptr<FakeArchiveData> archive_;
  L3Model l3_ = L3Model::Default();
  std::unique_ptr<L4Model> l4_;
  std::map<std::string, L8Analyzer> analyzers_;
  std::unique_ptr<tenant::PolicyStore> policies_;
  std::unique_ptr<SigmaRuleStore> sigma_;
};

TEST_F(Pipeline, EventsFlowFromL3InToTheArchive) {
  std::vector<std::string> in;
  in.reserve(40);
  for (int i = 0; i < 40; ++i) in.push_back(Event(i));
  Append("ALPHA", StreamKind::kL3In, in);
  auto l3 = Worker(Stage::kL3, "ALPHA");
  auto l4 = Worker(Stage::kL4, "ALPHA");
  auto l8 = Worker(Stage::kL8, "ALPHA");
  for (auto* w : {l3.get(), l4.get(), l8.get()}) ASSERT_TRUE(w->Prepare().ok());
  EXPECT_EQ(Drain(*l3), 40u);
  EXPECT_EQ(server_->Payloads("ALPHA_L3_OUT").size(), 40u);
  EXPECT_EQ(Drain(*l4), 40u);
  EXPECT_EQ(server_->Payloads("ALPHA_L4_OUT").size(), 40u);
  EXPECT_EQ(Drain(*l8), 80u);  // 40 classified + their 40 enriched copies (acknowledged, skipped)
  EXPECT_EQ(l8->stats().skipped.load(), 40u);
  EXPECT_EQ(archive_->rows.size(), 40u);

  auto soc = server_->Payloads("ALPHA_SOC_EVENTS");
  ASSERT_EQ(soc.size(), 80u);
  auto enriched = ParseEvent(soc[40], "ALPHA");
  ASSERT_TRUE(enriched.ok()) << enriched.status().ToString();
  EXPECT_TRUE(enriched->enriched);
  EXPECT_TRUE(enriched->l3.present);
  EXPECT_EQ(enriched->l3.device, 18);
  EXPECT_TRUE(enriched->l4.present);
  EXPECT_TRUE(enriched->l8.present);
  for (const auto& p : enriched->proposals) {
    EXPECT_TRUE(p.action == "ISOLATE_HOST" || p.action == "BLOCK_DOMAIN") << p.action;
  }
  // Everything acknowledged.
  FakeStreams r(server_, *store::TenantScope::For("ALPHA"));
  EXPECT_EQ(*r.Pending(StreamKind::kL3In, "l3"), 0u);
  EXPECT_EQ(*r.Pending(StreamKind::kL4In, "l4"), 0u);
  EXPECT_EQ(*r.Pending(StreamKind::kSocEvents, "l8"), 0u);
}

// The pipeline's metric families count what was written, by tenant and
// stream, and the enriched events by severity, proposal action and flag.
TEST_F(Pipeline, MetricsCountWhatEachStageWrote) {
  Registry registry;
  StandardMetrics metrics(registry);
  std::vector<std::string> in;
  in.reserve(31);
  for (int i = 0; i < 30; ++i) in.push_back(Event(i));
  in.push_back("{not json");
  Append("ALPHA", StreamKind::kL3In, in);
  const auto idle = std::chrono::milliseconds(30000);
  auto l3 = Worker(Stage::kL3, "ALPHA", "", idle, &metrics);
  auto l4 = Worker(Stage::kL4, "ALPHA", "", idle, &metrics);
  auto l8 = Worker(Stage::kL8, "ALPHA", "", idle, &metrics);
  for (auto* w : {l3.get(), l4.get(), l8.get()}) ASSERT_TRUE(w->Prepare().ok());
  Drain(*l3);
  Drain(*l4);
  Drain(*l8);
  auto& entries = registry.AddCounter("dsmil_stream_entries_total", "", {"tenant_id", "stream"});
  EXPECT_EQ(entries.Labels({"ALPHA", "L3_OUT"}).Value(), 30.0);
  EXPECT_EQ(entries.Labels({"ALPHA", "L4_IN"}).Value(), 30.0);
  EXPECT_EQ(entries.Labels({"ALPHA", "L4_OUT"}).Value(), 30.0);
  EXPECT_EQ(entries.Labels({"ALPHA", "SOC_EVENTS"}).Value(), 60.0);  // classified + enriched copies
  EXPECT_EQ(entries.Labels({"ALPHA", "DEAD_LETTER"}).Value(), 1.0);  // the malformed entry
  EXPECT_EQ(entries.Labels({"BRAVO", "L3_OUT"}).Value(), 0.0);

  auto& severities = registry.AddCounter("dsmil_soc_events_total", "", {"tenant_id", "severity"});
  double archived = 0;
  for (const char* s : {"LOW", "MEDIUM", "HIGH", "CRITICAL"}) archived += severities.Labels({"ALPHA", s}).Value();
  EXPECT_EQ(archived, 30.0);
  EXPECT_EQ(archive_->rows.size(), 30u);

  auto& proposals = registry.AddCounter("dsmil_soar_proposals_total", "", {"tenant_id", "action"});
  double proposed = 0;
  for (const char* a :
       {"ISOLATE_HOST", "BLOCK_DOMAIN", "ALERT_ONLY", "BLOCK_IP", "DISABLE_ACCOUNT", "QUARANTINE_FILE"}) {
    proposed += proposals.Labels({"ALPHA", a}).Value();
  }
  EXPECT_EQ(proposed, double(l8->stats().proposals.load()));
  EXPECT_GT(proposed, 0.0);
  std::string text = registry.Expose();
  EXPECT_NE(text.find("dsmil_l8_flags_total{tenant_id=\"ALPHA\""), std::string::npos) << text;
  EXPECT_EQ(text.find("event_id"), std::string::npos);  // no per-event labels
}

TEST_F(Pipeline, Drill2AndTenantSoar) {
  // A crafted SOC event straight into ALPHA_SOC_EVENTS (spec §9.2 drill 2).
  std::string crafted =
      Event(7, R"(,"l3":{"score":0.95},"l4":{"category":"NETWORK","severity":"CRITICAL","confidence":0.15})");
  Append("ALPHA", StreamKind::kSocEvents, {crafted});
  Append("BRAVO", StreamKind::kSocEvents, {crafted});
  auto a = Worker(Stage::kL8, "ALPHA");
  auto b = Worker(Stage::kL8, "BRAVO");
  ASSERT_TRUE(a->Prepare().ok());
  ASSERT_TRUE(b->Prepare().ok());
  Drain(*a);
  Drain(*b);
  auto alpha = server_->Payloads("ALPHA_SOC_EVENTS");
  ASSERT_EQ(alpha.size(), 2u);
  EXPECT_NE(alpha[1].find(R"("advml_flags":["LAYER_DISCREPANCY","POSSIBLE_LOG_TAMPER"])"), std::string::npos);
  auto ae = *ParseEvent(alpha[1], "ALPHA");
  std::set<std::string> actions;
  for (const auto& p : ae.proposals) actions.insert(p.action);
  EXPECT_TRUE(actions.count("ISOLATE_HOST")) << alpha[1];
  EXPECT_FALSE(actions.count("ALERT_ONLY"));

  auto bravo = server_->Payloads("BRAVO_SOC_EVENTS");
  ASSERT_EQ(bravo.size(), 2u);
  auto be = *ParseEvent(bravo[1], "BRAVO");
  ASSERT_FALSE(be.proposals.empty());
  for (const auto& p : be.proposals) EXPECT_EQ(p.action, "ALERT_ONLY");
  // No ALPHA event id in any BRAVO stream and vice versa: each worker saw its own tenant only.
  for (const auto& [name, st] : server_->streams) {
    for (const auto& e : st.entries) {
      const std::string other = name.rfind("BRAVO_", 0) == 0 ? "\"tenant\":\"ALPHA\"" : "\"tenant\":\"BRAVO\"";
      EXPECT_EQ(e.payload.find(other), std::string::npos) << name;
    }
  }
}

// The shipped Sigma rules run in the L8 stage: an ALPHA event with 30 failed
// logins carries the brute-force rule with its ATT&CK tags in
// l8_enrichment.sigma; BRAVO, whose rule directory is empty here, gets none.
TEST_F(Pipeline, SigmaRulesOfTheTenantEnrichItsEvents) {
  char tmpl[] = "/tmp/dsmil-sigma-pipeline-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::filesystem::create_directories(dir + "/alpha");
  std::filesystem::create_directories(dir + "/bravo");
  std::filesystem::copy(DSMIL_SOURCE_DIR "/deploy/sigma/rules/alpha", dir + "/alpha",
                        std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
  auto fields = SigmaFieldMap::Load(DSMIL_SOURCE_DIR "/deploy/sigma/fieldmap.yaml");
  ASSERT_TRUE(fields.ok()) << fields.status().ToString();
  sigma_ = std::make_unique<SigmaRuleStore>(dir, std::move(*fields));
  std::string e = Event(9, R"(,"l3":{"score":0.9},"l4":{"category":"IDENTITY","severity":"HIGH","confidence":0.8})");
  Append("ALPHA", StreamKind::kSocEvents, {e});
  Append("BRAVO", StreamKind::kSocEvents, {e});
  auto a = Worker(Stage::kL8, "ALPHA");
  auto b = Worker(Stage::kL8, "BRAVO");
  ASSERT_TRUE(a->Prepare().ok());
  ASSERT_TRUE(b->Prepare().ok());
  Drain(*a);
  Drain(*b);
  auto alpha = server_->Payloads("ALPHA_SOC_EVENTS");
  ASSERT_EQ(alpha.size(), 2u);
  auto ae = ParseEvent(alpha[1], "ALPHA");
  ASSERT_TRUE(ae.ok()) << ae.status().ToString() << "\n" << alpha[1];
  bool brute = false;
  for (const auto& h : ae->l8.sigma) {
    if (h.title.find("Brute force") == std::string::npos) continue;
    brute = true;
    EXPECT_EQ(h.level, "high");
    EXPECT_NE(std::find(h.attack.begin(), h.attack.end(), "attack.t1110"), h.attack.end());
  }
  EXPECT_TRUE(brute) << alpha[1];
  auto bravo = server_->Payloads("BRAVO_SOC_EVENTS");
  ASSERT_EQ(bravo.size(), 2u);
  auto be = ParseEvent(bravo[1], "BRAVO");
  ASSERT_TRUE(be.ok());
  EXPECT_TRUE(be->l8.sigma.empty()) << bravo[1];
  std::filesystem::remove_all(dir);
}

TEST_F(Pipeline, MalformedEventsGoToTheDeadLetterStream) {
  Append("ALPHA", StreamKind::kL3In,
         {"not json", Event(1, R"(,"tenant":"BRAVO")"), Event(2), R"({"event_id":"x","ts_ms":1,"source":"s"})"});
  auto l3 = Worker(Stage::kL3, "ALPHA");
  ASSERT_TRUE(l3->Prepare().ok());
  EXPECT_EQ(Drain(*l3), 4u);
  EXPECT_EQ(l3->stats().dead_lettered.load(), 3u);
  auto dead = server_->Payloads("ALPHA_DEAD_LETTER");
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_NE(dead[0].find(R"("reason":"event: not valid JSON","stage":"l3")"), std::string::npos) << dead[0];
  EXPECT_NE(dead[1].find("does not match the stream's tenant 'ALPHA'"), std::string::npos) << dead[1];
  EXPECT_EQ(server_->Payloads("ALPHA_L4_IN").size(), 1u);
  EXPECT_TRUE(server_->Payloads("BRAVO_L4_IN").empty());
}

TEST_F(Pipeline, FieldsALaterStageWritesAreDeadLetteredNotPassedOn) {
  // A client appending straight to L3_IN: pipeline output is refused, a raw event
  // is taken in (ingest_ts_ms set from the stage's clock).
  const std::string soar = R"(,"soar":{"proposals":[{"action":"ISOLATE_HOST","target":"ws-17","reason":"x"}]})";
  Append("BRAVO", StreamKind::kL3In,
         {Event(1, soar + R"(,"enriched":true)"),
          Event(2, R"(,"l4":{"category":"SOC","severity":"LOW","confidence":1})"), Event(3)});
  auto l3 = Worker(Stage::kL3, "BRAVO");
  ASSERT_TRUE(l3->Prepare().ok());
  EXPECT_EQ(Drain(*l3), 3u);
  auto dead = server_->Payloads("BRAVO_DEAD_LETTER");
  ASSERT_EQ(dead.size(), 2u);
  EXPECT_NE(dead[0].find(R"("reason":"event: field 'soar' is written by the pipeline (device 58) and cannot be )"
                         R"(supplied by a client","stage":"l3")"),
            std::string::npos)
      << dead[0];
  EXPECT_NE(dead[1].find("field 'l4' is written by the pipeline (L4, devices 23-32)"), std::string::npos) << dead[1];
  auto l4_in = server_->Payloads("BRAVO_L4_IN");
  ASSERT_EQ(l4_in.size(), 1u);
  EXPECT_NE(l4_in[0].find(R"("ingest_ts_ms":1764245100000)"), std::string::npos) << l4_in[0];

  // L4's input must not carry L4's or L8's fields; L8's (not yet enriched) not L8's.
  Append("BRAVO", StreamKind::kL4In, {Event(4, R"(,"l3":{"score":0.5})" + soar)});
  auto l4 = Worker(Stage::kL4, "BRAVO");
  ASSERT_TRUE(l4->Prepare().ok());
  EXPECT_EQ(Drain(*l4), 2u);
  EXPECT_EQ(l4->stats().dead_lettered.load(), 1u);
  Append("BRAVO", StreamKind::kSocEvents,
         {Event(5, R"(,"l4":{"category":"NETWORK","severity":"CRITICAL","confidence":0.9})" + soar)});
  auto l8 = Worker(Stage::kL8, "BRAVO");
  ASSERT_TRUE(l8->Prepare().ok());
  Drain(*l8);
  EXPECT_EQ(l8->stats().dead_lettered.load(), 1u);
  ASSERT_EQ(archive_->rows.size(), 1u);  // event 3 only
  dead = server_->Payloads("BRAVO_DEAD_LETTER");
  ASSERT_EQ(dead.size(), 4u);
  EXPECT_NE(
      dead[3].find(
          R"(field 'soar' is written by the pipeline (device 58) and cannot be supplied by a client","stage":"l8")"),
      std::string::npos)
      << dead[3];
  // BRAVO's policy: ALERT_ONLY, whatever came in.
  for (const auto& p : server_->Payloads("BRAVO_SOC_EVENTS")) {
    auto e = ParseEvent(p, "BRAVO");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    if (!e->enriched) continue;
    for (const auto& pr : e->proposals) EXPECT_EQ(pr.action, "ALERT_ONLY") << p;
  }
}

TEST_F(Pipeline, FailedWriteIsRetriedAndNothingIsAckedEarly) {
  Append("ALPHA", StreamKind::kL3In, {Event(1), Event(2)});
  auto l3 = Worker(Stage::kL3, "ALPHA");
  ASSERT_TRUE(l3->Prepare().ok());
  server_->fail_appends = 1;
  EXPECT_FALSE(l3->RunOnce(std::chrono::milliseconds(0)).ok());
  FakeStreams r(server_, *store::TenantScope::For("ALPHA"));
  EXPECT_EQ(*r.Pending(StreamKind::kL3In, "l3"), 2u);
  EXPECT_EQ(*l3->RunOnce(std::chrono::milliseconds(0)), 2u);
  EXPECT_EQ(*r.Pending(StreamKind::kL3In, "l3"), 0u);
  EXPECT_EQ(server_->Payloads("ALPHA_L4_IN").size(), 2u);
}

TEST_F(Pipeline, KilledL4WorkerLosesNothingAndArchivesOnce) {
  std::vector<std::string> in;
  in.reserve(50);
  for (int i = 0; i < 50; ++i) in.push_back(Event(i));
  Append("ALPHA", StreamKind::kL3In, in);
  auto l3 = Worker(Stage::kL3, "ALPHA");
  ASSERT_TRUE(l3->Prepare().ok());
  Drain(*l3);
  {
    // The L4 worker takes a batch and dies before writing or acknowledging it.
    FakeStreams dying(server_, *store::TenantScope::For("ALPHA"));
    ASSERT_TRUE(dying.EnsureGroup(StreamKind::kL4In, "l4").ok());
    auto got = dying.ReadGroup(StreamKind::kL4In, "l4", "node-a-25", 16, std::chrono::milliseconds(0));
    ASSERT_EQ(got->size(), 16u);
    // And one that processed a batch fully, then died: those are written once.
    auto l4 = Worker(Stage::kL4, "ALPHA", "node-a-25b");
    ASSERT_TRUE(l4->Prepare().ok());
    ASSERT_EQ(*l4->RunOnce(std::chrono::milliseconds(0)), 16u);
  }
  // Restart: claims the dead consumer's pending entries, then reads the rest.
  auto l4 = Worker(Stage::kL4, "ALPHA", "node-a-25", std::chrono::milliseconds(0));
  ASSERT_TRUE(l4->Prepare().ok());
  EXPECT_EQ(l4->stats().claimed.load(), 16u);
  Drain(*l4);
  auto l8 = Worker(Stage::kL8, "ALPHA");
  ASSERT_TRUE(l8->Prepare().ok());
  Drain(*l8);
  std::set<std::string> ids;
  for (const auto& row : archive_->rows) ids.insert(row.event_id);
  EXPECT_EQ(archive_->rows.size(), 50u);
  EXPECT_EQ(ids.size(), 50u);
}

}  // namespace
}  // namespace dsmil::soc
