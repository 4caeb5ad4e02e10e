// OpenVectors: picks the backend from the `stores:` section, and the input
// checks both backends share.
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "store/vectors.h"
#include "store/vectors_internal.h"

namespace dsmil::store {
namespace vectors_internal {

Status CheckDim(size_t dim) {
  if (dim == 0 || dim > kMaxDim) {
    return Status::InvalidArgument("vectors: dimension " + std::to_string(dim) + " is out of range (1.." +
                                   std::to_string(kMaxDim) + ")");
  }
  return Status::Ok();
}

Status CheckVector(std::span<const float> v, size_t dim, const std::string& what) {
  if (v.size() != dim) {
    return Status::InvalidArgument("vectors: " + what + " has " + std::to_string(v.size()) +
                                   " components, the collection has dimension " + std::to_string(dim));
  }
  double norm2 = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      return Status::InvalidArgument("vectors: " + what + " component " + std::to_string(i) + " is not finite");
    }
    norm2 += double(v[i]) * double(v[i]);
  }
  if (!(norm2 > 0) || !std::isfinite(norm2)) {
    return Status::InvalidArgument("vectors: " + what +
                                   " has zero (or overflowing) length; cosine similarity needs a non-zero vector");
  }
  return Status::Ok();
}

Status CheckPayload(const std::string& payload, const std::string& what) {
  if (payload.empty()) return Status::Ok();
  if (payload.size() > kMaxPayloadBytes) {
    return Status::InvalidArgument("vectors: " + what + " payload is " + std::to_string(payload.size()) +
                                   " bytes, over the limit of " + std::to_string(kMaxPayloadBytes) + " bytes");
  }
  nlohmann::json j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("vectors: " + what + " payload is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("vectors: " + what + " payload is not a JSON object");
  return Status::Ok();
}

Status CheckK(size_t k) {
  if (k == 0 || k > kMaxK) {
    return Status::InvalidArgument("vectors: k = " + std::to_string(k) + " is out of range (1.." +
                                   std::to_string(kMaxK) + ")");
  }
  return Status::Ok();
}

Result<std::string> ResolveCollection(const TenantScope& scope, const std::string& name) {
  auto full = scope.Collection(name);
  if (!full.ok()) return Status::InvalidArgument("vectors: " + full.status().message());
  // The scope builds "<tenant>_<name>"; this is the invariant every backend
  // relies on before it touches a file or sends a request.
  if (!scope.OwnsCollection(full.value())) {
    return Status::Internal("vectors: scope " + scope.tenant() + " does not own " + full.value());
  }
  return full;
}

std::vector<float> Normalized(std::span<const float> v) {
  double norm2 = 0;
  for (float x : v) norm2 += double(x) * double(x);
  double inv = 1.0 / std::sqrt(norm2);
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = float(double(v[i]) * inv);
  return out;
}

}  // namespace vectors_internal

Result<std::unique_ptr<Vectors>> OpenVectors(const StoresConfig& config, const TenantScope& scope) {
  if (config.kind == "servers" && !config.qdrant.url.empty()) {
    return vectors_internal::OpenQdrantVectors(config, scope);
  }
  if (config.kind != "embedded" && config.kind != "servers") {
    return Status::InvalidArgument("stores.kind: '" + config.kind + "' is not one of embedded, servers");
  }
  return vectors_internal::OpenHnswVectors(config, scope);
}

}  // namespace dsmil::store
