// The Qdrant vector store against an in-test HTTP receiver that checks the
// request shapes of Qdrant's documented REST API (method, path, JSON body
// fields, api-key header) and answers its documented responses. It stands in
// for Qdrant, which has no Debian package; it has not been run against a live
// Qdrant.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "net/http_server.h"
#include "store/vectors.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Seen {
  std::string method, path, query, api_key;
  json body;
};

// A small Qdrant: collections of points, keys that each reach one tenant's
// collections (as Qdrant's JWT access claims would), brute-force cosine search.
class FakeQdrant {
 public:
  FakeQdrant() {
    net::HttpServerOptions o;
    o.handler = [this](const net::HttpRequest& r) { return Handle(r); };
    o.max_body_bytes = 16 << 20;
    server_ = net::HttpServer::Start(std::move(o)).value();
  }
  ~FakeQdrant() { server_->Stop(); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  void clear() {
    std::lock_guard<std::mutex> l(mu_);
    seen_.clear();
  }
  std::vector<std::string> shape_errors() {
    std::lock_guard<std::mutex> l(mu_);
    return shape_errors_;
  }

 private:
  struct Point {
    std::vector<double> v;
    json payload;
  };
  struct Coll {
    size_t dim = 0;
    std::map<uint64_t, Point> points;
  };

  static net::HttpResponse Ok(json result) {
    net::HttpResponse r;
    r.body = json{{"result", std::move(result)}, {"status", "ok"}, {"time", 0.001}}.dump();
    return r;
  }
  static net::HttpResponse Err(int status, const std::string& msg) {
    net::HttpResponse r;
    r.status = status;
    r.body = json{{"status", {{"error", msg}}}, {"time", 0.0}}.dump();
    return r;
  }
  net::HttpResponse Bad(const std::string& what) {
    shape_errors_.push_back(what);
    return Err(400, "Format error in JSON body: " + what);
  }

  net::HttpResponse Handle(const net::HttpRequest& r) {
    std::lock_guard<std::mutex> l(mu_);
    Seen s{r.method, r.path, r.query, std::string(r.Header("api-key")), json()};
    if (!r.body.empty()) {
      s.body = json::parse(r.body, nullptr, false);
      if (s.body.is_discarded()) return Bad("body is not JSON");
      if (r.Header("content-type") != "application/json") return Bad("Content-Type is not application/json");
    }
    seen_.push_back(s);
    std::string prefix;
    if (s.api_key == "alpha-key")
      prefix = "alpha_";
    else if (s.api_key == "bravo-key")
      prefix = "bravo_";
    else
      return Err(401, "Must provide an API key or an Authorization bearer token");

    std::vector<std::string> parts;
    for (size_t i = 1; i <= r.path.size();) {
      size_t j = r.path.find('/', i);
      if (j == std::string::npos) j = r.path.size();
      parts.push_back(r.path.substr(i, j - i));
      i = j + 1;
    }
    if (parts.empty() || parts[0] != "collections") return Err(404, "no such route");
    if (parts.size() == 1) {
      if (r.method != "GET") return Bad("method on /collections");
      json list = json::array();
      for (const auto& [name, c] : colls_) list.push_back({{"name", name}});  // a global key sees all
      return Ok({{"collections", list}});
    }
    const std::string& name = parts[1];
    if (name.rfind(prefix, 0) != 0) return Err(403, "Access denied: no access to collection " + name);
    auto it = colls_.find(name);
    if (parts.size() == 2 && r.method == "PUT") {
      const json& b = s.body;
      if (!b.is_object() || !b.contains("vectors") || !b["vectors"].is_object() ||
          !b["vectors"]["size"].is_number_unsigned() || b["vectors"]["distance"] != "Cosine") {
        return Bad("PUT collection body " + b.dump());
      }
      if (it != colls_.end()) return Err(409, "Wrong input: Collection `" + name + "` already exists!");
      colls_[name].dim = b["vectors"]["size"].get<size_t>();
      return Ok(true);
    }
    if (it == colls_.end()) return Err(404, "Not found: Collection `" + name + "` doesn't exist!");
    Coll& c = it->second;
    if (parts.size() == 2 && r.method == "GET") {
      return Ok({{"status", "green"},
                 {"optimizer_status", "ok"},
                 {"points_count", c.points.size()},
                 {"segments_count", 1},
                 {"config", {{"params", {{"vectors", {{"size", c.dim}, {"distance", "Cosine"}}}}}}}});
    }
    if (parts.size() == 3 && parts[2] == "points" && r.method == "PUT") {
      if (r.query != "wait=true") return Bad("points without wait=true");
      const json& b = s.body;
      if (!b.is_object() || !b["points"].is_array()) return Bad("points body");
      for (const auto& p : b["points"]) {
        if (!p["id"].is_number_unsigned() || !p["vector"].is_array() || p["vector"].size() != c.dim ||
            !p["payload"].is_object()) {
          return Bad("point " + p.dump().substr(0, 80));
        }
        c.points[p["id"].get<uint64_t>()] = {p["vector"].get<std::vector<double>>(), p["payload"]};
      }
      return Ok({{"operation_id", 1}, {"status", "completed"}});
    }
    if (parts.size() == 4 && parts[2] == "points" && parts[3] == "search" && r.method == "POST") {
      const json& b = s.body;
      if (!b.is_object() || !b["vector"].is_array() || b["vector"].size() != c.dim ||
          !b["limit"].is_number_unsigned() || b["with_payload"] != true) {
        return Bad("search body");
      }
      auto q = b["vector"].get<std::vector<double>>();
      std::vector<std::pair<double, uint64_t>> scored;
      for (const auto& [id, p] : c.points) {
        double dot = 0, nq = 0, np = 0;
        for (size_t i = 0; i < c.dim; ++i) {
          dot += q[i] * p.v[i];
          nq += q[i] * q[i];
          np += p.v[i] * p.v[i];
        }
        scored.emplace_back(dot / std::sqrt(nq * np), id);
      }
      std::sort(scored.rbegin(), scored.rend());
      json hits = json::array();
      for (size_t i = 0; i < std::min(scored.size(), b["limit"].get<size_t>()); ++i) {
        hits.push_back({{"id", scored[i].second},
                        {"version", 3},
                        {"score", scored[i].first},
                        {"payload", c.points[scored[i].second].payload}});
      }
      return Ok(hits);
    }
    if (parts.size() == 3 && parts[2] == "snapshots" && r.method == "POST") {
      return Ok({{"name", name + "-8712412-2026-11-27-12-00-00.snapshot"},
                 {"creation_time", "2026-11-27T12:00:00"},
                 {"size", 4096}});
    }
    return Err(404, "no such route");
  }

  std::mutex mu_;
  std::vector<Seen> seen_;
  std::vector<std::string> shape_errors_;
  std::map<std::string, Coll> colls_;
  std::unique_ptr<net::HttpServer> server_;
};

class QdrantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-qdrant-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/secrets/qdrant");
    WriteKey("alpha", "alpha-key");
    WriteKey("bravo", "bravo-key");
    config_.kind = "servers";
    config_.path = dir_;
    config_.qdrant.url = qdrant_.url();
  }
  void TearDown() override {
    EXPECT_TRUE(qdrant_.shape_errors().empty()) << qdrant_.shape_errors()[0];
    fs::remove_all(dir_);
  }
  void WriteKey(const std::string& tenant, const std::string& key) {
    std::string path = dir_ + "/secrets/qdrant/" + tenant + ".key";
    std::ofstream(path) << key << "\n";
    chmod(path.c_str(), 0600);
  }
  std::unique_ptr<Vectors> Open(const std::string& tenant) {
    auto v = OpenVectors(config_, TenantScope::For(tenant).value());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? std::move(v.value()) : nullptr;
  }

  FakeQdrant qdrant_;
  std::string dir_;
  StoresConfig config_;
};

TEST_F(QdrantTest, RoundTripWithDocumentedRequests) {
  auto v = Open("ALPHA");
  ASSERT_TRUE(v->CreateCollection("events", 3).ok());
  ASSERT_TRUE(v->CreateCollection("events", 3).ok());  // exists: no second PUT
  Status s = v->CreateCollection("events", 4);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("alpha_events exists with dimension 3, not 4"), std::string::npos) << s.message();

  std::vector<VectorPoint> pts = {{1, {1, 0, 0}, R"({"src":"l3","n":1})"}, {2, {0, 1, 0}, ""}, {3, {1, 1, 0}, ""}};
  ASSERT_TRUE(v->Upsert("events", pts).ok());
  EXPECT_EQ(v->Count("events").value(), 3u);
  std::vector<float> q = {3, 0.1f, 0};
  auto hits = v->Search("events", q, 2);
  ASSERT_TRUE(hits.ok()) << hits.status().ToString();
  ASSERT_EQ(hits.value().size(), 2u);
  EXPECT_EQ(hits.value()[0].id, 1u);
  EXPECT_EQ(hits.value()[1].id, 3u);
  EXPECT_NEAR(hits.value()[0].score, 3 / std::sqrt(9.01), 1e-5);
  EXPECT_EQ(json::parse(hits.value()[0].payload), json::parse(R"({"src":"l3","n":1})"));
  EXPECT_EQ(hits.value()[1].payload, "{}");
  auto snap = v->Snapshot("events");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap.value(), "alpha_events-8712412-2026-11-27-12-00-00.snapshot");
  EXPECT_TRUE(v->Flush().ok());

  int puts = 0, point_puts = 0, searches = 0, snaps = 0;
  for (const auto& r : qdrant_.seen()) {
    EXPECT_EQ(r.api_key, "alpha-key") << r.method << " " << r.path;
    if (r.method == "PUT" && r.path == "/collections/alpha_events") {
      ++puts;
      EXPECT_EQ(r.body["vectors"]["size"], 3);
      EXPECT_EQ(r.body["vectors"]["distance"], "Cosine");
    }
    if (r.method == "PUT" && r.path == "/collections/alpha_events/points") {
      ++point_puts;
      EXPECT_EQ(r.query, "wait=true");
      ASSERT_EQ(r.body["points"].size(), 3u);
      EXPECT_EQ(r.body["points"][0]["id"], 1);
      EXPECT_EQ(r.body["points"][0]["payload"]["src"], "l3");
      EXPECT_EQ(r.body["points"][1]["payload"], json::object());
      // Sent normalised.
      EXPECT_NEAR(r.body["points"][2]["vector"][0].get<double>(), 1 / std::sqrt(2.0), 1e-6);
    }
    if (r.method == "POST" && r.path == "/collections/alpha_events/points/search") {
      ++searches;
      EXPECT_EQ(r.body["limit"], 2);
      EXPECT_EQ(r.body["with_payload"], true);
      EXPECT_EQ(r.body["vector"].size(), 3u);
    }
    if (r.method == "POST" && r.path == "/collections/alpha_events/snapshots") ++snaps;
  }
  EXPECT_EQ(puts, 1);
  EXPECT_EQ(point_puts, 1);
  EXPECT_EQ(searches, 1);
  EXPECT_EQ(snaps, 1);
}

TEST_F(QdrantTest, LargeUpsertIsSentInBatches) {
  auto v = Open("ALPHA");
  ASSERT_TRUE(v->CreateCollection("kb", 4).ok());
  std::vector<VectorPoint> pts;
  for (uint64_t i = 0; i < 600; ++i) pts.push_back({i, {1.0f + i, 1, 0, 0}, ""});
  ASSERT_TRUE(v->Upsert("kb", pts).ok());
  EXPECT_EQ(v->Count("kb").value(), 600u);
  int batches = 0;
  for (const auto& r : qdrant_.seen()) batches += r.method == "PUT" && r.path == "/collections/alpha_kb/points";
  EXPECT_EQ(batches, 3);
  std::vector<VectorPoint> bad = {{1, {1, 0}, ""}};
  EXPECT_EQ(v->Upsert("kb", bad).code(), StatusCode::kInvalidArgument);
}

TEST_F(QdrantTest, KeysAndErrors) {
  StoresConfig c = config_;
  auto missing = OpenVectors(c, TenantScope::For("CHARLIE").value());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("qdrant/charlie.key"), std::string::npos) << missing.status().message();

  chmod((dir_ + "/secrets/qdrant/alpha.key").c_str(), 0644);
  auto loose = OpenVectors(c, TenantScope::For("ALPHA").value());
  EXPECT_EQ(loose.status().code(), StatusCode::kFailedPrecondition);
  chmod((dir_ + "/secrets/qdrant/alpha.key").c_str(), 0600);

  WriteKey("delta", "not-a-key");
  auto wrong = Open("DELTA");
  Status s = wrong->CreateCollection("events", 2);
  EXPECT_EQ(s.code(), StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("qdrant: GET /collections/delta_events: HTTP 401: Must provide an API key"),
            std::string::npos)
      << s.message();

  auto v = Open("ALPHA");
  std::vector<float> q = {1, 0};
  auto nf = v->Search("nothing", q, 1);
  EXPECT_EQ(nf.status().code(), StatusCode::kNotFound);
  EXPECT_NE(nf.status().message().find("doesn't exist"), std::string::npos) << nf.status().message();

  StoresConfig down = config_;
  down.qdrant.url = "http://127.0.0.1:1";
  auto d = OpenVectors(down, TenantScope::For("ALPHA").value()).value();
  EXPECT_EQ(d->Count("events").status().code(), StatusCode::kUnavailable);
  down.qdrant.url = "qdrant:6333";
  EXPECT_EQ(OpenVectors(down, TenantScope::For("ALPHA").value()).status().code(), StatusCode::kInvalidArgument);
}

// Red-team drill 4 (spec §9.2) on the Qdrant backend: a BRAVO search reaches
// bravo_* collections only, and no BRAVO request ever names alpha_*.
TEST_F(QdrantTest, Drill4BravoCannotReachAlpha) {
  auto alpha = Open("ALPHA");
  auto bravo = Open("BRAVO");
  ASSERT_TRUE(alpha->CreateCollection("events", 2).ok());
  ASSERT_TRUE(alpha->CreateCollection("knowledge_base", 2).ok());
  ASSERT_TRUE(bravo->CreateCollection("knowledge_base", 2).ok());
  std::vector<VectorPoint> a = {{1, {1, 0}, R"({"tenant":"ALPHA"})"}};
  std::vector<VectorPoint> b = {{1, {0, 1}, R"({"tenant":"BRAVO"})"}};
  ASSERT_TRUE(alpha->Upsert("events", a).ok());
  ASSERT_TRUE(alpha->Upsert("knowledge_base", a).ok());
  ASSERT_TRUE(bravo->Upsert("knowledge_base", b).ok());
  qdrant_.clear();

  auto list = bravo->ListCollections();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list.value().size(), 1u);
  EXPECT_EQ(list.value()[0].name, "bravo_knowledge_base");
  EXPECT_EQ(list.value()[0].dim, 2u);
  EXPECT_EQ(list.value()[0].count, 1u);

  std::vector<float> q = {1, 0};  // closest to ALPHA's point
  auto hits = bravo->Search("knowledge_base", q, 5);
  ASSERT_TRUE(hits.ok());
  ASSERT_EQ(hits.value().size(), 1u);
  EXPECT_EQ(hits.value()[0].payload, R"({"tenant":"BRAVO"})");

  for (const std::string name : {"alpha_events", "alpha_knowledge_base"}) {
    auto r = bravo->Search(name, q, 5);
    EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << name;
    EXPECT_NE(r.status().message().find("tenant BRAVO reaches only bravo_* collections"), std::string::npos)
        << r.status().message();
    std::vector<VectorPoint> inject = {{9, {1, 0}, ""}};
    EXPECT_EQ(bravo->Upsert(name, inject).code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(bravo->Count(name).status().code(), StatusCode::kPermissionDenied);
  }
  for (const std::string& name :
       std::vector<std::string>{"../alpha_events", "alpha_events/points", "..", "ALPHA_events", "alpha%5fevents", ""}) {
    EXPECT_EQ(bravo->Search(name, q, 5).status().code(), StatusCode::kInvalidArgument) << name;
  }
  // What Qdrant's query log would show: BRAVO's requests name bravo_* only
  // (a refused name was first looked up as bravo_<name>, then refused).
  auto seen = qdrant_.seen();
  ASSERT_FALSE(seen.empty());
  bool searched = false;
  for (const auto& r : seen) {
    EXPECT_EQ(r.api_key, "bravo-key");
    EXPECT_NE(r.path.rfind("/collections/alpha", 0), 0u) << r.method << " " << r.path;
    EXPECT_TRUE(r.path == "/collections" || r.path.rfind("/collections/bravo_", 0) == 0) << r.path;
    searched |= r.path == "/collections/bravo_knowledge_base/points/search";
  }
  EXPECT_TRUE(searched);
  EXPECT_EQ(alpha->Count("events").value(), 1u);  // untouched
}

}  // namespace
}  // namespace dsmil::store
