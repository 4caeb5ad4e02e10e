// The Qdrant vector store, over Qdrant's REST API (net/http_client.h).
//
// Requests (every one carries `api-key: <key>`, the key read from
// <secrets_dir>/qdrant/<tenant lower>.key: a plain API key, or a JWT whose
// access claims name this tenant's collections, see deploy/qdrant/config.yaml):
//   GET  /collections                               list (filtered to this tenant)
//   GET  /collections/{name}                        dimension, points_count
//   PUT  /collections/{name}                        {"vectors": {"size": d, "distance": "Cosine"}}
//   PUT  /collections/{name}/points?wait=true       {"points": [{"id", "vector", "payload"}]}
//   POST /collections/{name}/points/search          {"vector", "limit", "with_payload": true}
//   POST /collections/{name}/snapshots              -> {"result": {"name": ...}}
// Qdrant answers {"result": ..., "status": "ok", "time": s} or, on error,
// {"status": {"error": "..."}, "time": s}.
#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "net/http_client.h"
#include "store/vectors.h"
#include "store/vectors_internal.h"

namespace dsmil::store {
namespace vectors_internal {
namespace {

using nlohmann::json;

// Points per PUT .../points request (keeps request bodies around 4 MiB at
// 1024 dimensions).
constexpr size_t kPointsPerRequest = 256;
constexpr std::chrono::milliseconds kTimeout{15000};

class QdrantVectors final : public Vectors {
 public:
  QdrantVectors(const TenantScope& scope, std::string base_url, std::string key)
      : scope_(scope), base_(std::move(base_url)), key_(std::move(key)) {}

  const TenantScope& scope() const override { return scope_; }

  Status CreateCollection(const std::string& name, size_t dim) override {
    DSMIL_RETURN_IF_ERROR(CheckDim(dim));
    DSMIL_ASSIGN_OR_RETURN(std::string full, Resolve(name));
    auto info = Info(full);
    if (info.ok()) {
      if (info.value().dim != dim) {
        return Status::FailedPrecondition("vectors: collection " + full + " exists with dimension " +
                                          std::to_string(info.value().dim) + ", not " + std::to_string(dim));
      }
      return Status::Ok();
    }
    if (info.status().code() != StatusCode::kNotFound) return info.status();
    DSMIL_RETURN_IF_ERROR(RefuseForeign(name));
    json body = {{"vectors", {{"size", dim}, {"distance", "Cosine"}}}};
    Status created = Call("PUT", "/collections/" + full, body.dump()).status();
    if (created.code() != StatusCode::kAlreadyExists) return created;
    // Created by someone else in the meantime: fine if the dimension agrees.
    DSMIL_ASSIGN_OR_RETURN(CollectionInfo now, Info(full));
    if (now.dim != dim) {
      return Status::FailedPrecondition("vectors: collection " + full + " exists with dimension " +
                                        std::to_string(now.dim) + ", not " + std::to_string(dim));
    }
    return Status::Ok();
  }

  Result<std::vector<CollectionInfo>> ListCollections() override {
    DSMIL_ASSIGN_OR_RETURN(json result, Call("GET", "/collections", ""));
    const json* list = result.is_object() && result.contains("collections") ? &result["collections"] : nullptr;
    if (list == nullptr || !list->is_array()) {
      return Status::DataLoss("qdrant: GET /collections: result has no 'collections' array");
    }
    std::vector<CollectionInfo> out;
    for (const auto& c : *list) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) {
        return Status::DataLoss("qdrant: GET /collections: an entry has no string 'name'");
      }
      std::string name = c["name"].get<std::string>();
      if (!scope_.OwnsCollection(name) || !scope_.Collection(name.substr(scope_.lower().size() + 1)).ok()) continue;
      DSMIL_ASSIGN_OR_RETURN(CollectionInfo info, Info(name));
      out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  Status Upsert(const std::string& name, std::span<const VectorPoint> points) override {
    if (points.size() > kMaxPointsPerUpsert) {
      return Status::InvalidArgument("vectors: " + std::to_string(points.size()) +
                                     " points in one upsert, over the limit of " + std::to_string(kMaxPointsPerUpsert));
    }
    DSMIL_ASSIGN_OR_RETURN(std::string full, Resolve(name));
    DSMIL_ASSIGN_OR_RETURN(size_t dim, Dim(name, full));
    for (size_t i = 0; i < points.size(); ++i) {
      std::string what = "point " + std::to_string(i) + " (id " + std::to_string(points[i].id) + ")";
      DSMIL_RETURN_IF_ERROR(CheckVector(points[i].vector, dim, what));
      DSMIL_RETURN_IF_ERROR(CheckPayload(points[i].payload, what));
    }
    for (size_t start = 0; start < points.size(); start += kPointsPerRequest) {
      json batch = json::array();
      for (size_t i = start; i < std::min(points.size(), start + kPointsPerRequest); ++i) {
        json payload = points[i].payload.empty() ? json::object() : json::parse(points[i].payload, nullptr, false);
        batch.push_back({{"id", points[i].id}, {"vector", Normalized(points[i].vector)}, {"payload", payload}});
      }
      json body = {{"points", std::move(batch)}};
      DSMIL_RETURN_IF_ERROR(Call("PUT", "/collections/" + full + "/points?wait=true", body.dump()).status());
    }
    return Status::Ok();
  }

  Result<std::vector<VectorHit>> Search(const std::string& name, std::span<const float> query, size_t k) override {
    DSMIL_RETURN_IF_ERROR(CheckK(k));
    DSMIL_ASSIGN_OR_RETURN(std::string full, Resolve(name));
    DSMIL_ASSIGN_OR_RETURN(size_t dim, Dim(name, full));
    DSMIL_RETURN_IF_ERROR(CheckVector(query, dim, "query"));
    json body = {{"vector", Normalized(query)}, {"limit", k}, {"with_payload", true}};
    const std::string path = "/collections/" + full + "/points/search";
    DSMIL_ASSIGN_OR_RETURN(json result, Call("POST", path, body.dump()));
    if (!result.is_array()) return Status::DataLoss("qdrant: POST " + path + ": result is not an array");
    std::vector<VectorHit> hits;
    for (const auto& r : result) {
      if (!r.is_object() || !r.contains("id") || !r["id"].is_number_unsigned() || !r.contains("score") ||
          !r["score"].is_number()) {
        return Status::DataLoss("qdrant: POST " + path + ": a hit has no unsigned integer 'id' or numeric 'score'");
      }
      VectorHit h;
      h.id = r["id"].get<uint64_t>();
      h.score = r["score"].get<float>();
      h.payload = r.contains("payload") && r["payload"].is_object() ? r["payload"].dump() : "{}";
      hits.push_back(std::move(h));
      if (hits.size() == k) break;
    }
    return hits;
  }

  Result<uint64_t> Count(const std::string& name) override {
    DSMIL_ASSIGN_OR_RETURN(std::string full, Resolve(name));
    auto info = Info(full);
    if (!info.ok() && info.status().code() == StatusCode::kNotFound) DSMIL_RETURN_IF_ERROR(RefuseForeign(name));
    DSMIL_ASSIGN_OR_RETURN(CollectionInfo i, std::move(info));
    return i.count;
  }

  // Qdrant persists every upsert sent with wait=true before answering.
  Status Flush() override { return Status::Ok(); }

  Result<std::string> Snapshot(const std::string& name) override {
    DSMIL_ASSIGN_OR_RETURN(std::string full, Resolve(name));
    const std::string path = "/collections/" + full + "/snapshots";
    auto result = Call("POST", path, "");
    if (!result.ok() && result.status().code() == StatusCode::kNotFound) DSMIL_RETURN_IF_ERROR(RefuseForeign(name));
    DSMIL_ASSIGN_OR_RETURN(json r, std::move(result));
    if (!r.is_object() || !r.contains("name") || !r["name"].is_string()) {
      return Status::DataLoss("qdrant: POST " + path + ": result has no snapshot 'name'");
    }
    return r["name"].get<std::string>();
  }

 private:
  Result<std::string> Resolve(const std::string& name) const { return ResolveCollection(scope_, name); }

  // The dimension of `full`; NotFound (or PermissionDenied for another
  // tenant's name) when it does not exist.
  Result<size_t> Dim(const std::string& name, const std::string& full) {
    auto info = Info(full);
    if (!info.ok()) {
      if (info.status().code() == StatusCode::kNotFound) DSMIL_RETURN_IF_ERROR(RefuseForeign(name));
      return info.status();
    }
    return info.value().dim;
  }

  // GET /collections/{full}: dimension and points_count.
  Result<CollectionInfo> Info(const std::string& full) {
    const std::string path = "/collections/" + full;
    DSMIL_ASSIGN_OR_RETURN(json r, Call("GET", path, ""));
    CollectionInfo info;
    info.name = full;
    const json* vectors = nullptr;
    if (r.is_object() && r.contains("config") && r["config"].is_object() && r["config"].contains("params") &&
        r["config"]["params"].is_object() && r["config"]["params"].contains("vectors")) {
      vectors = &r["config"]["params"]["vectors"];
    }
    if (vectors == nullptr || !vectors->is_object() || !vectors->contains("size") ||
        !(*vectors)["size"].is_number_unsigned()) {
      return Status::DataLoss("qdrant: GET " + path +
                              ": result has no config.params.vectors.size (named vectors are not supported)");
    }
    info.dim = (*vectors)["size"].get<size_t>();
    if (r.contains("points_count") && r["points_count"].is_number_unsigned()) {
      info.count = r["points_count"].get<uint64_t>();
    }
    return info;
  }

  // A short name that is another tenant's existing collection is refused
  // (asked only after this tenant's own name was not found, so the lookup
  // never names another tenant's collection in a request).
  Status RefuseForeign(const std::string& name) {
    if (scope_.OwnsCollection(name)) return Status::Ok();
    auto r = Call("GET", "/collections", "");
    if (!r.ok() || !r.value().is_object() || !r.value().contains("collections") ||
        !r.value()["collections"].is_array()) {
      return Status::Ok();
    }
    for (const auto& c : r.value()["collections"]) {
      if (c.is_object() && c.contains("name") && c["name"] == name) {
        return Status::PermissionDenied("vectors: '" + name + "' is another tenant's collection; tenant " +
                                        scope_.tenant() + " reaches only " + scope_.lower() + "_* collections");
      }
    }
    return Status::Ok();
  }

  // Sends one request and returns Qdrant's "result" member.
  Result<json> Call(const std::string& method, const std::string& path, const std::string& body) {
    net::HttpClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.headers.emplace_back("api-key", key_);
    if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
    req.body = body;
    req.timeout = kTimeout;
    const std::string what = "qdrant: " + method + " " + path;
    auto resp = net::HttpFetch(req);
    if (!resp.ok()) {
      return Status(resp.status().code(), what + ": " + resp.status().message());
    }
    const net::HttpResponse& r = resp.value();
    json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (r.status < 200 || r.status > 299) {
      std::string detail;
      if (!j.is_discarded() && j.is_object() && j.contains("status") && j["status"].is_object() &&
          j["status"].contains("error") && j["status"]["error"].is_string()) {
        detail = j["status"]["error"].get<std::string>();
      } else {
        detail = r.body.substr(0, 200);
      }
      std::string msg = what + ": HTTP " + std::to_string(r.status) + (detail.empty() ? "" : ": " + detail);
      switch (r.status) {
        case 400:
        case 422:
          return Status::InvalidArgument(msg);
        case 401:
          return Status::Unauthenticated(msg + " (check the tenant's qdrant key)");
        case 403:
          return Status::PermissionDenied(msg);
        case 404:
          return Status::NotFound(msg);
        case 409:
          return Status::AlreadyExists(msg);
        case 429:
          return Status::ResourceExhausted(msg);
        default:
          return r.status >= 500 ? Status::Unavailable(msg) : Status::Internal(msg);
      }
    }
    if (j.is_discarded() || !j.is_object() || !j.contains("result")) {
      return Status::DataLoss(what + ": the answer is not a JSON object with a 'result'");
    }
    return std::move(j["result"]);
  }

  const TenantScope scope_;
  const std::string base_;
  const std::string key_;
};

}  // namespace

Result<std::unique_ptr<Vectors>> OpenQdrantVectors(const StoresConfig& config, const TenantScope& scope) {
  DSMIL_ASSIGN_OR_RETURN(net::ParsedUrl url, net::ParseHttpUrl(config.qdrant.url));
  (void)url;
  std::string base = config.qdrant.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto key = ReadSecret(config, "qdrant/" + scope.lower() + ".key");
  if (!key.ok()) {
    return Status(key.status().code(),
                  "vectors: the Qdrant key of tenant " + scope.tenant() + ": " + key.status().message());
  }
  return std::unique_ptr<Vectors>(new QdrantVectors(scope, base, key.value()));
}

}  // namespace vectors_internal
}  // namespace dsmil::store
