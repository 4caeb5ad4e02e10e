// The node's one audit sink (docs/security.md): every refusal of a
// tenant-scoped request, on any entry point, is written to the target
// tenant's tamper-evident audit chain (store/audit.h) and counted in
// dsmil_refusals_total{tenant_id, entry, reason}. Devices reach it through
// DeviceContext::audit, control routes through ControlContext::audit.
//
// Thread-safe. One Archive handle per tenant is opened on first use and kept;
// a failed append drops the handle (reopened next time), is counted in
// dsmil_audit_write_errors_total and returned, never swallowed.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/mutex.h"
#include "core/status.h"
#include "store/config.h"

namespace dsmil {
class Registry;
template <typename T>
class Family;
class Counter;
}  // namespace dsmil

namespace dsmil::store {

class Archive;

// What was refused, for the audit row and the metric.
struct Refusal {
  std::string tenant;      // the tenant the request named (the target)
  std::string entry;       // entry point: "control:/v1/dbe", "l7:/v1/chat/completions", "dbe:device50", ...
  std::string event_type;  // audit event type: TENANT_ESCAPE_ATTEMPT, AUTH_FAILED, ...
  std::string reason;      // short machine reason: CERT_DOES_NOT_COVER_TENANT, ...
  std::string actor;       // who: certificate CN, key id, node, device
  std::string detail;      // JSON object text with whatever else helps ("{}" when empty)
};

class AuditSink {
 public:
  // `metrics` may be null (unit tests). Without stores (embedded with no
  // path) rows cannot be written: Record still counts and returns
  // FailedPrecondition.
  AuditSink(StoresConfig stores, Registry* metrics);
  ~AuditSink();
  AuditSink(const AuditSink&) = delete;
  AuditSink& operator=(const AuditSink&) = delete;

  // Appends one row to `tenant`'s chain. A tenant id that is not a valid
  // TenantScope id (empty, reserved, malformed) is InvalidArgument.
  Status Append(const std::string& tenant, const std::string& event_type, const std::string& actor,
                const std::string& detail_json);

  // Counts the refusal and appends it to the target tenant's chain (the
  // detail gains "entry" and "reason"). Refusals naming no valid tenant are
  // counted under tenant_id "unknown" and not written to any chain.
  Status Record(const Refusal& r);

  uint64_t write_errors() const;

 private:
  StoresConfig stores_;
  Family<Counter>* refusals_ = nullptr;
  Family<Counter>* write_errors_metric_ = nullptr;
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<Archive>> archives_ DSMIL_GUARDED_BY(mu_);
  uint64_t write_errors_ DSMIL_GUARDED_BY(mu_) = 0;
};

}  // namespace dsmil::store
