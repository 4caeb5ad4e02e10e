#include "devices/l7/http_front.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "core/strings.h"
#include "devices/l7/device_calls.h"
#include "devices/l7/rag.h"
#include "net/http_server.h"
#include "tenant/claims.h"
#include "tenant/ratelimit.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

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

std::string Millis(std::chrono::steady_clock::duration d) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.3f", std::chrono::duration<double, std::milli>(d).count());
  return b;
}

// The L7_CHAT_REQ an HTTP chat request becomes (docs/l7.md §4).
dbe::Message ChatEnvelope(const tenant::ApiKeyInfo& key, const std::string& request_id, const Bytes& claim_token,
                          const ChatRequest& chat, uint32_t max_tokens, const std::string& body) {
  dbe::Message msg(dbe::MsgType::kL7ChatReq);
  msg.header().src_device = dbe::kNoDevice;
  msg.header().dst_device = kRouterDeviceId;
  msg.SetString(dbe::TlvType::kTenantId, key.tenant);
  msg.SetString(dbe::TlvType::kRequestId, request_id);
  msg.SetString(dbe::TlvType::kUserId, "key:" + key.id);
  msg.SetBytes(dbe::TlvType::kL7ClaimToken, claim_token);
  if (chat.dsmil.has_compartments) msg.SetU64(dbe::TlvType::kCompartmentMask, chat.dsmil.compartments);
  if (chat.dsmil.classification >= 0) {
    msg.SetU8(dbe::TlvType::kClassification, static_cast<uint8_t>(chat.dsmil.classification));
  }
  if (!chat.dsmil.roe_level.empty()) msg.SetString(dbe::TlvType::kRoeLevel, chat.dsmil.roe_level);
  msg.SetString(dbe::TlvType::kModel, chat.model);
  msg.SetU32(dbe::TlvType::kMaxTokens, max_tokens);
  msg.SetU8(dbe::TlvType::kContentType, static_cast<uint8_t>(dbe::ContentType::kJson));
  msg.SetString(dbe::TlvType::kPayload, body);
  return msg;
}

}  // namespace

HttpFront::HttpFront(HttpFrontDeps deps) : d_(std::move(deps)) {}

HttpFront::~HttpFront() { Stop(); }

Status HttpFront::Start() {
  net::HttpServerOptions o;
  o.host = d_.config->host;
  o.port = d_.config->port;
  o.threads = d_.config->threads;
  // The front checks the limit itself to answer with the OpenAI error body;
  // the server's own limit only stops bodies far above it.
  o.max_body_bytes = std::min<size_t>(d_.config->max_body_bytes * 4 + 65536, 256u << 20);
  o.read_timeout_ms = 30000;
  o.handler = [this](const net::HttpRequest& req) { return Serve(req); };
  DSMIL_ASSIGN_OR_RETURN(server_, net::HttpServer::Start(std::move(o)));
  return Status::Ok();
}

void HttpFront::Stop() {
  if (server_) server_->Stop();
}

uint16_t HttpFront::port() const { return server_ ? server_->port() : 0; }

net::HttpResponse HttpFront::Serve(const net::HttpRequest& req) {
  if (req.path == "/healthz") {
    DeviceHealth h = d_.health();
    net::HttpResponse r;
    r.status = h.state == DeviceState::kHealthy ? 200 : 503;
    r.body =
        "{\"status\":" + net::JsonQuote(DeviceStateName(h.state)) + ",\"reason\":" + net::JsonQuote(h.reason) + "}";
    return r;
  }
  if (req.path == "/metrics") {
    // Per-tenant counters are not for anyone who can reach the public port.
    return ErrorResponse({404, "metrics are not served on the API port; scrape the node's listen.http port (/metrics)",
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
  tenant::ApiKeyInfo info;
  if (auto r = d_.admission->Authenticate(key, req.Header("X-DSMIL-Tenant"), &info)) {
    d_.recorder->Record(*r);
    return ErrorResponse(r->error);
  }
  if (req.body.size() > d_.config->max_body_bytes) {
    return ErrorResponse({413,
                          "request body of " + std::to_string(req.body.size()) + " bytes exceeds the limit of " +
                              std::to_string(d_.config->max_body_bytes) + " bytes",
                          "invalid_request_error", "", "request_too_large"});
  }
  if (models) return ServeModels();
  if (embeddings) return ServeEmbeddings(req, info);
  if (ingest) return ServeIngest(req, info);
  return ServeChat(req, info);
}

net::HttpResponse HttpFront::ServeModels() {
  // The node's models: nothing in the list belongs to a tenant.
  std::vector<ModelInfo> models = d_.workers->Models();
  models.push_back(
      {kHashedEmbeddingModel, "dsmil-hashed-ngram (deterministic feature hashing, not a learned model)", 0});
  net::HttpResponse r;
  r.body = ModelsJson(models);
  return r;
}

net::HttpResponse HttpFront::ServeEmbeddings(const net::HttpRequest& req, const tenant::ApiKeyInfo& key) {
  EmbeddingsRequest er;
  if (auto e = ParseEmbeddingsRequest(req.body, &er)) return ErrorResponse(*e);
  tenant::Lease lease;
  if (auto r = d_.admission->Reserve(key, 0, &lease)) {
    d_.recorder->Record(*r);
    return ErrorResponse(r->error);
  }
  uint32_t tokens = 0;
  for (const auto& s : er.inputs) tokens += EstimateTokens(s);
  std::vector<std::vector<float>> vecs;
  if (er.model == kHashedEmbeddingModel) {
    for (const auto& s : er.inputs) vecs.push_back(HashedEmbedding(s));
  } else {
    Worker* w = d_.workers->EmbeddingsWorker(er.model);
    if (w == nullptr) {
      return ErrorResponse({404, "The model '" + er.model + "' does not exist or serves no embeddings",
                            "invalid_request_error", "model", "model_not_found"});
    }
    auto r = w->Embed(er.inputs, key.tenant);
    if (!r.ok()) {
      int status = HttpForCode(r.status().code());
      return ErrorResponse({status, r.status().message(), ErrorTypeFor(status), "", ""});
    }
    vecs = std::move(*r);
  }
  d_.metrics->TimeRequest(key.tenant, kRouterDeviceId, "0x43").Stop();
  net::HttpResponse r;
  r.body = EmbeddingsJson(er.model, vecs, er.base64, tokens);
  return r;
}

net::HttpResponse HttpFront::ServeIngest(const net::HttpRequest& req, const tenant::ApiKeyInfo& key) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return ErrorResponse({400, "the request body must be a JSON object", "invalid_request_error", "", ""});
  }
  j["op"] = "ingest";
  const DeviceCallConfig& rag = d_.config->rag;
  dbe::Message msg(dbe::MsgType::kL7RagQuery);
  msg.header().src_device = kRouterDeviceId;
  msg.header().dst_device = static_cast<uint16_t>(rag.device);
  msg.SetString(dbe::TlvType::kTenantId, key.tenant);
  msg.SetString(dbe::TlvType::kRequestId, NewRequestId(*d_.clock));
  msg.SetString(dbe::TlvType::kPayload, j.dump(-1, ' ', false, json::error_handler_t::replace));
  // Device 50 writes into the knowledge base only with the tenant's claim.
  auto token = d_.issuer->TokenFor(key.tenant, "key:" + key.id, d_.clock->NowUnixNanos() / 1000000000);
  if (!token.ok()) {
    return ErrorResponse({503, "cannot issue a claim token: " + token.status().message(), "server_error", "", ""});
  }
  msg.SetBytes(dbe::TlvType::kL7ClaimToken, *token);
  auto reply = CallDevice(*d_.ctx, msg, rag.timeout_ms);
  if (!reply.ok()) {
    return ErrorResponse(
        {503, "RAG engine (device " + std::to_string(rag.device) + ") unavailable: " + reply.status().message(),
         "server_error", "", "rag_unavailable"});
  }
  if (reply->type() == dbe::MsgType::kError) {
    auto code = reply->GetU16(dbe::TlvType::kErrorCode);
    int status = code.ok() ? HttpForCode(static_cast<StatusCode>(*code)) : 503;
    auto detail = reply->GetString(dbe::TlvType::kErrorDetail);
    return ErrorResponse(
        {status, detail.ok() ? std::string(*detail) : "RAG ingest failed", ErrorTypeFor(status), "", ""});
  }
  net::HttpResponse r;
  auto p = reply->GetBytes(dbe::TlvType::kPayload);
  r.body = p.ok() ? std::string(AsString(*p)) : "{}";
  return r;
}

net::HttpResponse HttpFront::ServeChat(const net::HttpRequest& req, const tenant::ApiKeyInfo& key) {
  ChatRequest chat;
  if (auto e = ParseChatRequest(req.body, &chat)) return ErrorResponse(*e);
  if (auto e = ApplyDsmilHeaders(req, &chat.dsmil)) return ErrorResponse(*e);
  uint32_t reserve = chat.max_tokens > 0 ? chat.max_tokens : d_.config->default_max_tokens;
  auto lease = std::make_shared<tenant::Lease>();
  if (auto r = d_.admission->Reserve(key, reserve, lease.get())) {
    d_.recorder->Record(*r);
    return ErrorResponse(r->error);
  }
  lease->Settle(0);  // a refused or failed request uses none of its reservation
  auto token = d_.issuer->TokenFor(key.tenant, "key:" + key.id, d_.clock->NowUnixNanos() / 1000000000);
  if (!token.ok()) {
    return ErrorResponse({503, "cannot sign the claim token: " + token.status().message(), "server_error", "", ""});
  }
  // HTTP -> DBE: the same checks as a request from another device.
  dbe::Message msg = ChatEnvelope(key, NewRequestId(*d_.clock), *token, chat, reserve, req.body);

  auto timer = std::make_shared<LatencyTimer>(d_.metrics->TimeRequest(key.tenant, kRouterDeviceId, "0x41"));
  auto t0 = std::chrono::steady_clock::now();
  Admitted adm;
  if (auto refusal = d_.pipeline->Admit(msg, chat, &adm)) return ErrorResponse(refusal->error);
  auto t1 = std::chrono::steady_clock::now();

  net::HttpHeaders headers = {{"X-DSMIL-Request-Id", adm.request_id}};
  if (!adm.collections.empty()) {
    std::string c;
    for (const auto& x : adm.collections) c += (c.empty() ? "" : ",") + x;
    headers.emplace_back("X-DSMIL-RAG-Collections", c);
  }
  WorkerCall call{adm.tenant, adm.request_id, adm.claim_token};
  if (!chat.stream) {
    auto result = d_.workers->Chat(chat, call, nullptr);
    if (!result.ok()) return WorkerError(key.tenant, result.status());
    lease->Settle(result->completion_tokens);
    headers.emplace_back("X-DSMIL-Router-Ms", Millis(t1 - t0));
    headers.emplace_back("X-DSMIL-Worker-Ms", Millis(std::chrono::steady_clock::now() - t1));
    std::string body =
        ChatCompletionJson("chatcmpl-" + adm.request_id, d_.clock->NowUnixNanos() / 1000000000, chat.model,
                           result->content, result->finish_reason, result->prompt_tokens, result->completion_tokens);
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
  r.stream = [this, chat = std::move(chat), call = std::move(call), lease, timer](net::HttpStreamWriter& out) {
    std::string id = "chatcmpl-" + call.request_id;
    int64_t created = d_.clock->NowUnixNanos() / 1000000000;
    auto send = [&](const std::string& json_text) { return out.write("data: " + json_text + "\n\n"); };
    bool alive = send(ChatChunkJson(id, created, chat.model, "assistant", "", ""));
    DeltaFn on_delta = [&](const ChatDelta& d) {
      if (!alive) return false;
      alive = send(ChatChunkJson(id, created, chat.model, "", d.content, "")) && !out.client_gone();
      return alive;
    };
    auto result =
        alive ? d_.workers->Chat(chat, call, &on_delta) : Result<ChatResult>(Status::Unavailable("client gone"));
    if (!alive || (result.ok() && result->cancelled)) {
      if (d_.ctx->log) d_.ctx->log->Info("l7 stream: client went away", {{"request_id", call.request_id}});
      return;
    }
    if (!result.ok()) {
      int status = HttpForCode(result.status().code());
      send(ErrorJson({status, result.status().message(), ErrorTypeFor(status), "", ""}));
      out.write("data: [DONE]\n\n");
      return;
    }
    lease->Settle(result->completion_tokens);
    send(
        ChatChunkJson(id, created, chat.model, "", "", result->finish_reason.empty() ? "stop" : result->finish_reason));
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

net::HttpResponse HttpFront::WorkerError(const std::string& tenant, const Status& s) {
  int status = HttpForCode(s.code());
  if (s.code() == StatusCode::kNotFound) status = 404;
  d_.metrics->CountError(tenant, kRouterDeviceId, "worker");
  return ErrorResponse({status, s.message(), ErrorTypeFor(status), "", status == 404 ? "model_not_found" : ""});
}

}  // namespace dsmil::devices::l7
