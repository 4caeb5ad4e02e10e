// Per-tenant logs (spec §4.3). Every log line of a device belongs to one
// tenant; a TenantLogSink stores it where only that tenant's reader finds it:
//   - FileTenantLog: <path>/logs/<TENANT>/<node>.log, JSON lines, rotated;
//     read back by ReadTenantLogs (used by the control API behind
//     `dsmilctl logs --tenant T`, which checks the operator's certificate).
//   - LokiTenantLog: Loki push API (POST /loki/api/v1/push, JSON), labels
//     {node, tenant, layer, device}, X-Scope-OrgID: <TENANT>; batched, spooled
//     to disk while Loki cannot be reached and replayed in order afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/config.h"

namespace dsmil::store {

struct TenantLogLine {
  int64_t ts_ns = 0;
  std::string tenant;  // required
  std::string node, layer;
  int device = -1;     // -1: none
  std::string line;    // the JSON log line
};

class TenantLogSink {
 public:
  virtual ~TenantLogSink() = default;
  // Queues or writes one line; InvalidArgument without a tenant.
  virtual Status Write(const TenantLogLine& line) = 0;
  // Everything written so far is stored (or spooled) when this returns OK.
  virtual Status Flush() = 0;
};

// The sinks the config asks for (files always; Loki when loki.url is set).
Result<std::unique_ptr<TenantLogSink>> OpenTenantLogSink(const StoresConfig& config, const std::string& node);

struct LogQuery {
  std::string tenant;   // required
  int device = -1;      // -1: all
  int64_t since_ns = 0;
  size_t limit = 1000;
};
// Lines of one tenant from the files under <path>/logs, oldest first.
Result<std::vector<TenantLogLine>> ReadTenantLogs(const StoresConfig& config, const LogQuery& q);

}  // namespace dsmil::store
