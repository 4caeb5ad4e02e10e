// The tenant boundary at the node's entry points, attacked from outside
// (docs/security.md): a real Node on loopback with the embedded stores and
// devices 47, 50 and 52, called over mTLS with operator certificates that
// cover ALPHA only, no tenant, or every tenant.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "dbe/message.h"
#include "net/http_client.h"
#include "node/config.h"
#include "node/node.h"
#include "store/archive.h"
#include "store/scope.h"
#include "support/test_pki.h"

namespace dsmil::node {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class BoundaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dsmil-boundary-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto pki = dsmil::testing::TestPki::Create(dir_);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    ca_ = pki->ca_file();
    auto node = pki->IssueNode("node", "node-b");
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    for (const auto& [name, tenants] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"alpha", {"ALPHA"}}, {"none", {}}, {"all", {"*"}}}) {
      auto op = pki->IssueOperator(name, "op-" + name, tenants);
      ASSERT_TRUE(op.ok()) << op.status().ToString();
    }
    fs::create_directories(dir_ + "/data");
    std::string yaml = R"(
node: {name: node-b, role: ai, address: 127.0.0.1}
listen: {http: "127.0.0.1:1", control: "127.0.0.1:2", dbe: "127.0.0.1:3"}
tls: {ca: ca.crt, cert: node.crt, key: node.key}
tenants:
  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, SIGNALS]}
  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}
stores: {kind: embedded, path: data}
devices: [{id: 47}, {id: 50}, {id: 52}]
logging: {level: warn}
)";
    auto cfg = ParseNodeConfig(yaml, dir_ + "/node.yaml", dir_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    cfg->http.port = 0;
    cfg->control.port = 0;
    cfg->dbe.port = 0;
    stores_ = cfg->stores;
    auto n = Node::Start(std::move(*cfg));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(*n);
  }

  void TearDown() override {
    if (node_) node_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  net::HttpResponse Fetch(const std::string& who, const std::string& method, const std::string& target,
                          const std::string& body = "") {
    net::HttpClientRequest r;
    r.method = method;
    r.url = "https://127.0.0.1:" + std::to_string(node_->control_port()) + target;
    r.ca_file = ca_;
    r.cert_file = dir_ + "/" + who + ".crt";
    r.key_file = dir_ + "/" + who + ".key";
    r.body = body;
    auto resp = net::HttpFetch(r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : net::HttpResponse{};
  }

  // POST /v1/dbe of one frame; the reply frame (an ERROR frame for a refusal).
  std::pair<int, dbe::Message> Dbe(const std::string& who, dbe::MsgType type, int dst, const std::string& tenant,
                                   const std::string& payload) {
    dbe::Message m(type);
    m.header().dst_device = static_cast<uint16_t>(dst);
    m.SetString(dbe::TlvType::kTenantId, tenant);
    m.SetString(dbe::TlvType::kRequestId, "req-" + std::to_string(++seq_));
    m.SetString(dbe::TlvType::kPayload, payload);
    if (type == dbe::MsgType::kL8SocEventEnrichment) m.SetString(dbe::TlvType::kEventId, "evt-" + std::to_string(seq_));
    auto bytes = dbe::Encode(m);
    EXPECT_TRUE(bytes.ok());
    auto resp = Fetch(who, "POST", "/v1/dbe", std::string(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
    auto reply = dbe::Decode(AsBytes(resp.body));
    EXPECT_TRUE(reply.ok()) << "HTTP " << resp.status << ": " << resp.body.substr(0, 200);
    return {resp.status, reply.ok() ? std::move(*reply) : dbe::Message()};
  }

  static std::string Reason(const dbe::Message& m) {
    auto r = m.GetString(dbe::TlvType::kErrorReason);
    return r.ok() ? std::string(*r) : std::string();
  }

  std::vector<store::AuditRow> Audit(const std::string& tenant) {
    auto scope = store::TenantScope::For(tenant);
    auto archive = store::OpenArchive(stores_, *scope);
    EXPECT_TRUE(archive.ok()) << archive.status().ToString();
    if (!archive.ok()) return {};
    auto rows = (*archive)->ReadAudit();
    return rows.ok() ? *rows : std::vector<store::AuditRow>{};
  }

  std::string dir_, ca_;
  store::StoresConfig stores_;
  std::unique_ptr<Node> node_;
  int seq_ = 0;
};

constexpr char kSecret[] = "BRAVO-SECRET-7f3a: the vault code is 9931";
// RAG payloads: plant the secret; ask for it.
std::string Ingest() {
  return json({{"op", "ingest"}, {"documents", {{{"source", "vault"}, {"text", kSecret}}}}}).dump();
}
std::string Query() { return json({{"op", "query"}, {"query", "vault code"}, {"k", 4}}).dump(); }

TEST_F(BoundaryTest, DbeRefusesATenantTheCertificateDoesNotCover) {
  // The operator covering every tenant plants a secret in BRAVO's knowledge base.
  auto [st, ok] = Dbe("all", dbe::MsgType::kL7RagQuery, 50, "BRAVO", Ingest());
  ASSERT_EQ(st, 200) << Reason(ok);
  ASSERT_EQ(ok.type(), dbe::MsgType::kL7RagResult) << Reason(ok);
  auto [st2, back] = Dbe("all", dbe::MsgType::kL7RagQuery, 50, "BRAVO", Query());
  ASSERT_EQ(back.type(), dbe::MsgType::kL7RagResult);
  ASSERT_NE(std::string(AsString(*back.GetBytes(dbe::TlvType::kPayload))).find("9931"), std::string::npos);

  size_t before = Audit("BRAVO").size();
  for (const std::string who : {"alpha", "none"}) {
    auto [s, r] = Dbe(who, dbe::MsgType::kL7RagQuery, 50, "BRAVO", Query());
    EXPECT_EQ(s, 403) << who;
    EXPECT_EQ(r.type(), dbe::MsgType::kError) << who;
    EXPECT_EQ(Reason(r), "CERT_DOES_NOT_COVER_TENANT") << who;
    auto payload = r.GetBytes(dbe::TlvType::kPayload);
    EXPECT_FALSE(payload.ok() && AsString(*payload).find("9931") != std::string_view::npos) << who;
    // Poisoning BRAVO's knowledge base is refused the same way.
    auto [s2, r2] = Dbe(who, dbe::MsgType::kL7RagQuery, 50, "BRAVO",
                        json({{"op", "ingest"}, {"documents", {{{"source", "x"}, {"text", "poison " + who}}}}}).dump());
    EXPECT_EQ(s2, 403) << who;
    // Spoofed events into device 52's per-source state.
    auto [s3, r3] = Dbe(who, dbe::MsgType::kL8SocEventEnrichment, 52, "BRAVO", R"({"source":"fw"})");
    EXPECT_EQ(s3, 403) << who;
  }
  auto rows = Audit("BRAVO");
  ASSERT_EQ(rows.size(), before + 6) << "every refusal is a row in BRAVO's audit chain";
  EXPECT_EQ(rows.back().event_type, "TENANT_ESCAPE_ATTEMPT");
  EXPECT_EQ(rows.back().actor, "op-none");
  EXPECT_NE(rows.back().detail.find("CERT_DOES_NOT_COVER_TENANT"), std::string::npos);
  // Nothing was planted.
  auto [s4, after] =
      Dbe("all", dbe::MsgType::kL7RagQuery, 50, "BRAVO", json({{"op", "query"}, {"query", "poison"}, {"k", 8}}).dump());
  EXPECT_EQ(std::string(AsString(*after.GetBytes(dbe::TlvType::kPayload))).find("poison"), std::string::npos);
}

TEST_F(BoundaryTest, OwnTenantServedWithAnOperatorClaim) {
  auto [s, r] = Dbe("alpha", dbe::MsgType::kL7RagQuery, 50, "ALPHA", Ingest());
  EXPECT_EQ(s, 200);
  EXPECT_EQ(r.type(), dbe::MsgType::kL7RagResult) << Reason(r);
}

TEST_F(BoundaryTest, GenerationDevicesOnlyBehindTheRouter) {
  for (int dev : {47, 44}) {
    auto [s, r] =
        Dbe("alpha", dbe::MsgType::kL7ChatReq, dev, "ALPHA", R"({"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(s, 403) << dev;
    EXPECT_EQ(Reason(r), "CALLER_NOT_ALLOWED") << dev;
  }
  auto rows = Audit("ALPHA");
  ASSERT_FALSE(rows.empty());
  EXPECT_NE(rows.back().detail.find("CALLER_NOT_ALLOWED"), std::string::npos);
}

TEST_F(BoundaryTest, ReservedAndUnknownTenantsRefused) {
  for (const std::string t : {"SYSTEM", "ALL"}) {
    auto [s, r] = Dbe("all", dbe::MsgType::kL7RagQuery, 50, t, Query());
    EXPECT_EQ(s, 403) << t;
    EXPECT_EQ(Reason(r), "RESERVED_TENANT") << t;
  }
  auto [s, r] = Dbe("all", dbe::MsgType::kL7RagQuery, 50, "CHARLIE", Query());
  EXPECT_EQ(s, 403);
  EXPECT_EQ(Reason(r), "UNKNOWN_TENANT");
}

TEST_F(BoundaryTest, StatusShowsOnlyCoveredTenants) {
  auto resp = Fetch("alpha", "GET", "/v1/status");
  ASSERT_EQ(resp.status, 200);
  json j = json::parse(resp.body);
  std::vector<std::string> seen;
  for (const auto& t : j["tenants"]) seen.push_back(t["id"].get<std::string>());
  EXPECT_EQ(seen, std::vector<std::string>{"ALPHA"});
  EXPECT_EQ(resp.body.find("ANALYSIS_ONLY"), std::string::npos) << "BRAVO's ROE level leaked";
}

TEST_F(BoundaryTest, RefusalsAreCounted) {
  (void)Dbe("none", dbe::MsgType::kL7RagQuery, 50, "BRAVO", Query());
  net::HttpClientRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(node_->http_port()) + "/metrics";
  auto m = net::HttpFetch(r);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(
      m->body.find(
          R"(dsmil_refusals_total{tenant_id="BRAVO",entry="control:/v1/dbe",reason="CERT_DOES_NOT_COVER_TENANT"} 1)"),
      std::string::npos)
      << m->body.substr(0, 2000);
}

}  // namespace
}  // namespace dsmil::node
