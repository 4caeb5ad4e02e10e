// Device 59, COA Engine (spec §3.1, §4.4, §6.1; docs/l9.md "Device 59:
// courses of action").
//
// An L9_COA_REQ carries a scenario (PAYLOAD, JSON):
//   {"source": "soc", "window_minutes": N}       the tenant's own archived SOC
//                                                events of the last N minutes
//   {"source": "analyst", "events": [...]}       at most kMaxScenarioEvents
//                                                events in the docs/events.md shape
// and is served only after, in this order:
//   a. a claim token for the envelope's tenant (devices/authz.h)
//   b. ROE_LEVEL equals the tenant's ROE level (spec §4.4) -> else ROE_MISMATCH
//   c. the tenant has a policy bundle (tenant/policy.h)    -> else NO_POLICY_BUNDLE
//   d. the scenario parses, is within limits, is not empty
// The reply (L9_COA_RESP) holds exactly three courses of action ranked by a
// documented score; every action in them is one the tenant's bundle allows.
// COAs are recommendations: they are stored per tenant as "pending" and an
// operator accepts or rejects them (dsmilctl coa); nothing is ever executed.
//
// Thread safety: the device and CoaStore may be used from any thread;
// GenerateCoas is a pure function.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/metrics.h"
#include "core/mutex.h"
#include "devices/device.h"
#include "devices/l9/l9_device.h"
#include "devices/soc/event.h"

namespace dsmil::tenant {
class PolicyStore;
struct PolicyBundle;
}  // namespace dsmil::tenant

namespace dsmil::devices::l9 {

inline constexpr int kCoaDeviceId = 59;
// Scenario limits (docs/l9.md).
inline constexpr size_t kMaxScenarioEvents = 1000;
inline constexpr int64_t kMaxWindowMinutes = 24 * 60;
// Stored COAs kept per tenant (oldest dropped first).
inline constexpr size_t kMaxStoredCoas = 3000;
// Actions one COA lists at most.
inline constexpr size_t kMaxCoaActions = 8;

struct CoaAction {
  std::string action;  // a tenant::IsPolicyAction name the bundle allows
  std::string target;  // host, domain, ip, account, file hash; "" for ALERT_ONLY on the scenario
  std::string reason;  // what in the scenario led to it
};

struct Coa {
  std::string id;    // "coa-<16 hex>": SHA3-256 of tenant, scenario digest and kind
  int rank = 0;      // 1 = highest score
  std::string kind;  // CONTAIN, INVESTIGATE, ESCALATE
  std::string title;
  std::vector<CoaAction> actions;
  std::string expected_effect;
  int coverage_pct = 0;     // share of the scenario's weighted findings its actions address
  int disruption = 0;       // 0..100, operational cost of its actions
  int risk_score = 0;       // 0..100
  std::string risk_level;   // low, medium, high
  int score = 0;            // ranking score (higher first)
  std::string roe_level;    // ROE level needed: ANALYSIS_ONLY or SOC_ASSIST
  bool within_roe = false;  // the tenant's ROE level permits it
};

// What GenerateCoas saw in the scenario.
struct ScenarioSummary {
  size_t events = 0;
  std::string digest;    // hex SHA3-256 over the events, in (ts_ms, event_id) order
  int threat_score = 0;  // 0..100
  std::map<std::string, int> categories, severities, flags;
  std::vector<std::string> hosts;  // src_host values, sorted
};

struct CoaSet {
  ScenarioSummary scenario;
  std::vector<Coa> coas;  // exactly three, in rank order
};

// The method of docs/l9.md: deterministic for the same events, policy and
// ROE level whatever the events' order. InvalidArgument for an empty
// scenario or more than kMaxScenarioEvents events.
Result<CoaSet> GenerateCoas(const std::string& tenant, std::vector<soc::SocEvent> events,
                            const std::vector<std::string>& allowed_actions, const std::string& tenant_roe_level);

nlohmann::json CoaToJson(const Coa& c);

// The threat level of a scenario's threat score (0..100), as dashboards and
// dsmil_coa_scenarios_total show it: LOW < 25 <= MEDIUM < 50 <= HIGH < 75 <=
// CRITICAL.
std::string_view ThreatLevelName(int threat_score);

// The per-tenant COA file <stores.path>/l9/coa/<TENANT>.json (0600, dir 0700;
// writers flock "<file>.lock" and replace the file atomically), shared by
// device 59 and dsmilctl coa.
struct StoredCoa {
  std::string id;
  std::string tenant;
  int64_t created_ms = 0;
  std::string request_id;
  std::string state = "pending";  // pending, accepted, rejected
  std::string decided_by;
  int64_t decided_ms = 0;
  nlohmann::json coa;  // CoaToJson
};

std::string CoaFile(const store::StoresConfig& stores, const std::string& tenant);

class CoaStore {
 public:
  // InvalidArgument for a malformed tenant id or an empty stores.path.
  static Result<CoaStore> Open(const store::StoresConfig& stores, const std::string& tenant);

  // Adds the COAs not stored yet (a COA id already present keeps its entry
  // and state); returns the entries for `coas`, in their order.
  Result<std::vector<StoredCoa>> Add(const std::vector<Coa>& coas, const std::string& request_id, int64_t now_ms);
  // Every stored COA, oldest first; `state` filters when non-empty.
  Result<std::vector<StoredCoa>> List(const std::string& state = {}) const;
  Result<size_t> Pending() const;
  // Records the decision on a pending COA: NotFound for an unknown id,
  // FailedPrecondition when it was decided before.
  Result<StoredCoa> Decide(const std::string& id, bool accept, const std::string& who, int64_t now_ms);

  const std::string& path() const { return path_; }

 private:
  CoaStore(std::string tenant, std::string path) : tenant_(std::move(tenant)), path_(std::move(path)) {}
  std::string tenant_, path_;
};

using CoaOptions = L9Options;

class CoaDevice final : public L9Device {
 public:
  explicit CoaDevice(DeviceContext ctx, CoaOptions options = {});
  ~CoaDevice() override;

  DeviceHealth Health() const override;
  Result<dbe::Message> Handle(const dbe::Message& request) override;
  // "COAs: N pending", N summed over every tenant's COA file; "" without
  // stores.path.
  std::string StatusDetail() const override;

 private:
  dbe::Message Refuse(const dbe::Message& request, const std::string& tenant, StatusCode code, const char* reason,
                      const std::string& detail);
  void WatchPending(const std::string& tenant);
  Result<std::vector<soc::SocEvent>> ArchiveScenario(const std::string& tenant, int64_t window_minutes,
                                                     size_t* skipped);

  std::unique_ptr<tenant::PolicyStore> policies_;
  std::string policy_error_;  // set when the node config has no policies section
  Family<Counter>* generated_ = nullptr;
  Family<Counter>* refused_ = nullptr;
  Family<Counter>* scenarios_ = nullptr;  // dsmil_coa_scenarios_total
  Histogram* latency_ = nullptr;
  std::set<std::string> watched_ DSMIL_GUARDED_BY(mu_);  // tenants with a pending gauge
};

// Factory of device 59, which reads config section "policies"
// (devices::PoliciesConfig; RegisterL9Devices declares it).
Result<std::unique_ptr<Device>> CreateCoaDevice(const DeviceContext& ctx);

}  // namespace dsmil::devices::l9
