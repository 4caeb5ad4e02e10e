#include "core/dsmil_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

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
      requests_total(
          r.AddCounter("dsmil_requests_total", "Total requests processed", {"tenant_id", "device_id", "msg_type"})),
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

void StandardMetrics::CountError(std::string_view tenant_id, std::string_view device_id, std::string_view error_type) {
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

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Fields of /proc/self/stat after the command name, numbered as in proc(5)
// (field 3 is the state); returns an empty vector when unreadable.
std::vector<std::string> ProcSelfStat() {
  std::ifstream in("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = content.rfind(')');  // the command name may contain spaces and ')'
  if (close == std::string::npos) return {};
  std::istringstream rest(content.substr(close + 1));
  std::vector<std::string> fields = {"", "", ""};  // fields 0..2 are not used
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

double StatField(size_t n) {
  std::vector<std::string> f = ProcSelfStat();
  if (f.size() <= n) return kNaN;
  return std::strtod(f[n].c_str(), nullptr);
}

double MemoryBytes(size_t statm_index) {
  std::ifstream in("/proc/self/statm");
  double pages[2];
  if (!(in >> pages[0] >> pages[1])) return kNaN;
  return pages[statm_index] * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return kNaN;
  double n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') n += 1;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

double StartTimeSeconds() {
  // Boot time (btime in /proc/stat) + start time in clock ticks since boot (field 22).
  std::ifstream in("/proc/stat");
  double btime = kNaN;
  for (std::string key; in >> key;) {
    if (key == "btime") {
      in >> btime;
      break;
    }
    std::string skip;
    std::getline(in, skip);
  }
  return btime + StatField(22) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

void RegisterProcessMetrics(Registry& registry) {
  registry.AddGauge("process_resident_memory_bytes", "Resident memory size in bytes.").SetCallback({}, [] {
    return MemoryBytes(1);
  });
  registry.AddGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.").SetCallback({}, [] {
    return MemoryBytes(0);
  });
  registry.AddCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.")
      .SetCallback({}, [] {
        std::vector<std::string> f = ProcSelfStat();  // utime (14) + stime (15), in clock ticks
        if (f.size() <= 15) return kNaN;
        return (std::strtod(f[14].c_str(), nullptr) + std::strtod(f[15].c_str(), nullptr)) /
               static_cast<double>(sysconf(_SC_CLK_TCK));
      });
  registry.AddGauge("process_open_fds", "Number of open file descriptors.").SetCallback({}, [] { return OpenFds(); });
  const double start = StartTimeSeconds();
  registry.AddGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
      .SetCallback({}, [start] { return start; });
}

}  // namespace dsmil
