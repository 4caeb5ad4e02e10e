// GET /v1/tenants on the control API: the tenants configured on this node
// ({id, roe_level, compartments}), limited to those the client certificate
// covers (urn:dsmil:tenant:<T> SANs, or *). `dsmilctl tenant list` reads the
// stores themselves; this route tells an operator which tenants a node serves.
//
// Response: {"node": "node-c", "tenants": [{"id": "ALPHA", "roe_level":
// "SOC_ASSIST", "compartments": ["SOC"]}, ...], "hidden": 1}
// where "hidden" counts configured tenants the certificate does not cover.
#include <nlohmann/json.hpp>

#include "node/control_routes.h"

namespace dsmil::node {
namespace {

using json = nlohmann::json;

net::HttpResponse GetTenants(const ControlContext& ctx, const net::HttpRequest& req) {
  json tenants = json::array();
  int hidden = 0;
  for (const auto& t : ctx.config.tenants) {
    if (!net::CertCoversTenant(req, t.id)) {
      ++hidden;
      continue;
    }
    tenants.push_back({{"id", t.id}, {"roe_level", t.roe_level}, {"compartments", t.compartments}});
  }
  net::HttpResponse r;
  r.body = json{{"node", ctx.config.name}, {"tenants", std::move(tenants)}, {"hidden", hidden}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace

void RegisterTenantRoutes() { RegisterControlRoute({"GET", "/v1/tenants", false, GetTenants}); }

}  // namespace dsmil::node
