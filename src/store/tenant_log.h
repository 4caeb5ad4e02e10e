// Per-tenant logs (spec §4.3). Every log line of a device belongs to one
// tenant; a TenantLogSink stores it where only that tenant's reader finds it:
//   - FileTenantLog: <path>/logs/<TENANT>/<node>.log, JSON lines, rotated;
//     read back by ReadTenantLogs (used by the control API behind
//     `dsmilctl logs --tenant T`, which checks the operator's certificate).
//   - LokiTenantLog: Loki push API (POST /loki/api/v1/push, JSON), labels
//     {node, tenant, layer, device}, X-Scope-OrgID: <TENANT>; batched, spooled
//     to disk while Loki cannot be reached and replayed in order afterwards.
#pragma once

#include <chrono>
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
  int device = -1;   // -1: none
  std::string line;  // the JSON log line
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
  std::string tenant;  // required
  int device = -1;     // -1: all
  int64_t since_ns = 0;
  size_t limit = 1000;
};
// Lines of one tenant from the files under <path>/logs, oldest first.
Result<std::vector<TenantLogLine>> ReadTenantLogs(const StoresConfig& config, const LogQuery& q);

}  // namespace dsmil::store

// ---- The sinks one by one (OpenTenantLogSink combines them) ----------------
namespace dsmil::store {

struct FileLogOptions {
  size_t max_file_bytes = 64 << 20;  // rotate <node>.log past this size
  int keep_files = 5;                // <node>.log.1 .. .N kept; older deleted
};
// Lines to <logs_root>/<TENANT>/<node>.log (logs_root is <path>/logs), one
// JSON object a line: {"ts_ns":..,"tenant":..,"node":..,"layer":..,
// "device":..,"line":..}. Rotation renames <node>.log to <node>.log.1 (and
// .1 to .2, ...). Write appends (with one write(2) per line); Flush fsyncs.
// InvalidArgument for a node name outside [A-Za-z0-9._-]{1,64}. Thread-safe.
Result<std::unique_ptr<TenantLogSink>> OpenFileTenantLog(const std::string& logs_root, const std::string& node,
                                                         FileLogOptions options = {});

// Lines of one tenant under `logs_root` (every node, rotated files
// included), filtered by device and since_ns: the newest `limit`, oldest
// first (limit 0: every matching line). An absent tenant directory gives an
// empty list.
Result<std::vector<TenantLogLine>> ReadTenantLogDir(const std::string& logs_root, const LogQuery& q);

struct LokiOptions {
  std::string url;            // base URL, "http://127.0.0.1:3100"; the sink POSTs <url>/loki/api/v1/push
  std::string spool_dir;      // <spool_dir>/<TENANT>/<seq>.jsonl while Loki fails; <spool_dir>/rejected/<TENANT>.jsonl
  size_t batch_lines = 1000;  // a push is sent once a tenant has this many lines waiting ...
  size_t batch_bytes = 1 << 20;                    // ... or this many bytes ...
  std::chrono::milliseconds batch_interval{1000};  // ... or the oldest has waited this long
  std::chrono::milliseconds retry_interval{2000};  // spool replay attempts while Loki fails
  std::chrono::milliseconds timeout{5000};         // one push
};
// Counters of a Loki sink, for tests and metrics.
struct LokiSinkStats {
  uint64_t pushed_lines = 0;    // accepted by Loki (2xx), replays included
  uint64_t pushes = 0;          // successful requests
  uint64_t spooled_lines = 0;   // written to the spool
  uint64_t replayed_lines = 0;  // delivered from the spool
  uint64_t rejected_lines = 0;  // refused by Loki with a permanent 4xx
};
class LokiTenantLog : public TenantLogSink {
 public:
  virtual LokiSinkStats stats() const = 0;
  // Lines waiting in the spool, all tenants.
  virtual Result<uint64_t> SpooledLines() const = 0;
};
// A background thread pushes batches, one request per tenant (header
// X-Scope-OrgID: <TENANT>, streams labelled {node, tenant, layer, device});
// while Loki cannot be reached or answers 5xx/429, batches go to the spool
// and are replayed, oldest first and before anything newer of that tenant,
// once it answers 2xx. Any other 4xx is permanent: the batch is appended to
// the rejected file and an error logged (DefaultLogger). Flush sends (or
// spools) everything written so far before it returns. Thread-safe; the
// destructor flushes.
Result<std::unique_ptr<LokiTenantLog>> OpenLokiTenantLog(const std::string& node, LokiOptions options);

}  // namespace dsmil::store
