#include "devices/l9/admission.h"

#include "core/metrics.h"
#include "dbe/registry.h"
#include "devices/authz.h"
#include "store/scope.h"

namespace dsmil::devices::l9 {

std::string TenantLabel(const DeviceContext& ctx, const std::string& tenant) {
  for (const auto& t : ctx.tenants) {
    if (t.id == tenant) return tenant;
  }
  return ctx.tenants.empty() && store::TenantScope::For(tenant).ok() ? tenant : "unknown";
}

std::optional<dbe::Message> AdmitL9Request(const DeviceContext& ctx, int device_id, dbe::MsgType want,
                                           const dbe::Message& request, Family<Counter>* refusals) {
  if (request.type() != want) {
    return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "UNSUPPORTED_MESSAGE_TYPE",
                               "device " + std::to_string(device_id) + " takes " + std::string(dbe::MsgTypeName(want)) +
                                   " (" + std::string(dbe::MsgTypeHex(want)) + ") only, not " +
                                   std::string(dbe::MsgTypeName(request.type())));
  }
  auto refusal = AuthorizeRequest(ctx, device_id, request);
  if (refusal && refusals != nullptr) {
    auto r = refusal->GetString(dbe::TlvType::kErrorReason);
    refusals->Labels({TenantLabel(ctx, std::string(request.tenant_id())), r.ok() ? std::string(*r) : "CLAIM_INVALID"})
        .Inc();
  }
  return refusal;
}

}  // namespace dsmil::devices::l9
