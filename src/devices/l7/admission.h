// Admission of L7 requests (docs/l7.md §3, §4): whether a request may go on,
// decided from the facts of the request and the router's state, with the
// refusal the client sees. A pure decision unit: no sockets, no threads, no
// recording. The caller (http_front.h, pipeline.h) does the I/O of the
// request and records every refusal (recorder.h). The state is what the
// decisions consult: the API-key table, the claim verifier, the rate limits,
// the prompt-injection detector and the tenant policies.
//
// The stages, in the order the HTTP front runs them:
//   1. Authenticate  the API key names the tenant: 401 invalid_api_key
//                    (audited in the chain of the tenant the key names); a
//                    key of another tenant than X-DSMIL-Tenant asserts: 403
//                    tenant_mismatch (TENANT_ESCAPE_ATTEMPT).
//   2. Reserve       the tenant's request rate, concurrency and token
//                    budget: 429 rate_limit_exceeded.
//   3. CheckChat     an L7_CHAT_REQ, from the front or from another device:
//                    the claim token (401 invalid_claim_token; 403 for a
//                    token of another tenant), the tenant policy (403
//                    policy_denied), the prompt-injection check (403
//                    prompt_injection; 503 detector_unavailable when the
//                    detector gives no verdict: fail closed).
// CheckPrompt is the injection check alone (retrieved RAG passages).
//
// Thread safety: every method may be called concurrently when the state's
// objects may (the tenant/ ones and the router's detector are thread-safe).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/device.h"
#include "devices/l7/openai.h"
#include "tenant/keys.h"
#include "tenant/ratelimit.h"

namespace dsmil::tenant {
class ClaimVerifier;
class PolicyStore;
}  // namespace dsmil::tenant

namespace dsmil::devices::l7 {

// A refused request: what the client sees and what is recorded.
struct Refusal {
  ApiError error;          // HTTP status, OpenAI error type, code and message
  std::string reason;      // symbol: PROMPT_INJECTION, POLICY_DENIED, CLAIM_INVALID, ...
  std::string audit_type;  // audit event type; "" = not audited (e.g. rate limits)
  std::string detail;      // the detector's verdict (JSON object text), "" = none
  std::string tenant;      // counted and audited under this tenant; "" = unknown
  std::string actor;       // who asked: "key:<id>", "key-prefix:sk-...", USER_ID, "device:<n>"
};

// The prompt-injection detector: device 51 (L8_PROMPT_CHECK) in the router.
class PromptDetector {
 public:
  virtual ~PromptDetector() = default;
  // The verdict JSON for `text` (docs/dbe.md "Prompt checks":
  // {"injection": bool, "reason": "...", ...}), or an error whose message
  // says why there is none.
  virtual Result<std::string> Check(const std::string& tenant, const std::string& request_id,
                                    const std::string& text) = 0;
  // The same for chat messages with their roles (client-supplied system and
  // assistant turns are scored as such). By default the contents joined with
  // newlines go to Check.
  virtual Result<std::string> CheckMessages(const std::string& tenant, const std::string& request_id,
                                            const std::vector<ChatMessage>& messages);
};

// The per-tenant request limits: tenant::RateLimiter in the router.
class RequestLimiter {
 public:
  virtual ~RequestLimiter() = default;
  // One request of `tenant` reserving `reserve_tokens` of its budget;
  // ResourceExhausted naming the limit it would pass.
  virtual Result<tenant::Lease> Acquire(const std::string& tenant, uint64_t reserve_tokens) = 0;
};

// tenant::RateLimiter (not owned; must outlive the result) as a RequestLimiter.
std::unique_ptr<RequestLimiter> SharedRateLimits(tenant::RateLimiter* limiter);

// What the decisions consult. The pointers are not owned and must outlive
// the Admission.
struct AdmissionState {
  tenant::ApiKeyStore* keys = nullptr;      // Authenticate
  RequestLimiter* limiter = nullptr;        // Reserve
  tenant::ClaimVerifier* claims = nullptr;  // CheckChat
  PromptDetector* detector = nullptr;       // CheckChat, CheckPrompt
  int detector_device = 51;                 // named in the detector's refusals
  tenant::PolicyStore* policies = nullptr;  // policy bundles; null = `tenants:` only
  std::vector<TenantInfo> tenants;          // the node's tenants (`tenants:`)
};

// The ROE level and compartments a tenant holds.
struct TenantPolicy {
  std::string roe_level;
  uint64_t compartments = 0;  // COMPARTMENT_MASK bits
};

// The facts of one L7_CHAT_REQ envelope that admission looks at.
struct ChatFacts {
  std::string tenant;                      // TENANT_ID
  std::string actor;                       // USER_ID, else "device:<source>"
  std::string request_id;                  // REQUEST_ID
  std::optional<std::string> claim_token;  // L7_CLAIM_TOKEN bytes; nullopt = absent
  std::optional<uint64_t> compartments;    // COMPARTMENT_MASK; nullopt = none asked
  std::optional<std::string> roe_level;    // ROE_LEVEL; nullopt = none asked
  std::string prompt;                      // PromptText() of the request
  std::vector<ChatMessage> messages;       // the messages with their roles; empty = check `prompt`
  int64_t now_s = 0;                       // Unix seconds (claim expiry)
};

class Admission {
 public:
  explicit Admission(AdmissionState state) : state_(std::move(state)) {}

  // Stage 1. `key` is the presented key (non-empty: a missing one is the
  // front's 401); `asserted_tenant` the X-DSMIL-Tenant header ("" = none).
  // Fills *out with the key's record when admitted.
  std::optional<Refusal> Authenticate(std::string_view key, std::string_view asserted_tenant,
                                      tenant::ApiKeyInfo* out) const;

  // Stage 2. Reserves `reserve_tokens` of the key's tenant's budget; *out
  // holds the lease (settle it with what was used) when admitted.
  std::optional<Refusal> Reserve(const tenant::ApiKeyInfo& key, uint64_t reserve_tokens, tenant::Lease* out) const;

  // Stage 3: claim token, policy, prompt injection, in that order.
  std::optional<Refusal> CheckChat(const ChatFacts& facts) const;

  // The prompt-injection check of `text` alone: a refusal (503) when the
  // detector gives no readable verdict; otherwise nullopt, with
  // *flagged_verdict set to the verdict JSON when the detector flagged the
  // text and cleared when it is clean.
  std::optional<Refusal> CheckPrompt(const std::string& tenant, const std::string& actor, const std::string& request_id,
                                     const std::string& text, std::string* flagged_verdict) const;
  // The same check of chat messages with their roles.
  std::optional<Refusal> CheckMessages(const std::string& tenant, const std::string& actor,
                                       const std::string& request_id, const std::vector<ChatMessage>& messages,
                                       std::string* flagged_verdict) const;

  // The tenant's policy: its bundle when policy bundles are configured and
  // it has one, else its `tenants:` entry. PermissionDenied when neither.
  Result<TenantPolicy> PolicyFor(const std::string& tenant) const;

  // The tenant a presented key names ("sk-alpha-..." -> ALPHA) when it is a
  // tenant of the node, else "".
  std::string ClaimedTenant(std::string_view key) const;

 private:
  std::optional<Refusal> ReadVerdict(const std::string& tenant, const std::string& actor,
                                     const Result<std::string>& verdict, std::string* flagged_verdict) const;
  AdmissionState state_;
};

}  // namespace dsmil::devices::l7
