// Device 37, the L6 risk assessment (docs/l5-l6.md §5): an L6_RISK_REQ whose
// PAYLOAD is a scenario (risk.h, ParseScenario) is answered for the
// envelope's tenant with the Monte Carlo loss distribution over the attack
// graph of the scenario and the tenant's own archived events of the last
// window_hours (unless "use_archive": false). Served only with a claim token
// for the envelope's tenant (devices/authz.h); latency in
// dsmil_request_latency_seconds{device_id="37"}.
//
// Devices 36 and 38-42 are not built: device 37 runs every part of the
// assessment itself (docs/l5-l6.md §5), so they stay NOT_IMPLEMENTED.
//
// Thread safety: Handle may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/dsmil_metrics.h"
#include "core/mutex.h"
#include "devices/device.h"

namespace dsmil::devices::l6 {

struct RiskOptions {
  // Wall clock in Unix milliseconds; empty = the system clock.
  std::function<int64_t()> now_ms;
};

class RiskDevice final : public Device {
 public:
  explicit RiskDevice(DeviceContext ctx, RiskOptions options = {});
  ~RiskDevice() override;

  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }
  Status Start() override { return Status::Ok(); }
  void Stop() override;
  DeviceHealth Health() const override;
  std::string StatusDetail() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  dbe::Message Error(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                     const std::string& detail);
  int64_t NowMs() const;

  DeviceContext ctx_;
  RiskOptions options_;
  std::unique_ptr<StandardMetrics> metrics_;
  mutable Mutex mu_;
  bool stopped_ DSMIL_GUARDED_BY(mu_) = false;
  uint64_t answered_ DSMIL_GUARDED_BY(mu_) = 0;
};

Result<std::unique_ptr<Device>> CreateRiskDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l6
