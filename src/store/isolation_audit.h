// The live tenant isolation audit (spec §10.2; docs/security.md, "Isolation
// audit"): each tenant's OWN credentials tried against every OTHER tenant's
// data. It passes only if every attempt is refused.
//
//   kind servers  Redis: <t>_writer XADD <U>_DEAD_LETTER, <t>_ingest XADD
//                 <U>_L3_IN, <t>_reader XRANGE <U>_SOC_EVENTS and XLEN
//                 <U>_L3_IN (NOPERM expected);
//                 PostgreSQL as <t>_app: SELECT from dsmil_<u>.events and
//                 dsmil_<u>.audit_log, INSERT into dsmil_<u>.policies,
//                 SET ROLE <u>_app (permission denied expected), and rows of
//                 <U> in dsmil_shared.events (none visible expected);
//                 Qdrant (if configured) with <t>'s key: GET
//                 /collections/<u>_events (401/403/404 expected).
//   kind embedded each tenant keeps its own files, reached only through its
//                 scope (recorded as one refused probe per other tenant).
//   both          every vector collection the tenant's scope lists carries
//                 its own prefix.
// A probe that could not be carried out (no password file, server down) is
// not refused: the audit fails and says why.
//
// `dsmilctl tenant list` runs it on demand; a data node runs it on a timer
// (IsolationAuditor) and exposes the result as
//   dsmil_tenant_isolation_ok{tenant_id}   gauge: 1 pass, 0 fail
// which the TenantIsolationAuditFailed alert watches.
//
// Thread safety: ProbeIsolation is reentrant; IsolationAuditor may be read
// from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "core/metrics.h"
#include "core/mutex.h"
#include "core/status.h"
#include "store/config.h"
#include "store/scope.h"

namespace dsmil::store {

struct IsolationProbe {
  std::string path;  // "redis: alpha_reader XRANGE BRAVO_SOC_EVENTS"
  bool refused = false;
  std::string detail;  // the refusal, or what leaked / why it could not be checked
};

// Every probe of `tenant` against each scope in `others` (its own skipped),
// in a stable order.
std::vector<IsolationProbe> ProbeIsolation(const StoresConfig& c, const TenantScope& tenant,
                                           std::span<const TenantScope> others);

// True when every probe was refused.
bool IsolationPasses(std::span<const IsolationProbe> probes);

// Runs the audit of every tenant on its own thread, first at Start, then every
// `interval`, and sets dsmil_tenant_isolation_ok on `metrics` (may be null).
// A failing tenant is logged (every probe not refused) at each run.
class IsolationAuditor {
 public:
  struct TenantResult {
    bool pass = false;
    int64_t ts_ms = 0;                        // wall time of the run
    std::vector<IsolationProbe> not_refused;  // empty when pass
    size_t probes = 0;
  };

  static Result<std::unique_ptr<IsolationAuditor>> Start(StoresConfig c, const std::vector<std::string>& tenants,
                                                         std::chrono::milliseconds interval, Registry* metrics,
                                                         const Logger* log);
  ~IsolationAuditor();  // stops the thread
  IsolationAuditor(const IsolationAuditor&) = delete;
  IsolationAuditor& operator=(const IsolationAuditor&) = delete;

  // The latest result per tenant (empty before the first run ends).
  std::map<std::string, TenantResult> Latest() const;

 private:
  IsolationAuditor() = default;
  void RunOnce();
  void Loop();

  StoresConfig stores_;
  std::vector<TenantScope> scopes_;
  std::chrono::milliseconds interval_{60000};
  Family<Gauge>* ok_ = nullptr;
  const Logger* log_ = nullptr;
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ DSMIL_GUARDED_BY(mu_) = false;
  std::map<std::string, TenantResult> latest_ DSMIL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace dsmil::store
