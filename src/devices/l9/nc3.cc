#include "devices/l9/nc3.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "core/log.h"
#include "core/metrics.h"
#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "store/audit_sink.h"
#include "tenant/claims.h"
#include "tenant/operators.h"
#include "tenant/roe.h"

namespace dsmil::devices::l9 {
namespace {

constexpr const char* kEntry = "dbe:device61";

}  // namespace

Nc3Device::Nc3Device(DeviceContext ctx, Nc3Options options) : L9Device(std::move(ctx), std::move(options)) {
  if (ctx_.metrics) {
    queries_ = &ctx_.metrics->AddCounter("dsmil_nc3_queries_total",
                                         "NC3 queries to device 61 by outcome (ACCEPTED or the refusal reason)",
                                         {"tenant_id", "outcome"});
  }
}

Nc3Device::~Nc3Device() = default;

DeviceHealth Nc3Device::Health() const {
  return StoresHealth("device 61 keeps ROE tokens and the operator registry there", "NC3 query");
}

void Nc3Device::Count(const std::string& tenant, std::string_view outcome) {
  if (!queries_) return;
  // Label values from a bounded set: the node's tenants, else "unknown".
  std::string label = "unknown";
  for (const auto& t : ctx_.tenants) {
    if (t.id == tenant) label = tenant;
  }
  if (ctx_.tenants.empty() && !tenant.empty()) label = tenant;
  queries_->Labels({label, outcome}).Inc();
}

dbe::Message Nc3Device::Refuse(const dbe::Message& request, const std::string& tenant, const std::string& actor,
                               const Refused& r) {
  Count(tenant, r.reason);
  if (ctx_.audit) {
    nlohmann::json d = {
        {"device", kNc3DeviceId}, {"msg_type", std::string(dbe::MsgTypeName(request.type()))}, {"why", r.detail}};
    if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) d["request_id"] = std::string(*rid);
    if (auto roe = request.GetString(dbe::TlvType::kRoeTokenId); roe.ok()) d["roe_token_id"] = std::string(*roe);
    Status s = ctx_.audit->Record(store::Refusal{tenant, kEntry, r.event_type, r.reason, actor,
                                                 d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
    if (!s.ok() && ctx_.log) ctx_.log->Warn("nc3 refusal not audited", {{"tenant", tenant}, {"error", s.message()}});
  }
  if (ctx_.log) ctx_.log->Warn("nc3 query refused", {{"tenant", tenant}, {"reason", r.reason}, {"why", r.detail}});
  return dbe::MakeErrorReply(request, StatusCode::kPermissionDenied, r.reason, r.detail.substr(0, 1024));
}

bool Nc3Device::RememberRequest(const std::string& key, int64_t timestamp_ms, int64_t now_ms) {
  MutexLock lock(mu_);
  const std::string path = ctx_.stores.path.empty() ? std::string() : ctx_.stores.path + "/l9/nc3_requests";
  std::optional<tenant::internal::FileLock> file_lock;
  if (!path.empty()) {
    // Re-read under the file lock: other processes on the same stores record theirs too.
    auto l = tenant::internal::FileLock::Take(path, "nc3 requests");
    if (l.ok()) file_lock.emplace(std::move(*l));
    auto text = tenant::internal::ReadWholeFile(path, "nc3 requests");
    if (text.ok()) {
      std::istringstream in(*text);
      std::string k;
      int64_t ts = 0;
      while (in >> ts >> k) seen_.emplace(k, ts);
    } else if (ctx_.log) {
      ctx_.log->Warn("nc3 request ids not read", {{"error", text.status().message()}});
    }
  }
  for (auto it = seen_.begin(); it != seen_.end();) {
    it = (it->second < now_ms - 2 * kNc3MaxSkewMs) ? seen_.erase(it) : std::next(it);
  }
  if (!seen_.emplace(key, timestamp_ms).second) return false;
  if (!path.empty()) {
    std::string text;
    for (const auto& [k, ts] : seen_) text += std::to_string(ts) + " " + k + "\n";
    Status s = tenant::internal::ReplaceFile(path, text, "nc3 requests");
    if (!s.ok() && ctx_.log) ctx_.log->Warn("nc3 request ids not saved", {{"error", s.message()}});
  }
  return true;
}

Result<dbe::Message> Nc3Device::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  // Who sent it, for the audit row: the verified claim's user, else USER_ID.
  std::string actor = "unknown";
  if (auto user = request.GetString(dbe::TlvType::kUserId); user.ok()) actor = "user:" + std::string(*user);
  if (auto claim = request.GetBytes(dbe::TlvType::kL7ClaimToken); claim.ok() && ctx_.claims) {
    auto c = ctx_.claims->Verify(*claim, tenant, NowMs() / 1000);
    if (c.ok()) actor = c->user_id;
  }
  if (stopped()) return Status::Unavailable("device 61 is stopped");
  if (request.type() != dbe::MsgType::kL9Nc3Query) {
    Count(tenant, "UNSUPPORTED_MESSAGE_TYPE");
    return dbe::MakeErrorReply(
        request, StatusCode::kInvalidArgument, "UNSUPPORTED_MESSAGE_TYPE",
        "device 61 takes L9_NC3_QUERY (0x62) only, not " + std::string(dbe::MsgTypeName(request.type())));
  }
  if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
    return Refuse(
        request, tenant, actor,
        {"TENANT_MISMATCH", "this instance of device 61 serves tenant " + ctx_.tenant, "TENANT_ESCAPE_ATTEMPT"});
  }
  auto parsed = ParseNc3Request(request);
  if (!parsed.ok()) {
    Count(tenant, "BAD_REQUEST");
    return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "BAD_REQUEST", parsed.status().message());
  }
  const Nc3Request& req = *parsed;
  const int64_t now_ms = NowMs();

  // a. The ROE token.
  if (req.roe_token_id.empty()) {
    return Refuse(request, tenant, actor, {"INVALID_ROE_TOKEN", "no ROE_TOKEN_ID: NC3 queries need an ROE token"});
  }
  if (ctx_.stores.path.empty()) {
    return Refuse(request, tenant, actor,
                  {"INVALID_ROE_TOKEN", "no ROE token registry on this node (stores.path is not set)"});
  }
  auto roe_pub = crypto::ReadPublicKey(tenant::RoeKeyPrefix(ctx_.stores) + ".pub", crypto::KeyAlg::kMlDsa87);
  if (!roe_pub.ok()) {
    return Refuse(request, tenant, actor, {"INVALID_ROE_TOKEN", "no cluster ROE key: " + roe_pub.status().message()});
  }
  auto roe_store = tenant::RoeTokenStore::Open(tenant::RoeTokenFile(ctx_.stores));
  if (!roe_store.ok()) return Refuse(request, tenant, actor, {"INVALID_ROE_TOKEN", roe_store.status().message()});
  auto token = (*roe_store)->Find(req.roe_token_id);
  if (!token.ok()) {
    return Refuse(request, tenant, actor, {"INVALID_ROE_TOKEN", "unknown ROE token " + req.roe_token_id});
  }
  if (Status s = tenant::CheckRoeToken(*token, *roe_pub, tenant, tenant::kRoeScopeNc3, now_ms / 1000); !s.ok()) {
    const char* event = token->tenant != tenant ? "TENANT_ESCAPE_ATTEMPT" : "AUTH_FAILED";
    return Refuse(request, tenant, actor, {"INVALID_ROE_TOKEN", s.message(), event});
  }

  // b. Two-person signatures: at least two, and every one present valid.
  if (req.signature_tlvs < 2) {
    return Refuse(request, tenant, actor,
                  {"MISSING_TWO_PERSON_SIGNATURES",
                   std::to_string(req.signature_tlvs) + " TWO_PERSON_SIG_x TLV(s); NC3 queries need two operators"});
  }
  if (!req.incomplete.empty()) return Refuse(request, tenant, actor, {"BAD_SIGNATURE", req.incomplete.front()});
  auto operators = tenant::OperatorRegistry::Open(tenant::OperatorFile(ctx_.stores));
  if (!operators.ok()) return Refuse(request, tenant, actor, {"UNKNOWN_SIGNER", operators.status().message()});
  auto signing = Nc3SigningBytes(request);
  if (!signing.ok()) return Refuse(request, tenant, actor, {"BAD_SIGNATURE", signing.status().message()});
  std::set<std::string> names;
  std::set<Bytes> keys;
  std::vector<std::string> signers;
  for (const Nc3Signature& sig : req.signatures) {
    std::string slot(1, sig.slot);
    if (!names.insert(sig.signer).second) {
      return Refuse(request, tenant, actor,
                    {"DUPLICATE_SIGNER", "operator " + sig.signer + " signed twice (TWO_PERSON_SIG_" + slot + ")"});
    }
    auto op = (*operators)->Find(sig.signer);
    if (!op.ok()) {
      return Refuse(
          request, tenant, actor,
          {"UNKNOWN_SIGNER", "TWO_PERSON_SIGNER_" + slot + ": " + sig.signer + " is not a registered operator"});
    }
    if (!keys.insert(op->public_key).second) {
      return Refuse(request, tenant, actor,
                    {"DUPLICATE_SIGNER", "operator " + sig.signer + " has the key of another signer of this request"});
    }
    if (!crypto::MlDsa87Verify(op->public_key, *signing, AsBytes(kNc3SignatureContext), sig.signature).ok()) {
      return Refuse(request, tenant, actor,
                    {"BAD_SIGNATURE", "TWO_PERSON_SIG_" + slot + " does not verify under the key of operator " +
                                          sig.signer + " over this request"});
    }
    signers.push_back(sig.signer);
  }

  // c. Freshness: TIMESTAMP within the window, REQUEST_ID never seen.
  if (!req.timestamp_ms) {
    return Refuse(request, tenant, actor,
                  {"REPLAYED_REQUEST", "no TIMESTAMP (decimal Unix milliseconds): freshness cannot be checked"});
  }
  int64_t skew = *req.timestamp_ms - now_ms;
  if (skew > kNc3MaxSkewMs || skew < -kNc3MaxSkewMs) {
    return Refuse(request, tenant, actor,
                  {"REPLAYED_REQUEST", "TIMESTAMP is " + std::to_string(skew / 1000) + " s from this device's clock (" +
                                           "allowed ±" + std::to_string(kNc3MaxSkewMs / 1000) + " s)"});
  }
  if (!RememberRequest(tenant + "/" + req.request_id, *req.timestamp_ms, now_ms)) {
    return Refuse(request, tenant, actor, {"REPLAYED_REQUEST", "REQUEST_ID " + req.request_id + " was seen before"});
  }

  // Authorized: record it, then answer with the record and the status.
  nlohmann::json authorization = {{"roe_token_id", token->id},
                                  {"tenant", tenant},
                                  {"scope", token->scope},
                                  {"roe_issuer", token->issuer},
                                  {"roe_expires_at_s", token->exp_s},
                                  {"signers", signers},
                                  {"request_id", req.request_id},
                                  {"request_timestamp_ms", *req.timestamp_ms},
                                  {"authorized_at_ms", now_ms},
                                  {"actor", actor}};
  if (ctx_.audit) {
    Status s = ctx_.audit->Append(tenant, "NC3_QUERY_AUTHORIZED", actor, authorization.dump());
    if (!s.ok()) {
      Count(tenant, "AUDIT_UNAVAILABLE");
      return dbe::MakeErrorReply(request, StatusCode::kUnavailable, "AUDIT_UNAVAILABLE",
                                 "the authorization could not be recorded: " + s.message());
    }
  }
  Count(tenant, "ACCEPTED");
  if (ctx_.log) {
    ctx_.log->Info("nc3 query authorized",
                   {{"tenant", tenant}, {"roe_token", token->id}, {"request_id", req.request_id}});
  }
  nlohmann::json body = {
      {"authorization", authorization},
      {"status",
       {{"nc3_link", "NOT_CONNECTED"},
        {"operational_data", false},
        {"summary",
         "Two-person NC3 authorization verified and recorded. This system has no NC3 link: no operational "
         "data is available or returned."}}}};
  dbe::Message reply(dbe::MsgType::kL9Nc3Resp);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, tenant).SetString(dbe::TlvType::kRequestId, req.request_id);
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, body.dump());
  return reply;
}

Result<std::unique_ptr<Device>> CreateNc3Device(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new Nc3Device(ctx));
}

}  // namespace dsmil::devices::l9
