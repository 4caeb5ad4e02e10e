// `dsmilctl tenant list` probes the entry points: against a real node on the
// embedded stores every tenant-scoped route refuses a certificate that covers
// no tenant (✓ PASS); against a control API that serves anyone (a stand-in
// with the hole open) the audit says ✗ FAIL and names the path.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "net/http_server.h"
#include "node/config.h"
#include "node/node.h"
#include "shell_util.h"
#include "support/test_pki.h"

namespace dsmil {
namespace {

namespace fs = std::filesystem;
using testutil::RunShell;
using testutil::Write;

class TenantListEntry : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-tenant-entry-XXXXXX";
    dir_ = mkdtemp(tmpl);
    pki_ = dir_ + "/pki";
    auto pki = dsmil::testing::TestPki::Create(pki_);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    ASSERT_TRUE(pki->WriteCaKey().ok());
    auto node = pki->IssueNode("node-c", "node-c");
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    auto admin = pki->IssueOperator("operator-admin", "admin", {"*"});
    ASSERT_TRUE(admin.ok()) << admin.status().ToString();
    fs::create_directories(dir_ + "/data");
    yaml_ = Write(dir_ + "/node-c.yaml", R"(
node: {name: node-c, role: data, address: 127.0.0.1}
listen: {http: "127.0.0.1:1", control: "127.0.0.1:2", dbe: "127.0.0.1:3"}
tls: {ca: pki/ca.crt, cert: pki/node-c.crt, key: pki/node-c.key}
tenants:
  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}
  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}
stores: {kind: embedded, path: data}
devices: [{id: 50}]
logging: {level: error}
)",
                  0644);
    ctl_ = std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl --config " + dir_ + "/dsmilctl.yaml ";
    auto r = RunShell(ctl_ + "config set-operator --cert " + pki_ + "/operator-admin.crt --key " + pki_ +
                      "/operator-admin.key");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }
  void TearDown() override {
    if (node_) node_->Stop();
    if (open_) open_->Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void AddNode(const std::string& name, uint16_t port) {
    auto r = RunShell(ctl_ + "config add-node " + name + " https://127.0.0.1:" + std::to_string(port) + " --cert " +
                      pki_ + "/ca.crt");
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  std::string dir_, pki_, yaml_, ctl_;
  std::unique_ptr<node::Node> node_;
  std::unique_ptr<net::HttpServer> open_;
};

TEST_F(TenantListEntry, PassOnARealNodeFailOnAnOpenEntryPoint) {
  auto cfg = node::LoadNodeConfig(yaml_);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  cfg->http.port = 0;
  cfg->control.port = 0;
  cfg->dbe.port = 0;
  auto n = node::Node::Start(std::move(*cfg));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  node_ = std::move(*n);
  AddNode("NODE-C", node_->control_port());

  auto r = RunShell(ctl_ + "tenant list --node-config " + yaml_ + " -o json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  for (const auto& t : j["tenants"]) {
    EXPECT_EQ(t["isolation"], "PASS") << t.dump(2);
    size_t entry = 0;
    for (const auto& c : t["checks"]) entry += c["path"].get<std::string>().rfind("entry: ", 0) == 0;
    EXPECT_EQ(entry, 4u) << "soc/top, logs, events and /v1/dbe of NODE-C: " << t.dump(2);
  }

  // A control API that serves anyone who holds a cluster certificate.
  net::HttpServerOptions o;
  o.tls = net::TlsOptions{pki_ + "/node-c.crt", pki_ + "/node-c.key", pki_ + "/ca.crt", true};
  o.handler = [](const net::HttpRequest&) {
    net::HttpResponse resp;
    resp.body = "{}";
    return resp;
  };
  auto s = net::HttpServer::Start(std::move(o));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  open_ = std::move(*s);
  AddNode("NODE-OPEN", open_->port());
  r = RunShell(ctl_ + "tenant list --node-config " + yaml_);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("✗ FAIL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("entry: NODE-OPEN GET /v1/soc/top?tenant=BRAVO"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("entry: NODE-OPEN POST /v1/dbe"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsmil
