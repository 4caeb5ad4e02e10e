// The Loki sink against a receiver in the test that checks the push format
// (POST /loki/api/v1/push, JSON streams, X-Scope-OrgID), since Grafana Loki
// has no Debian package: one tenant per request, labels, batching, the spool
// while Loki is down or failing, replay in order, permanent refusals kept.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "net/http_server.h"
#include "store/tenant_log.h"

namespace dsmil::store {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

struct Received {
  std::string org;     // X-Scope-OrgID
  std::string tenant;  // stream label
  std::string node, layer, device;
  std::string ts, line;
};

// A stand-in for Loki's push endpoint. Mode: 204 (accept), 503, 429 or 400.
class FakeLoki {
 public:
  explicit FakeLoki(uint16_t port = 0) { EXPECT_TRUE(Start(port)); }

  bool Start(uint16_t port) {
    net::HttpServerOptions o;
    o.port = port;
    o.max_body_bytes = 8 << 20;
    o.handler = [this](const net::HttpRequest& req) { return Handle(req); };
    auto s = net::HttpServer::Start(std::move(o));
    if (!s.ok()) {
      ADD_FAILURE() << s.status().ToString();
      return false;
    }
    server_ = std::move(s).value();
    port_ = server_->port();
    return true;
  }
  void Stop() { server_.reset(); }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_status(int s) { status_ = s; }

  std::vector<Received> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  int requests() const { return requests_; }
  std::vector<std::string> problems() {
    std::lock_guard<std::mutex> lock(mu_);
    return problems_;
  }

 private:
  net::HttpResponse Handle(const net::HttpRequest& req) {
    ++requests_;
    net::HttpResponse r;
    if (status_ != 204) {
      r.status = status_;
      r.content_type = "text/plain";
      r.body = status_ == 400 ? "entry too far behind" : "try later";
      return r;
    }
    std::lock_guard<std::mutex> lock(mu_);
    auto problem = [&](const std::string& p) {
      problems_.push_back(p);
      r.status = 400;
      return r;
    };
    if (req.method != "POST" || req.path != "/loki/api/v1/push") return problem("wrong endpoint " + req.target);
    if (req.Header("Content-Type") != "application/json") return problem("content type");
    std::string org(req.Header("X-Scope-OrgID"));
    if (org.empty()) return problem("no X-Scope-OrgID");
    json body = json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("streams") || !body["streams"].is_array()) return problem("no streams");
    for (const auto& s : body["streams"]) {
      if (!s.contains("stream") || !s["stream"].is_object() || !s.contains("values") || !s["values"].is_array()) {
        return problem("malformed stream");
      }
      const json& labels = s["stream"];
      for (const auto& [k, v] : labels.items()) {
        if (!v.is_string()) return problem("label " + k + " is not a string");
      }
      for (const auto& v : s["values"]) {
        if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string()) return problem("bad value");
        Received x;
        x.org = org;
        x.tenant = labels.value("tenant", "");
        x.node = labels.value("node", "");
        x.layer = labels.value("layer", "");
        x.device = labels.value("device", "");
        x.ts = v[0];
        x.line = v[1];
        lines_.push_back(x);
      }
    }
    r.status = 204;
    r.body.clear();
    return r;
  }

  std::unique_ptr<net::HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int> status_{204};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::vector<Received> lines_;
  std::vector<std::string> problems_;
};

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsmil-loki-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TenantLogLine Line(const std::string& tenant, int i, const std::string& layer = "L7", int device = 47) {
  TenantLogLine l;
  l.ts_ns = 1'800'000'000'000'000'000 + i;
  l.tenant = tenant;
  l.layer = layer;
  l.device = device;
  l.line = "{\"msg\":\"" + tenant + " " + std::to_string(i) + "\"}";
  return l;
}

LokiOptions Options(const FakeLoki& loki, const TempDir& dir) {
  LokiOptions o;
  o.url = loki.url();
  o.spool_dir = dir.path() + "/spool";
  o.batch_lines = 7;
  o.batch_interval = 50ms;
  o.retry_interval = 50ms;
  o.timeout = 2s;
  return o;
}

TEST(LokiTenantLog, EveryLineCarriesItsOwnTenantsOrgIdAndLabels) {
  FakeLoki loki;
  TempDir dir;
  auto sink = OpenLokiTenantLog("node-b", Options(loki, dir));
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*sink)->Write(Line(i % 3 == 0 ? "BRAVO" : "ALPHA", i, i % 2 ? "L7" : "L8", i % 2 ? 47 : 52)).ok());
  }
  ASSERT_TRUE((*sink)->Flush().ok());
  auto got = loki.lines();
  EXPECT_TRUE(loki.problems().empty()) << loki.problems().front();
  ASSERT_EQ(got.size(), 200u);
  std::map<std::string, int> per_tenant;
  for (const auto& r : got) {
    EXPECT_EQ(r.org, r.tenant) << r.line;
    EXPECT_NE(r.line.find(r.tenant + " "), std::string::npos) << "line of another tenant under " << r.org;
    EXPECT_EQ(r.node, "node-b");
    int i = std::stoi(r.line.substr(r.line.find(' ') + 1));
    EXPECT_EQ(r.layer, i % 2 ? "L7" : "L8");
    EXPECT_EQ(r.device, i % 2 ? "47" : "52");
    EXPECT_EQ(r.ts, std::to_string(1'800'000'000'000'000'000 + i));
    per_tenant[r.tenant]++;
  }
  EXPECT_EQ(per_tenant["BRAVO"], 67);
  EXPECT_EQ(per_tenant["ALPHA"], 133);
  EXPECT_EQ((*sink)->stats().pushed_lines, 200u);
  EXPECT_EQ((*sink)->stats().spooled_lines, 0u);
}

TEST(LokiTenantLog, BatchesAreSentInTheBackgroundBySizeAndTime) {
  FakeLoki loki;
  TempDir dir;
  LokiOptions o = Options(loki, dir);
  o.batch_interval = 200ms;
  auto sink = OpenLokiTenantLog("node-a", o);
  ASSERT_TRUE(sink.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*sink)->Write(Line("ALPHA", i)).ok());
  for (int i = 0; i < 100 && loki.lines().size() < 3; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(loki.lines().size(), 3u) << "a small batch goes out once it is batch_interval old";
  EXPECT_EQ(loki.requests(), 1);
}

TEST(LokiTenantLog, DownThenUpDeliversEverythingOnceInOrder) {
  FakeLoki loki;
  TempDir dir;
  uint16_t port = loki.port();
  auto sink = OpenLokiTenantLog("node-c", Options(loki, dir));
  ASSERT_TRUE(sink.ok());
  int n = 0;
  for (; n < 20; ++n) ASSERT_TRUE((*sink)->Write(Line(n % 2 ? "ALPHA" : "BRAVO", n)).ok());
  ASSERT_TRUE((*sink)->Flush().ok());

  loki.Stop();  // connection refused
  for (; n < 120; ++n) {
    ASSERT_TRUE((*sink)->Write(Line(n % 2 ? "ALPHA" : "BRAVO", n)).ok());
    if (n % 25 == 0) {
      ASSERT_TRUE((*sink)->Flush().ok());
    }
  }
  ASSERT_TRUE((*sink)->Flush().ok()) << "lines that cannot be pushed are spooled, and Flush succeeds";
  auto spooled = (*sink)->SpooledLines();
  ASSERT_TRUE(spooled.ok());
  EXPECT_EQ(*spooled, 100u);
  EXPECT_TRUE(fs::is_directory(dir.path() + "/spool/ALPHA"));
  EXPECT_TRUE(fs::is_directory(dir.path() + "/spool/BRAVO"));

  loki.set_status(503);  // up but failing: still spooled
  ASSERT_TRUE(loki.Start(port)) << "port " << port << " could not be bound again";
  for (; n < 130; ++n) ASSERT_TRUE((*sink)->Write(Line(n % 2 ? "ALPHA" : "BRAVO", n)).ok());
  ASSERT_TRUE((*sink)->Flush().ok());
  EXPECT_EQ(*(*sink)->SpooledLines(), 110u);

  loki.set_status(204);
  for (; n < 140; ++n) ASSERT_TRUE((*sink)->Write(Line(n % 2 ? "ALPHA" : "BRAVO", n)).ok());
  for (int i = 0; i < 200 && *(*sink)->SpooledLines() > 0; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE((*sink)->Flush().ok());
  EXPECT_EQ(*(*sink)->SpooledLines(), 0u);

  // Every line exactly once, and per tenant in the order written.
  std::map<std::string, std::vector<int>> order;
  std::map<int, int> seen;
  for (const auto& r : loki.lines()) {
    EXPECT_EQ(r.org, r.tenant);
    int i = std::stoi(r.line.substr(r.line.find(' ') + 1));
    seen[i]++;
    order[r.tenant].push_back(i);
  }
  EXPECT_EQ(seen.size(), 140u);
  for (const auto& [i, count] : seen) EXPECT_EQ(count, 1) << "line " << i << " delivered " << count << " times";
  for (const auto& [tenant, v] : order) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end())) << tenant << " lines out of order";
    for (int i : v) EXPECT_EQ(i % 2 ? "ALPHA" : "BRAVO", tenant);
  }
  EXPECT_EQ((*sink)->stats().replayed_lines, 110u);
}

TEST(LokiTenantLog, SpoolSurvivesARestartOfTheSink) {
  FakeLoki loki;
  TempDir dir;
  LokiOptions o = Options(loki, dir);
  loki.set_status(500);
  {
    auto sink = OpenLokiTenantLog("node-a", o);
    ASSERT_TRUE(sink.ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*sink)->Write(Line("ALPHA", i)).ok());
    ASSERT_TRUE((*sink)->Flush().ok());
    EXPECT_EQ(*(*sink)->SpooledLines(), 10u);
  }
  loki.set_status(204);
  auto sink = OpenLokiTenantLog("node-a", o);
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE((*sink)->Write(Line("ALPHA", 10)).ok());
  std::this_thread::sleep_for(60ms);  // past the retry interval
  ASSERT_TRUE((*sink)->Flush().ok());
  auto got = loki.lines();
  ASSERT_EQ(got.size(), 11u);
  for (int i = 0; i < 11; ++i) EXPECT_EQ(got[i].line, Line("ALPHA", i).line);
}

TEST(LokiTenantLog, PermanentRefusalIsKeptAndLoggedNotRetried) {
  FakeLoki loki;
  TempDir dir;
  auto sink = OpenLokiTenantLog("node-a", Options(loki, dir));
  ASSERT_TRUE(sink.ok());
  loki.set_status(400);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE((*sink)->Write(Line("BRAVO", i)).ok());
  ASSERT_TRUE((*sink)->Flush().ok());
  int requests = loki.requests();
  ASSERT_TRUE((*sink)->Flush().ok());
  EXPECT_EQ(loki.requests(), requests) << "a 400 is not retried";
  EXPECT_EQ((*sink)->stats().rejected_lines, 4u);
  EXPECT_EQ(*(*sink)->SpooledLines(), 0u);
  std::ifstream in(dir.path() + "/spool/rejected/BRAVO.jsonl");
  ASSERT_TRUE(in) << "rejected lines are kept in spool/rejected/BRAVO.jsonl";
  std::string text;
  int count = 0;
  while (std::getline(in, text)) {
    json j = json::parse(text);
    EXPECT_EQ(j["tenant"], "BRAVO");
    EXPECT_NE(j["rejected"].get<std::string>().find("HTTP 400"), std::string::npos);
    ++count;
  }
  EXPECT_EQ(count, 4);

  loki.set_status(429);  // too many requests: retried, so spooled
  ASSERT_TRUE((*sink)->Write(Line("BRAVO", 9)).ok());
  ASSERT_TRUE((*sink)->Flush().ok());
  EXPECT_EQ(*(*sink)->SpooledLines(), 1u);
}

TEST(LokiTenantLog, RefusesLinesWithoutAValidTenantAndABadUrl) {
  TempDir dir;
  LokiOptions o;
  o.url = "http://127.0.0.1:1";
  o.spool_dir = dir.path();
  auto sink = OpenLokiTenantLog("node-a", o);
  ASSERT_TRUE(sink.ok());
  TenantLogLine l;
  l.line = "x";
  EXPECT_EQ((*sink)->Write(l).code(), StatusCode::kInvalidArgument);
  l.tenant = "../etc";
  EXPECT_EQ((*sink)->Write(l).code(), StatusCode::kInvalidArgument);
  o.url = "ftp://x";
  EXPECT_FALSE(OpenLokiTenantLog("node-a", o).ok());
}

}  // namespace
}  // namespace dsmil::store
