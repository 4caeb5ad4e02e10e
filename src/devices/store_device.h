// The part shared by the devices that serve a tenant from its stores (L5
// 33-35, L6 36-42, L9 59-62): the id and tenant of their DeviceContext, an
// injectable wall clock (StoreDeviceOptions), Start/Stop with the stopped
// flag, the common part of Health (stopped, then whether stores.path is set),
// and the JSON reply they all send. Each device derives from StoreDevice and
// keeps only its own request handling and state.
//
// Thread safety: as Device. stopped_, and whatever a derived device declares
// DSMIL_GUARDED_BY(mu_), is accessed only under mu_.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/mutex.h"
#include "devices/device.h"

namespace dsmil::devices {

struct StoreDeviceOptions {
  // Wall clock in Unix milliseconds; empty = the system clock.
  std::function<int64_t()> now_ms;
};

class StoreDevice : public Device {
 public:
  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }
  Status Start() override;
  void Stop() override;

 protected:
  StoreDevice(DeviceContext ctx, StoreDeviceOptions options);

  int64_t NowMs() const;
  bool stopped() const;
  // kStopped after Stop(); without stores.path kNotImplemented with
  // "not configured: stores.path is not set (<why>); every <refused> is
  // refused"; else kHealthy.
  DeviceHealth StoresHealth(std::string_view why, std::string_view refused) const;

  DeviceContext ctx_;
  StoreDeviceOptions options_;
  mutable Mutex mu_;
  bool stopped_ DSMIL_GUARDED_BY(mu_) = false;
};

// The reply of `type` to `request` for `tenant`: source and destination
// swapped, the request's REQUEST_ID, CONTENT_TYPE json and `body` as PAYLOAD
// (invalid UTF-8 replaced).
dbe::Message JsonReply(const dbe::Message& request, dbe::MsgType type, const std::string& tenant,
                       const nlohmann::json& body);

}  // namespace dsmil::devices
