// The part the L9 devices (59 COA, 60 strategy, 61 NC3, 62 coalition) share:
// the id and tenant of their DeviceContext, an injectable wall clock
// (L9Options), Start/Stop with the stopped flag, and the common part of
// Health (stopped, then whether stores.path is set). Each device derives from
// L9Device and keeps only its own request handling and state.
//
// Thread safety: as Device. stopped_, and whatever a derived device declares
// DSMIL_GUARDED_BY(mu_), is accessed only under mu_.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/mutex.h"
#include "devices/device.h"

namespace dsmil::devices::l9 {

struct L9Options {
  // Wall clock in Unix milliseconds; empty = the system clock.
  std::function<int64_t()> now_ms;
};

class L9Device : public Device {
 public:
  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }
  Status Start() override;
  void Stop() override;

 protected:
  L9Device(DeviceContext ctx, L9Options options);

  int64_t NowMs() const;
  bool stopped() const;
  // kStopped after Stop(); without stores.path kNotImplemented with
  // "not configured: stores.path is not set (<why>); every <refused> is
  // refused"; else kHealthy.
  DeviceHealth StoresHealth(std::string_view why, std::string_view refused) const;

  DeviceContext ctx_;
  L9Options options_;
  mutable Mutex mu_;
  bool stopped_ DSMIL_GUARDED_BY(mu_) = false;
};

}  // namespace dsmil::devices::l9
