#include "devices/l7/admission.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/coding.h"
#include "dbe/registry.h"
#include "tenant/claims.h"
#include "tenant/policy.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

Refusal Refuse(int status, std::string reason, std::string message, std::string type, std::string code,
               std::string audit_type, std::string tenant, std::string actor) {
  Refusal r;
  r.error.status = status;
  r.error.message = std::move(message);
  r.error.type = std::move(type);
  r.error.code = std::move(code);
  r.reason = std::move(reason);
  r.audit_type = std::move(audit_type);
  r.tenant = std::move(tenant);
  r.actor = std::move(actor);
  return r;
}

class SharedRateLimiter final : public RequestLimiter {
 public:
  explicit SharedRateLimiter(tenant::RateLimiter* limiter) : limiter_(limiter) {}
  Result<tenant::Lease> Acquire(const std::string& tenant, uint64_t reserve_tokens) override {
    return limiter_->Acquire(tenant, reserve_tokens);
  }

 private:
  tenant::RateLimiter* limiter_;
};

}  // namespace

Result<std::string> PromptDetector::CheckMessages(const std::string& tenant, const std::string& request_id,
                                                  const std::vector<ChatMessage>& messages) {
  std::string text;
  for (const ChatMessage& m : messages) {
    if (!text.empty()) text.push_back('\n');
    text += m.content;
  }
  return Check(tenant, request_id, text);
}

std::unique_ptr<RequestLimiter> SharedRateLimits(tenant::RateLimiter* limiter) {
  return std::make_unique<SharedRateLimiter>(limiter);
}

std::optional<Refusal> Admission::Authenticate(std::string_view key, std::string_view asserted_tenant,
                                               tenant::ApiKeyInfo* out) const {
  auto info = state_.keys->Resolve(key);
  if (!info.ok()) {
    // Audited in the chain of the tenant the key claims to be for
    // ("sk-alpha-..."), when that is a tenant of the node.
    return Refuse(401, "AUTH_FAILED", "Incorrect API key provided: " + info.status().message(), "invalid_request_error",
                  "invalid_api_key", "AUTH_FAILED", ClaimedTenant(key),
                  "key-prefix:" + std::string(key.substr(0, std::min<size_t>(key.size(), 20))) + "...");
  }
  if (!asserted_tenant.empty() && asserted_tenant != info->tenant) {
    return Refuse(403, "TENANT_MISMATCH",
                  "this API key belongs to tenant " + info->tenant + ", not " + std::string(asserted_tenant),
                  "permission_error", "tenant_mismatch", "TENANT_ESCAPE_ATTEMPT", info->tenant, "key:" + info->id);
  }
  *out = std::move(*info);
  return std::nullopt;
}

std::optional<Refusal> Admission::Reserve(const tenant::ApiKeyInfo& key, uint64_t reserve_tokens,
                                          tenant::Lease* out) const {
  auto lease = state_.limiter->Acquire(key.tenant, reserve_tokens);
  if (!lease.ok()) {
    return Refuse(429, "RATE_LIMITED", lease.status().message(), "requests", "rate_limit_exceeded", "", key.tenant,
                  "key:" + key.id);
  }
  *out = std::move(*lease);
  return std::nullopt;
}

std::optional<Refusal> Admission::CheckChat(const ChatFacts& f) const {
  auto refuse = [&](int status, std::string reason, std::string message, std::string type, std::string code,
                    std::string audit_type) {
    return std::optional<Refusal>(Refuse(status, std::move(reason), std::move(message), std::move(type),
                                         std::move(code), std::move(audit_type), f.tenant, f.actor));
  };
  if (f.tenant.empty()) return refuse(400, "MISSING_TENANT", "TENANT_ID is missing", "invalid_request_error", "", "");
  // 1. Claim token.
  if (!f.claim_token) {
    return refuse(401, "CLAIM_INVALID", "L7_CLAIM_TOKEN is missing", "authentication_error", "invalid_claim_token",
                  "AUTH_FAILED");
  }
  auto claim = state_.claims->Verify(AsBytes(*f.claim_token), f.tenant, f.now_s);
  if (!claim.ok()) {
    bool other = claim.status().code() == StatusCode::kPermissionDenied;
    return refuse(other ? 403 : 401, other ? "CLAIM_TENANT_MISMATCH" : "CLAIM_INVALID", claim.status().message(),
                  other ? "permission_error" : "authentication_error", "invalid_claim_token",
                  other ? "TENANT_ESCAPE_ATTEMPT" : "AUTH_FAILED");
  }
  // 2. Policy.
  auto pol = PolicyFor(f.tenant);
  if (!pol.ok()) {
    return refuse(403, "POLICY_DENIED", pol.status().message(), "permission_error", "policy_denied", "POLICY_DENIED");
  }
  uint64_t mask = f.compartments.value_or(0);
  const std::string& roe = pol->roe_level;
  if (f.roe_level && *f.roe_level != pol->roe_level) {
    return refuse(403, "POLICY_DENIED",
                  "ROE level " + *f.roe_level + " is not granted to tenant " + f.tenant + " (it has " +
                      (roe.empty() ? std::string("none") : roe) + ")",
                  "permission_error", "policy_denied", "POLICY_DENIED");
  }
  if (mask & dbe::kCompartmentKinetic) {
    return refuse(403, "POLICY_DENIED",
                  "KINETIC compartment (0x80) not allowed in L7 " + (roe.empty() ? std::string("any") : roe) + " mode",
                  "permission_error", "policy_denied", "POLICY_DENIED");
  }
  if (uint64_t extra = mask & ~pol->compartments) {
    uint64_t bit = extra & (~extra + 1);
    char hex[24];
    std::snprintf(hex, sizeof(hex), "0x%02llx", static_cast<unsigned long long>(bit));
    return refuse(
        403, "POLICY_DENIED",
        "compartment " + std::string(dbe::CompartmentName(bit)) + " (" + hex + ") is not granted to tenant " + f.tenant,
        "permission_error", "policy_denied", "POLICY_DENIED");
  }
  // 3. Prompt injection, fail closed: the messages with their roles when
  // the request has them.
  std::string verdict_json;
  if (auto r = f.messages.empty() ? CheckPrompt(f.tenant, f.actor, f.request_id, f.prompt, &verdict_json)
                                  : CheckMessages(f.tenant, f.actor, f.request_id, f.messages, &verdict_json)) {
    return r;
  }
  if (!verdict_json.empty()) {
    json v = json::parse(verdict_json, nullptr, false);
    std::string reason = v.is_object() ? v.value("reason", std::string()) : std::string();
    auto r = refuse(403, "PROMPT_INJECTION", reason.empty() ? "Prompt injection pattern detected" : reason,
                    "permission_error", "prompt_injection", "PROMPT_INJECTION");
    r->detail = verdict_json;
    return r;
  }
  return std::nullopt;
}

std::optional<Refusal> Admission::CheckPrompt(const std::string& tenant, const std::string& actor,
                                              const std::string& request_id, const std::string& text,
                                              std::string* flagged_verdict) const {
  return ReadVerdict(tenant, actor, state_.detector->Check(tenant, request_id, text), flagged_verdict);
}

std::optional<Refusal> Admission::CheckMessages(const std::string& tenant, const std::string& actor,
                                                const std::string& request_id, const std::vector<ChatMessage>& messages,
                                                std::string* flagged_verdict) const {
  return ReadVerdict(tenant, actor, state_.detector->CheckMessages(tenant, request_id, messages), flagged_verdict);
}

std::optional<Refusal> Admission::ReadVerdict(const std::string& tenant, const std::string& actor,
                                              const Result<std::string>& verdict, std::string* flagged_verdict) const {
  flagged_verdict->clear();
  std::string device = "prompt-injection detector (device " + std::to_string(state_.detector_device) + ")";
  if (!verdict.ok()) {
    return Refuse(503, "DETECTOR_UNAVAILABLE", device + " unavailable, request refused: " + verdict.status().message(),
                  "server_error", "detector_unavailable", "DETECTOR_UNAVAILABLE", tenant, actor);
  }
  json v = json::parse(*verdict, nullptr, false);
  if (v.is_discarded() || !v.is_object() || !v.contains("injection") || !v["injection"].is_boolean()) {
    return Refuse(503, "DETECTOR_UNAVAILABLE", device + " gave an unreadable verdict, request refused", "server_error",
                  "detector_unavailable", "DETECTOR_UNAVAILABLE", tenant, actor);
  }
  if (v["injection"].get<bool>()) *flagged_verdict = v.dump();
  return std::nullopt;
}

Result<TenantPolicy> Admission::PolicyFor(const std::string& tenant) const {
  TenantPolicy p;
  if (state_.policies != nullptr) {
    auto b = state_.policies->Get(tenant);
    if (b.ok()) {
      p.roe_level = (*b)->roe_level;
      for (const auto& c : (*b)->compartments) {
        auto m = dbe::ParseCompartmentMask(c);
        if (m.ok()) p.compartments |= *m;
      }
      return p;
    }
  }
  for (const TenantInfo& t : state_.tenants) {
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

std::string Admission::ClaimedTenant(std::string_view key) const {
  if (key.substr(0, 3) != "sk-") return "";
  size_t dash = key.find('-', 3);
  if (dash == std::string_view::npos || dash - 3 > 32) return "";
  std::string t(key.substr(3, dash - 3));
  for (char& c : t) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  for (const TenantInfo& ti : state_.tenants) {
    if (ti.id == t) return t;
  }
  return "";
}

}  // namespace dsmil::devices::l7
