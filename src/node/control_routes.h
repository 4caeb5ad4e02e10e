// Extra endpoints of the control API (mTLS, listen.control), added by the
// subsystems that own them: logs (routes_logs.cc), the SOC pipeline
// (routes_soc.cc) and tenants (routes_tenant.cc). Registration is explicit:
// RegisterBuiltinControlRoutes (called by Node::Start) calls each file's
// Register*Routes function.
//
// A handler runs on the control server's threads (concurrently; it must be
// thread-safe), after the client certificate was verified against the
// cluster CA. It checks tenant coverage itself (net::CertCoversTenant).
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>

#include "core/log.h"
#include "core/status.h"
#include "dbe/message.h"
#include "devices/device.h"
#include "devices/shrink/monitor.h"
#include "net/http.h"
#include "node/config.h"
#include "store/audit_sink.h"

namespace dsmil::soc {
class SocMetrics;
}

namespace dsmil::node {

struct ControlContext {
  const NodeConfig& config;
  std::span<devices::Device* const> devices;  // hosted here
  // Routes a DBE request to a device (local or on a peer) and waits for the reply.
  devices::DeviceCaller call;
  Logger& log;
  // The node's audit sink: every refusal is recorded here (docs/security.md).
  store::AuditSink& audit;
  // Counts what ingest appends to the tenants' streams; null in tests without metrics.
  soc::SocMetrics* soc_metrics = nullptr;
  // SHRINK, when it runs on this node (docs/shrink.md); null otherwise.
  const devices::shrink::ShrinkMonitor* shrink = nullptr;
};

using ControlHandler = std::function<net::HttpResponse(const ControlContext&, const net::HttpRequest&)>;

struct ControlRoute {
  std::string method;   // "GET", "POST", ...
  std::string path;     // "/v1/logs"
  bool prefix = false;  // true: also every path below it ("/v1/soc/" + ...)
  ControlHandler handler;
};

// Adds a route. Not thread-safe: called from RegisterBuiltinControlRoutes.
void RegisterControlRoute(ControlRoute route);
// Registers the built-in routes once.
void RegisterBuiltinControlRoutes();
// The route for method + path, or null. A path matched with another method
// gives `method_mismatch` = true and null.
const ControlRoute* FindControlRoute(std::string_view method, std::string_view path, bool* method_mismatch);

}  // namespace dsmil::node
