#include "devices/l7/recorder.h"

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "devices/l7/device_calls.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"

namespace dsmil::devices::l7 {

using nlohmann::json;

Recorder::Recorder(const DeviceContext& ctx, Registry& registry, StandardMetrics& metrics, const Clock& clock)
    : ctx_(ctx),
      metrics_(metrics),
      clock_(clock),
      refusals_(
          registry.AddCounter("dsmil_l7_refusals_total", "L7 requests refused, by reason", {"tenant_id", "reason"})) {}

Recorder::~Recorder() = default;

void Recorder::Count(const std::string& tenant, const std::string& reason) {
  refusals_.Labels({tenant.empty() ? "unknown" : tenant, reason}).Inc();
}

void Recorder::Record(const Refusal& r, const std::string& request_id) {
  const std::string& tenant = r.tenant;
  Count(tenant, r.reason);
  metrics_.CountError(tenant.empty() ? "unknown" : tenant, kRouterDeviceId, r.reason);
  if (ctx_.log) {
    ctx_.log->Warn("l7 request refused", {{"tenant", tenant},
                                          {"actor", r.actor},
                                          {"reason", r.reason},
                                          {"status", r.error.status},
                                          {"request_id", request_id},
                                          {"message", r.error.message}});
  }
  if (r.audit_type.empty() || tenant.empty()) return;
  json detail = {{"device", kRouterDeviceId},
                 {"reason", r.reason},
                 {"message", r.error.message},
                 {"http_status", r.error.status},
                 {"request_id", request_id}};
  if (!r.detail.empty()) {
    json d = json::parse(r.detail, nullptr, false);
    if (!d.is_discarded()) detail["verdict"] = d;
  }
  Status s = Audit(tenant, r.audit_type, r.actor, detail.dump(-1, ' ', false, json::error_handler_t::replace));
  if (!s.ok() && ctx_.log) ctx_.log->Error("l7 audit append failed", {{"tenant", tenant}, {"error", s.message()}});
}

Status Recorder::Audit(const std::string& tenant, const std::string& type, const std::string& actor,
                       const std::string& detail_json) {
  if (ctx_.audit != nullptr) return ctx_.audit->Append(tenant, type, actor, detail_json);
  if (ctx_.stores.path.empty() && ctx_.stores.kind == "embedded") {
    return Status::FailedPrecondition("no stores.path: audit log not available");
  }
  MutexLock l(mu_);
  auto it = archives_.find(tenant);
  if (it == archives_.end()) {
    DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
    DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<store::Archive> a, store::OpenArchive(ctx_.stores, scope));
    it = archives_.emplace(tenant, std::move(a)).first;
  }
  auto row = it->second->AppendAudit(clock_.NowUnixNanos() / 1000000, type, actor, detail_json);
  if (!row.ok()) {
    archives_.erase(it);  // reopen next time
    return row.status();
  }
  return Status::Ok();
}

}  // namespace dsmil::devices::l7
