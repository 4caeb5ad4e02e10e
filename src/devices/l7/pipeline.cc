#include "devices/l7/pipeline.h"

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "devices/l7/device_calls.h"

namespace dsmil::devices::l7 {

using nlohmann::json;

ChatFacts FactsOf(const dbe::Message& msg, const ChatRequest& chat, const std::string& request_id, int64_t now_s) {
  ChatFacts f;
  f.tenant = std::string(msg.tenant_id());
  auto rid = msg.GetString(dbe::TlvType::kRequestId);
  f.request_id = rid.ok() ? std::string(*rid) : request_id;
  auto user = msg.GetString(dbe::TlvType::kUserId);
  f.actor = user.ok() ? std::string(*user) : "device:" + std::to_string(msg.header().src_device);
  if (auto t = msg.GetBytes(dbe::TlvType::kL7ClaimToken); t.ok()) f.claim_token = std::string(AsString(*t));
  if (auto m = msg.GetU64(dbe::TlvType::kCompartmentMask); m.ok()) f.compartments = *m;
  if (auto r = msg.GetString(dbe::TlvType::kRoeLevel); r.ok()) f.roe_level = std::string(*r);
  // What the body's "dsmil" object declares is checked too, so a DBE caller
  // that declares it only there (not in the TLVs the HTTP front sets) meets
  // the same policy: compartments add up, the ROE_LEVEL TLV wins over the body.
  if (chat.dsmil.has_compartments) f.compartments = f.compartments.value_or(0) | chat.dsmil.compartments;
  if (!f.roe_level && !chat.dsmil.roe_level.empty()) f.roe_level = chat.dsmil.roe_level;
  f.prompt = PromptText(chat);
  f.messages = chat.messages;
  f.now_s = now_s;
  return f;
}

std::optional<Refusal> ChatPipeline::Admit(const dbe::Message& envelope, ChatRequest& chat, Admitted* adm) {
  bool has_id = envelope.GetString(dbe::TlvType::kRequestId).ok();
  ChatFacts facts =
      FactsOf(envelope, chat, has_id ? std::string() : NewRequestId(clock_), clock_.NowUnixNanos() / 1000000000);
  adm->tenant = facts.tenant;
  adm->request_id = facts.request_id;
  // 1-3. Claim token, policy, prompt injection.
  if (auto r = admission_.CheckChat(facts)) {
    recorder_.Record(*r, adm->request_id);
    return r;
  }
  adm->claim_token = *facts.claim_token;
  // SHRINK (docs/shrink.md §1): the operator's newest message, once admitted.
  if (ctx_.operator_text) {
    for (auto it = chat.messages.rbegin(); it != chat.messages.rend(); ++it) {
      if (it->role != "user") continue;
      ctx_.operator_text(adm->tenant, "l7_chat", it->content);
      break;
    }
  }
  // 4. RAG from the caller's tenant only.
  if (chat.dsmil.rag) {
    if (auto r = AddRagContext(chat, facts.actor, adm)) {
      recorder_.Record(*r, adm->request_id);
      return r;
    }
  }
  // 6. L8 enrichment (optional).
  if (config_.enrichment.device > 0) Enrich(chat, facts.prompt, adm);
  return std::nullopt;
}

std::optional<Refusal> ChatPipeline::AddRagContext(ChatRequest& chat, const std::string& actor, Admitted* adm) {
  const std::string& tenant = adm->tenant;
  std::string query;
  for (auto it = chat.messages.rbegin(); it != chat.messages.rend() && query.empty(); ++it) {
    if (it->role == "user") query = it->content;
  }
  dbe::Message q(dbe::MsgType::kL7RagQuery);
  q.header().src_device = kRouterDeviceId;
  q.header().dst_device = static_cast<uint16_t>(config_.rag.device);
  q.SetString(dbe::TlvType::kTenantId, tenant);
  q.SetString(dbe::TlvType::kRequestId, adm->request_id);
  q.SetString(dbe::TlvType::kL7ClaimToken, adm->claim_token);
  q.SetString(dbe::TlvType::kPayload, json({{"op", "query"}, {"query", query}, {"k", chat.dsmil.rag_k}})
                                          .dump(-1, ' ', false, json::error_handler_t::replace));
  auto res = CallDevice(ctx_, q, config_.rag.timeout_ms);
  json rj;
  if (res.ok() && res->type() == dbe::MsgType::kL7RagResult) {
    auto p = res->GetBytes(dbe::TlvType::kPayload);
    if (p.ok()) rj = json::parse(AsString(*p), nullptr, false);
  }
  if (!rj.is_object()) {
    Refusal r;
    r.error = {503,
               "RAG engine (device " + std::to_string(config_.rag.device) + ") did not answer" +
                   (res.ok() ? std::string() : ": " + res.status().message()),
               "server_error", "", "rag_unavailable"};
    r.reason = "RAG_UNAVAILABLE";
    r.tenant = tenant;
    r.actor = actor;
    return r;
  }
  std::string collection = rj.value("collection", std::string());
  if (!collection.empty()) adm->collections.push_back(collection);
  std::string context;
  // Retrieved text is data from the knowledge base, not the user's: each
  // passage passes the prompt check before it reaches the prompt (indirect
  // injection); a flagged passage is left out and the decision audited.
  size_t kept = 0, blocked = 0;
  if (auto ps = rj.find("passages"); ps != rj.end() && ps->is_array()) {
    for (const json& p : *ps) {
      if (!p.is_object()) continue;
      std::string text = p.value("text", std::string());
      std::string source = p.value("source", std::string("?"));
      std::string verdict_json;
      if (auto r = admission_.CheckPrompt(tenant, actor, adm->request_id, text, &verdict_json)) {
        r->reason = "RAG_" + r->reason;
        return r;
      }
      if (!verdict_json.empty()) {
        ++blocked;
        json d = {{"device", kRouterDeviceId},
                  {"request_id", adm->request_id},
                  {"collection", rj.value("collection", "")},
                  {"source", source},
                  {"passage", text.substr(0, 300)}};
        json v = json::parse(verdict_json, nullptr, false);
        if (!v.is_discarded()) d["verdict"] = v;
        recorder_.Count(tenant, "RAG_PASSAGE_BLOCKED");
        Status as = recorder_.Audit(tenant, "RAG_PASSAGE_BLOCKED", actor,
                                    d.dump(-1, ' ', false, json::error_handler_t::replace));
        if (!as.ok() && ctx_.log) {
          ctx_.log->Error("l7 audit append failed", {{"tenant", tenant}, {"error", as.message()}});
        }
        continue;
      }
      ++kept;
      context.append("- [").append(source).append("] ").append(text).append("\n");
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
                              {"passages", static_cast<int64_t>(kept)},
                              {"blocked", static_cast<int64_t>(blocked)}});
  }
  return std::nullopt;
}

void ChatPipeline::Enrich(const ChatRequest& chat, const std::string& prompt, Admitted* adm) {
  dbe::Message e(dbe::MsgType::kL8SocEventEnrichment);
  e.header().src_device = kRouterDeviceId;
  e.header().dst_device = static_cast<uint16_t>(config_.enrichment.device);
  e.SetString(dbe::TlvType::kTenantId, adm->tenant);
  e.SetString(dbe::TlvType::kRequestId, adm->request_id);
  e.SetString(dbe::TlvType::kEventId, adm->request_id);
  e.SetString(dbe::TlvType::kPayload,
              json({{"source", "l7"}, {"model", chat.model}, {"prompt", prompt.substr(0, 2000)}})
                  .dump(-1, ' ', false, json::error_handler_t::replace));
  auto res = CallDevice(ctx_, e, config_.enrichment.timeout_ms);
  if (res.ok() && res->type() == dbe::MsgType::kL8Proposal) {
    auto p = res->GetBytes(dbe::TlvType::kPayload);
    json pj = p.ok() ? json::parse(AsString(*p), nullptr, false) : json();
    if (!pj.is_discarded() && !pj.is_null()) adm->enrichment = pj.dump();
  } else if (ctx_.log) {
    ctx_.log->Warn("l7 enrichment unavailable", {{"tenant", adm->tenant}, {"request_id", adm->request_id}});
  }
}

}  // namespace dsmil::devices::l7
