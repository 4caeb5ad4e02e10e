// Device 62, Coalition Intelligence (docs/l9.md "Device 62: coalition
// intelligence"): an indicator set reaches another tenant only through an
// offer by its owner and an acceptance by the named recipient, each audited
// in both chains; nobody else can take or read it.
#include "devices/l9/coalition.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

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

const json kIndicators =
    json::array({"203.0.113.7", "2001:DB8::1", "C2.Example.ORG", "d41d8cd98f00b204e9800998ecf8427e", "203.0.113.7"});

class CoalitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = std::make_unique<CoalitionDevice>(env_.Context(kCoalitionDeviceId, {{"ALPHA", "SOC_ASSIST", {"SOC"}},
                                                                               {"BRAVO", "ANALYSIS_ONLY", {"SOC"}},
                                                                               {"CHARLIE", "ANALYSIS_ONLY", {"SOC"}}}));
  }
  void TearDown() override { dev_.reset(); }

  std::string Token(const std::string& tenant, const std::string& user = "operator:op-admin") {
    return env_.Token(tenant, user);
  }

  dbe::Message Request(const std::string& tenant, const json& payload) {
    dbe::Message m(dbe::MsgType::kL9CoalitionReq);
    m.header().dst_device = kCoalitionDeviceId;
    m.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, "coal-1");
    m.SetString(dbe::TlvType::kPayload, payload.dump());
    m.SetString(dbe::TlvType::kL7ClaimToken, Token(tenant));
    return m;
  }

  // The reply's JSON, or {"error": REASON, "detail": ...}.
  json Call(const std::string& tenant, const json& payload) {
    auto r = dev_->Handle(Request(tenant, payload));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r->type() == dbe::MsgType::kError) {
      return {{"error", std::string(*r->GetString(dbe::TlvType::kErrorReason))},
              {"detail", std::string(*r->GetString(dbe::TlvType::kErrorDetail))}};
    }
    EXPECT_EQ(r->type(), dbe::MsgType::kL9CoalitionResp);
    return json::parse(AsString(*r->GetBytes(dbe::TlvType::kPayload)));
  }

  std::string Offer(const std::string& from = "ALPHA", const std::string& to = "BRAVO") {
    json o = Call(from, {{"op", "offer"}, {"to", to}, {"indicators", kIndicators}});
    EXPECT_FALSE(o.contains("error")) << o.dump();
    return o.value("release_id", "");
  }

  std::vector<store::AuditRow> Rows(const std::string& tenant, const std::string& type) {
    std::vector<store::AuditRow> out;
    for (auto& r : env_.AuditRows(tenant)) {
      if (r.event_type == type) out.push_back(r);
    }
    return out;
  }

  testing::L9Env env_{"l9_coalition_test"};
  const fs::path& dir_ = env_.dir();
  const store::StoresConfig& stores_ = env_.stores();
  Registry& metrics_ = env_.metrics();
  std::unique_ptr<CoalitionDevice> dev_;
};

TEST_F(CoalitionTest, OfferThenAcceptDeliversOnlyToTheNamedTenant) {
  const std::string id = Offer();
  ASSERT_EQ(id.rfind("rel-", 0), 0u);
  // Pending: BRAVO sees the offer's sender and counts, not the values.
  json bl = Call("BRAVO", {{"op", "list"}});
  ASSERT_EQ(bl["incoming"].size(), 1u);
  EXPECT_EQ(bl["incoming"][0]["from"], "ALPHA");
  EXPECT_EQ(bl["incoming"][0]["indicators"], 4);  // the duplicate counted once
  EXPECT_TRUE(bl["received"].empty());
  EXPECT_EQ(bl.dump().find("203.0.113.7"), std::string::npos);

  json acc = Call("BRAVO", {{"op", "accept"}, {"release_id", id}});
  ASSERT_FALSE(acc.contains("error")) << acc.dump();
  EXPECT_EQ(acc["state"], "accepted");
  EXPECT_EQ(acc["indicators"].size(), 4u);
  bl = Call("BRAVO", {{"op", "list"}});
  EXPECT_TRUE(bl["incoming"].empty());
  ASSERT_EQ(bl["received"].size(), 4u);
  std::set<std::string> values;
  for (const json& r : bl["received"]) {
    values.insert(r["value"]);
    EXPECT_EQ(r["from"], "ALPHA");
    EXPECT_EQ(r["release_id"], id);
  }
  EXPECT_EQ(values, (std::set<std::string>{"203.0.113.7", "2001:db8::1", "c2.example.org",
                                           "d41d8cd98f00b204e9800998ecf8427e"}));
  EXPECT_EQ(Call("BRAVO", {{"op", "accept"}, {"release_id", id}})["error"], "ALREADY_ACCEPTED");

  // CHARLIE got nothing; ALPHA sees its offer as accepted and received nothing.
  json cl = Call("CHARLIE", {{"op", "list"}});
  EXPECT_TRUE(cl["received"].empty() && cl["incoming"].empty() && cl["offered"].empty()) << cl.dump();
  json al = Call("ALPHA", {{"op", "list"}});
  ASSERT_EQ(al["offered"].size(), 1u);
  EXPECT_EQ(al["offered"][0]["state"], "accepted");
  EXPECT_TRUE(al["received"].empty());

  // Files are private.
  struct stat st {};
  ASSERT_EQ(::stat((stores_.path + "/l9/coalition/releases.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((stores_.path + "/l9/coalition/received/BRAVO.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CoalitionTest, EachStepIsAuditedInBothChains) {
  const std::string id = Offer();
  for (const char* t : {"ALPHA", "BRAVO"}) {
    auto rows = Rows(t, "COALITION_RELEASE_OFFERED");
    ASSERT_EQ(rows.size(), 1u) << t;
    EXPECT_NE(rows[0].detail.find(id), std::string::npos);
  }
  ASSERT_FALSE(Call("BRAVO", {{"op", "accept"}, {"release_id", id}}).contains("error"));
  for (const char* t : {"ALPHA", "BRAVO"}) EXPECT_EQ(Rows(t, "COALITION_RELEASE_ACCEPTED").size(), 1u) << t;
  EXPECT_TRUE(Rows("CHARLIE", "COALITION_RELEASE_OFFERED").empty());
}

TEST_F(CoalitionTest, AThirdTenantCannotAcceptAndIsAudited) {
  const std::string id = Offer();
  json r = Call("CHARLIE", {{"op", "accept"}, {"release_id", id}});
  EXPECT_EQ(r["error"], "UNKNOWN_RELEASE");
  // The same answer as for an id that does not exist.
  json unknown = Call("CHARLIE", {{"op", "accept"}, {"release_id", "rel-0000000000000000"}});
  EXPECT_EQ(unknown["error"], "UNKNOWN_RELEASE");
  EXPECT_EQ(r["detail"].get<std::string>().substr(0, 10), unknown["detail"].get<std::string>().substr(0, 10));
  EXPECT_EQ(Rows("CHARLIE", "TENANT_ESCAPE_ATTEMPT").size(), 1u);
  EXPECT_EQ(Rows("ALPHA", "COALITION_ACCEPT_REFUSED").size(), 1u);
  EXPECT_TRUE(Call("CHARLIE", {{"op", "list"}})["received"].empty());
  // Still pending for BRAVO.
  EXPECT_EQ(Call("BRAVO", {{"op", "list"}})["incoming"].size(), 1u);
}

TEST_F(CoalitionTest, TheOwnerCannotAcceptItsOwnOffer) {
  const std::string id = Offer();
  EXPECT_EQ(Call("ALPHA", {{"op", "accept"}, {"release_id", id}})["error"], "SELF_ACCEPT");
  EXPECT_TRUE(Call("ALPHA", {{"op", "list"}})["received"].empty());
  EXPECT_EQ(Call("ALPHA", {{"op", "offer"}, {"to", "ALPHA"}, {"indicators", kIndicators}})["error"], "SELF_RELEASE");
}

TEST_F(CoalitionTest, ListShowsOnlyTheCallersItems) {
  Offer("ALPHA", "BRAVO");
  Offer("CHARLIE", "ALPHA");
  json bl = Call("BRAVO", {{"op", "list"}});
  EXPECT_TRUE(bl["offered"].empty());
  ASSERT_EQ(bl["incoming"].size(), 1u);
  EXPECT_EQ(bl["incoming"][0]["from"], "ALPHA");
  json al = Call("ALPHA", {{"op", "list"}});
  ASSERT_EQ(al["offered"].size(), 1u);
  EXPECT_EQ(al["offered"][0]["to"], "BRAVO");
  ASSERT_EQ(al["incoming"].size(), 1u);
  EXPECT_EQ(al["incoming"][0]["from"], "CHARLIE");
  EXPECT_FALSE(al["incoming"][0].contains("indicators") && al["incoming"][0]["indicators"].is_array());
}

TEST_F(CoalitionTest, InvalidOrTooManyIndicatorsAreRefusedNamingTheProblem) {
  auto offer = [&](const json& ind) { return Call("ALPHA", {{"op", "offer"}, {"to", "BRAVO"}, {"indicators", ind}}); };
  json r = offer(json::array({"203.0.113.7", "not an indicator"}));
  EXPECT_EQ(r["error"], "INVALID_INDICATOR");
  EXPECT_NE(r["detail"].get<std::string>().find("indicators[1]"), std::string::npos) << r.dump();
  r = offer(json::array({"abcd1234"}));
  EXPECT_EQ(r["error"], "INVALID_INDICATOR");
  EXPECT_NE(r["detail"].get<std::string>().find("8 digits"), std::string::npos) << r.dump();
  EXPECT_EQ(offer(json::array({"300.1.2.3"}))["error"], "INVALID_INDICATOR");
  EXPECT_EQ(offer(json::array({"1::2::3"}))["error"], "INVALID_INDICATOR");
  EXPECT_EQ(offer(json::array({42}))["error"], "INVALID_INDICATOR");
  EXPECT_EQ(offer(json::array({std::string(300, 'a') + ".com"}))["error"], "INVALID_INDICATOR");
  json many = json::array();
  for (size_t i = 0; i <= kMaxReleaseIndicators; ++i)
    many.push_back("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  r = offer(many);
  EXPECT_EQ(r["error"], "TOO_MANY_INDICATORS");
  EXPECT_NE(r["detail"].get<std::string>().find("1000"), std::string::npos);
  EXPECT_EQ(offer(json::array())["error"], "BAD_REQUEST");
  EXPECT_EQ(Call("ALPHA", {{"op", "offer"}, {"to", "ZULU"}, {"indicators", kIndicators}})["error"], "UNKNOWN_TENANT");
  EXPECT_EQ(Call("ALPHA", {{"op", "steal"}})["error"], "BAD_REQUEST");
  EXPECT_TRUE(Call("BRAVO", {{"op", "list"}})["incoming"].empty());
}

TEST_F(CoalitionTest, ParseIndicatorAcceptsTheDocumentedForms) {
  EXPECT_EQ(ParseIndicator("198.51.100.1")->kind, "ip");
  EXPECT_EQ(ParseIndicator("FE80::1")->value, "fe80::1");
  EXPECT_EQ(ParseIndicator("Mail.Example.com")->value, "mail.example.com");
  EXPECT_EQ(ParseIndicator(std::string(64, 'A'))->kind, "hash");
  EXPECT_EQ(ParseIndicator(std::string(40, 'f'))->kind, "hash");
  EXPECT_FALSE(ParseIndicator("localhost").ok());
  EXPECT_FALSE(ParseIndicator("-bad.example").ok());
  EXPECT_FALSE(ParseIndicator("").ok());
}

TEST_F(CoalitionTest, MissingClaimIsRefusedAndHealthNeedsStores) {
  dbe::Message none = Request("ALPHA", {{"op", "list"}});
  none.Remove(dbe::TlvType::kL7ClaimToken);
  auto r = dev_->Handle(none);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(*r->GetString(dbe::TlvType::kErrorReason)), "CLAIM_MISSING");
  dbe::Message other = Request("BRAVO", {{"op", "list"}});
  other.SetString(dbe::TlvType::kL7ClaimToken, Token("ALPHA"));
  EXPECT_EQ(std::string(*dev_->Handle(other)->GetString(dbe::TlvType::kErrorReason)), "CLAIM_TENANT_MISMATCH");

  EXPECT_EQ(dev_->Health().state, DeviceState::kHealthy);
  CoalitionDevice unconfigured(DeviceContext(kCoalitionDeviceId, "", "node-a"));
  EXPECT_EQ(unconfigured.Health().state, DeviceState::kNotImplemented);
  EXPECT_EQ(unconfigured.Health().reason.rfind("not configured: ", 0), 0u);
  RegisterBuiltinDevices();
  EXPECT_TRUE(IsImplemented(kCoalitionDeviceId));
  EXPECT_EQ(CallerRuleFor(kCoalitionDeviceId), CallerRule::kTenantClaim);
}

}  // namespace
}  // namespace dsmil::devices::l9
