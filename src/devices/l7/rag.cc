#include "devices/l7/rag.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "core/mutex.h"
#include "devices/authz.h"
#include "devices/l7/worker.h"
#include "store/vectors.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

uint64_t Fnv1a(std::string_view s, uint64_t seed = 0xcbf29ce484222325ull) {
  uint64_t h = seed;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::vector<std::string> LowerWords(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      cur.push_back(static_cast<char>(std::tolower(c)));
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

constexpr char kCollection[] = "knowledge_base";

}  // namespace

std::vector<float> HashedEmbedding(std::string_view text, size_t dim) {
  std::vector<float> v(dim, 0.0f);
  if (dim == 0) return v;
  auto add = [&](std::string_view feature, float w) {
    uint64_t h = Fnv1a(feature);
    v[h % dim] += (h >> 63) ? -w : w;
  };
  std::vector<std::string> words = LowerWords(text);
  for (size_t i = 0; i < words.size(); ++i) {
    add("w:" + words[i], 1.0f);
    if (i + 1 < words.size()) add("b:" + words[i] + " " + words[i + 1], 0.7f);
    std::string padded = "^" + words[i] + "$";
    for (size_t k = 0; k + 3 <= padded.size(); ++k) add("t:" + padded.substr(k, 3), 0.3f);
  }
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm > 0) {
    float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (float& x : v) x *= inv;
  }
  return v;
}

std::vector<TextChunk> ChunkText(std::string_view text, size_t target, size_t overlap) {
  std::vector<TextChunk> out;
  if (target < 16) target = 16;
  if (overlap >= target / 2) overlap = target / 4;
  auto utf8_boundary = [&](size_t pos) {
    while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
    return pos;
  };
  size_t start = 0;
  while (start < text.size()) {
    while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
    if (start >= text.size()) break;
    size_t end = std::min(text.size(), start + target);
    if (end < text.size()) {
      std::string_view window = text.substr(start, end - start);
      size_t cut = window.rfind("\n\n");
      if (cut == std::string_view::npos || cut < target / 2) {
        size_t s = window.find_last_of(".!?\n");
        cut = (s != std::string_view::npos && s >= target / 2) ? s + 1 : std::string_view::npos;
      }
      if (cut == std::string_view::npos || cut < target / 2) {
        size_t sp = window.find_last_of(" \t");
        cut = (sp != std::string_view::npos && sp >= target / 2) ? sp : window.size();
      }
      end = utf8_boundary(start + cut);
    }
    std::string chunk(text.substr(start, end - start));
    while (!chunk.empty() && std::isspace(static_cast<unsigned char>(chunk.back()))) chunk.pop_back();
    if (!chunk.empty()) out.push_back({out.size(), std::move(chunk)});
    if (end >= text.size()) break;
    size_t next = end > overlap ? end - overlap : end;
    if (next <= start) next = end;
    // Start the overlap at a word boundary.
    while (next < end && !std::isspace(static_cast<unsigned char>(text[next]))) ++next;
    start = utf8_boundary(next);
  }
  return out;
}

Result<RagConfig> ParseRagConfig(const std::string& section_json, const std::string& /*config_dir*/) {
  RagConfig c;
  json j = json::parse(section_json, nullptr, false);
  if (j.is_discarded() || !(j.is_object() || j.is_null())) return Status::InvalidArgument("rag: must be a map");
  if (j.is_null()) return c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "embedding" && it.key() != "max_k" && it.key() != "max_chunks_per_tenant" &&
        it.key() != "ingest_chunks_per_minute") {
      return Status::InvalidArgument(
          "rag." + it.key() + ": unknown key (embedding, max_k, max_chunks_per_tenant, ingest_chunks_per_minute)");
    }
  }
  if (auto e = j.find("embedding"); e != j.end()) {
    if (!e->is_object()) return Status::InvalidArgument("rag.embedding: must be a map {upstream, model}");
    auto up = e->find("upstream");
    auto model = e->find("model");
    if (up == e->end() || !up->is_string() || up->get<std::string>().empty()) {
      return Status::InvalidArgument("rag.embedding.upstream: required URL");
    }
    if (model == e->end() || !model->is_string() || model->get<std::string>().empty()) {
      return Status::InvalidArgument("rag.embedding.model: required");
    }
    c.embedding_upstream = up->get<std::string>();
    c.embedding_model = model->get<std::string>();
  }
  if (auto k = j.find("max_k"); k != j.end()) {
    if (!k->is_number_integer() || k->get<int64_t>() < 1 || k->get<int64_t>() > 64) {
      return Status::InvalidArgument("rag.max_k: must be an integer 1..64");
    }
    c.max_k = k->get<int>();
  }
  if (auto q = j.find("max_chunks_per_tenant"); q != j.end()) {
    if (!q->is_number_integer() || q->get<int64_t>() < 1) {
      return Status::InvalidArgument("rag.max_chunks_per_tenant: must be a positive integer");
    }
    c.max_chunks_per_tenant = q->get<uint64_t>();
  }
  if (auto q = j.find("ingest_chunks_per_minute"); q != j.end()) {
    if (!q->is_number_integer() || q->get<int64_t>() < 1) {
      return Status::InvalidArgument("rag.ingest_chunks_per_minute: must be a positive integer");
    }
    c.ingest_chunks_per_minute = q->get<uint64_t>();
  }
  return c;
}

namespace {

class RagDevice final : public Device {
 public:
  explicit RagDevice(DeviceContext ctx) : ctx_(std::move(ctx)) {}

  int id() const override { return 50; }
  const std::string& tenant() const override { return ctx_.tenant; }

  Status Start() override {
    const RagConfig defaults;
    const RagConfig* c = ctx_.Section<RagConfig>("rag");
    if (c == nullptr) c = &defaults;
    if (!c->embedding_upstream.empty()) {
      WorkerSpec spec;
      spec.model = c->embedding_model;
      spec.kind = "upstream";
      spec.base_url = c->embedding_upstream;
      spec.embeddings = true;
      embedder_ = MakeUpstreamWorker(spec);
      embedding_model_ = spec.model;
    }
    max_k_ = c->max_k;
    max_chunks_ = c->max_chunks_per_tenant;
    ingest_per_minute_ = c->ingest_chunks_per_minute;
    // Without stores there is no knowledge base: the device stays up, says so
    // in its health and refuses queries.
    unconfigured_ = ctx_.stores.path.empty() && ctx_.stores.kind == "embedded";
    started_ = true;
    return Status::Ok();
  }

  void Stop() override {
    MutexLock l(mu_);
    for (auto& [t, v] : vectors_) (void)v->Flush();
    started_ = false;
  }

  DeviceHealth Health() const override {
    if (!started_) return {DeviceState::kStopped, "not started"};
    if (unconfigured_) {
      return {DeviceState::kNotImplemented,
              "not configured: stores.path is not set (device 50 keeps the knowledge base there)"};
    }
    return {DeviceState::kHealthy, ""};
  }

  Result<dbe::Message> Handle(const dbe::Message& request) override {
    if (request.type() == dbe::MsgType::kHealthPing) {
      dbe::Message pong(dbe::MsgType::kHealthPong);
      pong.header().src_device = 50;
      pong.header().dst_device = request.header().src_device;
      pong.SetString(dbe::TlvType::kTenantId, request.tenant_id());
      if (auto r = request.GetString(dbe::TlvType::kRequestId); r.ok()) pong.SetString(dbe::TlvType::kRequestId, *r);
      return pong;
    }
    if (request.type() != dbe::MsgType::kL7RagQuery) {
      return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "UNSUPPORTED_MESSAGE",
                                 "device 50 answers L7_RAG_QUERY (0x45)");
    }
    if (unconfigured_) {
      return dbe::MakeErrorReply(request, StatusCode::kFailedPrecondition, "DEVICE_NOT_CONFIGURED",
                                 "device 50 has no knowledge base on this node (stores.path is not set)");
    }
    std::string tenant(request.tenant_id());
    if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
      return dbe::MakeErrorReply(request, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                                 "device 50 serves tenant " + ctx_.tenant + ", not " + tenant);
    }
    if (auto refused = AuthorizeRequest(ctx_, 50, request)) return std::move(*refused);
    auto payload = request.GetBytes(dbe::TlvType::kPayload);
    json j = payload.ok() ? json::parse(AsString(*payload), nullptr, false) : json();
    if (j.is_discarded() || !j.is_object()) {
      return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "BAD_PAYLOAD", "PAYLOAD must be a JSON object");
    }
    std::string op = j.value("op", std::string("query"));
    auto result = op == "ingest"  ? Ingest(tenant, j)
                  : op == "query" ? Query(tenant, j)
                                  : Result<std::string>(Status::InvalidArgument("op: must be query or ingest"));
    if (!result.ok()) {
      const Status& s = result.status();
      return dbe::MakeErrorReply(request, s.code(),
                                 s.code() == StatusCode::kInvalidArgument     ? "BAD_PAYLOAD"
                                 : s.code() == StatusCode::kResourceExhausted ? "QUOTA_EXCEEDED"
                                                                              : "RAG_UNAVAILABLE",
                                 s.message().substr(0, 1000));
    }
    dbe::Message reply(dbe::MsgType::kL7RagResult);
    reply.header().src_device = 50;
    reply.header().dst_device = request.header().src_device;
    reply.SetString(dbe::TlvType::kTenantId, tenant);
    if (auto r = request.GetString(dbe::TlvType::kRequestId); r.ok()) reply.SetString(dbe::TlvType::kRequestId, *r);
    reply.SetU8(dbe::TlvType::kContentType, static_cast<uint8_t>(dbe::ContentType::kJson));
    reply.SetString(dbe::TlvType::kPayload, *result);
    return reply;
  }

 private:
  Result<store::Vectors*> VectorsFor(const std::string& tenant) {
    MutexLock l(mu_);
    auto it = vectors_.find(tenant);
    if (it != vectors_.end()) return it->second.get();
    DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
    DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<store::Vectors> v, store::OpenVectors(ctx_.stores, scope));
    store::Vectors* raw = v.get();
    vectors_[tenant] = std::move(v);
    return raw;
  }

  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts, const std::string& tenant) {
    if (embedder_) return embedder_->Embed(texts, tenant);
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (const std::string& t : texts) out.push_back(HashedEmbedding(t));
    return out;
  }

  Result<std::string> Query(const std::string& tenant, const json& j) {
    auto q = j.find("query");
    if (q == j.end() || !q->is_string() || q->get<std::string>().empty()) {
      return Status::InvalidArgument("query: required non-empty string");
    }
    int k = 4;
    if (auto kk = j.find("k"); kk != j.end()) {
      if (!kk->is_number_integer() || kk->get<int>() < 1 || kk->get<int>() > max_k_) {
        return Status::InvalidArgument("k: must be an integer 1.." + std::to_string(max_k_));
      }
      k = kk->get<int>();
    }
    DSMIL_ASSIGN_OR_RETURN(store::Vectors * vectors, VectorsFor(tenant));
    DSMIL_ASSIGN_OR_RETURN(std::string collection, vectors->scope().Collection(kCollection));
    json out = {{"collection", collection}, {"passages", json::array()}};
    if (ctx_.log) ctx_.log->Info("rag query", {{"tenant", tenant}, {"collection", collection}});
    auto count = vectors->Count(kCollection);
    if (!count.ok() || *count == 0) return out.dump();  // nothing ingested yet
    DSMIL_ASSIGN_OR_RETURN(auto vecs, Embed({q->get<std::string>()}, tenant));
    bool nonzero = false;
    for (float x : vecs[0]) nonzero |= x != 0.0f;
    if (!nonzero) return out.dump();
    DSMIL_ASSIGN_OR_RETURN(std::vector<store::VectorHit> hits, vectors->Search(kCollection, vecs[0], size_t(k)));
    for (const store::VectorHit& h : hits) {
      json p = json::parse(h.payload, nullptr, false);
      json passage = {{"score", h.score}};
      if (p.is_object()) {
        passage["text"] = p.value("text", std::string());
        passage["source"] = p.value("source", std::string());
      }
      out["passages"].push_back(std::move(passage));
    }
    queries_++;
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  Result<std::string> Ingest(const std::string& tenant, const json& j) {
    auto docs = j.find("documents");
    if (docs == j.end() || !docs->is_array() || docs->empty()) {
      return Status::InvalidArgument("documents: required non-empty list of {source, text}");
    }
    std::vector<std::string> texts;
    std::vector<json> payloads;
    for (size_t i = 0; i < docs->size(); ++i) {
      const json& d = (*docs)[i];
      std::string p = "documents[" + std::to_string(i) + "]";
      if (!d.is_object()) return Status::InvalidArgument(p + ": must be a map");
      auto src = d.find("source");
      auto text = d.find("text");
      if (src == d.end() || !src->is_string()) return Status::InvalidArgument(p + ".source: required string");
      if (text == d.end() || !text->is_string()) return Status::InvalidArgument(p + ".text: required string");
      for (TextChunk& c : ChunkText(text->get<std::string>())) {
        texts.push_back(c.text);
        payloads.push_back({{"source", src->get<std::string>()}, {"chunk", c.index}, {"text", std::move(c.text)}});
      }
    }
    if (texts.empty()) return Status::InvalidArgument("documents: no text to ingest");
    DSMIL_RETURN_IF_ERROR(TakeIngestBudget(tenant, texts.size()));
    DSMIL_ASSIGN_OR_RETURN(store::Vectors * vectors, VectorsFor(tenant));
    {
      DSMIL_ASSIGN_OR_RETURN(auto lists, vectors->ListCollections());
      DSMIL_ASSIGN_OR_RETURN(std::string full, vectors->scope().Collection(kCollection));
      uint64_t have = 0;
      for (const auto& c : lists) {
        if (c.name == full) have = c.count;
      }
      if (have + texts.size() > max_chunks_) {
        return Status::ResourceExhausted("knowledge base of " + tenant + " holds " + std::to_string(have) +
                                         " chunks; " + std::to_string(texts.size()) + " more would pass its quota of " +
                                         std::to_string(max_chunks_) + " (rag.max_chunks_per_tenant)");
      }
    }
    DSMIL_ASSIGN_OR_RETURN(auto vecs, Embed(texts, tenant));
    if (vecs.empty() || vecs[0].empty()) return Status::Unavailable("rag: the embedding is empty");
    DSMIL_RETURN_IF_ERROR(vectors->CreateCollection(kCollection, vecs[0].size()));
    std::vector<store::VectorPoint> points;
    for (size_t i = 0; i < texts.size(); ++i) {
      bool nonzero = false;
      for (float x : vecs[i]) nonzero |= x != 0.0f;
      if (!nonzero) continue;
      std::string source = payloads[i]["source"].get<std::string>();
      uint64_t id = Fnv1a(source + "#" + std::to_string(payloads[i]["chunk"].get<size_t>()), Fnv1a(tenant)) >> 1;
      points.push_back({id, std::move(vecs[i]), payloads[i].dump(-1, ' ', false, json::error_handler_t::replace)});
    }
    DSMIL_RETURN_IF_ERROR(vectors->Upsert(kCollection, points));
    DSMIL_RETURN_IF_ERROR(vectors->Flush());
    DSMIL_ASSIGN_OR_RETURN(std::string collection, vectors->scope().Collection(kCollection));
    if (ctx_.log) {
      ctx_.log->Info("rag ingest",
                     {{"tenant", tenant}, {"collection", collection}, {"chunks", static_cast<int64_t>(points.size())}});
    }
    return json({{"collection", collection}, {"chunks", points.size()}, {"embedding_model", embedding_model_}}).dump();
  }

  // Per-tenant ingest rate: a token bucket of `ingest_per_minute_` chunks,
  // refilled continuously.
  Status TakeIngestBudget(const std::string& tenant, size_t chunks) {
    MutexLock l(mu_);
    double now = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count()) /
                 1000.0;
    auto [it, fresh] = buckets_.try_emplace(tenant, Bucket{static_cast<double>(ingest_per_minute_), now});
    Bucket& b = it->second;
    b.tokens = std::min(static_cast<double>(ingest_per_minute_),
                        b.tokens + (now - b.at) * static_cast<double>(ingest_per_minute_) / 60.0);
    b.at = now;
    if (static_cast<double>(chunks) > b.tokens) {
      double wait = (static_cast<double>(chunks) - b.tokens) * 60.0 / static_cast<double>(ingest_per_minute_);
      return Status::ResourceExhausted("ingest rate of " + tenant + " is over " + std::to_string(ingest_per_minute_) +
                                       " chunks per minute (rag.ingest_chunks_per_minute); retry in " +
                                       std::to_string(static_cast<int>(std::ceil(wait))) + " s");
    }
    b.tokens -= static_cast<double>(chunks);
    return Status::Ok();
  }

  DeviceContext ctx_;
  Mutex mu_;
  struct Bucket {
    double tokens;
    double at;  // s, steady clock
  };
  std::map<std::string, Bucket> buckets_ DSMIL_GUARDED_BY(mu_);
  uint64_t max_chunks_ = 100000;
  uint64_t ingest_per_minute_ = 6000;
  std::unique_ptr<Worker> embedder_;
  std::string embedding_model_ = kHashedEmbeddingModel;
  int max_k_ = 16;
  std::atomic<bool> started_{false};
  bool unconfigured_ = false;  // no stores: no knowledge base
  std::atomic<uint64_t> queries_{0};
  std::map<std::string, std::unique_ptr<store::Vectors>> vectors_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace

Result<std::unique_ptr<Device>> CreateRagDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new RagDevice(ctx));
}

}  // namespace dsmil::devices::l7
