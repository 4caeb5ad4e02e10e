#include "devices/l7/router.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/dsmil_metrics.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/strings.h"
#include "crypto/keyfile.h"
#include "crypto/ossl.h"
#include "dbe/registry.h"
#include "devices/l7/openai.h"
#include "devices/l7/rag.h"
#include "devices/l7/worker.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "tenant/claims.h"
#include "tenant/keys.h"
#include "tenant/policy.h"
#include "tenant/ratelimit.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;
constexpr int kRouterId = 43;

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A refusal: what the client sees and what the audit log records.
struct Refusal {
  ApiError error;
  std::string reason;      // symbol: PROMPT_INJECTION, POLICY_DENIED, CLAIM_INVALID, ...
  std::string audit_type;  // "" = not audited (client errors such as malformed JSON)
  std::string detail;      // extra audit detail (JSON object text), "" = none
};

Refusal Refuse(int status, std::string reason, std::string message, std::string type, std::string code,
               std::string audit_type) {
  Refusal r;
  r.error.status = status;
  r.error.message = std::move(message);
  r.error.type = std::move(type);
  r.error.code = std::move(code);
  r.reason = std::move(reason);
  r.audit_type = std::move(audit_type);
  return r;
}

StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400:
      return StatusCode::kInvalidArgument;
    case 401:
      return StatusCode::kUnauthenticated;
    case 403:
      return StatusCode::kPermissionDenied;
    case 404:
      return StatusCode::kNotFound;
    case 413:
      return StatusCode::kOutOfRange;
    case 429:
      return StatusCode::kResourceExhausted;
    case 504:
      return StatusCode::kDeadlineExceeded;
    default:
      return StatusCode::kUnavailable;
  }
}

int HttpForCode(StatusCode c) {
  switch (c) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 503;
  }
}

std::string ErrorTypeFor(int status) {
  switch (status) {
    case 400:
    case 404:
    case 413:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return "server_error";
  }
}

struct Config {
  std::string host = "127.0.0.1";
  uint16_t port = 8001;
  int threads = 16;
  size_t max_body_bytes = 1 << 20;
  int request_timeout_ms = 120000;
  std::string keys_file, claims_dir, ratelimit_file;
  int claim_lifetime_s = 900;
  std::map<std::string, tenant::TenantLimits> limits;
  tenant::TenantLimits default_limits;
  uint32_t default_max_tokens = 256;
  int detector_device = 51, detector_timeout_ms = 2000;
  int rag_device = 50, rag_timeout_ms = 5000;
  int enrichment_device = 0, enrichment_timeout_ms = 500;  // 0 = off
  int health_interval_ms = 5000;
  std::vector<WorkerSpec> workers;
};

std::string Resolve(const std::string& dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || dir.empty()) return p;
  return dir + "/" + p;
}

Status Bad(const std::string& key, const std::string& what) {
  return Status::InvalidArgument("l7." + key + ": " + what);
}

Result<tenant::TenantLimits> ParseLimits(const json& j, const std::string& key) {
  if (!j.is_object()) return Bad(key, "must be a map");
  tenant::TenantLimits l;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (!v.is_number() || v.get<double>() < 0) return Bad(key + "." + k, "must be a number >= 0");
    if (k == "requests_per_second") {
      l.requests_per_second = v.get<double>();
    } else if (k == "burst") {
      l.burst = v.get<double>();
    } else if (k == "max_concurrent") {
      l.max_concurrent = int(v.get<double>());
    } else if (k == "tokens_per_day") {
      l.tokens_per_day = uint64_t(v.get<double>());
    } else {
      return Bad(key + "." + k, "unknown key (requests_per_second, burst, max_concurrent, tokens_per_day)");
    }
  }
  return l;
}

Result<Config> ParseConfig(const DeviceContext& ctx) {
  Config c;
  std::string data = ctx.stores.path.empty() ? std::string() : ctx.stores.path;
  std::string secrets =
      ctx.stores.secrets_dir.empty() ? (data.empty() ? "" : data + "/secrets") : ctx.stores.secrets_dir;
  c.keys_file = data.empty() ? "" : data + "/tenant/api_keys";
  c.ratelimit_file = data.empty() ? "" : data + "/tenant/ratelimit.bin";
  c.claims_dir = secrets.empty() ? "" : secrets + "/claims";
  auto it = ctx.sections.find("l7");
  if (it == ctx.sections.end()) return Status::FailedPrecondition("l7: the node config has no l7 section");
  json j = json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("l7: must be a map");
  for (auto kv = j.begin(); kv != j.end(); ++kv) {
    const std::string& k = kv.key();
    const json& v = kv.value();
    auto str = [&]() -> Result<std::string> {
      if (!v.is_string()) return Bad(k, "must be a string");
      return v.get<std::string>();
    };
    auto num = [&](int64_t lo, int64_t hi) -> Result<int64_t> {
      if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
        return Bad(k, "must be an integer " + std::to_string(lo) + ".." + std::to_string(hi));
      }
      return v.get<int64_t>();
    };
    if (k == "listen") {
      DSMIL_ASSIGN_OR_RETURN(std::string l, str());
      size_t colon = l.rfind(':');
      if (colon == std::string::npos) return Bad(k, "must be host:port, e.g. 127.0.0.1:8001");
      c.host = l.substr(0, colon);
      if (c.host.size() >= 2 && c.host.front() == '[' && c.host.back() == ']')
        c.host = c.host.substr(1, c.host.size() - 2);
      int port = 0;
      try {
        port = std::stoi(l.substr(colon + 1));
      } catch (...) {
        port = -1;
      }
      if (port < 0 || port > 65535) return Bad(k, "bad port in '" + l + "'");
      c.port = uint16_t(port);
    } else if (k == "threads") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(1, 256));
      c.threads = int(n);
    } else if (k == "max_body_bytes") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(1024, 64 << 20));
      c.max_body_bytes = size_t(n);
    } else if (k == "request_timeout_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(100, 3600000));
      c.request_timeout_ms = int(n);
    } else if (k == "keys_file") {
      DSMIL_ASSIGN_OR_RETURN(std::string p, str());
      c.keys_file = Resolve(ctx.config_dir, p);
    } else if (k == "claims_dir") {
      DSMIL_ASSIGN_OR_RETURN(std::string p, str());
      c.claims_dir = Resolve(ctx.config_dir, p);
    } else if (k == "ratelimit_file") {
      DSMIL_ASSIGN_OR_RETURN(std::string p, str());
      c.ratelimit_file = Resolve(ctx.config_dir, p);
    } else if (k == "claim_lifetime_s") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(10, 86400));
      c.claim_lifetime_s = int(n);
    } else if (k == "default_max_tokens") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(1, kMaxTokensLimit));
      c.default_max_tokens = uint32_t(n);
    } else if (k == "health_interval_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t n, num(100, 600000));
      c.health_interval_ms = int(n);
    } else if (k == "limits") {
      if (!v.is_object()) return Bad(k, "must be a map of tenant (or default) to limits");
      for (auto t = v.begin(); t != v.end(); ++t) {
        DSMIL_ASSIGN_OR_RETURN(tenant::TenantLimits l, ParseLimits(t.value(), "limits." + t.key()));
        if (t.key() == "default") {
          c.default_limits = l;
        } else if (!tenant::IsTenantId(t.key())) {
          return Bad("limits." + t.key(), "not a tenant id");
        } else {
          c.limits[t.key()] = l;
        }
      }
    } else if (k == "detector" || k == "rag" || k == "enrichment") {
      if (!v.is_object()) return Bad(k, "must be a map {device, timeout_ms}");
      int* dev = k == "detector" ? &c.detector_device : k == "rag" ? &c.rag_device : &c.enrichment_device;
      int* to = k == "detector" ? &c.detector_timeout_ms : k == "rag" ? &c.rag_timeout_ms : &c.enrichment_timeout_ms;
      for (auto f = v.begin(); f != v.end(); ++f) {
        if (!f.value().is_number_integer()) return Bad(k + "." + f.key(), "must be an integer");
        int64_t n = f.value().get<int64_t>();
        if (f.key() == "device") {
          if (n < 0 || n > 103) return Bad(k + ".device", "must be a device id 0..103");
          *dev = int(n);
        } else if (f.key() == "timeout_ms") {
          if (n < 1 || n > 600000) return Bad(k + ".timeout_ms", "must be 1..600000");
          *to = int(n);
        } else {
          return Bad(k + "." + f.key(), "unknown key (device, timeout_ms)");
        }
      }
    } else if (k == "workers") {
      if (!v.is_array()) return Bad(k, "must be a list");
      for (size_t i = 0; i < v.size(); ++i) {
        const json& w = v[i];
        std::string p = "workers[" + std::to_string(i) + "]";
        if (!w.is_object()) return Bad(p, "must be a map");
        WorkerSpec s;
        s.timeout_ms = c.request_timeout_ms;
        for (auto f = w.begin(); f != w.end(); ++f) {
          const std::string& fk = f.key();
          const json& fv = f.value();
          if (fk == "model" || fk == "upstream" || fk == "upstream_model" || fk == "api_key_file") {
            if (!fv.is_string() || fv.get<std::string>().empty())
              return Bad(p + "." + fk, "must be a non-empty string");
            if (fk == "model") s.model = fv.get<std::string>();
            if (fk == "upstream") s.base_url = fv.get<std::string>();
            if (fk == "upstream_model") s.upstream_model = fv.get<std::string>();
            if (fk == "api_key_file") {
              std::string path = Resolve(ctx.config_dir, fv.get<std::string>());
              auto key = crypto::ReadPrivateFile(path);
              if (!key.ok()) return Bad(p + ".api_key_file", key.status().message());
              s.api_key = std::string(key->begin(), key->end());
              while (!s.api_key.empty() && (s.api_key.back() == '\n' || s.api_key.back() == '\r')) s.api_key.pop_back();
            }
          } else if (fk == "device" || fk == "max_concurrent" || fk == "timeout_ms") {
            if (!fv.is_number_integer() || fv.get<int64_t>() < 0) return Bad(p + "." + fk, "must be an integer >= 0");
            int64_t n = fv.get<int64_t>();
            if (fk == "device") {
              if (n > 103) return Bad(p + ".device", "must be a device id 0..103");
              s.device = int(n);
            }
            if (fk == "max_concurrent") s.max_concurrent = int(n);
            if (fk == "timeout_ms") s.timeout_ms = int(std::max<int64_t>(100, n));
          } else if (fk == "embeddings") {
            if (!fv.is_boolean()) return Bad(p + ".embeddings", "must be a boolean");
            s.embeddings = fv.get<bool>();
          } else {
            return Bad(p + "." + fk,
                       "unknown key (model, upstream, upstream_model, api_key_file, device, max_concurrent, "
                       "timeout_ms, embeddings)");
          }
        }
        if (s.model.empty()) return Bad(p + ".model", "is required");
        if (s.base_url.empty() == (s.device == 0)) return Bad(p, "needs exactly one of upstream (URL) or device");
        if (!s.base_url.empty()) {
          auto u = net::ParseHttpUrl(s.base_url);
          if (!u.ok()) return Bad(p + ".upstream", u.status().message());
          s.kind = "upstream";
        } else {
          s.kind = "device";
        }
        c.workers.push_back(std::move(s));
      }
    } else {
      return Bad(k, "unknown key");
    }
  }
  if (!j.contains("workers")) {
    // The built-in profiles (spec §3.1): device 47 (7B, AMX) and device 44 (1B, NPU).
    WorkerSpec w47;
    w47.model = "llm-7b-amx", w47.kind = "device", w47.device = 47, w47.timeout_ms = c.request_timeout_ms;
    WorkerSpec w44 = w47;
    w44.model = "llm-1b-npu", w44.device = 44;
    c.workers = {w47, w44};
  }
  if (c.keys_file.empty()) return Bad("keys_file", "not set and stores.path is empty");
  if (c.claims_dir.empty()) return Bad("claims_dir", "not set and stores.path is empty");
  if (c.ratelimit_file.empty()) return Bad("ratelimit_file", "not set and stores.path is empty");
  return c;
}

struct TenantPolicy {
  std::string roe_level;
  uint64_t compartments = 0;
};

// What a request that passed every check gets.
struct Admission {
  std::string request_id;
  std::string tenant;
  std::vector<std::string> collections;  // RAG collections read
  std::string enrichment;                // device 52's answer (JSON), "" = none
  std::string claim_token;               // the verified claim, passed on to 47 and 50
  size_t rag_passages_blocked = 0;       // retrieved passages device 51 flagged
};

class Router final : public Device {
 public:
  explicit Router(DeviceContext ctx) : ctx_(std::move(ctx)) {
    if (ctx_.metrics == nullptr) {
      own_registry_ = std::make_unique<Registry>();
      registry_ = own_registry_.get();
    } else {
      registry_ = ctx_.metrics;
    }
    metrics_ = std::make_unique<StandardMetrics>(*registry_);
    refusals_ =
        &registry_->AddCounter("dsmil_l7_refusals_total", "L7 requests refused, by reason", {"tenant_id", "reason"});
    outstanding_ = &registry_->AddGauge("dsmil_l7_worker_outstanding", "Requests in flight per L7 worker replica",
                                        {"model", "replica"});
    worker_up_ = &registry_->AddGauge("dsmil_l7_worker_up", "1 when the L7 worker replica passes its health check",
                                      {"model", "replica"});
  }

  ~Router() override { Stop(); }

  int id() const override { return kRouterId; }
  const std::string& tenant() const override { return ctx_.tenant; }

  Status Start() override {
    if (ctx_.sections.find("l7") == ctx_.sections.end()) {
      // No `l7:` section: the API is off on this node, and the status says so.
      unconfigured_ = true;
      return Status::Ok();
    }
    DSMIL_ASSIGN_OR_RETURN(config_, ParseConfig(ctx_));
    DSMIL_ASSIGN_OR_RETURN(keys_, tenant::ApiKeyStore::Open(config_.keys_file));
    keyring_ = std::make_unique<tenant::ClaimKeyring>(config_.claims_dir);
    issuer_ = std::make_unique<tenant::ClaimIssuer>(keyring_.get(), std::chrono::seconds(config_.claim_lifetime_s));
    verifier_ =
        std::make_unique<tenant::ClaimVerifier>([this](const std::string& t) { return keyring_->PublicKey(t); });
    DSMIL_ASSIGN_OR_RETURN(limiter_,
                           tenant::RateLimiter::Open(config_.ratelimit_file, config_.limits, config_.default_limits));
    if (auto p = ctx_.sections.find("policies"); p != ctx_.sections.end()) {
      DSMIL_ASSIGN_OR_RETURN(std::string dir, tenant::PolicyDirFromSection(p->second, ctx_.config_dir));
      policies_ = std::make_unique<tenant::PolicyStore>(dir, std::chrono::seconds(1), ctx_.log);
    }
    for (const WorkerSpec& s : config_.workers) {
      workers_.push_back(s.kind == "upstream" ? MakeUpstreamWorker(s) : MakeDeviceWorker(s, &ctx_));
    }
    for (size_t i = 0; i < workers_.size(); ++i) {
      replica_labels_.push_back(workers_[i]->spec().kind == "upstream"
                                    ? workers_[i]->spec().base_url
                                    : "device:" + std::to_string(workers_[i]->spec().device));
    }
    ProbeAll();

    net::HttpServerOptions o;
    o.host = config_.host;
    o.port = config_.port;
    o.threads = config_.threads;
    // The front checks the limit itself to answer with the OpenAI error body;
    // the server's own limit only stops bodies far above it.
    o.max_body_bytes = std::min<size_t>(config_.max_body_bytes * 4 + 65536, 256u << 20);
    o.read_timeout_ms = 30000;
    o.handler = [this](const net::HttpRequest& req) { return Serve(req); };
    DSMIL_ASSIGN_OR_RETURN(server_, net::HttpServer::Start(std::move(o)));
    health_thread_ = std::thread([this] { HealthLoop(); });
    started_ = true;
    if (ctx_.log) {
      ctx_.log->Info("l7 router listening", {{"listen", config_.host + ":" + std::to_string(server_->port())},
                                             {"workers", int64_t(workers_.size())}});
    }
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> g(stop_mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    stop_cv_.notify_all();
    if (server_) server_->Stop();
    if (health_thread_.joinable()) health_thread_.join();
    started_ = false;
  }

  DeviceHealth Health() const override {
    if (unconfigured_) {
      return {DeviceState::kNotImplemented,
              "not configured: the node config has no l7 section, so the OpenAI-compatible API is off (docs/l7.md)"};
    }
    if (!started_) return {stopping_ ? DeviceState::kStopped : DeviceState::kStarting, ""};
    if (workers_.empty()) return {DeviceState::kDegraded, "no worker configured (l7.workers)"};
    for (const auto& w : workers_) {
      if (w->healthy) return {DeviceState::kHealthy, ""};
    }
    return {DeviceState::kDegraded, "no healthy worker"};
  }

  // The bound port (tests use listen 127.0.0.1:0).
  uint16_t port() const { return server_ ? server_->port() : 0; }

  Result<dbe::Message> Handle(const dbe::Message& request) override {
    if (request.type() == dbe::MsgType::kHealthPing) {
      dbe::Message pong(dbe::MsgType::kHealthPong);
      pong.header().src_device = kRouterId;
      pong.header().dst_device = request.header().src_device;
      pong.SetString(dbe::TlvType::kTenantId, request.tenant_id());
      if (auto r = request.GetString(dbe::TlvType::kRequestId); r.ok()) pong.SetString(dbe::TlvType::kRequestId, *r);
      return pong;
    }
    if (request.type() != dbe::MsgType::kL7ChatReq) {
      return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "UNSUPPORTED_MESSAGE",
                                 "device 43 answers L7_CHAT_REQ (0x41)");
    }
    if (unconfigured_) {
      return dbe::MakeErrorReply(request, StatusCode::kFailedPrecondition, "DEVICE_NOT_CONFIGURED",
                                 "device 43 is not configured on this node (no l7 section)");
    }
    auto payload = request.GetBytes(dbe::TlvType::kPayload);
    ChatRequest chat;
    if (auto e = ParseChatRequest(payload.ok() ? AsString(*payload) : std::string_view(), &chat)) {
      return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "BAD_REQUEST", e->message.substr(0, 1000));
    }
    chat.stream = false;
    Admission adm;
    if (auto refusal = Admit(request, chat, &adm)) {
      return dbe::MakeErrorReply(request, CodeForHttp(refusal->error.status), refusal->reason,
                                 refusal->error.message.substr(0, 1000));
    }
    auto result = RunChat(chat, adm, nullptr);
    if (!result.ok()) {
      return dbe::MakeErrorReply(request, result.status().code(), "WORKER_FAILED",
                                 result.status().message().substr(0, 1000));
    }
    dbe::Message reply(dbe::MsgType::kL7ChatResp);
    reply.header().src_device = kRouterId;
    reply.header().dst_device = request.header().src_device;
    reply.SetString(dbe::TlvType::kTenantId, adm.tenant);
    reply.SetString(dbe::TlvType::kRequestId, adm.request_id);
    reply.SetString(dbe::TlvType::kModel, chat.model);
    reply.SetU32(dbe::TlvType::kTokenCount, result->completion_tokens);
    reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
    reply.SetString(dbe::TlvType::kPayload,
                    ChatCompletionJson("chatcmpl-" + adm.request_id, NowS(), chat.model, result->content,
                                       result->finish_reason, result->prompt_tokens, result->completion_tokens));
    return reply;
  }

 private:
  // ---- HTTP front ----

  net::HttpResponse Serve(const net::HttpRequest& req) {
    if (req.path == "/healthz") {
      DeviceHealth h = Health();
      net::HttpResponse r;
      r.status = h.state == DeviceState::kHealthy ? 200 : 503;
      r.body =
          "{\"status\":" + net::JsonQuote(DeviceStateName(h.state)) + ",\"reason\":" + net::JsonQuote(h.reason) + "}";
      return r;
    }
    if (req.path == "/metrics") {
      // Per-tenant counters are not for anyone who can reach the public port.
      return ErrorResponse({404,
                            "metrics are not served on the API port; scrape the node's listen.http port (/metrics)",
                            "invalid_request_error", "", "unknown_url"});
    }
    bool chat = req.path == "/v1/chat/completions";
    bool embeddings = req.path == "/v1/embeddings";
    bool models = req.path == "/v1/models";
    bool ingest = req.path == "/v1/dsmil/rag/ingest";
    if (!chat && !embeddings && !models && !ingest) {
      return ErrorResponse({404, "unknown path " + req.path, "invalid_request_error", "", "unknown_url"});
    }
    std::string want = models ? "GET" : "POST";
    if (req.method != want) {
      return ErrorResponse({405, req.path + " accepts " + want + " only", "invalid_request_error", "", ""});
    }
    // Who is calling.
    std::string_view auth = req.Header("Authorization");
    std::string_view key;
    if (auth.size() > 7 && EqualsIgnoreCaseAscii(auth.substr(0, 7), "Bearer ")) key = auth.substr(7);
    while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
    if (key.empty()) {
      return ErrorResponse({401, "missing API key: send Authorization: Bearer sk-<tenant>-...", "invalid_request_error",
                            "", "invalid_api_key"});
    }
    auto info = keys_->Resolve(key);
    if (!info.ok()) {
      // Audited in the chain of the tenant the key claims to be for
      // ("sk-alpha-..."), when that is a tenant of the node.
      Refusal r = Refuse(401, "AUTH_FAILED", "Incorrect API key provided: " + info.status().message(),
                         "invalid_request_error", "invalid_api_key", "AUTH_FAILED");
      std::string claimed = ClaimedTenant(key);
      Record(claimed, "key-prefix:" + std::string(key.substr(0, std::min<size_t>(key.size(), 20))) + "...", r);
      return ErrorResponse(r.error);
    }
    if (auto t = req.Header("X-DSMIL-Tenant"); !t.empty() && t != info->tenant) {
      Refusal r =
          Refuse(403, "TENANT_MISMATCH", "this API key belongs to tenant " + info->tenant + ", not " + std::string(t),
                 "permission_error", "tenant_mismatch", "TENANT_ESCAPE_ATTEMPT");
      Record(info->tenant, "key:" + info->id, r);
      return ErrorResponse(r.error);
    }
    if (req.body.size() > config_.max_body_bytes) {
      return ErrorResponse({413,
                            "request body of " + std::to_string(req.body.size()) + " bytes exceeds the limit of " +
                                std::to_string(config_.max_body_bytes) + " bytes",
                            "invalid_request_error", "", "request_too_large"});
    }
    if (models) return ServeModels(info->tenant);
    if (embeddings) return ServeEmbeddings(req, *info);
    if (ingest) return ServeIngest(req, *info);
    return ServeChat(req, *info);
  }

  net::HttpResponse ServeModels(const std::string& tenant) {
    std::vector<ModelInfo> models;
    std::vector<std::string> seen;
    for (const auto& w : workers_) {
      if (std::find(seen.begin(), seen.end(), w->spec().model) != seen.end()) continue;
      seen.push_back(w->spec().model);
      std::string owner =
          w->spec().kind == "upstream" ? "upstream" : "dsmil-device-" + std::to_string(w->spec().device);
      models.push_back({w->spec().model, owner, 0});
    }
    models.push_back(
        {kHashedEmbeddingModel, "dsmil-hashed-ngram (deterministic feature hashing, not a learned model)", 0});
    (void)tenant;  // the list is the node's models: nothing in it belongs to a tenant
    net::HttpResponse r;
    r.body = ModelsJson(models);
    return r;
  }

  net::HttpResponse ServeEmbeddings(const net::HttpRequest& req, const tenant::ApiKeyInfo& key) {
    EmbeddingsRequest er;
    if (auto e = ParseEmbeddingsRequest(req.body, &er)) return ErrorResponse(*e);
    auto lease = limiter_->Acquire(key.tenant, 0);
    if (!lease.ok()) {
      Refusal r = Refuse(429, "RATE_LIMITED", lease.status().message(), "requests", "rate_limit_exceeded", "");
      Record(key.tenant, "key:" + key.id, r);
      return ErrorResponse(r.error);
    }
    uint32_t tokens = 0;
    for (const auto& s : er.inputs) tokens += EstimateTokens(s);
    std::vector<std::vector<float>> vecs;
    if (er.model == kHashedEmbeddingModel) {
      for (const auto& s : er.inputs) vecs.push_back(HashedEmbedding(s));
    } else {
      Worker* w = nullptr;
      for (const auto& cand : workers_) {
        if (cand->spec().model == er.model && cand->spec().embeddings && cand->healthy) w = cand.get();
      }
      if (w == nullptr) {
        return ErrorResponse({404, "The model '" + er.model + "' does not exist or serves no embeddings",
                              "invalid_request_error", "model", "model_not_found"});
      }
      auto r = w->Embed(er.inputs, key.tenant);
      if (!r.ok())
        return ErrorResponse({HttpForCode(r.status().code()), r.status().message(),
                              ErrorTypeFor(HttpForCode(r.status().code())), "", ""});
      vecs = std::move(*r);
    }
    metrics_->TimeRequest(key.tenant, kRouterId, "0x43").Stop();
    net::HttpResponse r;
    r.body = EmbeddingsJson(er.model, vecs, er.base64, tokens);
    return r;
  }

  net::HttpResponse ServeIngest(const net::HttpRequest& req, const tenant::ApiKeyInfo& key) {
    json j = json::parse(req.body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return ErrorResponse({400, "the request body must be a JSON object", "invalid_request_error", "", ""});
    j["op"] = "ingest";
    dbe::Message msg(dbe::MsgType::kL7RagQuery);
    msg.header().src_device = kRouterId;
    msg.header().dst_device = uint16_t(config_.rag_device);
    msg.SetString(dbe::TlvType::kTenantId, key.tenant);
    msg.SetString(dbe::TlvType::kRequestId, NewRequestId());
    msg.SetString(dbe::TlvType::kPayload, j.dump(-1, ' ', false, json::error_handler_t::replace));
    // Device 50 writes into the knowledge base only with the tenant's claim.
    auto token = issuer_->TokenFor(key.tenant, "key:" + key.id, NowS());
    if (!token.ok()) {
      return ErrorResponse({503, "cannot issue a claim token: " + token.status().message(), "server_error", "", ""});
    }
    msg.SetBytes(dbe::TlvType::kL7ClaimToken, *token);
    auto reply = CallDevice(msg, config_.rag_timeout_ms);
    if (!reply.ok()) {
      return ErrorResponse(
          {503,
           "RAG engine (device " + std::to_string(config_.rag_device) + ") unavailable: " + reply.status().message(),
           "server_error", "", "rag_unavailable"});
    }
    if (reply->type() == dbe::MsgType::kError) {
      auto code = reply->GetU16(dbe::TlvType::kErrorCode);
      int status = code.ok() ? HttpForCode(StatusCode(*code)) : 503;
      auto detail = reply->GetString(dbe::TlvType::kErrorDetail);
      return ErrorResponse(
          {status, detail.ok() ? std::string(*detail) : "RAG ingest failed", ErrorTypeFor(status), "", ""});
    }
    net::HttpResponse r;
    auto p = reply->GetBytes(dbe::TlvType::kPayload);
    r.body = p.ok() ? std::string(AsString(*p)) : "{}";
    return r;
  }

  net::HttpResponse ServeChat(const net::HttpRequest& req, const tenant::ApiKeyInfo& key) {
    ChatRequest chat;
    if (auto e = ParseChatRequest(req.body, &chat)) return ErrorResponse(*e);
    if (auto e = ApplyDsmilHeaders(req, &chat.dsmil)) return ErrorResponse(*e);
    std::string actor = "key:" + key.id;
    uint32_t reserve = chat.max_tokens > 0 ? chat.max_tokens : config_.default_max_tokens;
    auto lease_or = limiter_->Acquire(key.tenant, reserve);
    if (!lease_or.ok()) {
      Refusal r = Refuse(429, "RATE_LIMITED", lease_or.status().message(), "requests", "rate_limit_exceeded", "");
      Record(key.tenant, actor, r);
      return ErrorResponse(r.error);
    }
    auto lease = std::make_shared<tenant::Lease>(std::move(*lease_or));
    lease->Settle(0);  // a refused or failed request uses none of its reservation
    auto token = issuer_->TokenFor(key.tenant, actor, NowS());
    if (!token.ok()) {
      return ErrorResponse({503, "cannot sign the claim token: " + token.status().message(), "server_error", "", ""});
    }
    // HTTP -> DBE.
    dbe::Message msg(dbe::MsgType::kL7ChatReq);
    msg.header().src_device = dbe::kNoDevice;
    msg.header().dst_device = kRouterId;
    std::string request_id = NewRequestId();
    msg.SetString(dbe::TlvType::kTenantId, key.tenant);
    msg.SetString(dbe::TlvType::kRequestId, request_id);
    msg.SetString(dbe::TlvType::kUserId, actor);
    msg.SetBytes(dbe::TlvType::kL7ClaimToken, *token);
    if (chat.dsmil.has_compartments) msg.SetU64(dbe::TlvType::kCompartmentMask, chat.dsmil.compartments);
    if (chat.dsmil.classification >= 0) msg.SetU8(dbe::TlvType::kClassification, uint8_t(chat.dsmil.classification));
    if (!chat.dsmil.roe_level.empty()) msg.SetString(dbe::TlvType::kRoeLevel, chat.dsmil.roe_level);
    msg.SetString(dbe::TlvType::kModel, chat.model);
    msg.SetU32(dbe::TlvType::kMaxTokens, reserve);
    msg.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
    msg.SetString(dbe::TlvType::kPayload, req.body);

    auto timer = std::make_shared<LatencyTimer>(metrics_->TimeRequest(key.tenant, kRouterId, "0x41"));
    auto t0 = std::chrono::steady_clock::now();
    Admission adm;
    if (auto refusal = Admit(msg, chat, &adm)) return ErrorResponse(refusal->error);
    auto t1 = std::chrono::steady_clock::now();
    auto ms = [](auto d) {
      char b[32];
      std::snprintf(b, sizeof(b), "%.3f", std::chrono::duration<double, std::milli>(d).count());
      return std::string(b);
    };

    net::HttpHeaders headers = {{"X-DSMIL-Request-Id", adm.request_id}};
    if (!adm.collections.empty()) {
      std::string c;
      for (const auto& x : adm.collections) c += (c.empty() ? "" : ",") + x;
      headers.emplace_back("X-DSMIL-RAG-Collections", c);
    }
    if (!chat.stream) {
      auto result = RunChat(chat, adm, nullptr);
      if (!result.ok()) return WorkerError(key.tenant, result.status());
      lease->Settle(result->completion_tokens);
      headers.emplace_back("X-DSMIL-Router-Ms", ms(t1 - t0));
      headers.emplace_back("X-DSMIL-Worker-Ms", ms(std::chrono::steady_clock::now() - t1));
      std::string body = ChatCompletionJson("chatcmpl-" + adm.request_id, NowS(), chat.model, result->content,
                                            result->finish_reason, result->prompt_tokens, result->completion_tokens);
      if (!adm.enrichment.empty()) {
        body.pop_back();
        body += ",\"dsmil\":{\"l8_enrichment\":" + adm.enrichment + "}}";
      }
      net::HttpResponse r;
      r.body = std::move(body);
      r.headers = std::move(headers);
      return r;
    }
    net::HttpResponse r;
    r.content_type = "text/event-stream";
    headers.emplace_back("Cache-Control", "no-cache");
    r.headers = std::move(headers);
    r.stream = [this, chat = std::move(chat), adm = std::move(adm), lease, timer](net::HttpStreamWriter& out) {
      std::string id = "chatcmpl-" + adm.request_id;
      int64_t created = NowS();
      auto send = [&](const std::string& json_text) { return out.write("data: " + json_text + "\n\n"); };
      bool alive = send(ChatChunkJson(id, created, chat.model, "assistant", "", ""));
      DeltaFn on_delta = [&](const ChatDelta& d) {
        if (!alive) return false;
        alive = send(ChatChunkJson(id, created, chat.model, "", d.content, "")) && !out.client_gone();
        return alive;
      };
      auto result = alive ? RunChat(chat, adm, &on_delta) : Result<ChatResult>(Status::Unavailable("client gone"));
      if (!alive || (result.ok() && result->cancelled)) {
        if (ctx_.log) ctx_.log->Info("l7 stream: client went away", {{"request_id", adm.request_id}});
        return;
      }
      if (!result.ok()) {
        int status = HttpForCode(result.status().code());
        send(ErrorJson({status, result.status().message(), ErrorTypeFor(status), "", ""}));
        out.write("data: [DONE]\n\n");
        return;
      }
      lease->Settle(result->completion_tokens);
      send(ChatChunkJson(id, created, chat.model, "", "",
                         result->finish_reason.empty() ? "stop" : result->finish_reason));
      if (chat.include_usage) {
        send("{\"id\":" + net::JsonQuote(id) + ",\"object\":\"chat.completion.chunk\",\"created\":" +
             std::to_string(created) + ",\"model\":" + net::JsonQuote(chat.model) +
             ",\"choices\":[],\"usage\":{\"prompt_tokens\":" + std::to_string(result->prompt_tokens) +
             ",\"completion_tokens\":" + std::to_string(result->completion_tokens) +
             ",\"total_tokens\":" + std::to_string(result->prompt_tokens + result->completion_tokens) + "}}");
      }
      out.write("data: [DONE]\n\n");
    };
    return r;
  }

  net::HttpResponse WorkerError(const std::string& tenant, const Status& s) {
    int status = HttpForCode(s.code());
    if (s.code() == StatusCode::kNotFound) status = 404;
    metrics_->CountError(tenant, kRouterId, "worker");
    return ErrorResponse({status, s.message(), ErrorTypeFor(status), "", status == 404 ? "model_not_found" : ""});
  }

  // ---- Router ----

  // Runs every check on a chat request envelope; on success fills *adm (and
  // may add RAG context to `chat`). A refusal is counted, logged and audited.
  std::optional<Refusal> Admit(const dbe::Message& msg, ChatRequest& chat, Admission* adm) {
    std::string tenant(msg.tenant_id());
    adm->tenant = tenant;
    auto rid = msg.GetString(dbe::TlvType::kRequestId);
    adm->request_id = rid.ok() ? std::string(*rid) : NewRequestId();
    auto user = msg.GetString(dbe::TlvType::kUserId);
    std::string actor = user.ok() ? std::string(*user) : "device:" + std::to_string(msg.header().src_device);
    auto refuse = [&](Refusal r) {
      Record(tenant, actor, r, adm->request_id);
      return std::optional<Refusal>(std::move(r));
    };
    if (tenant.empty()) {
      return refuse(Refuse(400, "MISSING_TENANT", "TENANT_ID is missing", "invalid_request_error", "", ""));
    }
    // 1. Claim token.
    auto token = msg.GetBytes(dbe::TlvType::kL7ClaimToken);
    if (!token.ok()) {
      return refuse(Refuse(401, "CLAIM_INVALID", "L7_CLAIM_TOKEN is missing", "authentication_error",
                           "invalid_claim_token", "AUTH_FAILED"));
    }
    auto claim = verifier_->Verify(*token, tenant, NowS());
    if (!claim.ok()) {
      bool other = claim.status().code() == StatusCode::kPermissionDenied;
      return refuse(Refuse(other ? 403 : 401, other ? "CLAIM_TENANT_MISMATCH" : "CLAIM_INVALID",
                           claim.status().message(), other ? "permission_error" : "authentication_error",
                           "invalid_claim_token", other ? "TENANT_ESCAPE_ATTEMPT" : "AUTH_FAILED"));
    }
    adm->claim_token.assign(reinterpret_cast<const char*>(token->data()), token->size());
    // 2. Policy.
    auto pol = PolicyFor(tenant);
    if (!pol.ok()) {
      return refuse(
          Refuse(403, "POLICY_DENIED", pol.status().message(), "permission_error", "policy_denied", "POLICY_DENIED"));
    }
    uint64_t mask = 0;
    if (auto m = msg.GetU64(dbe::TlvType::kCompartmentMask); m.ok()) mask = *m;
    std::string roe = pol->roe_level;
    if (auto r = msg.GetString(dbe::TlvType::kRoeLevel); r.ok()) {
      if (*r != pol->roe_level) {
        return refuse(Refuse(403, "POLICY_DENIED",
                             "ROE level " + std::string(*r) + " is not granted to tenant " + tenant + " (it has " +
                                 (pol->roe_level.empty() ? std::string("none") : pol->roe_level) + ")",
                             "permission_error", "policy_denied", "POLICY_DENIED"));
      }
    }
    if (mask & dbe::kCompartmentKinetic) {
      return refuse(
          Refuse(403, "POLICY_DENIED",
                 "KINETIC compartment (0x80) not allowed in L7 " + (roe.empty() ? std::string("any") : roe) + " mode",
                 "permission_error", "policy_denied", "POLICY_DENIED"));
    }
    if (uint64_t extra = mask & ~pol->compartments) {
      uint64_t bit = extra & (~extra + 1);
      char hex[24];
      std::snprintf(hex, sizeof(hex), "0x%02llx", static_cast<unsigned long long>(bit));
      return refuse(Refuse(
          403, "POLICY_DENIED",
          "compartment " + std::string(dbe::CompartmentName(bit)) + " (" + hex + ") is not granted to tenant " + tenant,
          "permission_error", "policy_denied", "POLICY_DENIED"));
    }
    // 3. Prompt injection (device 51), fail closed.
    std::string prompt = PromptText(chat);
    std::string verdict_json;
    if (auto r = CheckInjection(tenant, adm->request_id, prompt, &verdict_json)) return refuse(std::move(*r));
    if (!verdict_json.empty()) {
      json v = json::parse(verdict_json, nullptr, false);
      std::string reason = v.is_object() ? v.value("reason", std::string()) : std::string();
      Refusal r = Refuse(403, "PROMPT_INJECTION", reason.empty() ? "Prompt injection pattern detected" : reason,
                         "permission_error", "prompt_injection", "PROMPT_INJECTION");
      r.detail = verdict_json;
      return refuse(std::move(r));
    }
    // 4. RAG from the caller's tenant only.
    if (chat.dsmil.rag) {
      std::string query;
      for (auto it = chat.messages.rbegin(); it != chat.messages.rend() && query.empty(); ++it) {
        if (it->role == "user") query = it->content;
      }
      dbe::Message q(dbe::MsgType::kL7RagQuery);
      q.header().src_device = kRouterId;
      q.header().dst_device = uint16_t(config_.rag_device);
      q.SetString(dbe::TlvType::kTenantId, tenant);
      q.SetString(dbe::TlvType::kRequestId, adm->request_id);
      q.SetString(dbe::TlvType::kL7ClaimToken, adm->claim_token);
      q.SetString(dbe::TlvType::kPayload, json({{"op", "query"}, {"query", query}, {"k", chat.dsmil.rag_k}})
                                              .dump(-1, ' ', false, json::error_handler_t::replace));
      auto res = CallDevice(q, config_.rag_timeout_ms);
      json rj;
      if (res.ok() && res->type() == dbe::MsgType::kL7RagResult) {
        auto p = res->GetBytes(dbe::TlvType::kPayload);
        if (p.ok()) rj = json::parse(AsString(*p), nullptr, false);
      }
      if (!rj.is_object()) {
        return refuse(Refuse(503, "RAG_UNAVAILABLE",
                             "RAG engine (device " + std::to_string(config_.rag_device) + ") did not answer" +
                                 (res.ok() ? std::string() : ": " + res.status().message()),
                             "server_error", "rag_unavailable", ""));
      }
      std::string collection = rj.value("collection", std::string());
      if (!collection.empty()) adm->collections.push_back(collection);
      std::string context;
      // Retrieved text is data from the knowledge base, not the user's: each
      // passage passes device 51 before it reaches the prompt (indirect
      // injection); a flagged passage is left out and the decision audited.
      size_t kept = 0, blocked = 0;
      if (auto ps = rj.find("passages"); ps != rj.end() && ps->is_array()) {
        for (const json& p : *ps) {
          if (!p.is_object()) continue;
          std::string text = p.value("text", std::string());
          std::string source = p.value("source", std::string("?"));
          std::string verdict_json;
          if (auto r = CheckInjection(tenant, adm->request_id, text, &verdict_json)) {
            r->reason = "RAG_" + r->reason;
            return refuse(std::move(*r));
          }
          if (!verdict_json.empty()) {
            ++blocked;
            json d = {{"device", kRouterId},
                      {"request_id", adm->request_id},
                      {"collection", rj.value("collection", "")},
                      {"source", source},
                      {"passage", text.substr(0, 300)}};
            json v = json::parse(verdict_json, nullptr, false);
            if (!v.is_discarded()) d["verdict"] = v;
            refusals_->Labels({tenant, "RAG_PASSAGE_BLOCKED"}).Inc();
            Status as =
                Audit(tenant, "RAG_PASSAGE_BLOCKED", actor, d.dump(-1, ' ', false, json::error_handler_t::replace));
            if (!as.ok() && ctx_.log)
              ctx_.log->Error("l7 audit append failed", {{"tenant", tenant}, {"error", as.message()}});
            continue;
          }
          ++kept;
          context += "- [" + source + "] " + text + "\n";
        }
      }
      adm->rag_passages_blocked = blocked;
      if (!context.empty()) {
        chat.messages.insert(chat.messages.begin(),
                             ChatMessage{"system", "Context from the " + tenant + " knowledge base:\n" + context});
      }
      if (ctx_.log) {
        ctx_.log->Info("l7 rag", {{"tenant", tenant},
                                  {"request_id", adm->request_id},
                                  {"collection", collection},
                                  {"passages", int64_t(kept)},
                                  {"blocked", int64_t(blocked)}});
      }
    }
    // 6. L8 enrichment (optional).
    if (config_.enrichment_device > 0) {
      dbe::Message e(dbe::MsgType::kL8SocEventEnrichment);
      e.header().src_device = kRouterId;
      e.header().dst_device = uint16_t(config_.enrichment_device);
      e.SetString(dbe::TlvType::kTenantId, tenant);
      e.SetString(dbe::TlvType::kRequestId, adm->request_id);
      e.SetString(dbe::TlvType::kEventId, adm->request_id);
      e.SetString(dbe::TlvType::kPayload,
                  json({{"source", "l7"}, {"model", chat.model}, {"prompt", prompt.substr(0, 2000)}})
                      .dump(-1, ' ', false, json::error_handler_t::replace));
      auto res = CallDevice(e, config_.enrichment_timeout_ms);
      if (res.ok() && res->type() == dbe::MsgType::kL8Proposal) {
        auto p = res->GetBytes(dbe::TlvType::kPayload);
        json pj = p.ok() ? json::parse(AsString(*p), nullptr, false) : json();
        if (!pj.is_discarded() && !pj.is_null()) adm->enrichment = pj.dump();
      } else if (ctx_.log) {
        ctx_.log->Warn("l7 enrichment unavailable", {{"tenant", tenant}, {"request_id", adm->request_id}});
      }
    }
    return std::nullopt;
  }

  // Asks device 51 whether `text` is a prompt injection. A refusal when the
  // detector cannot answer (fail closed); otherwise nullopt, with
  // *injection_verdict set to the verdict JSON when it flagged the text and
  // left empty when the text is clean.
  std::optional<Refusal> CheckInjection(const std::string& tenant, const std::string& request_id,
                                        const std::string& text, std::string* injection_verdict) {
    injection_verdict->clear();
    dbe::Message check(dbe::MsgType::kL8PromptCheck);
    check.header().src_device = kRouterId;
    check.header().dst_device = uint16_t(config_.detector_device);
    check.SetString(dbe::TlvType::kTenantId, tenant);
    check.SetString(dbe::TlvType::kRequestId, request_id);
    check.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kText));
    check.SetString(dbe::TlvType::kPayload, text);
    auto verdict = CallDevice(check, config_.detector_timeout_ms);
    std::string why;
    if (!verdict.ok()) {
      why = verdict.status().message();
    } else if (verdict->type() != dbe::MsgType::kL8PromptVerdict) {
      auto reason = verdict->GetString(dbe::TlvType::kErrorReason);
      why = "answered " + std::string(dbe::MsgTypeName(verdict->type())) +
            (reason.ok() ? " " + std::string(*reason) : std::string());
    }
    if (!why.empty()) {
      return Refuse(503, "DETECTOR_UNAVAILABLE",
                    "prompt-injection detector (device " + std::to_string(config_.detector_device) +
                        ") unavailable, request refused: " + why,
                    "server_error", "detector_unavailable", "DETECTOR_UNAVAILABLE");
    }
    auto vp = verdict->GetBytes(dbe::TlvType::kPayload);
    json v = vp.ok() ? json::parse(AsString(*vp), nullptr, false) : json();
    if (v.is_discarded() || !v.is_object() || !v.contains("injection") || !v["injection"].is_boolean()) {
      return Refuse(503, "DETECTOR_UNAVAILABLE",
                    "prompt-injection detector (device " + std::to_string(config_.detector_device) +
                        ") gave an unreadable verdict, request refused",
                    "server_error", "detector_unavailable", "DETECTOR_UNAVAILABLE");
    }
    if (v["injection"].get<bool>()) *injection_verdict = v.dump();
    return std::nullopt;
  }

  Result<TenantPolicy> PolicyFor(const std::string& tenant) {
    TenantPolicy p;
    if (policies_) {
      auto b = policies_->Get(tenant);
      if (b.ok()) {
        p.roe_level = (*b)->roe_level;
        for (const auto& c : (*b)->compartments) {
          auto m = dbe::ParseCompartmentMask(c);
          if (m.ok()) p.compartments |= *m;
        }
        return p;
      }
    }
    for (const TenantInfo& t : ctx_.tenants) {
      if (t.id != tenant) continue;
      p.roe_level = t.roe_level;
      for (const auto& c : t.compartments) {
        auto m = dbe::ParseCompartmentMask(c);
        if (m.ok()) p.compartments |= *m;
      }
      return p;
    }
    return Status::PermissionDenied("tenant " + tenant + " has no policy on this node");
  }

  // Least outstanding requests among healthy replicas of the model, then the
  // next one on an Unavailable failure before any output.
  Result<ChatResult> RunChat(const ChatRequest& chat, const Admission& adm, const DeltaFn* on_delta) {
    if (workers_.empty()) {
      return Status::Unavailable(
          "no model is configured on this node (l7.workers is empty); no completion is produced");
    }
    std::vector<Worker*> tried;
    Status last = Status::Unavailable("no healthy worker for model '" + chat.model + "'");
    bool known = false;
    for (int attempt = 0; attempt < 3; ++attempt) {
      Worker* best = nullptr;
      size_t best_index = 0;
      for (size_t i = 0; i < workers_.size(); ++i) {
        Worker* w = workers_[i].get();
        if (w->spec().model != chat.model) continue;
        known = true;
        if (!w->healthy || std::find(tried.begin(), tried.end(), w) != tried.end()) continue;
        if (w->spec().max_concurrent > 0 && w->outstanding.load() >= w->spec().max_concurrent) continue;
        if (best == nullptr || w->outstanding.load() < best->outstanding.load()) best = w, best_index = i;
      }
      if (!known) return Status::NotFound("The model '" + chat.model + "' does not exist");
      if (best == nullptr) {
        if (tried.empty()) {
          std::string why;
          for (const auto& w : workers_) {
            if (w->spec().model == chat.model && !w->last_error().empty()) why = w->last_error();
          }
          return Status::Unavailable("no healthy worker for model '" + chat.model + "'" +
                                     (why.empty() ? std::string() : ": " + why));
        }
        return last;
      }
      tried.push_back(best);
      best->outstanding++;
      Gauge& g = outstanding_->Labels({chat.model, replica_labels_[best_index]});
      g.Inc();
      bool any_output = false;
      DeltaFn wrapped;
      const DeltaFn* fn = nullptr;
      if (on_delta != nullptr) {
        wrapped = [&](const ChatDelta& d) {
          any_output = true;
          return (*on_delta)(d);
        };
        fn = &wrapped;
      }
      auto r = best->Chat(chat, WorkerCall{adm.tenant, adm.request_id, adm.claim_token}, fn);
      best->outstanding--;
      g.Dec();
      if (r.ok()) {
        best->failures = 0;
        best->served++;
        return r;
      }
      last = r.status();
      // Busy (pool full or the tenant's share in use): another replica may
      // have room; this one is not counted as failing.
      if (r.status().code() == StatusCode::kResourceExhausted && !any_output) continue;
      if (r.status().code() != StatusCode::kUnavailable) return r;
      best->set_last_error(r.status().message());
      if (++best->failures >= 3) best->healthy = false;
      if (any_output) return r;
    }
    return last;
  }

  // ---- helpers ----

  Result<dbe::Message> CallDevice(const dbe::Message& msg, int timeout_ms) {
    int dst = msg.header().dst_device;
    Device* local = ctx_.local ? ctx_.local(dst, std::string(msg.tenant_id())) : nullptr;
    if (local == nullptr && ctx_.local) local = ctx_.local(dst, "");
    if (local != nullptr) return local->Handle(msg);
    if (!ctx_.call) return Status::Unavailable("device " + std::to_string(dst) + " is not reachable (no router)");
    return ctx_.call(msg, std::chrono::milliseconds(timeout_ms));
  }

  std::string NewRequestId() {
    static std::atomic<uint64_t> seq{0};
    char buf[48];
    std::snprintf(buf, sizeof(buf), "l7-%llx-%llx", static_cast<unsigned long long>(NowMs()),
                  static_cast<unsigned long long>(++seq));
    return buf;
  }

  // Counts, logs and audits a refusal.
  void Record(const std::string& tenant, const std::string& actor, const Refusal& r,
              const std::string& request_id = {}) {
    refusals_->Labels({tenant.empty() ? "unknown" : tenant, r.reason}).Inc();
    metrics_->CountError(tenant.empty() ? "unknown" : tenant, kRouterId, r.reason);
    if (ctx_.log) {
      ctx_.log->Warn("l7 request refused", {{"tenant", tenant},
                                            {"actor", actor},
                                            {"reason", r.reason},
                                            {"status", r.error.status},
                                            {"request_id", request_id},
                                            {"message", r.error.message}});
    }
    if (r.audit_type.empty() || tenant.empty()) return;
    json detail = {{"device", kRouterId},
                   {"reason", r.reason},
                   {"message", r.error.message},
                   {"http_status", r.error.status},
                   {"request_id", request_id}};
    if (!r.detail.empty()) {
      json d = json::parse(r.detail, nullptr, false);
      if (!d.is_discarded()) detail["verdict"] = d;
    }
    Status s = Audit(tenant, r.audit_type, actor, detail.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!s.ok() && ctx_.log) ctx_.log->Error("l7 audit append failed", {{"tenant", tenant}, {"error", s.message()}});
  }

  // The tenant a presented key names ("sk-alpha-..." → ALPHA) when it is a
  // tenant of this node, else "".
  std::string ClaimedTenant(std::string_view key) const {
    if (key.substr(0, 3) != "sk-") return "";
    size_t dash = key.find('-', 3);
    if (dash == std::string_view::npos || dash - 3 > 32) return "";
    std::string t(key.substr(3, dash - 3));
    for (char& c : t) c = (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
    for (const TenantInfo& ti : ctx_.tenants) {
      if (ti.id == t) return t;
    }
    return "";
  }

  Status Audit(const std::string& tenant, const std::string& type, const std::string& actor,
               const std::string& detail) {
    if (ctx_.audit != nullptr) return ctx_.audit->Append(tenant, type, actor, detail);
    if (ctx_.stores.path.empty() && ctx_.stores.kind == "embedded") {
      return Status::FailedPrecondition("no stores.path: audit log not available");
    }
    std::lock_guard<std::mutex> g(audit_mu_);
    auto it = archives_.find(tenant);
    if (it == archives_.end()) {
      DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
      DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<store::Archive> a, store::OpenArchive(ctx_.stores, scope));
      it = archives_.emplace(tenant, std::move(a)).first;
    }
    auto row = it->second->AppendAudit(NowMs(), type, actor, detail);
    if (!row.ok()) {
      archives_.erase(it);  // reopen next time
      return row.status();
    }
    return Status::Ok();
  }

  void ProbeAll() {
    for (size_t i = 0; i < workers_.size(); ++i) {
      Worker* w = workers_[i].get();
      Status s = w->Probe();
      w->healthy = s.ok();
      if (s.ok()) {
        w->failures = 0;
      } else {
        w->set_last_error(s.message());
      }
      worker_up_->Labels({w->spec().model, replica_labels_[i]}).Set(s.ok() ? 1 : 0);
    }
  }

  void HealthLoop() {
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stopping_) {
      stop_cv_.wait_for(lock, std::chrono::milliseconds(config_.health_interval_ms));
      if (stopping_) break;
      lock.unlock();
      ProbeAll();
      lock.lock();
    }
  }

  DeviceContext ctx_;
  Config config_;
  std::unique_ptr<Registry> own_registry_;
  Registry* registry_;
  std::unique_ptr<StandardMetrics> metrics_;
  CounterFamily* refusals_;
  GaugeFamily* outstanding_;
  GaugeFamily* worker_up_;
  std::unique_ptr<tenant::ApiKeyStore> keys_;
  std::unique_ptr<tenant::ClaimKeyring> keyring_;
  std::unique_ptr<tenant::ClaimIssuer> issuer_;
  std::unique_ptr<tenant::ClaimVerifier> verifier_;
  std::unique_ptr<tenant::RateLimiter> limiter_;
  std::unique_ptr<tenant::PolicyStore> policies_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::string> replica_labels_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread health_thread_;
  std::atomic<bool> started_{false};
  bool unconfigured_ = false;  // no l7 section: Start did nothing
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  std::mutex audit_mu_;
  std::map<std::string, std::unique_ptr<store::Archive>> archives_;  // GUARDED_BY(audit_mu_)
};

}  // namespace

Result<std::unique_ptr<Device>> CreateRouterDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new Router(ctx));
}

}  // namespace dsmil::devices::l7
