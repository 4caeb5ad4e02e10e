// Internal to the vector stores (vectors_hnsw.cc, vectors_qdrant.cc,
// vectors_open.cc): the backends' factories, the limits and input checks they
// share, and the embedded backend's access record used by the isolation tests.
// Not part of the store's public interface (that is vectors.h).
#pragma once

#ifndef DSMIL_INTERNAL_STORE
#error \
    "store/vectors_internal.h is internal to dsmil_store: include its public headers (a white-box test opts in with dsmil_white_box)"
#endif

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/config.h"
#include "store/scope.h"
#include "store/vectors.h"

namespace dsmil::store::vectors_internal {

// Limits shared by both backends (docs/vectors.md).
inline constexpr size_t kMaxDim = 4096;               // components per vector
inline constexpr size_t kMaxPayloadBytes = 64 << 10;  // one point's JSON payload
inline constexpr size_t kMaxK = 1000;                 // hits per search
inline constexpr size_t kMaxPointsPerUpsert = 1 << 20;

// The embedded backend: hnswlib indexes under <config.path>/vectors/.
Result<std::unique_ptr<Vectors>> OpenHnswVectors(const StoresConfig& config, const TenantScope& scope);
// The Qdrant backend: REST calls to config.qdrant.url with the tenant's key
// <secrets_dir>/qdrant/<tenant lower>.key in the `api-key` header.
Result<std::unique_ptr<Vectors>> OpenQdrantVectors(const StoresConfig& config, const TenantScope& scope);

// InvalidArgument unless 1 <= dim <= kMaxDim.
Status CheckDim(size_t dim);
// InvalidArgument unless `v` has `dim` finite components and a non-zero norm
// (cosine similarity is undefined for the zero vector). `what` names the
// vector in the message ("point 3 (id 17)", "query").
Status CheckVector(std::span<const float> v, size_t dim, const std::string& what);
// InvalidArgument unless `payload` is empty or a JSON object of at most
// kMaxPayloadBytes bytes.
Status CheckPayload(const std::string& payload, const std::string& what);
// InvalidArgument unless 1 <= k <= kMaxK.
Status CheckK(size_t k);
// Resolves a short collection name through the scope ("events" ->
// "bravo_events"). Every name a backend touches comes from here.
Result<std::string> ResolveCollection(const TenantScope& scope, const std::string& name);
// `v` scaled to unit length (v must have passed CheckVector).
std::vector<float> Normalized(std::span<const float> v);

// hnswlib's inner-product distance (1 - a.b) for `dim`-component vectors:
// the SIMD kernel the embedded index uses, for the benchmark's exact-scan
// peer. Call it as fn(a, b, &dim) with `dim` a size_t. (hnswlib 0.6.2's
// headers define non-inline functions, so only vectors_hnsw.cc may include
// them in any one program.)
using DistanceFn = float (*)(const void* a, const void* b, const void* dim);
DistanceFn HnswInnerProductDistance(size_t dim);

// Rewrites <dir>/meta with the current sizes and checksums of <dir>/index.bin
// and <dir>/payloads.bin, keeping name, dim and count. For tests of the
// loader's own checks (a crafted file whose checksum matches); the store
// never calls it.
Status ResealCollectionFiles(const std::string& dir);

// Access record of the embedded backend, process-wide: one entry per
// collection whose files were opened ("load alpha_events") or that a search
// read ("search alpha_events"). Bounded (the last 4096 entries). Thread-safe.
std::vector<std::string> HnswAccessLog();
void ClearHnswAccessLog();

}  // namespace dsmil::store::vectors_internal
