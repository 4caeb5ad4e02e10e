#include "devices/soc/event.h"

#include <gtest/gtest.h>

namespace dsmil::soc {
namespace {

constexpr char kId[] = "f47ac10b-58cc-4372-a567-0e02b2c3d479";

std::string Minimal(std::string extra = "") {
  return std::string(R"({"event_id":")") + kId + R"(","ts_ms":1764245000000,"source":"fw-01")" + extra + "}";
}

TEST(SocEvent, ParsesMinimalEventAndFillsTenant) {
  auto e = ParseEvent(Minimal(), "ALPHA");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->event_id, kId);
  EXPECT_EQ(e->tenant, "ALPHA");
  EXPECT_EQ(e->ts_ms, 1764245000000);
  EXPECT_EQ(e->source, "fw-01");
  EXPECT_FALSE(e->l3.present);
  EXPECT_FALSE(e->enriched);
}

TEST(SocEvent, RoundTripsEveryPart) {
  std::string text = Minimal(
      R"(,"tenant":"ALPHA","ingest_ts_ms":1764245000100,)"
      R"("features":{"src_host":"ws-17","dst_domain":"evil.example","dst_port":4444,"bytes_out":123456,)"
      R"("kex":"X25519","anomaly_score":0.25,"custom":{"a":[1,2]}},)"
      R"("l3":{"score":0.95,"decision":"PRIORITY","device":18,"ts_ms":1},)"
      R"("l4":{"category":"NETWORK","severity":"HIGH","confidence":0.15,"device":25,"ts_ms":2},)"
      R"("l8_enrichment":{"advml_flags":["LAYER_DISCREPANCY","POSSIBLE_LOG_TAMPER"],"crypto_flags":["NON_PQC_CHANNEL"],)"
      R"("ioc_matches":["evil.example"],"ts_ms":3},)"
      R"("soar":{"proposals":[{"action":"ISOLATE_HOST","target":"ws-17","reason":"CAMPAIGN_SUSPECTED"}]},)"
      R"("enriched":true)");
  auto e = ParseEvent(text, "ALPHA");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->features.dst_port, 4444);
  EXPECT_EQ(e->features.extra.size(), 1u);
  EXPECT_DOUBLE_EQ(e->l3.score, 0.95);
  EXPECT_EQ(e->l4.category, Category::kNetwork);
  EXPECT_EQ(e->l8.flags, kFlagLayerDiscrepancy | kFlagPossibleLogTamper | kFlagNonPqcChannel);
  ASSERT_EQ(e->proposals.size(), 1u);
  EXPECT_TRUE(e->enriched);

  std::string out = EventToJson(*e);
  auto again = ParseEvent(out, "ALPHA");
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << out;
  EXPECT_EQ(EventToJson(*again), out);
  EXPECT_NE(out.find(R"("advml_flags":["LAYER_DISCREPANCY","POSSIBLE_LOG_TAMPER"])"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("custom":{"a":[1,2]})"), std::string::npos) << out;
}

TEST(SocEvent, ErrorsNameTheField) {
  struct Case {
    std::string text;
    std::string error;
  };
  std::vector<Case> cases = {
      {"not json", "event: not valid JSON"},
      {"[1]", "event: must be a JSON object, got array"},
      {R"({"ts_ms":1,"source":"x"})", "event: event_id: is required"},
      {R"({"event_id":"nope","ts_ms":1,"source":"x"})", "event: event_id: must be a UUID (8-4-4-4-12 hex), got 'nope'"},
      {Minimal(R"(,"tenant":"BRAVO")"), "event: tenant: 'BRAVO' does not match the stream's tenant 'ALPHA'"},
      {Minimal(R"(,"features":{"dst_port":70000})"), "event: features.dst_port: must be an integer in 0..65535, got 70000"},
      {Minimal(R"(,"features":{"dst_port":"443"})"), "event: features.dst_port: must be an integer, got string"},
      {Minimal(R"(,"l3":{"score":1.5})"), "event: l3.score: must be a number in [0,1], got 1.5"},
      {Minimal(R"(,"l4":{"category":"WEATHER","severity":"LOW","confidence":0.5})"),
       "event: l4.category: unknown category 'WEATHER'"},
      {Minimal(R"(,"l8_enrichment":{"advml_flags":["IOC_MATCH"]})"),
       "event: l8_enrichment.advml_flags: flag IOC_MATCH belongs to threat_intel_flags"},
      {Minimal(R"(,"colour":"red")"), "event: colour: unknown field (see docs/events.md)"},
      {R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","source":"x"})",
       "event: ts_ms: is required (event time, ms since the Unix epoch)"},
  };
  for (const auto& c : cases) {
    auto e = ParseEvent(c.text, "ALPHA");
    ASSERT_FALSE(e.ok()) << c.text;
    EXPECT_EQ(e.status().message(), c.error) << c.text;
  }
  std::string big = Minimal(R"(,"features":{"signature":")" + std::string(kMaxEventBytes, 'a') + "\"}");
  EXPECT_FALSE(ParseEvent(big, "ALPHA").ok());
}

TEST(SocEvent, IngestAssignsIdAndTime) {
  auto e = ParseEvent(R"({"ts_ms":5,"source":"x"})", "BRAVO", ParseOptions{.assign_missing_id = true, .now_ms = 77});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(IsUuid(e->event_id));
  EXPECT_EQ(e->ingest_ts_ms, 77);
  EXPECT_NE(NewUuid(), NewUuid());
}

TEST(SocEvent, FlagNamesAndDeadLetter) {
  EXPECT_EQ(FlagsString(kFlagCampaignSuspected | kFlagMultiVector), "CAMPAIGN_SUSPECTED, MULTI_VECTOR");
  EXPECT_EQ(ParseFlag("SUSPICIOUS_EGRESS"), kFlagSuspiciousEgress);
  EXPECT_EQ(FlagDevice(kFlagNonPqcChannel), 53);
  EXPECT_EQ(FlagGroup(kFlagIocMatch), "threat_intel_flags");
  std::string dl = DeadLetterJson("event: not valid JSON", "ingest", 9, "{oops\x01");
  EXPECT_EQ(dl, R"({"reason":"event: not valid JSON","stage":"ingest","ts_ms":9,"payload":"{oops\u0001"})");
}

}  // namespace
}  // namespace dsmil::soc
