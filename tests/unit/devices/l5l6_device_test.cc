// Devices 33-35 (L5 forecasts) and 37 (L6 risk assessment) on a tenant's
// embedded archive (docs/l5-l6.md §4, §5): the three L5 parts, the history
// check, the L5 flags in the audit chain, the claim check and latency metric;
// the L6 Monte Carlo against an analytic case, its determinism, and the
// archive's evidence.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/coding.h"
#include "devices/authz.h"
#include "devices/l5/forecast.h"
#include "devices/l5/forecast_device.h"
#include "devices/l5/hourly_cache.h"
#include "devices/l6/risk.h"
#include "devices/l6/risk_device.h"
#include "devices/l6/risk_parts.h"
#include "l9_test_env.h"
#include "store/archive.h"
#include "store/scope.h"

namespace dsmil::devices {
namespace {

using json = nlohmann::json;
using l9::testing::Uuid;

// A fixed "now": 2026-01-10 00:30 UTC.
constexpr int64_t kNow = 1768005000000;
constexpr int64_t kHour = 3600000;

json Event(int n, int64_t ts, const std::string& host, const std::string& category, const std::string& severity,
           const json& l8 = json::object()) {
  json e = {
      {"event_id", Uuid(n)},
      {"ts_ms", ts},
      {"source", "edr-01"},
      {"features", {{"src_host", host}}},
      {"l4", {{"category", category}, {"severity", severity}, {"confidence", 0.9}, {"device", 25}, {"ts_ms", ts}}}};
  if (!l8.empty()) {
    json g = l8;
    g["ts_ms"] = ts;
    e["l8_enrichment"] = g;
    e["enriched"] = true;
  }
  return e;
}

class L5L6Test : public ::testing::Test {
 protected:
  std::vector<TenantInfo> Tenants() { return {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}}; }

  std::unique_ptr<l5::ForecastDevice> L5(int id) {
    return std::make_unique<l5::ForecastDevice>(env_.Context(id, Tenants()), l5::ForecastOptions{[] { return kNow; }});
  }
  std::unique_ptr<l6::RiskDevice> L6() {
    return std::make_unique<l6::RiskDevice>(env_.Context(37, Tenants()), l6::RiskOptions{[] { return kNow; }});
  }

  dbe::Message Request(dbe::MsgType type, int dst, const json& payload, const std::string& tenant = "ALPHA",
                       const std::string& claim_tenant = "") {
    dbe::Message m(type);
    m.header().dst_device = uint16_t(dst);
    m.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, "req-1");
    m.SetString(dbe::TlvType::kPayload, payload.dump());
    m.SetString(dbe::TlvType::kL7ClaimToken, env_.Token(claim_tenant.empty() ? tenant : claim_tenant));
    return m;
  }

  void Seed(const std::string& tenant, const std::vector<json>& events) {
    auto archive = store::OpenArchive(env_.stores(), *store::TenantScope::For(tenant));
    ASSERT_TRUE(archive.ok());
    std::vector<store::ArchivedEvent> rows;
    rows.reserve(events.size());
    for (const json& e : events) {
      rows.push_back({e["event_id"], e["ts_ms"], e["l4"]["category"], e["l4"]["severity"], e.dump()});
    }
    ASSERT_TRUE((*archive)->Ingest(rows).ok());
  }

  // `days` whole days of hourly counts ending at the hour before kNow: a
  // daily cycle 10 + 6 sin(2 pi h / 24) split NETWORK / MALWARE, severities
  // LOW, MEDIUM, HIGH in turn; `spike` extra events in the last hour.
  void SeedHistory(const std::string& tenant, int days, int spike) {
    std::vector<json> events;
    const int64_t end = kNow - kNow % kHour;
    const int64_t start = end - int64_t(days) * 24 * kHour;
    int n = tenant == "ALPHA" ? 0 : 500000;
    const char* sev[] = {"LOW", "MEDIUM", "HIGH"};
    for (int64_t h = start; h < end; h += kHour) {
      int hour = int((h / kHour) % 24);
      int count = int(std::lround(10 + 6 * std::sin(2 * M_PI * hour / 24.0))) + ((h / kHour) % 3 == 0 ? 1 : 0);
      if (h == end - kHour) count += spike;
      for (int i = 0; i < count; ++i) {
        events.push_back(Event(++n, h + 1000 + i * 1000, "ws-" + std::to_string(i % 4),
                               i % 3 == 0 ? "MALWARE" : "NETWORK", sev[i % 3]));
      }
    }
    Seed(tenant, events);
  }

  json Body(Device& dev, const dbe::Message& req, dbe::MsgType want) {
    auto r = dev.Handle(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return json();
    EXPECT_EQ(r->type(), want) << l9::testing::Reason(*r) << ": " << l9::testing::Detail(*r);
    if (r->type() != want) return json();
    return json::parse(AsString(*r->GetBytes(dbe::TlvType::kPayload)));
  }

  l9::testing::L9Env env_{"l5l6_device_test"};
};

TEST_F(L5L6Test, RateForecastHasIntervalsPerCategory) {
  SeedHistory("ALPHA", 5, 0);
  auto dev = L5(33);
  json b = Body(*dev, Request(dbe::MsgType::kL5ForecastReq, 33, {{"horizon_h", 12}}), dbe::MsgType::kL5ForecastResp);
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(b["part"], "rate");
  EXPECT_EQ(b["history"]["hours"], 5 * 24);
  ASSERT_EQ(b["total"]["points"].size(), 12u);
  for (const json& p : b["total"]["points"]) {
    EXPECT_LE(p["lower"].get<double>(), p["mean"].get<double>());
    EXPECT_GE(p["upper"].get<double>(), p["mean"].get<double>());
  }
  // The cycle is forecast: hour 00:00 + 6 h (sin peak) above hour 18:00 (trough).
  const json& pts = b["total"]["points"];
  EXPECT_EQ(pts[0]["hour_ms"], kNow - kNow % kHour);
  EXPECT_GT(pts[6]["mean"].get<double>(), 13.0);
  EXPECT_NEAR(pts[6]["mean"].get<double>(), 16.3, 2.5);
  EXPECT_TRUE(b["categories"].contains("MALWARE"));
  EXPECT_TRUE(b["categories"].contains("NETWORK"));
  EXPECT_GT(b["categories"]["NETWORK"]["horizon_sum"]["mean"].get<double>(),
            b["categories"]["MALWARE"]["horizon_sum"]["mean"].get<double>());
  EXPECT_NE(env_.metrics().Expose().find("dsmil_request_latency_seconds_count{tenant_id=\"ALPHA\",device_id=\"33\""),
            std::string::npos);
}

TEST_F(L5L6Test, SeverityMixSharesSumToOne) {
  SeedHistory("ALPHA", 4, 0);
  auto dev = L5(34);
  json b = Body(*dev, Request(dbe::MsgType::kL5ForecastReq, 34, json::object()), dbe::MsgType::kL5ForecastResp);
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(b["part"], "severity_mix");
  double sum = 0;
  for (const auto& [k, v] : b["share"].items()) sum += v.get<double>();
  EXPECT_NEAR(sum, 1.0, 0.01);
  EXPECT_EQ(b["share"]["CRITICAL"], 0.0);
  EXPECT_NEAR(b["share"]["LOW"].get<double>(), 0.36, 0.06);  // every third event from i = 0
  EXPECT_EQ(b["severities"]["HIGH"]["points"].size(), 24u);
}

TEST_F(L5L6Test, AnomalyIsFlaggedOnceInTheAuditChain) {
  SeedHistory("ALPHA", 5, 40);
  auto dev = L5(35);
  json b = Body(*dev, Request(dbe::MsgType::kL5ForecastReq, 35, {{"check_hours", 12}}), dbe::MsgType::kL5ForecastResp);
  ASSERT_FALSE(b.is_null());
  bool total_high = false;
  for (const json& f : b["flags"]) {
    if (f["series"] == "TOTAL" && f["flag"] == "L5_RATE_ANOMALY_HIGH") {
      total_high = true;
      EXPECT_EQ(f["hour_ms"], kNow - kNow % kHour - kHour);
      EXPECT_GT(f["actual"].get<double>(), f["upper"].get<double>());
    }
  }
  EXPECT_TRUE(total_high) << b.dump(1);
  size_t flags = b["flags"].size();
  EXPECT_LE(flags, 4u) << b.dump(1);  // the spike (TOTAL and its categories), at most one false flag
  EXPECT_EQ(b["audit"]["written"], flags);
  auto rows = env_.AuditRows("ALPHA");
  size_t l5_rows = 0;
  for (const auto& r : rows) l5_rows += r.event_type.rfind("L5_RATE_ANOMALY_", 0) == 0 ? 1 : 0;
  EXPECT_EQ(l5_rows, flags);
  // Asked again, by a fresh device (another process): nothing is written twice.
  auto again = L5(35);
  json b2 =
      Body(*again, Request(dbe::MsgType::kL5ForecastReq, 35, {{"check_hours", 12}}), dbe::MsgType::kL5ForecastResp);
  EXPECT_EQ(b2["audit"]["written"], 0);
  EXPECT_EQ(b2["audit"]["already_recorded"], flags);
  EXPECT_NE(again->StatusDetail().find("L5 flags recorded: 0"), std::string::npos);
}

// The cache answers exactly what a full count answers: on a repeat, after a
// late event lands in a counted hour, and when the window moves on.
TEST_F(L5L6Test, HourlyCountCacheAnswersAsAFullCount) {
  std::vector<json> events;
  int n = 0;
  for (int h = 1; h <= 72; ++h) {
    for (int i = 0; i < 3 + h % 4; ++i) {
      events.push_back(Event(++n, kNow - h * kHour + i * 1000, "h1", i % 2 ? "malware" : "recon", "HIGH"));
    }
  }
  Seed("ALPHA", events);
  auto archive = store::OpenArchive(env_.stores(), *store::TenantScope::For("ALPHA"));
  ASSERT_TRUE(archive.ok());
  auto full = [&](int64_t a, int64_t b) { return *(*archive)->CountByHour(a, b); };
  auto same = [](const std::vector<store::HourlyCount>& x, const std::vector<store::HourlyCount>& y) {
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (x[i].hour_ms != y[i].hour_ms || x[i].category != y[i].category || x[i].severity != y[i].severity ||
          x[i].count != y[i].count) {
        return false;
      }
    }
    return true;
  };
  const int64_t end = kNow - kNow % kHour;
  const int64_t start = end - 48 * kHour;
  EXPECT_EQ(*(*archive)->CountBetween(start, end), [&] {
    uint64_t t = 0;
    for (const auto& r : full(start, end)) t += r.count;
    return t;
  }());
  l5::HourlyCountCache cache;
  auto first = cache.Read("ALPHA", **archive, start, end);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(same(*first, full(start, end)));
  auto again = cache.Read("ALPHA", **archive, start, end);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(same(*again, full(start, end)));
  EXPECT_EQ(cache.stats().full, 1u);
  EXPECT_EQ(cache.stats().reused, 1u);
  // A late event with a timestamp 30 hours back.
  Seed("ALPHA", {Event(++n, end - 30 * kHour + 5, "h1", "exfil", "LOW")});
  auto late = cache.Read("ALPHA", **archive, start, end);
  ASSERT_TRUE(late.ok());
  EXPECT_TRUE(same(*late, full(start, end)));
  EXPECT_EQ(cache.stats().stale, 1u);
  // Two hours later: the window moves, new hours are counted, old ones reused.
  Seed("ALPHA", {Event(++n, end + 10, "h2", "recon", "LOW"), Event(++n, end + kHour + 10, "h2", "recon", "LOW")});
  auto moved = cache.Read("ALPHA", **archive, start + 2 * kHour, end + 2 * kHour);
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(same(*moved, full(start + 2 * kHour, end + 2 * kHour)));
  EXPECT_EQ(cache.stats().reused, 2u);
  // A longer window than the one cached is counted afresh.
  auto longer = cache.Read("ALPHA", **archive, start - 10 * kHour, end + 2 * kHour);
  ASSERT_TRUE(longer.ok());
  EXPECT_TRUE(same(*longer, full(start - 10 * kHour, end + 2 * kHour)));
  EXPECT_EQ(cache.stats().full, 3u);
}

// Start counts each tenant's default window in the background; the first
// request then reuses those hours and answers as a cold device does.
TEST_F(L5L6Test, StartCountsTheDefaultWindowAheadOfTheFirstRequest) {
  SeedHistory("ALPHA", 5, 0);
  auto cold = L5(33);
  json want =
      Body(*cold, Request(dbe::MsgType::kL5ForecastReq, 33, {{"horizon_h", 12}}), dbe::MsgType::kL5ForecastResp);
  auto dev = L5(33);
  ASSERT_TRUE(dev->Start().ok());
  for (int i = 0; i < 500 && dev->StatusDetail().find("2 recounted") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(dev->StatusDetail().find("0 reused, 2 recounted"), std::string::npos) << dev->StatusDetail();
  json got = Body(*dev, Request(dbe::MsgType::kL5ForecastReq, 33, {{"horizon_h", 12}}), dbe::MsgType::kL5ForecastResp);
  EXPECT_NE(dev->StatusDetail().find("1 reused, 2 recounted"), std::string::npos) << dev->StatusDetail();
  ASSERT_FALSE(want.is_null());
  EXPECT_EQ(got["total"], want["total"]);
  EXPECT_EQ(got["categories"], want["categories"]);
  dev->Stop();
}

TEST_F(L5L6Test, TooLittleHistorySaysHowMuchIsNeeded) {
  SeedHistory("BRAVO", 2, 0);
  auto dev = L5(33);
  auto r = dev->Handle(Request(dbe::MsgType::kL5ForecastReq, 33, json::object(), "BRAVO"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(l9::testing::Reason(*r), "INSUFFICIENT_HISTORY");
  EXPECT_NE(l9::testing::Detail(*r).find("at least 72 complete hours (3 days)"), std::string::npos);
  EXPECT_NE(l9::testing::Detail(*r).find("has 48 hours"), std::string::npos) << l9::testing::Detail(*r);
  auto d35 = L5(35);
  auto r35 = d35->Handle(Request(dbe::MsgType::kL5ForecastReq, 35, json::object(), "BRAVO"));
  EXPECT_NE(l9::testing::Detail(*r35).find("at least 96 complete hours"), std::string::npos);
}

TEST_F(L5L6Test, ClaimForAnotherTenantAndBadRequestsAreRefused) {
  SeedHistory("ALPHA", 4, 0);
  EXPECT_EQ(CallerRuleFor(33), CallerRule::kTenantClaim);
  EXPECT_EQ(CallerRuleFor(37), CallerRule::kTenantClaim);
  auto dev = L5(33);
  auto r = dev->Handle(Request(dbe::MsgType::kL5ForecastReq, 33, json::object(), "ALPHA", "BRAVO"));
  EXPECT_EQ(l9::testing::Reason(*r), "CLAIM_TENANT_MISMATCH");
  r = dev->Handle(Request(dbe::MsgType::kL5ForecastReq, 33, {{"horizon_h", 500}}));
  EXPECT_EQ(l9::testing::Reason(*r), "BAD_REQUEST");
  r = dev->Handle(Request(dbe::MsgType::kL6RiskReq, 33, json::object()));
  EXPECT_EQ(l9::testing::Reason(*r), "UNSUPPORTED_MESSAGE_TYPE");
  auto risk = L6();
  r = risk->Handle(Request(dbe::MsgType::kL6RiskReq, 37, json::object(), "BRAVO", "ALPHA"));
  EXPECT_EQ(l9::testing::Reason(*r), "CLAIM_TENANT_MISMATCH");
}

// Entry A (p 0.3, impact 10), edge A -> B (p 0.5), B impact 100: the loss is
// 0 (0.7), 10 (0.15) or 110 (0.15): mean 18, sd sqrt(E[L^2] - 18^2).
TEST(L6RiskModel, MonteCarloConvergesToTheAnalyticCaseWithinItsError) {
  json scenario = {{"assets", {{{"host", "A"}, {"impact", 10}, {"p_entry", 0.3}}, {{"host", "B"}, {"impact", 100}}}},
                   {"edges", {{{"from", "A"}, {"to", "B"}, {"p", 0.5}}}},
                   {"samples", 50000},
                   {"seed", 7},
                   {"use_archive", false}};
  auto g = l6::ParseScenario(scenario);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto r = l6::SimulateRisk(*g);
  ASSERT_TRUE(r.ok());
  const double mean = 18.0;
  const double sd = std::sqrt(0.15 * 100 + 0.15 * 12100 - mean * mean);
  std::printf("analytic mean %.3f sd %.3f; Monte Carlo mean %.3f sd %.3f stderr %.4f\n", mean, sd, r->mean, r->sd,
              r->stderr_mean);
  EXPECT_NEAR(r->mean, mean, 3 * r->stderr_mean);
  EXPECT_NEAR(r->stderr_mean, sd / std::sqrt(50000.0), 0.02 * sd / std::sqrt(50000.0) + 0.01);
  EXPECT_EQ(r->p5, 0);
  EXPECT_EQ(r->p50, 0);
  EXPECT_EQ(r->p95, 110);
  EXPECT_NEAR(r->p_compromised[0], 0.3, 3 * std::sqrt(0.3 * 0.7 / 50000));
  EXPECT_NEAR(r->p_compromised[1], 0.15, 3 * std::sqrt(0.15 * 0.85 / 50000));
  EXPECT_NEAR(r->p_any_compromise, 0.3, 3 * std::sqrt(0.3 * 0.7 / 50000));
  // Lognormal impact: the mean is unchanged, the spread grows.
  scenario["assets"][1]["impact_sd"] = 50;
  auto g2 = l6::ParseScenario(scenario);
  auto r2 = l6::SimulateRisk(*g2);
  EXPECT_NEAR(r2->mean, mean, 3 * r2->stderr_mean);
  EXPECT_GT(r2->sd, r->sd);
}

TEST(L6RiskModel, SameSeedSameAnswerAndLimitsHold) {
  json scenario = {{"assets", {{{"host", "A"}, {"p_entry", 0.2}}, {{"host", "B"}, {"p_entry", 0.1}}}},
                   {"edges", {{{"from", "A"}, {"to", "B"}, {"p", 0.3}}, {{"from", "B"}, {"to", "A"}, {"p", 0.3}}}},
                   {"seed", 3}};
  auto a = l6::SimulateRisk(*l6::ParseScenario(scenario));
  auto b = l6::SimulateRisk(*l6::ParseScenario(scenario));
  EXPECT_EQ(a->mean, b->mean);
  EXPECT_EQ(a->p95, b->p95);
  scenario["seed"] = 4;
  auto c = l6::SimulateRisk(*l6::ParseScenario(scenario));
  EXPECT_NE(a->mean, c->mean);
  EXPECT_FALSE(l6::ParseScenario({{"edges", {{{"from", "A"}, {"to", "A"}, {"p", 0.3}}}}}).ok());
  EXPECT_FALSE(l6::ParseScenario({{"assets", {{{"host", "A"}, {"p_entry", 1.5}}}}}).ok());
  EXPECT_FALSE(l6::ParseScenario({{"samples", 10}}).ok());
}

TEST_F(L5L6Test, RiskUsesTheTenantsArchive) {
  const int64_t t = kNow - 3600000;
  Seed("ALPHA", {Event(1, t, "ws-17", "MALWARE", "CRITICAL", {{"threat_intel_flags", {"IOC_MATCH"}}}),
                 Event(2, t + 1000, "ws-17", "NETWORK", "HIGH"), Event(3, t + 2000, "ws-30", "SOC", "LOW")});
  Seed("BRAVO", {Event(900, t, "bravo-host", "MALWARE", "CRITICAL")});
  json scenario = {{"assets", {{{"host", "db-01"}, {"impact", 500}}}},
                   {"edges", {{{"from", "ws-17"}, {"to", "db-01"}, {"p", 0.5}}}},
                   {"default_impact", 10},
                   {"seed", 1}};
  auto dev = L6();
  json b = Body(*dev, Request(dbe::MsgType::kL6RiskReq, 37, scenario), dbe::MsgType::kL6RiskResp);
  ASSERT_FALSE(b.is_null());
  EXPECT_EQ(b["archive"]["events"], 3);
  EXPECT_EQ(b["hosts_total"], 3);  // db-01, ws-17, ws-30: nothing of BRAVO
  // ws-17: 1 - (1 - 0.35)(1 - 0.10) = 0.415.
  double p17 = 0;
  for (const json& h : b["hosts"]) {
    EXPECT_NE(h["host"], "bravo-host");
    if (h["host"] == "ws-17") {
      p17 = h["p_entry"].get<double>();
      EXPECT_EQ(h["basis"], "scenario+archive");
    }
  }
  EXPECT_NEAR(p17, 0.415, 1e-9);
  // E[loss] = 0.415 * 10 + 0.01 * 10 + 0.415 * 0.5 * 500.
  double want = 0.415 * 10 + 0.01 * 10 + 0.415 * 0.5 * 500;
  EXPECT_NEAR(b["loss"]["mean"].get<double>(), want, 3 * b["loss"]["stderr"].get<double>() + 1e-3);
  EXPECT_EQ(b["hosts"][0]["host"], "db-01");
  EXPECT_NE(env_.metrics().Expose().find("dsmil_request_latency_seconds_count{tenant_id=\"ALPHA\",device_id=\"37\""),
            std::string::npos);
}

// The shards of devices 38..42 merge to the answer of SimulateRisk: the
// resolved graph survives the trip as a scenario and the partials as JSON.
TEST(L6RiskModel, ShardsMergeToTheSameAnswerWhereverTheyRun) {
  json scenario = {{"assets",
                    {{{"host", "A"}, {"impact", 10}, {"p_entry", 0.3}},
                     {{"host", "B"}, {"impact", 100}, {"impact_sd", 40}},
                     {{"host", "C"}, {"p_entry", 0.05}}}},
                   {"edges", {{{"from", "A"}, {"to", "B"}, {"p", 0.5}}, {{"from", "C"}, {"to", "B"}, {"p", 0.25}}}},
                   {"samples", 10007},
                   {"seed", 11},
                   {"use_archive", false}};
  auto g = l6::ParseScenario(scenario);
  ASSERT_TRUE(g.ok());
  auto whole = l6::SimulateRisk(*g);
  ASSERT_TRUE(whole.ok());
  auto back = l6::ParseScenario(l6::GraphToScenario(*g));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::vector<l6::RiskPartial> shards;
  size_t total = 0;
  for (size_t i = 0; i < l6::kRiskShards; ++i) {
    auto p = l6::SimulateShard(*back, l6::ShardSamples(back->samples, i), l6::ShardSeed(back->seed, i));
    ASSERT_TRUE(p.ok());
    auto trip = l6::PartialFromJson(json::parse(l6::PartialToJson(*p).dump()), back->hosts.size());
    ASSERT_TRUE(trip.ok()) << trip.status().ToString();
    total += trip->losses.size();
    shards.push_back(std::move(*trip));
  }
  EXPECT_EQ(total, 10007u);
  l6::RiskResult merged = l6::MergeShards(shards, back->hosts.size());
  EXPECT_EQ(merged.mean, whole->mean);
  EXPECT_EQ(merged.sd, whole->sd);
  EXPECT_EQ(merged.p95, whole->p95);
  EXPECT_EQ(merged.expected_loss, whole->expected_loss);
  EXPECT_NE(l6::ShardSeed(11, 0), l6::ShardSeed(11, 1));
  // Malformed parts are refused by name.
  EXPECT_FALSE(l6::PartialFromJson({{"losses", {1.0}}, {"compromised", {1}}, {"loss_sum", {1}}, {"any", 1}}, 3).ok());
  EXPECT_FALSE(
      l6::PartialFromJson({{"losses", {-1.0}}, {"compromised", {0, 0, 0}}, {"loss_sum", {0, 0, 0}}, {"any", 0}}, 3)
          .ok());
  EXPECT_FALSE(
      l6::PartialFromJson({{"losses", {1.0}}, {"compromised", {0, 0, 0}}, {"loss_sum", {0, 0, 0}}, {"any", 2}}, 3)
          .ok());
  EXPECT_FALSE(l6::EvidenceFromJson(json::array({{{"host", "x"},
                                                  {"events", 1},
                                                  {"likelihood", 2.0},
                                                  {"categories", json::array()},
                                                  {"flags", json::array()}}}))
                   .ok());
  EXPECT_FALSE(l6::EvidenceFromJson(json::object()).ok());
}

// Device 37 hands the evidence to 36 and the shards to 38..42 and gets the
// answer it computes alone; a stopped sampler's shard runs on 37, same answer.
TEST_F(L5L6Test, RiskPartsRunOnDevices36To42) {
  const int64_t t = kNow - 3600000;
  Seed("ALPHA", {Event(1, t, "ws-17", "MALWARE", "CRITICAL", {{"threat_intel_flags", {"IOC_MATCH"}}}),
                 Event(2, t + 1000, "ws-17", "NETWORK", "HIGH"), Event(3, t + 2000, "ws-30", "SOC", "LOW")});
  json scenario = {{"assets", {{{"host", "db-01"}, {"impact", 500}, {"impact_sd", 100}}}},
                   {"edges", {{{"from", "ws-17"}, {"to", "db-01"}, {"p", 0.5}}}},
                   {"default_impact", 10},
                   {"seed", 5}};
  auto alone = L6();
  json want = Body(*alone, Request(dbe::MsgType::kL6RiskReq, 37, scenario), dbe::MsgType::kL6RiskResp);
  ASSERT_FALSE(want.is_null());
  EXPECT_NE(want["parts"]["evidence"].get<std::string>().find("device 37 (device 36:"), std::string::npos);

  std::map<int, std::unique_ptr<l6::RiskPartDevice>> parts;
  for (int id : {36, 38, 39, 40, 41, 42}) {
    parts[id] =
        std::make_unique<l6::RiskPartDevice>(env_.Context(id, Tenants()), l6::RiskPartOptions{[] { return kNow; }});
  }
  DeviceContext ctx = env_.Context(37, Tenants());
  ctx.local = [&](int id, const std::string&) -> Device* {
    auto it = parts.find(id);
    return it == parts.end() ? nullptr : it->second.get();
  };
  l6::RiskDevice coordinator(ctx, l6::RiskOptions{[] { return kNow; }});
  json got = Body(coordinator, Request(dbe::MsgType::kL6RiskReq, 37, scenario), dbe::MsgType::kL6RiskResp);
  ASSERT_FALSE(got.is_null());
  EXPECT_EQ(got["parts"]["evidence"], "device 36");
  ASSERT_EQ(got["parts"]["shards"].size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(got["parts"]["shards"][i]["ran_on"], "device " + std::to_string(38 + i));
  }
  EXPECT_EQ(got["loss"], want["loss"]);
  EXPECT_EQ(got["hosts"], want["hosts"]);
  EXPECT_EQ(got["archive"], want["archive"]);
  EXPECT_NE(parts[40]->StatusDetail().find("shards answered: 1 (4000 samples)"), std::string::npos)
      << parts[40]->StatusDetail();
  EXPECT_EQ(parts[36]->StatusDetail(), "evidence reads answered: 1");

  parts[40]->Stop();
  json again = Body(coordinator, Request(dbe::MsgType::kL6RiskReq, 37, scenario), dbe::MsgType::kL6RiskResp);
  EXPECT_NE(again["parts"]["shards"][2]["ran_on"].get<std::string>().find("device 37 (device 40:"), std::string::npos)
      << again["parts"];
  EXPECT_EQ(again["loss"], want["loss"]);

  // The parts check the claim like device 37 does, and refuse bad payloads.
  auto r = parts[36]->Handle(Request(dbe::MsgType::kL6RiskReq, 36, json::object(), "ALPHA", "BRAVO"));
  EXPECT_EQ(l9::testing::Reason(*r), "CLAIM_TENANT_MISMATCH");
  r = parts[38]->Handle(Request(dbe::MsgType::kL6RiskReq, 38, {{"scenario", scenario}}));
  EXPECT_EQ(l9::testing::Reason(*r), "BAD_REQUEST");
  r = parts[36]->Handle(Request(dbe::MsgType::kL6RiskReq, 36, {{"window_hours", 0}}));
  EXPECT_EQ(l9::testing::Reason(*r), "BAD_REQUEST");
  for (int id : {36, 38, 39, 40, 41, 42}) EXPECT_EQ(CallerRuleFor(id), CallerRule::kTenantClaim) << id;
}

}  // namespace
}  // namespace dsmil::devices
