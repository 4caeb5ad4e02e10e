#include "node/control_routes.h"

#include <mutex>
#include <vector>

namespace dsmil::node {

void RegisterLogRoutes();     // routes_logs.cc
void RegisterSocRoutes();     // routes_soc.cc
void RegisterTenantRoutes();  // routes_tenant.cc

namespace {
std::vector<ControlRoute>& Routes() {
  static std::vector<ControlRoute> routes;
  return routes;
}
}  // namespace

void RegisterControlRoute(ControlRoute route) { Routes().push_back(std::move(route)); }

void RegisterBuiltinControlRoutes() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterLogRoutes();
    RegisterSocRoutes();
    RegisterTenantRoutes();
  });
}

const ControlRoute* FindControlRoute(std::string_view method, std::string_view path, bool* method_mismatch) {
  if (method_mismatch) *method_mismatch = false;
  for (const auto& r : Routes()) {
    bool match = r.prefix ? path.substr(0, r.path.size()) == r.path : path == r.path;
    if (!match) continue;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) return &r;
    if (method_mismatch) *method_mismatch = true;
  }
  return nullptr;
}

}  // namespace dsmil::node
