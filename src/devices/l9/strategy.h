// Device 60, Global Strategy (spec §3.1; docs/l9.md "Device 60: global
// strategy").
//
// An L9_STRATEGY_REQ (PAYLOAD {"window_hours": N}, N in 1..720) asks for a
// campaign-level summary of the tenant's OWN archived SOC events of the last
// N hours (at most the newest kMaxStrategyEvents): the events are grouped
// into campaigns by the rule of SummarizeCampaigns and answered per campaign
// (hosts, categories, severity mix, first/last seen, count) with the top
// categories and severities overall. An empty window answers an empty summary
// that says so; nothing is invented. Served only with a claim token for the
// envelope's tenant (devices/authz.h, kTenantClaim).
//
// Thread safety: the device may be used from any thread; SummarizeCampaigns
// is a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/metrics.h"
#include "devices/device.h"
#include "devices/l9/l9_device.h"
#include "devices/soc/event.h"

namespace dsmil::devices::l9 {

inline constexpr int kStrategyDeviceId = 60;
// Request and summary limits (docs/l9.md).
inline constexpr int64_t kMaxStrategyWindowHours = 720;
inline constexpr size_t kMaxStrategyEvents = 10000;
inline constexpr size_t kMaxCampaignsListed = 50;
inline constexpr size_t kMaxCampaignIndicators = 20;  // per kind (domains, ips, hashes)

// The campaign summary of docs/l9.md over `events` (any order; the result
// depends only on the set of events). The JSON holds "events",
// "notable_events", "campaigns_total", "campaigns" (ranked, at most
// kMaxCampaignsListed), "isolated_notable_events", "overall" and "summary".
nlohmann::json SummarizeCampaigns(std::vector<soc::SocEvent> events);

using StrategyOptions = L9Options;

class StrategyDevice final : public L9Device {
 public:
  explicit StrategyDevice(DeviceContext ctx, StrategyOptions options = {});
  ~StrategyDevice() override;

  DeviceHealth Health() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  dbe::Message Refuse(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                      const std::string& detail);

  Family<Counter>* requests_ = nullptr;
};

Result<std::unique_ptr<Device>> CreateStrategyDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l9
