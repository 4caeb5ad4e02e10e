// SHRINK (docs/shrink.md): the feature model, the per-tenant decayed state,
// tenant separation, the metrics, the request parser and the listener, over
// real mTLS with certificates covering one tenant or another.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "devices/shrink/config.h"
#include "devices/shrink/lexicon.h"
#include "devices/shrink/monitor.h"
#include "devices/shrink/service.h"
#include "net/http_client.h"
#include "test_pki.h"

namespace dsmil::devices::shrink {
namespace {

using nlohmann::json;

constexpr char kCalm[] =
    "The quarterly patch window is scheduled for Thursday. Please review the change list and confirm the "
    "maintenance contacts for the branch offices.";
constexpr char kStressed[] =
    "I am panicking, the whole thing is failing NOW! This is a disaster, I'm terrified we lost it, hurry!!";
constexpr char kFocused[] =
    "Always check every host, every host, every single host. Never skip anything, check every host always.";
constexpr char kConfused[] =
    "Sorry, wait, I'm not sure which playbook applies here, maybe the containment one but perhaps not, I "
    "don't know, it's unclear and somehow confusing because the indicators don't match what we expected "
    "from the previous correlation analysis?";

TEST(ShrinkLexicon, CalmTextScoresLowOnEveryScore) {
  TextScores s = ScoreText(ExtractFeatures(kCalm));
  EXPECT_LT(s.acute_stress, 0.2);
  EXPECT_LT(s.hyperfocus, 0.2);
  EXPECT_LT(s.cognitive_load, 0.3);
  EXPECT_EQ(RiskLevel(RiskScore(s)), "NOMINAL");
}

TEST(ShrinkLexicon, EachMarkedTextRaisesItsOwnScore) {
  TextScores calm = ScoreText(ExtractFeatures(kCalm));
  TextScores stressed = ScoreText(ExtractFeatures(kStressed));
  TextScores focused = ScoreText(ExtractFeatures(kFocused));
  TextScores confused = ScoreText(ExtractFeatures(kConfused));
  EXPECT_GT(stressed.acute_stress, 0.8);
  EXPECT_GT(focused.hyperfocus, 0.8);
  EXPECT_GT(confused.cognitive_load, 0.6);
  // Each text is highest on its own score among the four texts.
  EXPECT_GT(stressed.acute_stress, std::max({calm.acute_stress, focused.acute_stress, confused.acute_stress}));
  EXPECT_GT(focused.hyperfocus, std::max({calm.hyperfocus, stressed.hyperfocus, confused.hyperfocus}));
  EXPECT_GT(confused.cognitive_load, std::max({calm.cognitive_load, stressed.cognitive_load, focused.cognitive_load}));
}

TEST(ShrinkLexicon, FeaturesCountWordsSentencesCapsAndApostrophes) {
  TextFeatures f = ExtractFeatures("I can\xE2\x80\x99t. STOP NOW! ok?");
  EXPECT_EQ(f.words, 5u);
  EXPECT_EQ(f.sentences, 3u);
  EXPECT_DOUBLE_EQ(f.fps, 1.0 / 5);       // i
  EXPECT_DOUBLE_EQ(f.negation, 1.0 / 5);  // can't (typographic apostrophe folded)
  EXPECT_DOUBLE_EQ(f.urg, 1.0 / 5);       // now
  EXPECT_DOUBLE_EQ(f.caps, 2.0 / 4);      // STOP NOW of can't STOP NOW ok
  EXPECT_EQ(ExtractFeatures("").words, 0u);
  EXPECT_EQ(ExtractFeatures("!!! ??? ...").words, 0u);
}

TEST(ShrinkLexicon, LongTextIsCutAtAUtf8Boundary) {
  std::string text(kMaxScoredTextBytes - 1, 'a');
  text += "\xC3\xA9 panic panic panic";
  TextFeatures f = ExtractFeatures(text);
  EXPECT_EQ(f.words, 1u);  // the cut drops the split character and what follows
  EXPECT_EQ(f.neg, 0.0);
}

TEST(ShrinkLexicon, RiskLevels) {
  EXPECT_EQ(RiskLevel(0.42), "NOMINAL");
  EXPECT_EQ(RiskLevel(0.56), "ELEVATED");
  EXPECT_EQ(RiskLevel(0.7), "HIGH");
  EXPECT_EQ(RiskLevel(0.9), "CRITICAL");
  EXPECT_DOUBLE_EQ(RiskScore({0.62, 0.51, 0.47}), 0.5 * 0.62 + 0.25 * 0.51 + 0.25 * 0.47);
}

MonitorOptions Options(const Clock* clock, Registry* reg = nullptr) {
  MonitorOptions o;
  o.tenants = {"ALPHA", "BRAVO"};
  o.half_life_s = 600;
  o.clock = clock;
  o.metrics = reg;
  return o;
}

TEST(ShrinkMonitor, ScoresDecayWithTheHalfLifeWhenOperatorsFallSilent) {
  FakeClock clock;
  ShrinkMonitor m(Options(&clock));
  ASSERT_TRUE(m.Ingest("ALPHA", TextSource::kAnalystNote, kStressed).ok());
  auto r0 = m.Risk("ALPHA");
  ASSERT_TRUE(r0.ok());
  double x = ScoreText(ExtractFeatures(kStressed)).acute_stress;
  EXPECT_NEAR(r0->acute_stress, x, 1e-9);
  clock.Advance(std::chrono::seconds(600));
  auto r1 = m.Risk("ALPHA");
  EXPECT_NEAR(r1->acute_stress, x / 2, 1e-9);
  EXPECT_NEAR(*r1->last_text_age_s, 600.0, 1e-6);
  clock.Advance(std::chrono::seconds(600));
  EXPECT_NEAR(m.Risk("ALPHA")->acute_stress, x / 4, 1e-9);
}

TEST(ShrinkMonitor, RecentTextsAreAveragedByTheirDecayedWeights) {
  FakeClock clock;
  ShrinkMonitor m(Options(&clock));
  double a = ScoreText(ExtractFeatures(kStressed)).acute_stress;
  double b = ScoreText(ExtractFeatures(kCalm)).acute_stress;
  ASSERT_TRUE(m.Ingest("ALPHA", TextSource::kL7Chat, kStressed).ok());
  clock.Advance(std::chrono::seconds(600));
  ASSERT_TRUE(m.Ingest("ALPHA", TextSource::kL7Chat, kCalm).ok());
  // S = a/2 + b, W = 1/2 + 1.
  EXPECT_NEAR(m.Risk("ALPHA")->acute_stress, (a / 2 + b) / 1.5, 1e-9);
  EXPECT_EQ(m.Risk("ALPHA")->texts, 2u);
}

TEST(ShrinkMonitor, TenantScoresNeverMix) {
  FakeClock clock;
  ShrinkMonitor m(Options(&clock));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(m.Ingest("ALPHA", TextSource::kL7Chat, kStressed).ok());
  auto bravo = m.Risk("BRAVO");
  ASSERT_TRUE(bravo.ok());
  EXPECT_EQ(bravo->texts, 0u);
  EXPECT_EQ(bravo->acute_stress, 0.0);
  EXPECT_EQ(bravo->risk, 0.0);
  EXPECT_FALSE(bravo->last_text_age_s.has_value());
  // The topic memory is per tenant too: BRAVO's first text repeating ALPHA's
  // words has no persistence, ALPHA's repeat has.
  ASSERT_TRUE(m.Ingest("BRAVO", TextSource::kL7Chat, kFocused).ok());
  TextFeatures f = ExtractFeatures(kFocused);
  EXPECT_NEAR(m.Risk("BRAVO")->hyperfocus, ScoreText(f).hyperfocus, 1e-9);  // topic 0
  ShrinkMonitor m2(Options(&clock));
  ASSERT_TRUE(m2.Ingest("ALPHA", TextSource::kL7Chat, kFocused).ok());
  ASSERT_TRUE(m2.Ingest("ALPHA", TextSource::kL7Chat, kFocused).ok());
  f.topic = 1.0;
  EXPECT_NEAR(m2.Risk("ALPHA")->hyperfocus,
              (ScoreText(ExtractFeatures(kFocused)).hyperfocus + ScoreText(f).hyperfocus) / 2, 1e-9);
}

TEST(ShrinkMonitor, UnknownTenantIsRefusedAndCounted) {
  Registry reg;
  FakeClock clock;
  ShrinkMonitor m(Options(&clock, &reg));
  EXPECT_EQ(m.Ingest("CHARLIE", TextSource::kL7Chat, kCalm).code(), StatusCode::kNotFound);
  EXPECT_EQ(m.Risk("CHARLIE").status().code(), StatusCode::kNotFound);
  EXPECT_NE(reg.Expose().find("shrink_texts_refused_total{reason=\"unknown_tenant\"} 1"), std::string::npos);
}

TEST(ShrinkMonitor, MetricsPerTenantAndSource) {
  Registry reg;
  FakeClock clock;
  ShrinkMonitor m(Options(&clock, &reg));
  ASSERT_TRUE(m.Ingest("ALPHA", TextSource::kAnalystNote, kStressed).ok());
  ASSERT_TRUE(m.Ingest("ALPHA", TextSource::kL7Chat, kStressed).ok());
  std::string text = reg.Expose();
  EXPECT_NE(text.find("shrink_texts_total{tenant_id=\"ALPHA\",source=\"analyst_note\"} 1"), std::string::npos);
  EXPECT_NE(text.find("shrink_texts_total{tenant_id=\"ALPHA\",source=\"l7_chat\"} 1"), std::string::npos);
  EXPECT_NE(text.find("shrink_texts_total{tenant_id=\"BRAVO\",source=\"l7_chat\"} 0"), std::string::npos);
  EXPECT_NE(text.find("shrink_risk_acute_stress{tenant_id=\"BRAVO\"} 0"), std::string::npos);
  for (const char* name :
       {"shrink_risk_acute_stress", "shrink_risk_hyperfocus", "shrink_risk_cognitive_load", "shrink_risk_score"}) {
    EXPECT_NE(text.find(std::string(name) + "{tenant_id=\"ALPHA\"}"), std::string::npos) << name;
  }
  auto pos = text.find("shrink_risk_acute_stress{tenant_id=\"ALPHA\"} ");
  double v = std::stod(text.substr(pos + std::string("shrink_risk_acute_stress{tenant_id=\"ALPHA\"} ").size()));
  EXPECT_NEAR(v, m.Risk("ALPHA")->acute_stress, 1e-6);
}

TEST(ShrinkParse, TextRequests) {
  auto ok = ParseTextRequest(R"({"tenant_id":"ALPHA","text":"hello"})", false);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->tenant_id, "ALPHA");
  EXPECT_FALSE(ok->source.has_value());
  auto fwd = ParseTextRequest(R"({"tenant_id":"ALPHA","text":"hi","source":"operator_log"})", true);
  ASSERT_TRUE(fwd.ok());
  EXPECT_EQ(*fwd->source, TextSource::kOperatorLog);
  for (const char* bad :
       {"", "[]", "{}", R"({"tenant_id":"ALPHA"})", R"({"text":"x"})", R"({"tenant_id":"ALPHA","text":""})",
        R"({"tenant_id":1,"text":"x"})", R"({"tenant_id":"ALPHA","text":"x","extra":"y"})",
        R"({"tenant_id":"ALPHA","text":"x","source":"l7_chat"})", "{\"tenant_id\":\"A\",\"text\":\"\xff\"}"}) {
    EXPECT_FALSE(ParseTextRequest(bad, false).ok()) << bad;
  }
  EXPECT_FALSE(ParseTextRequest(R"({"tenant_id":"ALPHA","text":"x"})", true).ok());  // source required
  EXPECT_FALSE(ParseTextRequest(R"({"tenant_id":"ALPHA","text":"x","source":"email"})", true).ok());
  EXPECT_FALSE(ParseTextRequest(std::string(kMaxShrinkBodyBytes + 1, ' '), false).ok());
}

TEST(ShrinkConfigParse, KeysAndErrors) {
  auto c = ParseShrinkConfig(R"({"listen":"127.0.0.1:8500","half_life_s":60})", ".");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->listen);
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 8500);
  EXPECT_EQ(c->half_life_s, 60);
  auto f = ParseShrinkConfig(R"({"forward":"https://127.0.0.1:8500/"})", ".");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->forward, "https://127.0.0.1:8500");
  EXPECT_TRUE(ParseShrinkConfig(R"({"enabled":false})", ".").ok());
  struct Bad {
    const char* json;
    const char* key;
  };
  for (const Bad& b : {Bad{R"({"listen":"8500"})", "shrink.listen"}, Bad{R"({"listen":"h:99999"})", "shrink.listen"},
                       Bad{R"({"forward":"http://x"})", "shrink.forward"},
                       Bad{R"({"listen":"h:1","forward":"https://x"})", "shrink.forward"},
                       Bad{R"({"half_life_s":0})", "shrink.half_life_s"}, Bad{R"({"port":1})", "shrink.port"},
                       Bad{R"({})", "shrink:"}, Bad{R"({"enabled":"yes"})", "shrink.enabled"}}) {
    auto r = ParseShrinkConfig(b.json, ".");
    ASSERT_FALSE(r.ok()) << b.json;
    EXPECT_EQ(r.status().message().rfind(b.key, 0), 0u) << r.status().message();
  }
}

// The listener over real mTLS: operators covering ALPHA, BRAVO or every
// tenant, and a peer node.
class ShrinkServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "shrink_service_" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    auto pki = testing::TestPki::Create(dir_);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_.emplace(std::move(*pki));
    ASSERT_TRUE(pki_->IssueNode("node-a", "node-a").ok());
    ASSERT_TRUE(pki_->IssueNode("node-b", "node-b").ok());
    ASSERT_TRUE(pki_->IssueNode("node-x", "node-x").ok());
    ASSERT_TRUE(pki_->IssueOperator("alpha", "op-alpha", {"ALPHA"}).ok());
    ASSERT_TRUE(pki_->IssueOperator("bravo", "op-bravo", {"BRAVO"}).ok());
    ASSERT_TRUE(pki_->IssueOperator("all", "op-all", {"*"}).ok());
    monitor_ = std::make_unique<ShrinkMonitor>(Options(&clock_, &registry_));
    ServiceOptions o;
    o.tls = net::TlsOptions{pki_->crt("node-a"), pki_->key("node-a"), pki_->ca_file(), true, ""};
    o.monitor = monitor_.get();
    o.peer_nodes = {"node-b"};
    auto svc = ShrinkService::Start(std::move(o));
    ASSERT_TRUE(svc.ok()) << svc.status().ToString();
    service_ = std::move(*svc);
  }
  void TearDown() override {
    service_.reset();
    std::filesystem::remove_all(dir_);
  }

  net::HttpResponse Call(const std::string& who, const std::string& method, const std::string& target,
                         const std::string& body = "") {
    net::HttpClientRequest r;
    r.method = method;
    r.url = "https://127.0.0.1:" + std::to_string(service_->port()) + target;
    r.body = body;
    r.ca_file = pki_->ca_file();
    r.cert_file = pki_->crt(who);
    r.key_file = pki_->key(who);
    auto resp = net::HttpFetch(r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : net::HttpResponse{};
  }

  std::string dir_;
  std::optional<testing::TestPki> pki_;
  FakeClock clock_;
  Registry registry_;
  std::unique_ptr<ShrinkMonitor> monitor_;
  std::unique_ptr<ShrinkService> service_;
};

TEST_F(ShrinkServiceTest, RiskNeedsATenantTheCertificateCovers) {
  EXPECT_EQ(Call("alpha", "GET", "/risk").status, 400);
  EXPECT_EQ(Call("alpha", "GET", "/risk?tenant_id=").status, 400);
  EXPECT_EQ(Call("alpha", "GET", "/risk?tenant_id=al%20pha").status, 400);
  EXPECT_EQ(Call("alpha", "GET", "/risk?tenant_id=BRAVO").status, 403);
  EXPECT_EQ(Call("bravo", "GET", "/risk?tenant_id=ALPHA").status, 403);
  EXPECT_EQ(Call("node-b", "GET", "/risk?tenant_id=ALPHA").status, 403);   // peers only forward
  EXPECT_EQ(Call("alpha", "GET", "/risk?tenant_id=CHARLIE").status, 403);  // not covered before unknown
  EXPECT_EQ(Call("all", "GET", "/risk?tenant_id=CHARLIE").status, 404);
  auto r = Call("alpha", "GET", "/risk?tenant_id=ALPHA");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["tenant_id"], "ALPHA");
  for (const char* k : {"risk_acute_stress", "risk_hyperfocus", "risk_cognitive_load", "risk_score"}) {
    EXPECT_TRUE(j[k].is_number()) << k;
  }
  EXPECT_EQ(j["risk_level"], "NOMINAL");
  EXPECT_EQ(j["texts"], 0);
}

TEST_F(ShrinkServiceTest, NotesScoreOnlyTheirTenant) {
  std::string note = json({{"tenant_id", "ALPHA"}, {"text", kStressed}}).dump();
  EXPECT_EQ(Call("bravo", "POST", "/v1/notes", note).status, 403);
  EXPECT_EQ(monitor_->Risk("ALPHA")->texts, 0u);
  auto r = Call("alpha", "POST", "/v1/notes", note);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(json::parse(r.body)["risk"]["texts_by_source"]["analyst_note"], 1);
  json a = json::parse(Call("alpha", "GET", "/risk?tenant_id=ALPHA").body);
  EXPECT_GT(a["risk_acute_stress"].get<double>(), 0.8);
  EXPECT_NE(a["risk_level"], "NOMINAL");
  json b = json::parse(Call("bravo", "GET", "/risk?tenant_id=BRAVO").body);
  EXPECT_EQ(b["risk_acute_stress"], 0.0);
  EXPECT_EQ(b["texts"], 0);
  // Malformed, oversized, wrong method.
  EXPECT_EQ(Call("alpha", "POST", "/v1/notes", "{").status, 400);
  EXPECT_EQ(Call("alpha", "POST", "/v1/notes", R"({"tenant_id":"ALPHA","text":"x","source":"l7_chat"})").status, 400);
  EXPECT_EQ(Call("alpha", "POST", "/v1/notes", std::string(kMaxShrinkBodyBytes + 10, 'x')).status, 413);
  EXPECT_EQ(Call("alpha", "GET", "/v1/notes").status, 405);
  EXPECT_EQ(Call("alpha", "GET", "/nowhere").status, 404);
}

TEST_F(ShrinkServiceTest, PeerNodesForwardOperatorText) {
  std::string text = json({{"tenant_id", "BRAVO"}, {"source", "l7_chat"}, {"text", kConfused}}).dump();
  EXPECT_EQ(Call("node-x", "POST", "/v1/text", text).status, 403);  // not a peer
  EXPECT_EQ(Call("alpha", "POST", "/v1/text", text).status, 403);   // covers ALPHA only
  ASSERT_EQ(Call("node-b", "POST", "/v1/text", text).status, 202);
  ASSERT_EQ(Call("bravo", "POST", "/v1/text", text).status, 202);
  auto r = monitor_->Risk("BRAVO");
  EXPECT_EQ(r->texts_by_source[size_t(TextSource::kL7Chat)], 2u);
  EXPECT_EQ(monitor_->Risk("ALPHA")->texts, 0u);
  std::string unknown = json({{"tenant_id", "CHARLIE"}, {"source", "l7_chat"}, {"text", "x"}}).dump();
  EXPECT_EQ(Call("node-b", "POST", "/v1/text", unknown).status, 404);
}

}  // namespace
}  // namespace dsmil::devices::shrink
