#include "devices/authz.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "store/audit_sink.h"
#include "tenant/claims.h"

namespace dsmil::devices {

CallerRule CallerRuleFor(int device_id) {
  switch (device_id) {
    case 44:
    case 47:
      return CallerRule::kRouterClaim;
    case 33:  // L5 forecasts of the tenant's archive
    case 34:
    case 35:
    case 36:  // L6 evidence from the tenant's archive
    case 37:  // L6 risk assessment of the tenant's archive and scenario
    case 38:  // L6 Monte Carlo shards of the tenant's graph
    case 39:
    case 40:
    case 41:
    case 42:
    case 50:
    case 59:
    case 60:
    case 62:
      return CallerRule::kTenantClaim;
    default:
      return CallerRule::kAnyDevice;
  }
}

std::string CallerRuleText(int device_id) {
  switch (CallerRuleFor(device_id)) {
    case CallerRule::kRouterClaim:
      return "device " + std::to_string(device_id) +
             " accepts requests only from the L7 router (device 43), which admits them (API key, claim, policy, "
             "injection check, limits)";
    case CallerRule::kTenantClaim:
      return "device " + std::to_string(device_id) +
             " accepts requests only with a claim token for the request's tenant (the L7 router's, or the control "
             "API's for an operator whose certificate covers the tenant)";
    case CallerRule::kAnyDevice:
      break;
  }
  return "device " + std::to_string(device_id) + " accepts requests from any device of the cluster";
}

std::optional<dbe::Message> AuthorizeRequest(const DeviceContext& ctx, int device_id, const dbe::Message& req) {
  CallerRule rule = CallerRuleFor(device_id);
  if (rule == CallerRule::kAnyDevice) return std::nullopt;
  if (req.type() == dbe::MsgType::kHealthPing) return std::nullopt;
  std::string tenant(req.tenant_id());
  auto refuse = [&](StatusCode code, const char* reason, const std::string& why, const std::string& actor) {
    if (ctx.audit != nullptr) {
      nlohmann::json d = {{"device", device_id},
                          {"msg_type", std::string(dbe::MsgTypeName(req.type()))},
                          {"src_device", req.header().src_device},
                          {"node", ctx.node},
                          {"message", why}};
      (void)ctx.audit->Record(
          store::Refusal{tenant, "dbe:device" + std::to_string(device_id),
                         code == StatusCode::kPermissionDenied ? "TENANT_ESCAPE_ATTEMPT" : "AUTH_FAILED", reason, actor,
                         d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
    }
    return std::optional<dbe::Message>(dbe::MakeErrorReply(req, code, reason, why));
  };
  std::string src = "device:" + std::to_string(req.header().src_device);
  if (ctx.claims == nullptr) {
    return refuse(StatusCode::kUnavailable, "AUTHORIZATION_UNAVAILABLE",
                  "device " + std::to_string(device_id) + " on " + ctx.node +
                      " has no claim keys (stores.secrets_dir) and cannot authorize requests",
                  src);
  }
  auto token = req.GetBytes(dbe::TlvType::kL7ClaimToken);
  if (!token.ok()) {
    return refuse(StatusCode::kUnauthenticated, "CLAIM_MISSING",
                  "L7_CLAIM_TOKEN is missing: " + CallerRuleText(device_id), src);
  }
  int64_t now_s = DefaultClock().NowUnixNanos() / 1000000000;
  auto claim = ctx.claims->Verify(*token, tenant, now_s);
  if (!claim.ok()) {
    bool other = claim.status().code() == StatusCode::kPermissionDenied;
    auto peek = tenant::PeekClaim(*token);
    return refuse(other ? StatusCode::kPermissionDenied : StatusCode::kUnauthenticated,
                  other ? "CLAIM_TENANT_MISMATCH" : "CLAIM_INVALID", claim.status().message(),
                  peek.ok() ? peek->user_id : src);
  }
  if (rule == CallerRule::kRouterClaim && claim->user_id.rfind(kOperatorUserPrefix, 0) == 0) {
    return refuse(StatusCode::kPermissionDenied, "CALLER_NOT_ALLOWED", CallerRuleText(device_id), claim->user_id);
  }
  return std::nullopt;
}

}  // namespace dsmil::devices
