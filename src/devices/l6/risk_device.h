// Device 37, the L6 risk assessment (docs/l5-l6.md §5): an L6_RISK_REQ whose
// PAYLOAD is a scenario (risk.h, ParseScenario) is answered for the
// envelope's tenant with the Monte Carlo loss distribution over the attack
// graph of the scenario and the tenant's own archived events of the last
// window_hours (unless "use_archive": false). Served only with a claim token
// for the envelope's tenant (devices/authz.h); latency in
// dsmil_request_latency_seconds{device_id="37"}.
//
// Device 37 is the entry point: it asks device 36 for the archive's evidence
// and devices 38..42 for one shard of the Monte Carlo each, all five at once
// (risk_parts.h), and merges them; a part whose device cannot answer runs
// here, and the reply's "parts" says where each ran. The answer is the same
// wherever the parts ran (docs/l5-l6.md §5).
//
// Thread safety: Handle may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/dsmil_metrics.h"
#include "core/mutex.h"
#include "devices/device.h"
#include "devices/store_device.h"

namespace dsmil::devices::l6 {

// How long device 37 waits for each part.
inline constexpr int kPartTimeoutMs = 10000;

using RiskOptions = StoreDeviceOptions;

class RiskDevice final : public StoreDevice {
 public:
  explicit RiskDevice(DeviceContext ctx, RiskOptions options = {});
  ~RiskDevice() override;

  DeviceHealth Health() const override;
  std::string StatusDetail() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  dbe::Message Error(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                     const std::string& detail);
  // Sends `payload` in an L6_RISK_REQ to `device` for `tenant` with the
  // request's claim token (the local instance when the node hosts one, else
  // through the router) and returns the answer's JSON body.
  Result<nlohmann::json> CallPart(const dbe::Message& request, const std::string& tenant, int device,
                                  const nlohmann::json& payload);

  std::unique_ptr<StandardMetrics> metrics_;
  uint64_t answered_ DSMIL_GUARDED_BY(mu_) = 0;
};

Result<std::unique_ptr<Device>> CreateRiskDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l6
