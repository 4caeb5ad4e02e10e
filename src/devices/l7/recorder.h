// Where the L7 router's refusals go (docs/l7.md §4): each is counted
// (dsmil_l7_refusals_total{tenant_id, reason} and dsmil_errors_total), logged
// as a warning, and, when it has an audit type and names a tenant, appended
// to that tenant's audit chain: through the node's AuditSink, or, when the
// node gives none (unit tests, tools), to the tenant's archive opened here.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/dsmil_metrics.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "core/status.h"
#include "devices/device.h"
#include "devices/l7/admission.h"

namespace dsmil::store {
class Archive;
}  // namespace dsmil::store

namespace dsmil::devices::l7 {

class Recorder {
 public:
  // Registers dsmil_l7_refusals_total on `registry`. `ctx` (its audit sink,
  // stores and logger), `registry`, `metrics` and `clock` must outlive the
  // recorder.
  Recorder(const DeviceContext& ctx, Registry& registry, StandardMetrics& metrics, const Clock& clock);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Counts, logs and audits a refusal; `request_id` goes into the log line
  // and the audit row. An audit failure is logged, never thrown.
  void Record(const Refusal& r, const std::string& request_id = {});

  // Adds 1 to dsmil_l7_refusals_total{tenant, reason} alone.
  void Count(const std::string& tenant, const std::string& reason);

  // Appends one row to `tenant`'s audit chain.
  Status Audit(const std::string& tenant, const std::string& type, const std::string& actor,
               const std::string& detail_json);

 private:
  const DeviceContext& ctx_;
  StandardMetrics& metrics_;
  const Clock& clock_;
  CounterFamily& refusals_;
  Mutex mu_;
  // Archives opened here when the node has no audit sink, by tenant.
  std::map<std::string, std::unique_ptr<store::Archive>> archives_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace dsmil::devices::l7
