// Device 50, the RAG engine (spec §4.1, drill 4), and the pieces it is made
// of: text chunking and the deterministic hashed n-gram embedding.
//
// Device 50 answers L7_RAG_QUERY (0x45) frames. PAYLOAD (JSON):
//   {"op":"query","query":"...","k":4}
//   {"op":"ingest","documents":[{"source":"runbook.md","text":"..."}]}
// and replies L7_RAG_RESULT (0x46) with PAYLOAD:
//   {"collection":"alpha_knowledge_base","passages":[{"text","source","score"}]}
//   {"collection":"alpha_knowledge_base","chunks":12}
// The collection is always the envelope tenant's knowledge base, opened
// through store::OpenVectors with that tenant's TenantScope: there is no field
// that names a collection, so a BRAVO request can only touch bravo_*. Every
// query logs the collection it read ("rag query" with tenant and collection).
//
// Embeddings: the `rag:` section's {embedding: {upstream: URL, model: NAME}}
// (an OpenAI-compatible /embeddings endpoint), or, when none is configured,
// the hashed n-gram embedding below (model id kHashedEmbeddingModel): not a
// learned model, it matches shared words and word pieces, and says so in
// /v1/models.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/device.h"

namespace dsmil::devices::l7 {

inline constexpr char kHashedEmbeddingModel[] = "dsmil-hashed-ngram-384";
inline constexpr size_t kHashedEmbeddingDim = 384;

// Feature hashing of lower-cased words, word bigrams and character trigrams
// (FNV-1a 64, signed buckets), L2-normalised. Deterministic across runs and
// machines. An empty text gives the zero vector.
std::vector<float> HashedEmbedding(std::string_view text, size_t dim = kHashedEmbeddingDim);

struct TextChunk {
  size_t index = 0;
  std::string text;
};
// Splits `text` into chunks of about `target` bytes (breaking at paragraph,
// then sentence, then word boundaries; never inside a UTF-8 sequence) with
// `overlap` bytes repeated between neighbours.
std::vector<TextChunk> ChunkText(std::string_view text, size_t target = 800, size_t overlap = 100);

// The node config's `rag:` section (all keys optional).
struct RagConfig {
  // rag.embedding {upstream: URL, model: NAME}: an OpenAI-compatible
  // /embeddings endpoint; empty upstream = the hashed n-gram embedding.
  std::string embedding_upstream;
  std::string embedding_model;
  int max_k = 16;                            // rag.max_k: 1..64
  uint64_t max_chunks_per_tenant = 100000;   // rag.max_chunks_per_tenant
  uint64_t ingest_chunks_per_minute = 6000;  // rag.ingest_chunks_per_minute
};
// Parses the section's JSON text. Errors name the key ("rag.max_k: ...").
Result<RagConfig> ParseRagConfig(const std::string& section_json, const std::string& config_dir);

// The factory registered for device 50 (reads the `rag` section).
Result<std::unique_ptr<Device>> CreateRagDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l7
