// The standard DSMIL metrics (spec §6.2) on a Registry.
//
// Every service registers these on its node's registry and labels them the
// same way, so dashboards and SLO alert rules work across nodes:
//
//   dsmil_requests_total{tenant_id,device_id,msg_type}            counter
//   dsmil_errors_total{tenant_id,device_id,error_type}            counter
//   dsmil_request_latency_seconds{tenant_id,device_id,msg_type}   histogram,
//       buckets 0.01 0.05 0.1 0.5 1 2 5 10 (+Inf)
//   dsmil_active_devices{node,layer}                              gauge
//   dsmil_memory_usage_bytes{device_id}                           gauge
//   dsmil_llm_tokens_per_second{device_id}                        gauge
//   dsmil_node_up{node,role}                                      gauge (1 up, 0 down)
//   dsmil_build_info{version}                                     gauge (always 1)
//
// Label conventions: tenant_id is the tenant name ("ALPHA"), device_id the
// decimal device number ("43"), msg_type the DBE type in hex ("0x41"), layer
// "L3".."L9", node the node name ("node-a").
//
// Registering twice on one Registry returns the same families, so several
// subsystems may each construct a StandardMetrics over a shared registry.
// Thread safety: as the Registry (everything may be used concurrently).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/metrics.h"

namespace dsmil {

// Observes the time between its construction and Stop() (or destruction)
// into a latency histogram, in seconds, using a Clock's monotonic reading.
// Movable, not copyable; a moved-from timer observes nothing.
class LatencyTimer {
 public:
  LatencyTimer(Histogram& histogram, const Clock& clock)
      : histogram_(&histogram), clock_(&clock), start_nanos_(clock.MonotonicNanos()) {}
  LatencyTimer(LatencyTimer&& other) noexcept
      : histogram_(other.histogram_), clock_(other.clock_), start_nanos_(other.start_nanos_) {
    other.histogram_ = nullptr;
  }
  LatencyTimer& operator=(LatencyTimer&& other) noexcept;
  LatencyTimer(const LatencyTimer&) = delete;
  LatencyTimer& operator=(const LatencyTimer&) = delete;
  ~LatencyTimer() { Stop(); }

  // Observes the elapsed time now and returns it in seconds; later calls (and
  // the destructor) do nothing and return 0.
  double Stop();
  // Drops the measurement: nothing is observed.
  void Cancel() { histogram_ = nullptr; }

 private:
  Histogram* histogram_;
  const Clock* clock_;
  int64_t start_nanos_;
};

struct StandardMetrics {
  // Bucket upper bounds of dsmil_request_latency_seconds, exactly as the spec.
  static constexpr std::array<double, 8> kLatencyBuckets = {0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0};

  // Registers (or finds) all standard families on `registry`, which must
  // outlive this object. `clock` (default: the real clock) times requests.
  explicit StandardMetrics(Registry& registry, const Clock& clock = DefaultClock());

  Registry& registry;
  const Clock& clock;
  CounterFamily& requests_total;
  CounterFamily& errors_total;
  HistogramFamily& request_latency_seconds;
  GaugeFamily& active_devices;
  GaugeFamily& memory_usage_bytes;
  GaugeFamily& llm_tokens_per_second;
  GaugeFamily& node_up;
  GaugeFamily& build_info;

  // Counts one request in dsmil_requests_total now and returns a timer that
  // observes its latency in dsmil_request_latency_seconds when it ends:
  //   auto t = metrics.TimeRequest("ALPHA", 43, "0x41");
  LatencyTimer TimeRequest(std::string_view tenant_id, std::string_view device_id, std::string_view msg_type);
  LatencyTimer TimeRequest(std::string_view tenant_id, int device_id, std::string_view msg_type);

  // Adds 1 to dsmil_errors_total{tenant_id,device_id,error_type}.
  void CountError(std::string_view tenant_id, std::string_view device_id, std::string_view error_type);
  void CountError(std::string_view tenant_id, int device_id, std::string_view error_type);

  // Sets dsmil_build_info{version} to 1.
  void SetBuildInfo(std::string_view version);
};

// "0x41" for 0x41: the msg_type label value of a DBE message type
// ("0x" and two upper-case hex digits).
std::string MsgTypeLabel(uint8_t msg_type);

// Registers the usual process metrics of Prometheus clients, computed from
// /proc/self when scraped (callbacks; a value that cannot be read is NaN):
//   process_resident_memory_bytes, process_virtual_memory_bytes,
//   process_cpu_seconds_total, process_open_fds, process_start_time_seconds.
// Safe to call more than once on a registry.
void RegisterProcessMetrics(Registry& registry);

}  // namespace dsmil
