// SOC endpoints of the control API (docs/soc.md, "Control API"):
//   POST /v1/events?tenant=T   ingest one event, a JSON array of events, or
//                              {"events": [...]}; valid events go to {T}_L3_IN,
//                              invalid ones to {T}_DEAD_LETTER with the reason.
//   GET  /v1/soc/top?tenant=T  the data of `dsmilctl soc top`: newest enriched
//                              events, L8 statistics of the last 5 minutes,
//                              and the tenant's SHRINK scores when SHRINK
//                              runs on this node (docs/shrink.md).
// The client certificate must cover the tenant: a refusal answers 403 and is
// recorded through the node's audit sink in that tenant's audit chain
// (TENANT_ESCAPE_ATTEMPT, CERT_DOES_NOT_COVER_TENANT). Without ?tenant= a
// certificate that names exactly one tenant selects it; an empty, reserved
// (SYSTEM, ...) or malformed tenant id is a 400.
//
// Ingest takes raw events only: an event carrying a field the pipeline
// writes (l3, l4, l8_enrichment, soar, enriched, ingest_ts_ms) refuses the
// whole request with 400 naming it, and nothing is appended.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/mutex.h"
#include "devices/soc/event.h"
#include "devices/soc/soc_metrics.h"
#include "node/control_routes.h"
#include "store/audit_sink.h"
#include "store/scope.h"
#include "store/streams.h"

namespace dsmil::node {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxBatch = 1000;
constexpr size_t kMaxBodyBytes = 8 << 20;
constexpr int64_t kStatsWindowMs = 5 * 60 * 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The connection map's key part for an access.
std::string_view AccessKey(store::Access access) {
  switch (access) {
    case store::Access::kReader:
      return "r";
    case store::Access::kIngest:
      return "i";
    case store::Access::kWriter:
    case store::Access::kApp:
      break;
  }
  return "w";
}

// One Streams connection per (tenant, access), shared by the handlers under a
// mutex (a Streams object is single-threaded).
struct Conn {
  explicit Conn(std::unique_ptr<store::Streams> s) : streams(std::move(s)) {}
  Mutex mu;
  std::unique_ptr<store::Streams> streams DSMIL_GUARDED_BY(mu);
};
Mutex g_conns_mu;
std::map<std::string, std::shared_ptr<Conn>> g_conns DSMIL_GUARDED_BY(g_conns_mu);

Result<std::shared_ptr<Conn>> ConnFor(const NodeConfig& config, const std::string& tenant, store::Access access) {
  std::string key = config.name + "/" + tenant + "/" + std::string(AccessKey(access));
  MutexLock lock(g_conns_mu);
  auto it = g_conns.find(key);
  if (it != g_conns.end()) return it->second;
  DSMIL_ASSIGN_OR_RETURN(auto scope, store::TenantScope::For(tenant));
  DSMIL_ASSIGN_OR_RETURN(auto streams, store::OpenStreams(config.stores, scope, access));
  auto c = std::make_shared<Conn>(std::move(streams));
  g_conns[key] = c;
  return c;
}

void DropConn(const NodeConfig& config, const std::string& tenant, store::Access access) {
  std::string key = config.name + "/" + tenant + "/" + std::string(AccessKey(access));
  MutexLock lock(g_conns_mu);
  g_conns.erase(key);
}

bool KnownTenant(const NodeConfig& config, const std::string& t) {
  if (config.tenants.empty()) return true;
  for (const auto& x : config.tenants) {
    if (x.id == t) return true;
  }
  return false;
}

// Records a request refused because the client certificate does not cover
// `tenant`, in that tenant's audit chain and log.
void AuditRefusal(const ControlContext& ctx, const net::HttpRequest& req, const std::string& tenant) {
  std::string actor = req.client_cert_cn.value_or("(no certificate)");
  ctx.log.With({.tenant = tenant})
      .Warn("soc request refused: certificate does not cover the tenant",
            {{"operator", actor}, {"peer", req.peer_address}, {"path", req.path}});
  json detail = {{"method", req.method},
                 {"path", req.path},
                 {"query", req.query},
                 {"peer", req.peer_address},
                 {"cert_tenants", req.client_cert_tenants},
                 {"node", ctx.config.name}};
  Status s = ctx.audit.Record(store::Refusal{tenant, "control:" + req.path, "TENANT_ESCAPE_ATTEMPT",
                                             "CERT_DOES_NOT_COVER_TENANT", actor,
                                             detail.dump(-1, ' ', false, json::error_handler_t::replace)});
  // Without stores the sink only counts the refusal (no audit log on this node).
  bool has_archive = !ctx.config.stores.path.empty() || ctx.config.stores.kind == "servers";
  if (!s.ok() && has_archive) {
    ctx.log.Warn("cannot audit a refused soc request", {{"tenant", tenant}, {"error", s.message()}});
  }
}

// The request's tenant, or an error response in *err.
std::string TenantOf(const ControlContext& ctx, const net::HttpRequest& req, net::HttpResponse* err) {
  std::string t = req.QueryParam("tenant");
  if (!req.HasQueryParam("tenant")) {
    if (req.client_cert_tenants.size() == 1 && req.client_cert_tenants[0] != "*") {
      t = req.client_cert_tenants[0];
    } else {
      *err = net::HttpResponse::JsonError(400, "name the tenant: ?tenant=ALPHA");
      return "";
    }
  }
  if (t.empty()) {
    *err = net::HttpResponse::JsonError(400, "tenant: empty; name the tenant: ?tenant=ALPHA");
    return "";
  }
  if (store::IsReservedTenantId(t)) {
    *err = net::HttpResponse::JsonError(400, "tenant: '" + t + "' is reserved and names no tenant");
    return "";
  }
  if (!store::TenantScope::For(t).ok()) {
    *err = net::HttpResponse::JsonError(
        400, "tenant: '" + t + "' is not a tenant id (upper case letters, digits and _, [A-Z][A-Z0-9_]{0,31})");
    return "";
  }
  if (!net::CertCoversTenant(req, t)) {
    AuditRefusal(ctx, req, t);
    *err = net::HttpResponse::JsonError(403, "the client certificate does not cover tenant " + t);
    return "";
  }
  if (!KnownTenant(ctx.config, t)) {
    *err = net::HttpResponse::JsonError(404, "tenant " + t + " is not configured on node " + ctx.config.name);
    return "";
  }
  return t;
}

net::HttpResponse Json(int status, const json& j) {
  net::HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

net::HttpResponse PostEvents(const ControlContext& ctx, const net::HttpRequest& req) {
  net::HttpResponse err;
  std::string tenant = TenantOf(ctx, req, &err);
  if (tenant.empty()) return err;
  if (req.body.size() > kMaxBodyBytes) {
    return net::HttpResponse::JsonError(413, "body is " + std::to_string(req.body.size()) + " bytes, at most " +
                                                 std::to_string(kMaxBodyBytes) + " accepted");
  }
  json body = json::parse(req.body, nullptr, false);
  std::vector<std::string> items;  // each event's JSON text (or the raw body when it does not parse)
  if (body.is_array()) {
    for (const auto& e : body) items.push_back(e.dump(-1, ' ', false, json::error_handler_t::replace));
  } else if (body.is_object() && body.contains("events") && body["events"].is_array() && body.size() == 1) {
    for (const auto& e : body["events"]) items.push_back(e.dump(-1, ' ', false, json::error_handler_t::replace));
  } else {
    items.push_back(req.body);  // one event, or a body that does not parse (checked below like any item)
  }
  if (items.size() > kMaxBatch) {
    return net::HttpResponse::JsonError(413, "batch of " + std::to_string(items.size()) + " events, at most " +
                                                 std::to_string(kMaxBatch) + " accepted");
  }
  const int64_t now = NowMs();
  const soc::ParseOptions options{.assign_missing_id = true,
                                  .now_ms = now,
                                  .pipeline_fields = soc::kClientFields,
                                  .max_future_ms = soc::kMaxFutureMs};
  std::vector<std::string> good, dead;
  json ids = json::array(), errors = json::array(), forged = json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    auto e = soc::ParseEvent(items[i], tenant, options);
    if (!e.ok()) {
      // A field only the pipeline writes: the request is not a sensor's
      // event that failed validation but an attempt to pass for pipeline
      // output. Refused as a whole below; nothing is appended.
      if (e.status().code() == StatusCode::kPermissionDenied) {
        forged.push_back({{"index", i}, {"reason", e.status().message()}});
        continue;
      }
      dead.push_back(soc::DeadLetterJson(e.status().message(), "ingest", now, items[i]));
      errors.push_back({{"index", i}, {"reason", e.status().message()}});
      continue;
    }
    ids.push_back(e->event_id);
    good.push_back(soc::EventToJson(*e));
  }
  if (!forged.empty()) {
    // "event: field 'soar' ..." -> "event 3: field 'soar' ..."
    std::string first = forged[0]["reason"].get<std::string>();
    if (first.rfind("event: ", 0) == 0) first = first.substr(7);
    first = "event " + std::to_string(forged[0]["index"].get<size_t>()) + ": " + first;
    ctx.log.Warn("events refused at ingest: fields written by the pipeline",
                 {{"tenant", tenant},
                  {"events", forged.size()},
                  {"first_reason", first},
                  {"operator", req.client_cert_cn.value_or("")},
                  {"peer", req.peer_address}});
    json out = {{"error", first},           {"tenant", tenant},           {"accepted", 0},
                {"rejected", items.size()}, {"event_ids", json::array()}, {"errors", forged}};
    return Json(400, out);
  }
  auto conn = ConnFor(ctx.config, tenant, store::Access::kIngest);
  if (!conn.ok()) return net::HttpResponse::JsonError(503, "streams: " + conn.status().message());
  {
    MutexLock lock((*conn)->mu);
    if (!good.empty()) {
      auto r = (*conn)->streams->Append(store::StreamKind::kL3In, good);
      if (!r.ok()) {
        DropConn(ctx.config, tenant, store::Access::kIngest);
        return net::HttpResponse::JsonError(503, "append to " + tenant + "_L3_IN: " + r.status().message());
      }
      if (ctx.soc_metrics != nullptr) ctx.soc_metrics->CountAppended(tenant, store::StreamKind::kL3In, good.size());
    }
    if (!dead.empty()) {
      auto r = (*conn)->streams->Append(store::StreamKind::kDeadLetter, dead);
      if (!r.ok()) {
        DropConn(ctx.config, tenant, store::Access::kIngest);
        return net::HttpResponse::JsonError(503, "append to " + tenant + "_DEAD_LETTER: " + r.status().message());
      }
      if (ctx.soc_metrics != nullptr) {
        ctx.soc_metrics->CountAppended(tenant, store::StreamKind::kDeadLetter, dead.size());
      }
    }
  }
  if (!dead.empty()) {
    ctx.log.Warn(
        "events refused at ingest (dead-lettered)",
        {{"tenant", tenant}, {"rejected", dead.size()}, {"first_reason", errors[0]["reason"].get<std::string>()}});
  }
  json out = {
      {"tenant", tenant}, {"accepted", good.size()}, {"rejected", dead.size()}, {"event_ids", ids}, {"errors", errors}};
  return Json(good.empty() ? 400 : 202, out);
}

struct DeviceStat {
  int device;
  const char* name;
};
constexpr DeviceStat kL8Devices[] = {
    {51, "Adversarial ML"}, {52, "Analytics"},      {53, "Crypto"},      {54, "Threat Intel"},
    {55, "Biometrics"},     {56, "Secure Enclave"}, {57, "Network Sec"}, {58, "SOAR"},
};

net::HttpResponse GetTop(const ControlContext& ctx, const net::HttpRequest& req) {
  net::HttpResponse err;
  std::string tenant = TenantOf(ctx, req, &err);
  if (tenant.empty()) return err;
  size_t limit = 20;
  if (std::string l = req.QueryParam("limit"); !l.empty()) {
    try {
      limit = std::stoul(l);
    } catch (...) {
      return net::HttpResponse::JsonError(400, "limit: must be a number");
    }
    if (limit < 1 || limit > 500) return net::HttpResponse::JsonError(400, "limit: must be in 1..500");
  }
  std::string want_sev = req.QueryParam("severity"), want_cat = req.QueryParam("category");
  if (!want_sev.empty() && !soc::ParseSeverity(want_sev)) {
    return net::HttpResponse::JsonError(400, "severity: unknown '" + want_sev + "' (LOW, MEDIUM, HIGH, CRITICAL)");
  }
  if (!want_cat.empty() && !soc::ParseCategory(want_cat)) {
    return net::HttpResponse::JsonError(400, "category: unknown '" + want_cat + "'");
  }

  auto conn = ConnFor(ctx.config, tenant, store::Access::kReader);
  if (!conn.ok()) return net::HttpResponse::JsonError(503, "streams: " + conn.status().message());
  std::vector<store::StreamEntry> latest;
  {
    MutexLock lock((*conn)->mu);
    auto r = (*conn)->streams->Latest(store::StreamKind::kSocEvents, 5000);
    if (!r.ok()) {
      DropConn(ctx.config, tenant, store::Access::kReader);
      return net::HttpResponse::JsonError(503, "read " + tenant + "_SOC_EVENTS: " + r.status().message());
    }
    latest = std::move(*r);
  }
  const int64_t now = NowMs(), since = now - kStatsWindowMs;
  uint64_t window_events = 0, proposals = 0;
  std::map<int, uint64_t> flags_by_device;
  json events = json::array();
  for (const auto& entry : latest) {  // newest first
    auto e = soc::ParseEvent(entry.payload, tenant);
    if (!e.ok() || !e->enriched) continue;
    if (e->l8.ts_ms >= since) {
      ++window_events;
      proposals += e->proposals.size();
      for (int i = 0; i < soc::kFlagCount; ++i) {
        if (e->l8.flags & (1u << i)) ++flags_by_device[soc::FlagDevice(1u << i)];
      }
    }
    if (events.size() >= limit) continue;
    if (!want_sev.empty() && soc::SeverityName(e->l4.severity) != want_sev) continue;
    if (!want_cat.empty() && soc::CategoryName(e->l4.category) != want_cat) continue;
    json flags = json::array(), actions = json::array();
    for (int i = 0; i < soc::kFlagCount; ++i) {
      if (e->l8.flags & (1u << i)) flags.push_back(std::string(soc::FlagName(1u << i)));
    }
    for (const auto& p : e->proposals) actions.push_back({{"action", p.action}, {"target", p.target}});
    events.push_back({{"event_id", e->event_id},
                      {"ts_ms", e->ts_ms},
                      {"severity", std::string(soc::SeverityName(e->l4.severity))},
                      {"category", std::string(soc::CategoryName(e->l4.category))},
                      {"l3_score", e->l3.score},
                      {"l4_confidence", e->l4.confidence},
                      {"flags", flags},
                      {"proposals", actions}});
  }
  json devices = json::array();
  for (const auto& d : kL8Devices) {
    json row = {{"device", d.device}, {"name", d.name}, {"events", window_events}};
    if (d.device == 58) {
      row["proposals"] = proposals;
    } else {
      row["flags"] = flags_by_device[d.device];
    }
    devices.push_back(row);
  }
  json out = {{"tenant", tenant},
              {"node", ctx.config.name},
              {"generated_ms", now},
              {"events", events},
              {"stats", {{"window_s", kStatsWindowMs / 1000}, {"events", window_events}, {"devices", devices}}}};
  // The tenant's own SHRINK scores (docs/shrink.md §4), when SHRINK runs here.
  if (ctx.shrink != nullptr) {
    if (auto r = ctx.shrink->Risk(tenant); r.ok()) {
      out["shrink"] = {{"risk", r->risk},
                       {"level", std::string(r->level)},
                       {"acute_stress", r->acute_stress},
                       {"hyperfocus", r->hyperfocus},
                       {"cognitive_load", r->cognitive_load},
                       {"texts", r->texts}};
    }
  }
  return Json(200, out);
}

}  // namespace

void RegisterSocRoutes() {
  RegisterControlRoute({"POST", "/v1/events", false, PostEvents});
  RegisterControlRoute({"GET", "/v1/soc/top", false, GetTop});
}

}  // namespace dsmil::node
