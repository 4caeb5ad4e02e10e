#include "devices/soc/event.h"

#include <gtest/gtest.h>

namespace dsmil::soc {
namespace {

constexpr char kId[] = "f47ac10b-58cc-4372-a567-0e02b2c3d479";

std::string Minimal(const std::string& extra = "") {
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
      R"("ioc_matches":["evil.example"],"sigma":[{"id":"r-1","title":"Brute force","level":"high",)"
      R"("attack":["attack.t1110","attack.credential_access"]}],"ts_ms":3},)"
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
  ASSERT_EQ(e->l8.sigma.size(), 1u);
  EXPECT_EQ(e->l8.sigma[0].id, "r-1");
  EXPECT_EQ(e->l8.sigma[0].attack.size(), 2u);
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
      {R"({"ts_ms":1764245000000,"source":"x"})", "event: event_id: is required"},
      {R"({"event_id":"nope","ts_ms":1764245000000,"source":"x"})",
       "event: event_id: must be a UUID (8-4-4-4-12 hex), got 'nope'"},
      {Minimal(R"(,"tenant":"BRAVO")"), "event: tenant: 'BRAVO' does not match the stream's tenant 'ALPHA'"},
      {Minimal(R"(,"features":{"dst_port":70000})"),
       "event: features.dst_port: must be an integer in 0..65535, got 70000"},
      {Minimal(R"(,"features":{"dst_port":"443"})"), "event: features.dst_port: must be an integer, got string"},
      {Minimal(R"(,"l3":{"score":1.5})"), "event: l3.score: must be a number in [0,1], got 1.5"},
      {Minimal(R"(,"l4":{"category":"WEATHER","severity":"LOW","confidence":0.5})"),
       "event: l4.category: unknown category 'WEATHER'"},
      {Minimal(R"(,"l8_enrichment":{"advml_flags":["IOC_MATCH"]})"),
       "event: l8_enrichment.advml_flags: flag IOC_MATCH belongs to threat_intel_flags"},
      {Minimal(R"(,"colour":"red")"), "event: colour: unknown field (see docs/events.md)"},
      {Minimal(R"(,"l8_enrichment":{"sigma":[{"title":"t"}]})"), "event: l8_enrichment.sigma[0].id: missing"},
      {Minimal(R"(,"l8_enrichment":{"sigma":[{"id":"r","rank":1}]})"),
       "event: l8_enrichment.sigma[0].rank: unknown key"},
      {Minimal(R"(,"l8_enrichment":{"sigma":"r-1"})"), "event: l8_enrichment.sigma: must be an array of rule hits"},
      {R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","source":"x"})",
       "event: ts_ms: is required (event time, ms since the Unix epoch)"},
      {R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","ts_ms":1764245000,"source":"x"})",
       "event: ts_ms: 1764245000 is before 2000-01-01: it looks like seconds since the Unix epoch; send milliseconds "
       "(1764245000000)"},
      {R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","ts_ms":1764245000000000,"source":"x"})",
       "event: ts_ms: 1764245000000000 is after 2100-01-01: it looks like microseconds since the Unix epoch; send "
       "milliseconds (1764245000000)"},
      {R"({"event_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","ts_ms":0,"source":"x"})",
       "event: ts_ms: must be milliseconds since the Unix epoch from 2000-01-01 (946684800000) on, got 0"},
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
  auto e = ParseEvent(R"({"ts_ms":946684800000,"source":"x"})", "BRAVO",
                      ParseOptions{.assign_missing_id = true, .now_ms = 1764245000000});
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(IsUuid(e->event_id));
  EXPECT_EQ(e->ingest_ts_ms, 1764245000000);
  EXPECT_NE(NewUuid(), NewUuid());
}

TEST(SocEvent, TimeAheadOfTheClockIsRefusedWhereAsked) {
  const int64_t now = 1764245000000;
  ParseOptions o{.now_ms = now, .max_future_ms = kMaxFutureMs};
  std::string soon = Minimal("").replace(Minimal("").find("1764245000000"), 13, std::to_string(now + kMaxFutureMs));
  EXPECT_TRUE(ParseEvent(soon, "ALPHA", o).ok());
  std::string late =
      Minimal("").replace(Minimal("").find("1764245000000"), 13, std::to_string(now + kMaxFutureMs + 60000));
  auto e = ParseEvent(late, "ALPHA", o);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().message(), "event: ts_ms: " + std::to_string(now + kMaxFutureMs + 60000) +
                                      " is 1441 minutes in the future; at most 24 h ahead of the platform clock (" +
                                      std::to_string(now) + ") is accepted");
  EXPECT_TRUE(ParseEvent(late, "ALPHA").ok());  // without a bound (a stage reading its own output)
}

TEST(SocEvent, PipelineFieldsAreRefusedWhereNotAllowed) {
  struct Case {
    std::string extra, field, writer;
  };
  const std::vector<Case> cases = {
      {R"(,"ingest_ts_ms":1764245000100)", "ingest_ts_ms", "ingest"},
      {R"(,"l3":{"score":0.9})", "l3", "L3, devices 14-22"},
      {R"(,"l4":{"category":"NETWORK","severity":"LOW","confidence":0.5})", "l4", "L4, devices 23-32"},
      {R"(,"l8_enrichment":{})", "l8_enrichment", "L8, devices 51-57"},
      {R"(,"soar":{"proposals":[]})", "soar", "device 58"},
      {R"(,"enriched":false)", "enriched", "device 58"},
      {R"(,"enriched":"garbage")", "enriched", "device 58"},  // named as the pipeline's, not as a type error
  };
  for (const auto& c : cases) {
    auto e = ParseEvent(Minimal(c.extra), "ALPHA", ParseOptions{.pipeline_fields = kClientFields});
    ASSERT_FALSE(e.ok()) << c.extra;
    EXPECT_EQ(e.status().code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(e.status().message(), "event: field '" + c.field + "' is written by the pipeline (" + c.writer +
                                        ") and cannot be supplied by a client");
    if (c.extra.find("garbage") == std::string::npos) {
      EXPECT_TRUE(ParseEvent(Minimal(c.extra), "ALPHA").ok()) << c.extra;
    }
  }
  // Several: the most consequential is named.
  auto two = ParseEvent(Minimal(R"(,"enriched":true,"l3":{"score":0.9},"soar":{})"), "ALPHA",
                        ParseOptions{.pipeline_fields = kClientFields});
  EXPECT_NE(two.status().message().find("'soar'"), std::string::npos);
  // Each stage's input: L3 takes ingest's output, L4 L3's.
  EXPECT_TRUE(
      ParseEvent(Minimal(R"(,"ingest_ts_ms":1764245000100)"), "ALPHA", ParseOptions{.pipeline_fields = kL3InputFields})
          .ok());
  EXPECT_FALSE(
      ParseEvent(Minimal(R"(,"l3":{"score":0.9})"), "ALPHA", ParseOptions{.pipeline_fields = kL3InputFields}).ok());
  EXPECT_TRUE(
      ParseEvent(Minimal(R"(,"l3":{"score":0.9})"), "ALPHA", ParseOptions{.pipeline_fields = kL4InputFields}).ok());

  // The struct form.
  auto full = ParseEvent(Minimal(R"(,"l3":{"score":0.9},"l4":{"category":"NETWORK","severity":"LOW","confidence":0.5},)"
                                 R"("soar":{"proposals":[{"action":"ALERT_ONLY"}]})"),
                         "ALPHA");
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(CheckPipelineFields(*full, kL8InputFields).message(),
            "event: field 'soar' is written by the pipeline (device 58) and cannot be supplied by a client");
  full->proposals.clear();
  EXPECT_TRUE(CheckPipelineFields(*full, kL8InputFields).ok());
  EXPECT_FALSE(CheckPipelineFields(*full, kL4InputFields).ok());
  EXPECT_EQ(PipelineFieldKey(kFieldL8), "l8_enrichment");
  EXPECT_EQ(PipelineFieldWriter(kFieldSoar), "device 58");
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
