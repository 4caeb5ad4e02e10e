// GET /v1/logs?tenant=T[&device=N][&since=...][&limit=N] on the control API:
// the tenant's log lines stored on this node (store/tenant_log.h), oldest
// first, for `dsmilctl logs`. The client certificate must cover the tenant;
// a refusal answers 403 and is recorded through the node's audit sink in the
// tenant's audit log (LOG_ACCESS_DENIED, reason CERT_DOES_NOT_COVER_TENANT)
// and in the tenant's log.
//
// since: nanoseconds since the epoch, an RFC 3339 time, or a duration back
// from now ("90s", "10m", "2h", "1d"). limit: 1..10000 (default 1000).
// order: "newest" (default: the newest `limit` lines) or "oldest" (the oldest
// `limit` lines at or after `since`, for paging forward as `dsmilctl logs -f`
// does). Either way the lines come oldest first.
//
// Response: {"node": "node-a", "tenant": "ALPHA", "lines": [{"ts_ns": ...,
// "ts": "2026-11-27T12:00:00.123Z", "node": ..., "layer": ..., "device": ...,
// "line": "<the JSON log line>"}, ...]}
#include <chrono>
#include <cstdlib>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "node/control_routes.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "store/tenant_log.h"

namespace dsmil::node {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxLimit = 10000;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "10m" -> nanoseconds; -1 if not a duration.
int64_t ParseDurationNs(const std::string& s) {
  if (s.size() < 2) return -1;
  char unit = s.back();
  int64_t mult = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (mult == 0) return -1;
  int64_t n = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || n > 100000000) return -1;
    n = n * 10 + (s[i] - '0');
  }
  return n * mult * 1000000000LL;
}

// Parses ?since=; error text in *err.
bool ParseSince(const std::string& s, int64_t* out, std::string* err) {
  if (s.empty()) {
    *out = 0;
    return true;
  }
  bool digits = s.find_first_not_of("0123456789") == std::string::npos;
  if (digits && s.size() <= 19) {
    *out = std::strtoll(s.c_str(), nullptr, 10);
    return true;
  }
  if (int64_t d = ParseDurationNs(s); d >= 0) {
    *out = NowNs() - d;
    return true;
  }
  auto t = ParseRfc3339(s);
  if (t.ok()) {
    *out = *t;
    return true;
  }
  *err = "since: '" + s + "' is neither a duration (10m, 2h), an RFC 3339 time nor nanoseconds since the epoch";
  return false;
}

void AuditRefusal(const ControlContext& ctx, const net::HttpRequest& req, const std::string& tenant) {
  std::string actor = req.client_cert_cn.value_or("(no certificate)");
  // Logged with the tenant's label, so the attempt shows in that tenant's own log.
  ctx.log.With({.tenant = tenant})
      .Warn("logs request refused: certificate does not cover the tenant",
            {{"operator", actor}, {"peer", req.peer_address}, {"path", req.target}});
  json detail = {{"path", req.path},
                 {"query", req.query},
                 {"peer", req.peer_address},
                 {"cert_tenants", req.client_cert_tenants},
                 {"node", ctx.config.name}};
  Status s =
      ctx.audit.Record(store::Refusal{tenant, "control:/v1/logs", "LOG_ACCESS_DENIED", "CERT_DOES_NOT_COVER_TENANT",
                                      actor, detail.dump(-1, ' ', false, json::error_handler_t::replace)});
  // Without stores the sink only counts the refusal (no audit log on this node).
  bool has_archive = !ctx.config.stores.path.empty() || ctx.config.stores.kind == "servers";
  if (!s.ok() && has_archive) {
    ctx.log.Warn("cannot audit a refused logs request", {{"tenant", tenant}, {"error", s.message()}});
  }
}

net::HttpResponse GetLogs(const ControlContext& ctx, const net::HttpRequest& req) {
  std::string tenant = req.QueryParam("tenant");
  if (tenant.empty()) return net::HttpResponse::JsonError(400, "name the tenant: /v1/logs?tenant=ALPHA");
  if (store::IsReservedTenantId(tenant)) {
    return net::HttpResponse::JsonError(400, "tenant: '" + tenant + "' is reserved and names no tenant");
  }
  if (!store::TenantScope::For(tenant).ok()) {
    return net::HttpResponse::JsonError(400, "tenant: '" + tenant + "' is not a tenant id ([A-Z][A-Z0-9_]{0,31})");
  }
  if (!net::CertCoversTenant(req, tenant)) {
    AuditRefusal(ctx, req, tenant);
    return net::HttpResponse::JsonError(403, "the client certificate does not cover tenant " + tenant);
  }
  store::LogQuery q;
  q.tenant = tenant;
  if (req.HasQueryParam("device")) {
    std::string d = req.QueryParam("device");
    char* end = nullptr;
    long v = std::strtol(d.c_str(), &end, 10);
    if (d.empty() || *end != '\0' || v < 0 || v > 103) {
      return net::HttpResponse::JsonError(400, "device: '" + d + "' is not a device id 0..103");
    }
    q.device = static_cast<int>(v);
  }
  std::string err;
  if (!ParseSince(req.QueryParam("since"), &q.since_ns, &err)) return net::HttpResponse::JsonError(400, err);
  if (req.HasQueryParam("limit")) {
    std::string l = req.QueryParam("limit");
    char* end = nullptr;
    unsigned long v = std::strtoul(l.c_str(), &end, 10);
    if (l.empty() || *end != '\0' || v < 1 || v > kMaxLimit) {
      return net::HttpResponse::JsonError(400, "limit: '" + l + "' is not in 1.." + std::to_string(kMaxLimit));
    }
    q.limit = v;
  }
  std::string order = req.HasQueryParam("order") ? req.QueryParam("order") : "newest";
  if (order != "newest" && order != "oldest") {
    return net::HttpResponse::JsonError(400, "order: '" + order + "' is neither newest nor oldest");
  }
  size_t limit = q.limit;
  if (order == "oldest") q.limit = 0;  // all lines since `since`, cut below
  json lines = json::array();
  if (!ctx.config.stores.path.empty()) {
    auto got = store::ReadTenantLogs(ctx.config.stores, q);
    if (!got.ok()) return net::HttpResponse::JsonError(500, "reading the logs: " + got.status().message());
    if (got->size() > limit) got->resize(limit);
    for (const auto& l : *got) {
      lines.push_back({{"ts_ns", l.ts_ns},
                       {"ts", FormatRfc3339Utc(l.ts_ns, 6)},
                       {"node", l.node},
                       {"layer", l.layer},
                       {"device", l.device},
                       {"line", l.line}});
    }
  }
  net::HttpResponse r;
  r.body = json{{"node", ctx.config.name}, {"tenant", tenant}, {"lines", std::move(lines)}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  return r;
}

}  // namespace

void RegisterLogRoutes() { RegisterControlRoute({"GET", "/v1/logs", false, GetLogs}); }

}  // namespace dsmil::node
