// GET /v1/tenants on the control API: the tenants configured on this node
// ({id, roe_level, compartments}), limited to those the client certificate
// covers (urn:dsmil:tenant:<T> SANs, or *).
//
// Response: {"node": "node-c", "stores": "embedded", "tenants": [{"id":
// "ALPHA", "roe_level": "SOC_ASSIST", "compartments": ["SOC"]}, ...],
// "hidden": 1} where "hidden" counts configured tenants the certificate does
// not cover.
//
// With ?inspect=1 each tenant also carries "report": what it holds on the
// node's stores and the live isolation audit of its own credentials
// (node/tenant_report.h) — what `dsmilctl tenant list` prints from a
// workstation. Tenants the certificate does not cover are named "another
// tenant" in the audit's checks.
#include <cctype>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/control_routes.h"
#include "node/tenant_report.h"

namespace dsmil::node {
namespace {

using json = nlohmann::json;

// `text` with the ids of the tenants in `hidden` — as written and in lower
// case (Redis users, schemas), as whole words where '_' also separates —
// replaced by "another-tenant".
std::string Redact(std::string text, const std::vector<std::string>& hidden) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (const std::string& id : hidden) {
    std::string lower = id;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (const std::string& needle : {id, lower}) {
      size_t at = 0;
      while ((at = text.find(needle, at)) != std::string::npos) {
        size_t end = at + needle.size();
        if ((at > 0 && word(text[at - 1])) || (end < text.size() && word(text[end]))) {
          at = end;
          continue;
        }
        text.replace(at, needle.size(), "another-tenant");
        at += 14;
      }
    }
  }
  return text;
}

net::HttpResponse GetTenants(const ControlContext& ctx, const net::HttpRequest& req) {
  const bool inspect = req.QueryParam("inspect") == "1";
  json tenants = json::array();
  std::vector<std::string> hidden_ids;
  for (const auto& t : ctx.config.tenants) {
    if (!net::CertCoversTenant(req, t.id)) hidden_ids.push_back(t.id);
  }
  for (const auto& t : ctx.config.tenants) {
    if (!net::CertCoversTenant(req, t.id)) continue;
    json entry = {{"id", t.id}, {"roe_level", t.roe_level}, {"compartments", t.compartments}};
    if (inspect) {
      TenantReport report = InspectTenant(ctx.config, t);
      for (store::IsolationProbe& p : report.probes) {
        p.path = Redact(p.path, hidden_ids);
        p.detail = Redact(p.detail, hidden_ids);
      }
      entry["report"] = TenantReportJson(report);
    }
    tenants.push_back(std::move(entry));
  }
  net::HttpResponse r;
  r.body = json{{"node", ctx.config.name},
                {"stores", ctx.config.stores.kind},
                {"tenants", std::move(tenants)},
                {"hidden", hidden_ids.size()}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace

void RegisterTenantRoutes() { RegisterControlRoute({"GET", "/v1/tenants", false, GetTenants}); }

}  // namespace dsmil::node
