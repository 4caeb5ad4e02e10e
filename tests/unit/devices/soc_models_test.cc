#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "devices/l3/l3_model.h"
#include "devices/l4/l4_model.h"
#include "devices/soc/event.h"

namespace dsmil::soc {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(L3Model, ShippedFileMatchesTheBuiltInDefault) {
  auto file = L3Model::Load(DSMIL_SOURCE_DIR "/models/l3_router.json");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  L3Model def = L3Model::Default();
  Features quiet, loud;
  quiet.conn_count = 3;
  loud.failed_logins = 40;
  loud.anomaly_score = 0.9;
  loud.kex = "X25519";
  loud.enclave_attestation = "failed";
  for (const Features* f : {&quiet, &loud}) EXPECT_DOUBLE_EQ(file->Score(*f), def.Score(*f));
  EXPECT_LT(def.Score(quiet), 0.3);
  EXPECT_GT(def.Score(loud), 0.7);
  EXPECT_EQ(def.Decide(def.Score(loud)), "PRIORITY");
  EXPECT_EQ(def.Decide(def.Score(quiet)), "ROUTINE");
  EXPECT_EQ(def.Decide(0.5), "STANDARD");
}

TEST(L3Model, RefusesBadParameters) {
  auto bad = [](const std::string& text) { return L3Model::Parse(text).status().message(); };
  EXPECT_EQ(bad("{}"), "l3 model: format must be \"dsmil-l3-router\"");
  std::string head =
      R"({"format":"dsmil-l3-router","version":1,"bias":0,"thresholds":{"priority":0.7,"standard":0.3},)";
  EXPECT_EQ(bad(head + R"("terms":[{"feature":"colour","weight":1}]})"),
            "l3 model: terms[0].feature: unknown feature 'colour'");
  EXPECT_EQ(bad(head + R"("terms":[{"feature":"bytes_in","transform":"cube","weight":1}]})"),
            "l3 model: terms[0].transform: unknown transform 'cube' (identity, log1p, inverse)");
  EXPECT_TRUE(L3Model::Parse(head + R"("terms":[]})").ok());
}

TEST(L4Model, ReplaysTheTrainerTestVectors) {
  std::string path = DSMIL_SOURCE_DIR "/models/l4_classifier.json";
  auto m = L4Model::Load(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GT(m->heldout_accuracy(), 0.8);
  auto j = nlohmann::json::parse(ReadAll(path));
  ASSERT_GE(j["test_vectors"].size(), 5u);
  for (const auto& v : j["test_vectors"]) {
    // Build the features through the event parser (the same path as the pipeline).
    nlohmann::json ev = {{"event_id", "f47ac10b-58cc-4372-a567-0e02b2c3d479"},
                         {"ts_ms", 1764245000000},
                         {"source", "t"},
                         {"features", v["features"]}};
    auto e = ParseEvent(ev.dump(), "ALPHA");
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    L4Output o = m->Classify(e->features);
    EXPECT_EQ(CategoryName(o.category), v["category"].get<std::string>()) << v.dump();
    EXPECT_EQ(SeverityName(o.severity), v["severity"].get<std::string>()) << v.dump();
    EXPECT_NEAR(o.confidence, v["confidence"].get<double>(), 1e-4) << v.dump();
  }
}

TEST(L4Model, TokensAreStable) {
  Features f;
  f.protocol = "TLS";
  f.dst_port = 443;
  f.bytes_out = 1024;
  f.anomaly_score = 0.99;
  f.signature = "Port-Scan detected!";
  std::vector<std::string> toks;
  L4Tokens(f, [&](std::string_view t) { toks.emplace_back(t); });
  std::vector<std::string> want = {"bias",      "proto=tls", "port=443", "bytes_out:b11",
                                   "anomaly:9", "w=port",    "w=scan",   "w=detected"};
  EXPECT_EQ(toks, want);
  EXPECT_EQ(Fnv1a32(""), 2166136261u);
  EXPECT_EQ(Fnv1a32("a"), 0xe40c292cu);
}

TEST(L4Model, RefusesWrongShapes) {
  EXPECT_EQ(L4Model::Parse(R"({"format":"dsmil-l4-classifier","version":1,"dim":8})").status().message(),
            "l4 model: dim must be an integer in 16..1048576");
  EXPECT_FALSE(L4Model::Parse("[]").ok());
}

TEST(Pqc, KnowsHybridNames) {
  EXPECT_TRUE(IsPostQuantumKex("X25519MLKEM768"));
  EXPECT_TRUE(IsPostQuantumKex("ml-kem-1024"));
  EXPECT_TRUE(IsPostQuantumKex("sntrup761x25519-sha512"));
  EXPECT_FALSE(IsPostQuantumKex("X25519"));
  EXPECT_FALSE(IsPostQuantumKex("secp384r1"));
}

}  // namespace
}  // namespace dsmil::soc
