// What a tenant holds on the stores of a node config, and the live isolation
// audit of its own credentials against the other tenants' data (spec §8.1
// `tenant list`, §10.2; store/isolation_audit.h). Built by `dsmilctl tenant
// list` from a node config on disk, and by the control API
// (GET /v1/tenants?inspect=1) for an operator at a workstation that holds
// only its certificate.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/config.h"
#include "store/isolation_audit.h"

namespace dsmil::node {

struct TenantReport {
  std::string id, roe;
  std::vector<std::string> streams;
  std::string schema;
  std::string archived;                                          // "1,234 events archived" or "(unavailable: ...)"
  std::vector<std::pair<std::string, std::string>> collections;  // name, "12 vectors"
  std::string collections_error;
  std::string api_keys;    // active key count, or why it is unknown
  std::string event_rate;  // "0.4 events/sec (last 5 min)" or "(unavailable: ...)"
  std::vector<store::IsolationProbe> probes;
  bool pass() const { return store::IsolationPasses(probes); }
};

// The report of tenant `tc` on the stores of `cfg`, the isolation probes
// against every other tenant of `cfg` included. `keys_file` "" = the node's
// <stores.path>/tenant/api_keys.
TenantReport InspectTenant(const NodeConfig& cfg, const TenantConfig& tc, const std::string& keys_file = "");

// The JSON form (`dsmilctl tenant list -o json`, GET /v1/tenants?inspect=1):
// {"tenant", "roe_level", "streams", "schema", "archived", "collections":
//  [{"name", "count"}], "collections_error", "api_keys", "event_rate",
//  "isolation": "PASS"|"FAIL", "checks": [{"path", "refused", "detail"}]}
nlohmann::json TenantReportJson(const TenantReport& r);
// Reads TenantReportJson's form back; InvalidArgument naming the field.
Result<TenantReport> TenantReportFromJson(const nlohmann::json& j);

}  // namespace dsmil::node
