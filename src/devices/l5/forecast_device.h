// Devices 33 (rate forecast), 34 (severity-mix forecast) and 35 (anomaly
// detector) of L5 (docs/l5-l6.md §1, §4). One class, three ids: each answers
// an L5_FORECAST_REQ for the envelope's tenant with its own part, from that
// tenant's own archived SOC events (store::Archive of the tenant's scope).
//
// PAYLOAD (JSON, optional; defaults shown):
//   {"horizon_h": 24, "history_days": 14, "check_hours": 24}
// horizon_h 1..168 (33, 34), history_days 3..60, check_hours 1..168 (35).
// Too little history answers ERROR INSUFFICIENT_HISTORY saying how many hours
// are needed and how many there are.
//
// Device 35 records each flag it raises once in the tenant's audit chain
// (event type L5_RATE_ANOMALY_HIGH / L5_RATE_ANOMALY_LOW, actor
// dbe:device35, detail with the series, hour, actual count and interval):
// the flag reaches the operators through `dsmilctl audit` and the chain's
// checks. A flag already in the chain is not written again (the device reads
// the tenant's L5 rows once per process, then keeps their keys).
//
// Served only with a claim token for the envelope's tenant (devices/authz.h).
// Latency in dsmil_request_latency_seconds{device_id="33".."35"}. The hourly
// counts of hours already counted are reused while the archive holds the same
// number of events in them (devices/l5/hourly_cache.h).
//
// Thread safety: Handle may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/dsmil_metrics.h"
#include "core/mutex.h"
#include "devices/device.h"
#include "devices/l5/forecast.h"
#include "devices/l5/hourly_cache.h"
#include "devices/store_device.h"

namespace dsmil::devices::l5 {

using ForecastOptions = StoreDeviceOptions;

class ForecastDevice final : public StoreDevice {
 public:
  explicit ForecastDevice(DeviceContext ctx, ForecastOptions options = {});
  ~ForecastDevice() override;

  // Counts the hours of each tenant's default window in the background, so
  // that the first forecast after a start reuses them (HourlyCountCache).
  Status Start() override;
  void Stop() override;
  DeviceHealth Health() const override;
  std::string StatusDetail() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  struct Recorded {
    size_t flags = 0, written = 0;
    std::string error;
  };
  dbe::Message Error(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                     const std::string& detail);
  // Writes the flags of device 35 not yet in the tenant's chain.
  Recorded RecordFlags(const std::string& tenant, const std::vector<RateAnomaly>& flags);

  std::unique_ptr<StandardMetrics> metrics_;
  uint64_t answered_ DSMIL_GUARDED_BY(mu_) = 0;
  uint64_t flags_written_ DSMIL_GUARDED_BY(mu_) = 0;
  // The hourly counts of the default window (history_days 14) ending at
  // the current hour, read through the cache.
  Result<std::vector<store::HourlyCount>> ReadCounts(const std::string& tenant, int64_t window_start, int64_t end);

  HourlyCountCache counts_;  // the tenants' hourly counts between requests
  std::thread warm_;         // Start's background count; joined by Stop
  Mutex flags_mu_;           // serialises RecordFlags
  // Per tenant: the keys of the L5 flags already in its audit chain.
  std::map<std::string, std::set<std::string>> recorded_ DSMIL_GUARDED_BY(flags_mu_);
};

Result<std::unique_ptr<Device>> CreateForecastDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l5
