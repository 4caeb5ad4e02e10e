// Who may call a device (docs/security.md). A tenant-scoped request is served
// only if the caller's identity covers that tenant; inside the cluster that
// identity travels with the envelope as an ML-DSA-87 claim token
// (L7_CLAIM_TOKEN, tenant/claims.h) for the envelope's TENANT_ID:
//   - the L7 router (device 43) attaches the token it issued for the API key;
//   - the control API's POST /v1/dbe attaches one it issues for the operator
//     whose certificate covers the tenant (user "operator:<CN>").
// Devices that act on tenant data verify it here, so a frame that reached
// them on another path (a peer node, a forged src_device) is refused too.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "dbe/message.h"
#include "devices/device.h"

namespace dsmil::devices {

// Which callers a device accepts.
enum class CallerRule {
  kAnyDevice,    // node-internal traffic, no tenant data acted on for a caller
  kTenantClaim,  // a claim token valid for the envelope's tenant (operator or router)
  kRouterClaim,  // only the L7 router's claim: generation after admission (44, 47)
};

CallerRule CallerRuleFor(int device_id);
// One sentence an operator reads in a refusal: "device 47 accepts requests
// only from the L7 router (device 43), which admits them".
std::string CallerRuleText(int device_id);

// User ids of operator claims start with this prefix.
inline constexpr std::string_view kOperatorUserPrefix = "operator:";

// Checks `req` against the rule of `device_id`: nullopt when it may be
// served, else the ERROR reply to send (reason CLAIM_MISSING, CLAIM_INVALID,
// CLAIM_TENANT_MISMATCH, CALLER_NOT_ALLOWED or AUTHORIZATION_UNAVAILABLE),
// after recording the refusal in the tenant's audit chain (ctx.audit).
// Health pings and SYSTEM traffic carry no tenant data and pass.
std::optional<dbe::Message> AuthorizeRequest(const DeviceContext& ctx, int device_id, const dbe::Message& req);

}  // namespace dsmil::devices
