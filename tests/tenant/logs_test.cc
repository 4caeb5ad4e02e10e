// GET /v1/logs behind mTLS and `dsmilctl logs`: an ALPHA query never shows a
// BRAVO line, a certificate covering only BRAVO is refused (403) and the
// refusal lands in ALPHA's audit log; device and since filters.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "net/http_server.h"
#include "node/control_routes.h"
#include "shell_util.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/tenant_log.h"
#include "support/test_pki.h"

namespace dsmil {
namespace {

namespace fs = std::filesystem;

using testutil::RunResult;
using testutil::RunShell;
using testutil::Write;

class LogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-logs-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto pki = dsmil::testing::TestPki::Create(dir_, "Test CA", 10);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    auto node = pki->IssueNode("node", "node-c", {"localhost"}, 10);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    ca_ = pki->ca_file();
    for (auto [name, tenants] : {std::pair<std::string, std::vector<std::string>>{"alpha", {"ALPHA"}},
                                 {"bravo", {"BRAVO"}},
                                 {"admin", {"*"}}}) {
      auto op = pki->IssueOperator(name, "operator-" + name, tenants, 10);
      ASSERT_TRUE(op.ok()) << op.status().ToString();
    }

    config_.name = "node-c";
    config_.stores.kind = "embedded";
    config_.stores.path = dir_ + "/data";
    config_.stores.secrets_dir = dir_ + "/data/secrets";
    fs::create_directories(config_.stores.secrets_dir);
    ::chmod(config_.stores.secrets_dir.c_str(), 0700);

    // ALPHA and BRAVO lines interleaved, from two "nodes".
    auto a = store::OpenFileTenantLog(config_.stores.path + "/logs", "node-a");
    auto b = store::OpenFileTenantLog(config_.stores.path + "/logs", "node-b");
    ASSERT_TRUE(a.ok() && b.ok());
    for (int i = 0; i < 40; ++i) {
      store::TenantLogLine l;
      l.ts_ns = base_ns_ + i * 1000;
      l.tenant = i % 2 ? "BRAVO" : "ALPHA";
      l.layer = i % 4 < 2 ? "L7" : "L8";
      l.device = i % 4 < 2 ? 47 : 52;
      l.node = i % 3 ? "node-a" : "node-b";
      l.line = "{\"msg\":\"" + l.tenant + " line " + std::to_string(i) + "\"}";
      ASSERT_TRUE((i % 3 ? *a : *b)->Write(l).ok());
    }
    ASSERT_TRUE((*a)->Flush().ok() && (*b)->Flush().ok());

    node::RegisterBuiltinControlRoutes();
    net::HttpServerOptions o;
    o.tls = net::TlsOptions{dir_ + "/node.crt", dir_ + "/node.key", ca_, true};
    o.handler = [this](const net::HttpRequest& req) {
      bool mismatch = false;
      const node::ControlRoute* r = node::FindControlRoute(req.method, req.path, &mismatch);
      if (!r) return net::HttpResponse::JsonError(404, "no route");
      node::ControlContext ctx{config_, {}, {}, log_, audit()};
      return r->handler(ctx, req);
    };
    auto s = net::HttpServer::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }

  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  // A dsmilctl config naming this node (`copies` times, as nodes sharing one
  // data directory) and the operator `who`.
  std::string CtlConfig(const std::string& who, int copies) {
    std::string nodes;
    for (int i = 0; i < copies; ++i) {
      nodes += "  - {name: NODE-" + std::to_string(i) +
               ", url: \"https://127.0.0.1:" + std::to_string(server_->port()) + "\", cert: " + ca_ + "}\n";
    }
    return Write(
        dir_ + "/ctl-" + who + ".yaml",
        "operator: {cert: " + dir_ + "/" + who + ".crt, key: " + dir_ + "/" + who + ".key}\n" + "nodes:\n" + nodes,
        0644);
  }

  RunResult Ctl(const std::string& who, const std::string& args, int copies = 1) {
    return RunShell(std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl --config " + CtlConfig(who, copies) + " " + args);
  }

  std::string dir_, ca_;
  int64_t base_ns_ = 1'790'000'000'000'000'000;
  node::NodeConfig config_;
  Logger log_{LogLabels{.node = "node-c"}};
  std::unique_ptr<store::AuditSink> audit_;
  store::AuditSink& audit() {
    if (!audit_) audit_ = std::make_unique<store::AuditSink>(config_.stores, nullptr);
    return *audit_;
  }
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(LogsTest, AlphaNeverSeesABravoLine) {
  for (const char* who : {"alpha", "admin"}) {
    RunResult r = Ctl(who, "logs --tenant ALPHA --limit 1000");
    EXPECT_EQ(r.exit_code, 0) << r.out;
    EXPECT_EQ(r.out.find("BRAVO"), std::string::npos) << r.out;
    for (int i = 0; i < 40; i += 2) {
      EXPECT_NE(r.out.find("ALPHA line " + std::to_string(i) + "\""), std::string::npos) << i << "\n" << r.out;
    }
    // Merged by time across both nodes' files.
    EXPECT_LT(r.out.find("ALPHA line 2\""), r.out.find("ALPHA line 4\""));
    EXPECT_LT(r.out.find("ALPHA line 4\""), r.out.find("ALPHA line 6\""));
  }
}

TEST_F(LogsTest, ACertificateCoveringOnlyBravoIsRefusedAndAudited) {
  RunResult r = Ctl("bravo", "logs --tenant ALPHA");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("403"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("does not cover tenant ALPHA"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("ALPHA line"), std::string::npos) << r.out;

  auto archive = store::OpenArchive(config_.stores, store::TenantScope::For("ALPHA").value());
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  auto rows = (*archive)->ReadAudit();
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].event_type, "LOG_ACCESS_DENIED");
  EXPECT_EQ((*rows)[0].actor, "operator-bravo");

  RunResult own = Ctl("bravo", "logs --tenant BRAVO -o json");
  EXPECT_EQ(own.exit_code, 0) << own.out;
  size_t lines = 0;
  std::istringstream in(own.out);
  std::string text;
  while (std::getline(in, text)) {
    auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["tenant"], "BRAVO");
    EXPECT_NE(j["line"].get<std::string>().find("BRAVO line"), std::string::npos);
    ++lines;
  }
  EXPECT_EQ(lines, 20u);
}

TEST_F(LogsTest, DeviceSinceAndLimit) {
  RunResult r = Ctl("alpha", "logs --tenant ALPHA --device 52 -o json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream in(r.out);
  std::string text;
  size_t n = 0;
  while (std::getline(in, text)) {
    auto j = nlohmann::json::parse(text);
    EXPECT_EQ(j["device"], 52);
    EXPECT_EQ(j["layer"], "L8");
    ++n;
  }
  EXPECT_EQ(n, 10u);  // ALPHA lines i = 2, 6, 10, ...

  std::string since = FormatRfc3339Utc(base_ns_ + 30 * 1000, 9);
  RunResult s = Ctl("alpha", "logs --tenant ALPHA --since " + since);
  ASSERT_EQ(s.exit_code, 0) << s.out;
  EXPECT_EQ(s.out.find("ALPHA line 28\""), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("ALPHA line 30\""), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("ALPHA line 38\""), std::string::npos) << s.out;

  RunResult l = Ctl("alpha", "logs --tenant ALPHA --limit 3");
  ASSERT_EQ(l.exit_code, 0) << l.out;
  EXPECT_EQ(std::count(l.out.begin(), l.out.end(), '\n'), 3) << l.out;
  EXPECT_NE(l.out.find("ALPHA line 38\""), std::string::npos) << "the newest lines";

  EXPECT_EQ(Ctl("alpha", "logs --tenant alpha").exit_code, 2);
  EXPECT_EQ(Ctl("alpha", "logs --tenant ALPHA --since yesterday").exit_code, 1);
}

TEST_F(LogsTest, NodesSharingOneDataDirectoryShowEachLineOnce) {
  RunResult r = Ctl("alpha", "logs --tenant ALPHA --limit 1000", 3);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 20) << r.out;
}

TEST_F(LogsTest, FollowShowsNewLinesOnceEach) {
  std::thread writer([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    auto sink = store::OpenFileTenantLog(config_.stores.path + "/logs", "node-a");
    ASSERT_TRUE(sink.ok());
    for (int i = 100; i < 106; ++i) {
      store::TenantLogLine l;
      l.ts_ns = base_ns_ + i * 1000;
      l.tenant = i % 2 ? "BRAVO" : "ALPHA";
      l.layer = "L7";
      l.device = 47;
      l.line = "{\"msg\":\"" + l.tenant + " line " + std::to_string(i) + "\"}";
      ASSERT_TRUE((*sink)->Write(l).ok());
    }
    ASSERT_TRUE((*sink)->Flush().ok());
  });
  RunResult r = Ctl("alpha", "logs --tenant ALPHA --limit 2 -f --interval 0.2 & sleep 3; kill $!", 2);
  writer.join();
  for (const char* want :
       {"ALPHA line 36\"", "ALPHA line 38\"", "ALPHA line 100\"", "ALPHA line 102\"", "ALPHA line 104\""}) {
    size_t at = r.out.find(want);
    ASSERT_NE(at, std::string::npos) << want << "\n" << r.out;
    EXPECT_EQ(r.out.find(want, at + 1), std::string::npos) << want << " shown twice\n" << r.out;
  }
  EXPECT_EQ(r.out.find("BRAVO"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("ALPHA line 38\""), r.out.find("ALPHA line 100\""));
}

}  // namespace
}  // namespace dsmil
