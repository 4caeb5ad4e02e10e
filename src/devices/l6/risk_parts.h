// The parts of an L6 risk assessment that device 37 hands to other devices
// (docs/l5-l6.md §5):
//   36        evidence: the tenant's archived events of the window read and
//             turned into observed hosts with the likelihood model's entry
//             probability, their categories and L8 flags (ComputeEvidence);
//   38..42    samplers: one shard of the Monte Carlo each (SimulateShard) over
//             the graph device 37 sends, from the shard's own seed.
// Both answer L6_RISK_REQ for the envelope's tenant with a claim token for
// it (devices/authz.h; device 37 forwards the caller's), like device 37.
//
// PAYLOAD, device 36: {"window_hours": 1..720}
//   reply {"part": "evidence", "hosts": EvidenceToJson, "events": N,
//          "skipped_events": N, "truncated": bool, "window_hours": H}
// PAYLOAD, devices 38..42: {"scenario": GraphToScenario, "shard_samples": N,
//          "shard_seed": S}
//   reply {"part": "samples", "shard": PartialToJson}
//
// Thread safety: Handle may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dsmil_metrics.h"
#include "core/mutex.h"
#include "devices/device.h"
#include "devices/l6/risk.h"
#include "devices/store_device.h"
#include "store/archive.h"

namespace dsmil::devices::l6 {

// The tenant's events of the last window_hours from its archive, at most
// kMaxRiskEvents, newest first; `skipped` counts rows that did not parse.
struct ArchiveEvents {
  std::vector<soc::SocEvent> events;
  size_t skipped = 0;
  bool truncated = false;
};
Result<ArchiveEvents> ReadRiskEvents(const store::StoresConfig& stores, const std::string& tenant, int64_t since_ms);

using RiskPartOptions = StoreDeviceOptions;

class RiskPartDevice final : public StoreDevice {
 public:
  explicit RiskPartDevice(DeviceContext ctx, RiskPartOptions options = {});
  ~RiskPartDevice() override;

  DeviceHealth Health() const override;
  std::string StatusDetail() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  dbe::Message Error(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                     const std::string& detail);

  std::unique_ptr<StandardMetrics> metrics_;
  uint64_t answered_ DSMIL_GUARDED_BY(mu_) = 0;
  uint64_t samples_ DSMIL_GUARDED_BY(mu_) = 0;
};

Result<std::unique_ptr<Device>> CreateRiskPartDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l6
