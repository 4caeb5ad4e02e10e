#include "core/dsmil_metrics.h"

#include <cstdio>

namespace dsmil {

LatencyTimer& LatencyTimer::operator=(LatencyTimer&& other) noexcept {
  if (this != &other) {
    Stop();
    histogram_ = other.histogram_;
    clock_ = other.clock_;
    start_nanos_ = other.start_nanos_;
    other.histogram_ = nullptr;
  }
  return *this;
}

double LatencyTimer::Stop() {
  if (histogram_ == nullptr) return 0.0;
  int64_t elapsed = clock_->MonotonicNanos() - start_nanos_;
  if (elapsed < 0) elapsed = 0;
  const double seconds = static_cast<double>(elapsed) / 1e9;
  histogram_->Observe(seconds);
  histogram_ = nullptr;
  return seconds;
}

StandardMetrics::StandardMetrics(Registry& r, const Clock& c)
    : registry(r),
      clock(c),
      requests_total(r.AddCounter("dsmil_requests_total", "Total requests processed",
                                  {"tenant_id", "device_id", "msg_type"})),
      errors_total(r.AddCounter("dsmil_errors_total", "Total errors", {"tenant_id", "device_id", "error_type"})),
      request_latency_seconds(r.AddHistogram("dsmil_request_latency_seconds", "Request latency",
                                             {"tenant_id", "device_id", "msg_type"},
                                             {kLatencyBuckets.begin(), kLatencyBuckets.end()})),
      active_devices(r.AddGauge("dsmil_active_devices", "Number of active devices", {"node", "layer"})),
      memory_usage_bytes(r.AddGauge("dsmil_memory_usage_bytes", "Memory usage per device", {"device_id"})),
      llm_tokens_per_second(r.AddGauge("dsmil_llm_tokens_per_second", "LLM generation rate", {"device_id"})),
      node_up(r.AddGauge("dsmil_node_up", "Whether the node is up (1) or down (0)", {"node", "role"})),
      build_info(r.AddGauge("dsmil_build_info", "DSMIL build information (always 1)", {"version"})) {}

LatencyTimer StandardMetrics::TimeRequest(std::string_view tenant_id, std::string_view device_id,
                                          std::string_view msg_type) {
  requests_total.Labels({tenant_id, device_id, msg_type}).Inc();
  return LatencyTimer(request_latency_seconds.Labels({tenant_id, device_id, msg_type}), clock);
}

LatencyTimer StandardMetrics::TimeRequest(std::string_view tenant_id, int device_id, std::string_view msg_type) {
  const std::string device = std::to_string(device_id);
  return TimeRequest(tenant_id, std::string_view(device), msg_type);
}

void StandardMetrics::CountError(std::string_view tenant_id, std::string_view device_id,
                                 std::string_view error_type) {
  errors_total.Labels({tenant_id, device_id, error_type}).Inc();
}

void StandardMetrics::CountError(std::string_view tenant_id, int device_id, std::string_view error_type) {
  const std::string device = std::to_string(device_id);
  CountError(tenant_id, std::string_view(device), error_type);
}

void StandardMetrics::SetBuildInfo(std::string_view version) { build_info.Labels({version}).Set(1); }

std::string MsgTypeLabel(uint8_t msg_type) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02X", static_cast<unsigned>(msg_type));
  return buf;
}

}  // namespace dsmil
