#include "devices/llm/llm_worker.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/log.h"
#include "core/mutex.h"
#include "devices/authz.h"
#include "llm/engine.h"

namespace dsmil::devices::llm_worker {
namespace {

using json = nlohmann::json;

Status Bad(const std::string& key, const std::string& what) { return Status::InvalidArgument(key + ": " + what); }

Result<int64_t> IntField(const json& j, const std::string& key, int64_t lo, int64_t hi) {
  if (!j.is_number_integer() && !j.is_number_unsigned()) {
    return Bad(key, "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  int64_t v =
      j.is_number_unsigned() ? int64_t(std::min<uint64_t>(j.get<uint64_t>(), uint64_t(INT64_MAX))) : j.get<int64_t>();
  if (v < lo || v > hi) {
    return Bad(key, "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return v;
}

}  // namespace

Result<LlmConfig> ParseLlmConfig(const std::string& section_json, const std::string& config_dir) {
  json root = json::parse(section_json, nullptr, false);
  if (root.is_discarded() || !root.is_object()) return Bad("llm", "must be a map");
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() != "models") return Bad("llm." + it.key(), "unknown key (known: models)");
  }
  LlmConfig out;
  auto models = root.find("models");
  if (models == root.end()) return out;
  out.has_models = true;
  if (!models->is_array()) return Bad("llm.models", "must be a list");
  for (size_t i = 0; i < models->size(); ++i) {
    const json& m = (*models)[i];
    const std::string p = "llm.models[" + std::to_string(i) + "]";
    if (!m.is_object()) return Bad(p, "must be a map");
    ModelConfig c;
    bool has_device = false, has_path = false;
    for (auto it = m.begin(); it != m.end(); ++it) {
      const std::string& k = it.key();
      const json& v = it.value();
      std::string key = p;
      key += ".";
      key += k;
      if (k == "device") {
        DSMIL_ASSIGN_OR_RETURN(int64_t d, IntField(v, key, 0, 103));
        c.device = int(d);
        has_device = true;
      } else if (k == "profile") {
        if (!v.is_string()) return Bad(key, "must be a string");
        c.profile = v.get<std::string>();
      } else if (k == "path") {
        if (!v.is_string() || v.get<std::string>().empty()) return Bad(key, "must be a non-empty string");
        c.path = v.get<std::string>();
        has_path = true;
      } else if (k == "threads") {
        DSMIL_ASSIGN_OR_RETURN(int64_t t, IntField(v, key, 1, 256));
        c.threads = int(t);
      } else if (k == "max_sequences") {
        DSMIL_ASSIGN_OR_RETURN(int64_t t, IntField(v, key, 1, 1024));
        c.max_sequences = uint32_t(t);
      } else if (k == "ctx") {
        DSMIL_ASSIGN_OR_RETURN(int64_t t, IntField(v, key, 16, 1 << 20));
        c.ctx = uint32_t(t);
      } else if (k == "kv_f16") {
        if (!v.is_boolean()) return Bad(key, "must be true or false");
        c.kv_f16 = v.get<bool>();
      } else if (k == "max_kv_mb") {
        DSMIL_ASSIGN_OR_RETURN(int64_t t, IntField(v, key, 0, int64_t(1) << 30));
        c.max_kv_bytes = uint64_t(t) << 20;
      } else if (k == "tenant_max_sequences") {
        DSMIL_ASSIGN_OR_RETURN(int64_t t, IntField(v, key, 0, 1024));
        c.tenant_max_sequences = uint32_t(t);
      } else {
        return Bad(key,
                   "unknown key (known: device, profile, path, threads, max_sequences, tenant_max_sequences, ctx, "
                   "kv_f16, max_kv_mb)");
      }
    }
    if (!has_device) return Bad(p + ".device", "is required");
    if (!has_path) return Bad(p + ".path", "is required");
    if (c.device != 47 && c.device != 44) return Bad(p + ".device", "must be 47 or 44 (the LLM worker devices)");
    for (const ModelConfig& earlier : out.models) {
      if (earlier.device == c.device) {
        return Bad(p + ".device", "device " + std::to_string(c.device) + " is configured twice");
      }
    }
    if (c.path[0] != '/' && !config_dir.empty()) c.path = config_dir + "/" + c.path;
    out.models.push_back(std::move(c));
  }
  return out;
}

Result<ModelConfig> ModelConfigFor(const LlmConfig* section, int device) {
  if (!section) {
    return Status::NotFound("no model configured for device " + std::to_string(device) +
                            " (the node config has no llm section)");
  }
  for (const ModelConfig& m : section->models) {
    if (m.device == device) return m;
  }
  return Status::NotFound("no model configured for device " + std::to_string(device) + " (llm.models)");
}

namespace {

Result<std::string> ContentText(const json& c, const std::string& key) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_array()) {  // [{type: text, text: ...}, ...]
    std::string out;
    for (size_t i = 0; i < c.size(); ++i) {
      const json& part = c[i];
      auto t = part.is_object() ? part.find("text") : part.end();
      if (!part.is_object() || t == part.end() || !t->is_string()) {
        return Bad(key + "[" + std::to_string(i) + "]", "must be a text part {type: text, text: ...}");
      }
      out += t->get<std::string>();
    }
    return out;
  }
  return Bad(key, "must be a string");
}

}  // namespace

Result<ChatCall> ParseChatPayload(std::string_view payload, uint32_t max_tokens_tlv) {
  json j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("PAYLOAD is not a JSON object");
  ChatCall call;
  call.params.temperature = 1.0f;
  call.params.top_p = 1.0f;
  call.params.top_k = 0;
  call.params.max_tokens = 256;
  call.params.seed = std::random_device{}();
  auto msgs = j.find("messages");
  if (msgs == j.end() || !msgs->is_array() || msgs->empty()) return Bad("messages", "must be a non-empty list");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    const std::string key = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Bad(key, "must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return Bad(key + ".role", "must be a string");
    auto content = m.find("content");
    std::string text;
    if (content != m.end() && !content->is_null()) {
      DSMIL_ASSIGN_OR_RETURN(text, ContentText(*content, key + ".content"));
    }
    call.messages.push_back({role->get<std::string>(), std::move(text)});
  }
  if (max_tokens_tlv > 0) call.params.max_tokens = int32_t(std::min<uint32_t>(max_tokens_tlv, 1u << 20));
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    auto f = j.find(k);
    if (f == j.end() || f->is_null()) continue;
    DSMIL_ASSIGN_OR_RETURN(int64_t v, IntField(*f, k, 1, 1 << 20));
    call.params.max_tokens = int32_t(v);
  }
  if (auto f = j.find("temperature"); f != j.end() && !f->is_null()) {
    if (!f->is_number() || f->get<double>() < 0 || f->get<double>() > 2) {
      return Bad("temperature", "must be a number between 0 and 2");
    }
    call.params.temperature = f->get<float>();
  }
  if (auto f = j.find("top_p"); f != j.end() && !f->is_null()) {
    if (!f->is_number() || f->get<double>() <= 0 || f->get<double>() > 1) {
      return Bad("top_p", "must be a number in (0, 1]");
    }
    call.params.top_p = f->get<float>();
  }
  if (auto f = j.find("seed"); f != j.end() && !f->is_null()) {
    if (f->is_number_unsigned()) {
      call.params.seed = f->get<uint64_t>();
    } else if (f->is_number_integer()) {
      call.params.seed = uint64_t(f->get<int64_t>());
    } else {
      return Bad("seed", "must be an integer");
    }
  }
  if (auto f = j.find("stop"); f != j.end() && !f->is_null()) {
    if (f->is_string()) {
      call.params.stop = {f->get<std::string>()};
    } else if (f->is_array()) {
      for (size_t i = 0; i < f->size(); ++i) {
        if (!(*f)[i].is_string()) return Bad("stop[" + std::to_string(i) + "]", "must be a string");
        call.params.stop.push_back((*f)[i].get<std::string>());
      }
    } else {
      return Bad("stop", "must be a string or a list of strings");
    }
  }
  DSMIL_RETURN_IF_ERROR(llm::ValidateSamplingParams(call.params));
  return call;
}

namespace {

Result<ChatCall> ParseChat(const dbe::Message& req) {
  auto payload = req.GetBytes(dbe::TlvType::kPayload);
  if (!payload.ok()) return Status::InvalidArgument("PAYLOAD is missing (the OpenAI request body)");
  auto mt = req.GetU32(dbe::TlvType::kMaxTokens);
  return ParseChatPayload(AsString(*payload), mt.ok() ? *mt : 0);
}

dbe::Message Reply(const dbe::Message& req) {
  dbe::Message r(dbe::MsgType::kL7ChatResp);
  r.header().src_device = req.header().dst_device;
  r.header().dst_device = req.header().src_device;
  if (auto t = req.GetString(dbe::TlvType::kTenantId); t.ok()) r.SetString(dbe::TlvType::kTenantId, *t);
  if (auto id = req.GetString(dbe::TlvType::kRequestId); id.ok()) r.SetString(dbe::TlvType::kRequestId, *id);
  r.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  return r;
}

// The last (or only) reply. A whole answer also carries the text as
// "content", the field OpenAI-style readers take; after streamed deltas it
// does not, so such readers do not add the text twice.
dbe::Message FinalReply(const dbe::Message& req, const llm::GenerationResult& g, bool whole) {
  dbe::Message r = Reply(req);
  json j = {{"text", g.text},
            {"prompt_tokens", g.prompt_tokens},
            {"completion_tokens", g.completion_tokens},
            {"finish_reason", g.finish_reason == "length" ? "length" : "stop"}};
  if (whole) j["content"] = g.text;
  r.SetString(dbe::TlvType::kPayload, j.dump(-1, ' ', false, json::error_handler_t::replace));
  r.SetU32(dbe::TlvType::kTokenCount, uint32_t(g.completion_tokens));
  return r;
}

std::string ErrorReason(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return "BAD_REQUEST";
    case StatusCode::kResourceExhausted:
      return "MODEL_BUSY";
    case StatusCode::kPermissionDenied:
      return "TENANT_MISMATCH";
    case StatusCode::kUnavailable:
      return "MODEL_UNAVAILABLE";
    default:
      return "LLM_ERROR";
  }
}

dbe::Message ErrorFrame(const dbe::Message& req, const Status& s, std::string reason = {}) {
  if (reason.empty()) reason = ErrorReason(s.code());
  std::string detail = s.message().substr(0, 1000);
  return dbe::MakeErrorReply(req, s.code(), reason, detail);
}

class LlmWorker final : public Device {
 public:
  LlmWorker(DeviceContext ctx, Result<ModelConfig> config) : ctx_(std::move(ctx)), config_(std::move(config)) {
    if (!config_.ok()) {
      state_ = DeviceState::kNotImplemented;
      reason_ = config_.status().message();
    }
  }
  ~LlmWorker() override { Stop(); }

  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }

  Status Start() override {
    if (!config_.ok()) return Status::Ok();  // health says why: no model configured
    {
      MutexLock lock(mu_);
      state_ = DeviceState::kStarting;
      reason_ = "loading " + config_->path;
    }
    loader_ = std::thread([this] { Load(); });
    return Status::Ok();
  }

  void Stop() override {
    {
      MutexLock lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    if (loader_.joinable()) loader_.join();
    std::shared_ptr<llm::Engine> engine;
    {
      MutexLock lock(mu_);
      engine = engine_;
    }
    if (engine) engine->Shutdown();  // in-flight waits end with Unavailable
    MutexLock lock(mu_);
    while (in_flight_ != 0) idle_.Wait(mu_);
    engine_.reset();
    state_ = DeviceState::kStopped;
    reason_ = "stopped";
  }

  DeviceHealth Health() const override {
    MutexLock lock(mu_);
    DeviceHealth h{state_, reason_};
    if (state_ == DeviceState::kStarting && progress_ >= 0) {
      h.reason += ": " + std::to_string(int(progress_ * 100)) + "%";
    }
    return h;
  }

  // The worker's share of the L7 traffic: with two workers of one model
  // (47 and 44) the router's least-outstanding choice shows here.
  std::string StatusDetail() const override {
    MutexLock lock(mu_);
    return "worker " + std::to_string(ctx_.id) + ": " + std::to_string(served_) + " chats, " + std::to_string(tokens_) +
           " tokens, " + std::to_string(in_flight_) + " in flight";
  }

  uint64_t MemoryUsedBytes() const override {
    MutexLock lock(mu_);
    if (!engine_) return 0;
    return engine_->model().WeightBytes() + engine_->kv_bytes();
  }

  Result<dbe::Message> Handle(const dbe::Message& request) override {
    dbe::Message reply;
    bool reader_gone = false;
    (void)Serve(request, nullptr, &reply, &reader_gone);  // on error `reply` is the ERROR frame
    return reply;
  }

  Status HandleStreaming(const dbe::Message& request,
                         const std::function<bool(const dbe::Message& chunk)>& on_chunk) override {
    dbe::Message reply;
    bool reader_gone = false;
    (void)Serve(request, &on_chunk, &reply, &reader_gone);
    if (!reader_gone) on_chunk(reply);  // the final frame or an ERROR frame
    return Status::Ok();
  }

 private:
  void Load() {
    const ModelConfig& c = *config_;
    llm::EngineOptions opt;
    opt.threads = c.threads;
    opt.n_ctx = c.ctx;
    opt.max_sequences = c.max_sequences;
    opt.kv_f16 = c.kv_f16;
    opt.max_kv_bytes = c.max_kv_bytes;
    opt.metrics = ctx_.metrics;
    opt.device_id = std::to_string(ctx_.id);
    auto engine = llm::Engine::Load(c.path, opt, [this](double f) {
      MutexLock lock(mu_);
      progress_ = f;
    });
    MutexLock lock(mu_);
    progress_ = -1;
    if (!engine.ok()) {
      state_ = DeviceState::kFailed;
      reason_ = "model " + c.path + " could not be loaded: " + engine.status().message();
      if (ctx_.log) {
        ctx_.log->Error("llm model load failed",
                        {{"device", ctx_.id}, {"path", c.path}, {"error", engine.status().message()}});
      }
      return;
    }
    if (stopped_) {
      (*engine)->Shutdown();
      return;
    }
    engine_ = std::shared_ptr<llm::Engine>(std::move(*engine));
    state_ = DeviceState::kHealthy;
    reason_.clear();
    if (ctx_.log) {
      const auto& hp = engine_->model().hparams();
      ctx_.log->Info("llm model loaded", {{"device", ctx_.id},
                                          {"path", c.path},
                                          {"profile", c.profile},
                                          {"layers", hp.n_layer},
                                          {"n_embd", hp.n_embd},
                                          {"threads", c.threads},
                                          {"max_sequences", engine_->max_sequences()},
                                          {"kernels", llm::KernelDescription()}});
    }
  }

  void CountServed(uint64_t completion_tokens) {
    MutexLock lock(mu_);
    ++served_;
    tokens_ += completion_tokens;
  }

  // Runs one chat. On success *out is the final L7_CHAT_RESP; otherwise an
  // ERROR frame and the Status says why. *reader_gone: a streaming reader
  // refused a chunk (the generation was cancelled; nothing more to send).
  Status Serve(const dbe::Message& req, const std::function<bool(const dbe::Message&)>* on_chunk, dbe::Message* out,
               bool* reader_gone) {
    auto fail = [&](const Status& s, std::string reason = {}) {
      *out = ErrorFrame(req, s, std::move(reason));
      return s;
    };
    if (req.type() != dbe::MsgType::kL7ChatReq) {
      return fail(Status::InvalidArgument("device " + std::to_string(ctx_.id) + " answers L7_CHAT_REQ (0x41) only"),
                  "UNSUPPORTED_MESSAGE");
    }
    std::string tenant(req.tenant_id());
    if (tenant.empty()) return fail(Status::InvalidArgument("TENANT_ID is missing"), "TENANT_MISSING");
    if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
      return fail(Status::PermissionDenied("this device serves tenant " + ctx_.tenant + ", not " + tenant));
    }
    if (auto refused = AuthorizeRequest(ctx_, ctx_.id, req)) {
      *out = std::move(*refused);
      return Status::PermissionDenied("request refused by the caller check of device " + std::to_string(ctx_.id));
    }
    std::shared_ptr<llm::Engine> engine;
    {
      MutexLock lock(mu_);
      if (!engine_ || stopped_) {
        std::string why = reason_.empty() ? std::string(DeviceStateName(state_)) : reason_;
        const char* r = state_ == DeviceState::kStarting ? "MODEL_LOADING"
                        : state_ == DeviceState::kFailed ? "MODEL_FAILED"
                                                         : "NO_MODEL";
        return fail(Status::Unavailable("device " + std::to_string(ctx_.id) + " has no model: " + why), r);
      }
      engine = engine_;
      uint32_t quota = TenantQuotaLocked();
      uint32_t& held = tenant_in_flight_[tenant];
      if (held >= quota) {
        tenant_busy_++;
        return fail(
            Status::ResourceExhausted("tenant " + tenant + " has " + std::to_string(held) + " of its " +
                                      std::to_string(quota) + " sequences in use on device " + std::to_string(ctx_.id) +
                                      " (llm.models[].tenant_max_sequences); retry shortly"),
            "TENANT_BUSY");
      }
      ++held;
      ++in_flight_;
    }
    struct Done {
      LlmWorker* w;
      const std::string& tenant;
      ~Done() {
        MutexLock lock(w->mu_);
        if (--w->tenant_in_flight_[tenant] == 0) w->tenant_in_flight_.erase(tenant);
        if (--w->in_flight_ == 0) w->idle_.NotifyAll();
      }
    } done{this, tenant};
    auto call = ParseChat(req);
    if (!call.ok()) return fail(call.status());
    llm::GenerationRequest g;
    g.tenant = tenant;
    g.messages = std::move(call->messages);
    g.params = call->params;

    if (on_chunk == nullptr) {
      auto r = engine->Generate(std::move(g));
      if (!r.ok()) return fail(r.status());
      *out = FinalReply(req, *r, /*whole=*/true);
      CountServed(uint64_t(std::max(r->completion_tokens, 0)));
      return Status::Ok();
    }
    // Streaming: the engine's scheduler thread queues pieces; this thread
    // sends them, so a slow reader never stalls other sequences.
    struct Queue {
      Mutex mu;
      CondVar cv;
      std::deque<std::string> pieces DSMIL_GUARDED_BY(mu);
      bool reader_gone DSMIL_GUARDED_BY(mu) = false;
      std::optional<Result<llm::GenerationResult>> result DSMIL_GUARDED_BY(mu);
    };
    auto q = std::make_shared<Queue>();
    auto gen = engine->Submit(std::move(g), [q](const llm::TokenEvent& e) {
      MutexLock lock(q->mu);
      if (q->reader_gone) return false;
      q->pieces.push_back(e.text);
      q->cv.NotifyOne();
      return true;
    });
    if (!gen.ok()) return fail(gen.status());
    // Wait for the result on a helper so this thread can keep draining.
    std::thread waiter([q, gen = *gen] {
      auto r = gen->Wait();
      MutexLock lock(q->mu);
      q->result = std::move(r);
      q->cv.NotifyOne();
    });
    std::optional<Result<llm::GenerationResult>> result;  // taken from q->result once it is set
    bool gone = false;
    for (;;) {
      std::deque<std::string> batch;
      bool finished;
      {
        MutexLock lock(q->mu);
        while (q->pieces.empty() && !q->result.has_value()) q->cv.Wait(q->mu);
        batch.swap(q->pieces);
        finished = q->result.has_value();
        if (finished) result = std::move(q->result);
      }
      for (std::string& piece : batch) {
        if (gone) break;
        dbe::Message chunk = Reply(req);
        chunk.header().flags |= dbe::kFlagMore;
        json j = {{"delta", piece}};
        chunk.SetString(dbe::TlvType::kPayload, j.dump(-1, ' ', false, json::error_handler_t::replace));
        if (!(*on_chunk)(chunk)) {
          gone = true;
          MutexLock lock(q->mu);
          q->reader_gone = true;
          (*gen)->Cancel();
        }
      }
      if (finished) break;
    }
    waiter.join();
    if (gone) {
      *reader_gone = true;
      return Status::Ok();
    }
    if (!result->ok()) return fail(result->status());
    *out = FinalReply(req, **result, /*whole=*/false);
    CountServed(uint64_t(std::max((*result)->completion_tokens, 0)));
    return Status::Ok();
  }

  // The KV slots one tenant may hold (ModelConfig::tenant_max_sequences).
  uint32_t TenantQuotaLocked() const DSMIL_REQUIRES(mu_) {
    uint32_t pool = engine_ ? engine_->max_sequences() : 1;
    if (config_.ok() && config_->tenant_max_sequences > 0) return std::min(config_->tenant_max_sequences, pool);
    size_t tenants = std::max<size_t>(1, ctx_.tenants.size());
    return std::max<uint32_t>(1, uint32_t(pool / tenants));
  }

  const DeviceContext ctx_;
  const Result<ModelConfig> config_;
  mutable Mutex mu_;
  CondVar idle_;
  DeviceState state_ DSMIL_GUARDED_BY(mu_) = DeviceState::kStarting;
  std::string reason_ DSMIL_GUARDED_BY(mu_);
  double progress_ DSMIL_GUARDED_BY(mu_) = -1;  // -1 = not loading
  bool stopped_ DSMIL_GUARDED_BY(mu_) = false;
  int in_flight_ DSMIL_GUARDED_BY(mu_) = 0;
  std::map<std::string, uint32_t> tenant_in_flight_ DSMIL_GUARDED_BY(mu_);
  uint64_t tenant_busy_ DSMIL_GUARDED_BY(mu_) = 0;
  uint64_t served_ DSMIL_GUARDED_BY(mu_) = 0;  // chats answered in full
  uint64_t tokens_ DSMIL_GUARDED_BY(mu_) = 0;  // their completion tokens
  std::shared_ptr<llm::Engine> engine_ DSMIL_GUARDED_BY(mu_);
  std::thread loader_;
};

}  // namespace

Result<std::unique_ptr<Device>> CreateLlmWorker(const DeviceContext& ctx) {
  // The section was parsed and checked at config load; without an entry for
  // this device the worker reports NOT_IMPLEMENTED.
  Result<ModelConfig> config = ModelConfigFor(ctx.Section<LlmConfig>("llm"), ctx.id);
  return std::unique_ptr<Device>(new LlmWorker(ctx, std::move(config)));
}

}  // namespace dsmil::devices::llm_worker
