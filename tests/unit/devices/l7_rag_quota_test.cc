// Knowledge-base quotas of device 50 (docs/security.md): a tenant's ingest
// rate and the size of its knowledge base are bounded; over either, ingest
// answers QUOTA_EXCEEDED and writes nothing, and the other tenant is not
// affected.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "dbe/message.h"
#include "devices/device.h"
#include "devices/l7/rag.h"
#include "support/clock_util.h"
#include "tenant/claims.h"

namespace dsmil::devices {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class RagQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dsmil-rag-quota-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    keyring_ = std::make_unique<tenant::ClaimKeyring>(dir_ + "/secrets/claims");
    verifier_ =
        std::make_unique<tenant::ClaimVerifier>([this](const std::string& t) { return keyring_->PublicKey(t); });
    issuer_ = std::make_unique<tenant::ClaimIssuer>(keyring_.get());
  }
  void TearDown() override {
    if (rag_) rag_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Start(const json& section) {
    DeviceContext ctx(50, "", "node-b");
    ctx.stores.kind = "embedded";
    ctx.stores.path = dir_;
    ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}};
    RegisterBuiltinDevices();
    ASSERT_TRUE(ctx.config.PutJson("rag", section.dump(), "").ok());
    ctx.claims = verifier_.get();
    auto dev = l7::CreateRagDevice(ctx);
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE((*dev)->Start().ok());
    rag_ = std::move(*dev);
  }

  // Ingests `n` short documents (one chunk each) for `tenant`; the reply.
  dbe::Message Ingest(const std::string& tenant, int n, const std::string& tag) {
    json docs = json::array();
    for (int i = 0; i < n; ++i)
      docs.push_back({{"source", tag + std::to_string(i)}, {"text", "note " + tag + " " + std::to_string(i)}});
    dbe::Message m(dbe::MsgType::kL7RagQuery);
    m.header().dst_device = 50;
    m.SetString(dbe::TlvType::kTenantId, tenant);
    m.SetString(dbe::TlvType::kRequestId, "q-" + tag);
    m.SetString(dbe::TlvType::kPayload, json({{"op", "ingest"}, {"documents", docs}}).dump());
    int64_t now = dsmil::testing::UnixSeconds();
    auto token = issuer_->TokenFor(tenant, "key:test", now);
    EXPECT_TRUE(token.ok());
    m.SetBytes(dbe::TlvType::kL7ClaimToken, *token);
    auto r = rag_->Handle(m);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : dbe::Message();
  }

  static std::string Reason(const dbe::Message& m) {
    auto r = m.GetString(dbe::TlvType::kErrorReason);
    return r.ok() ? std::string(*r) : std::string(dbe::MsgTypeName(m.type()));
  }

  std::string dir_;
  std::unique_ptr<tenant::ClaimKeyring> keyring_;
  std::unique_ptr<tenant::ClaimVerifier> verifier_;
  std::unique_ptr<tenant::ClaimIssuer> issuer_;
  std::unique_ptr<Device> rag_;
};

TEST_F(RagQuotaTest, KnowledgeBaseSizeIsBounded) {
  Start({{"max_chunks_per_tenant", 5}});
  EXPECT_EQ(Ingest("ALPHA", 4, "a").type(), dbe::MsgType::kL7RagResult);
  dbe::Message over = Ingest("ALPHA", 2, "b");
  EXPECT_EQ(Reason(over), "QUOTA_EXCEEDED");
  auto detail = over.GetString(dbe::TlvType::kErrorDetail);
  ASSERT_TRUE(detail.ok());
  EXPECT_NE(detail->find("max_chunks_per_tenant"), std::string_view::npos) << *detail;
  EXPECT_EQ(Ingest("ALPHA", 1, "c").type(), dbe::MsgType::kL7RagResult) << "up to the quota is fine";
  EXPECT_EQ(Ingest("BRAVO", 5, "d").type(), dbe::MsgType::kL7RagResult) << "BRAVO has its own quota";
}

TEST_F(RagQuotaTest, IngestRateIsBounded) {
  Start({{"ingest_chunks_per_minute", 6}});
  EXPECT_EQ(Ingest("ALPHA", 5, "a").type(), dbe::MsgType::kL7RagResult);
  dbe::Message over = Ingest("ALPHA", 3, "b");
  EXPECT_EQ(Reason(over), "QUOTA_EXCEEDED");
  auto detail = over.GetString(dbe::TlvType::kErrorDetail);
  ASSERT_TRUE(detail.ok());
  EXPECT_NE(detail->find("retry in"), std::string_view::npos) << *detail;
  EXPECT_EQ(Ingest("BRAVO", 6, "c").type(), dbe::MsgType::kL7RagResult);
}

TEST_F(RagQuotaTest, BadQuotaConfigNamesTheKey) {
  // Refused when the node loads its config, before any device starts.
  RegisterBuiltinDevices();
  auto parsed = ParseConfigSection("rag", R"({"max_chunks_per_tenant": -1})", "");
  ASSERT_FALSE(parsed.ok());
  const Status& s = parsed.status();
  EXPECT_NE(s.message().find("rag.max_chunks_per_tenant"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace dsmil::devices
