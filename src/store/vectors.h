// Vectors: one tenant's vector collections (spec §4.3). A collection is named
// by its short name ("events", "knowledge_base", "chat_history") and the scope
// prefixes the tenant ("alpha_events"): there is no way to open another
// tenant's collection through this interface.
//
// Backends: embedded hnswlib (Debian libhnswlib-dev; cosine space; one index
// file per collection under <path>/vectors/, saved on Flush and Snapshot,
// payloads beside it) and Qdrant over its REST API with the tenant's API key.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/config.h"
#include "store/scope.h"

namespace dsmil::store {

struct VectorPoint {
  uint64_t id = 0;
  std::vector<float> vector;
  std::string payload;  // JSON object
};

struct VectorHit {
  uint64_t id = 0;
  float score = 0;  // cosine similarity, higher is closer
  std::string payload;
};

struct CollectionInfo {
  std::string name;  // full name: "alpha_events"
  size_t dim = 0;
  uint64_t count = 0;
};

class Vectors {
 public:
  virtual ~Vectors() = default;
  virtual const TenantScope& scope() const = 0;

  // Creates the collection if absent; FailedPrecondition if it exists with
  // another dimension.
  virtual Status CreateCollection(const std::string& name, size_t dim) = 0;
  virtual Result<std::vector<CollectionInfo>> ListCollections() = 0;
  // Inserts or replaces points (same id = replace).
  virtual Status Upsert(const std::string& name, std::span<const VectorPoint> points) = 0;
  // The k nearest points to `query`, closest first.
  virtual Result<std::vector<VectorHit>> Search(const std::string& name, std::span<const float> query, size_t k) = 0;
  virtual Result<uint64_t> Count(const std::string& name) = 0;
  // Writes everything to disk.
  virtual Status Flush() = 0;
  // A consistent copy of the collection; returns its path or snapshot name.
  virtual Result<std::string> Snapshot(const std::string& name) = 0;
};

Result<std::unique_ptr<Vectors>> OpenVectors(const StoresConfig& config, const TenantScope& scope);

}  // namespace dsmil::store
