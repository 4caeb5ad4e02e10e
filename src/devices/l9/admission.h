// What the L9 request/answer devices (59 COA, 60 strategy, 62 coalition) do
// first with every request, in one place: the message type, the caller's
// claim (devices/authz.h, its refusal counted under the tenant's label), and
// the tenant label metrics may carry.
#pragma once

#include <optional>
#include <string>

#include "dbe/message.h"
#include "devices/device.h"

namespace dsmil {
template <typename T>
class Family;
class Counter;
}  // namespace dsmil

namespace dsmil::devices::l9 {

// `tenant` when it is a tenant of the node (or any valid id when the node
// lists none), else "unknown": metric labels never carry arbitrary ids.
std::string TenantLabel(const DeviceContext& ctx, const std::string& tenant);

// The ERROR reply when `request` is not of type `want` (UNSUPPORTED_MESSAGE_TYPE)
// or its claim does not authorize it (counted in `refusals`, labelled
// {tenant, reason}, when not null); nullopt when the device may go on.
std::optional<dbe::Message> AdmitL9Request(const DeviceContext& ctx, int device_id, dbe::MsgType want,
                                           const dbe::Message& request, Family<Counter>* refusals);

}  // namespace dsmil::devices::l9
