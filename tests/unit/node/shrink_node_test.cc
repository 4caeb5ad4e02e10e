// SHRINK hosted by a node (docs/shrink.md): the `shrink:` section starts the
// mTLS listener, the scores reach /metrics, and /v1/status shows the SHRINK
// line with the highest risk among the tenants the caller's certificate
// covers, never another tenant's.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "node/config.h"
#include "node/node.h"
#include "node/status.h"
#include "support/test_pki.h"

namespace dsmil::node {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class ShrinkNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "dsmil-shrink-node-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    auto pki = dsmil::testing::TestPki::Create(dir_);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    ASSERT_TRUE(pki->IssueNode("node", "node-a").ok());
    ASSERT_TRUE(pki->IssueOperator("alpha", "op-alpha", {"ALPHA"}).ok());
    ASSERT_TRUE(pki->IssueOperator("bravo", "op-bravo", {"BRAVO"}).ok());
    fs::create_directories(dir_ + "/data");
    std::string yaml = R"(
node: {name: node-a, role: soc, address: 127.0.0.1}
listen: {http: "127.0.0.1:1", control: "127.0.0.1:2", dbe: "127.0.0.1:3"}
tls: {ca: ca.crt, cert: node.crt, key: node.key}
tenants:
  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}
  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}
stores: {kind: embedded, path: data}
shrink: {listen: "127.0.0.1:0", half_life_s: 600}
logging: {level: error}
)";
    auto cfg = ParseNodeConfig(yaml, dir_ + "/node.yaml", dir_);
    ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
    cfg->http.port = 0;
    cfg->control.port = 0;
    cfg->dbe.port = 0;
    auto n = Node::Start(std::move(*cfg));
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    node_ = std::move(*n);
  }
  void TearDown() override {
    node_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  net::HttpResponse Call(const std::string& who, const std::string& method, const std::string& url,
                         const std::string& body = "") {
    net::HttpClientRequest r;
    r.method = method;
    r.url = url;
    r.body = body;
    r.ca_file = dir_ + "/ca.crt";
    r.cert_file = dir_ + "/" + who + ".crt";
    r.key_file = dir_ + "/" + who + ".key";
    auto resp = net::HttpFetch(r);
    EXPECT_TRUE(resp.ok()) << resp.status().ToString();
    return resp.ok() ? *resp : net::HttpResponse{};
  }
  std::string Shrink(const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(node_->shrink_port()) + path;
  }
  std::string Control(const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(node_->control_port()) + path;
  }
  std::string ShrinkLine(const std::string& who) {
    auto st = NodeStatusFromJson(Call(who, "GET", Control("/v1/status")).body);
    EXPECT_TRUE(st.ok());
    for (const auto& c : st->components) {
      if (c.name == "SHRINK") return c.health + " " + c.detail;
    }
    return "(no SHRINK line)";
  }

  std::string dir_;
  std::unique_ptr<Node> node_;
};

TEST_F(ShrinkNodeTest, ListenerMetricsAndStatusLine) {
  ASSERT_NE(node_->shrink_port(), 0);
  EXPECT_EQ(Call("alpha", "GET", Shrink("/risk")).status, 400);
  EXPECT_EQ(Call("alpha", "GET", Shrink("/risk?tenant_id=BRAVO")).status, 403);
  std::string note =
      json({{"tenant_id", "ALPHA"}, {"text", "I am panicking, everything is failing NOW, hurry!!"}}).dump();
  ASSERT_EQ(Call("alpha", "POST", Shrink("/v1/notes"), note).status, 202);
  json risk = json::parse(Call("alpha", "GET", Shrink("/risk?tenant_id=ALPHA")).body);
  EXPECT_GT(risk["risk_acute_stress"].get<double>(), 0.8);

  net::HttpClientRequest m;
  m.url = "http://127.0.0.1:" + std::to_string(node_->http_port()) + "/metrics";
  auto metrics = net::HttpFetch(m);
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("shrink_texts_total{tenant_id=\"ALPHA\",source=\"analyst_note\"} 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("shrink_risk_score{tenant_id=\"BRAVO\"} 0"), std::string::npos);

  // ALPHA's operator sees ALPHA's risk; BRAVO's sees BRAVO's (0), never ALPHA's.
  std::string a = ShrinkLine("alpha");
  EXPECT_EQ(a.rfind("HEALTHY Risk: 0.", 0), 0u) << a;
  EXPECT_EQ(a.find("(NOMINAL)"), std::string::npos) << a;
  std::string b = ShrinkLine("bravo");
  EXPECT_EQ(b.rfind("HEALTHY Risk: 0.00 (NOMINAL)", 0), 0u) << b;
  EXPECT_EQ(b.find("ALPHA"), std::string::npos) << b;
}

}  // namespace
}  // namespace dsmil::node
