#include "store/audit_sink.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/metrics.h"
#include "store/archive.h"
#include "store/scope.h"

namespace dsmil::store {

AuditSink::AuditSink(StoresConfig stores, Registry* metrics) : stores_(std::move(stores)) {
  if (metrics != nullptr) {
    refusals_ = &metrics->AddCounter("dsmil_refusals_total",
                                     "Tenant-scoped requests refused, by target tenant, entry point and reason",
                                     {"tenant_id", "entry", "reason"});
    write_errors_metric_ =
        &metrics->AddCounter("dsmil_audit_write_errors_total", "Audit rows that could not be written", {"tenant_id"});
  }
}

AuditSink::~AuditSink() = default;

Status AuditSink::Append(const std::string& tenant, const std::string& event_type, const std::string& actor,
                         const std::string& detail_json) {
  auto scope = TenantScope::For(tenant);
  if (!scope.ok()) return scope.status();
  if (stores_.kind != "servers" && stores_.path.empty()) {
    return Status::FailedPrecondition("no stores.path: the audit log of " + tenant + " is not available here");
  }
  MutexLock g(mu_);
  auto it = archives_.find(tenant);
  Status st;
  if (it == archives_.end()) {
    auto a = OpenArchive(stores_, *scope);
    if (a.ok()) {
      it = archives_.emplace(tenant, std::move(*a)).first;
    } else {
      st = a.status();
    }
  }
  if (st.ok()) {
    auto row = it->second->AppendAudit(DefaultClock().NowUnixNanos() / 1000000, event_type, actor, detail_json);
    if (!row.ok()) {
      archives_.erase(it);  // reopened next time
      st = row.status();
    }
  }
  if (!st.ok()) {
    ++write_errors_;
    if (write_errors_metric_ != nullptr) write_errors_metric_->Labels({tenant}).Inc();
    return st.WithContext("audit log of " + tenant);
  }
  return Status::Ok();
}

Status AuditSink::Record(const Refusal& r) {
  bool valid = TenantScope::For(r.tenant).ok();
  if (refusals_ != nullptr) refusals_->Labels({valid ? r.tenant : "unknown", r.entry, r.reason}).Inc();
  if (!valid) return Status::InvalidArgument("refusal names no valid tenant ('" + r.tenant + "'); counted only");
  nlohmann::json d = nlohmann::json::parse(r.detail.empty() ? "{}" : r.detail, nullptr, false);
  if (!d.is_object()) d = nlohmann::json{{"detail", r.detail}};
  d["entry"] = r.entry;
  d["reason"] = r.reason;
  return Append(r.tenant, r.event_type, r.actor, d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

uint64_t AuditSink::write_errors() const {
  MutexLock g(mu_);
  return write_errors_;
}

}  // namespace dsmil::store
