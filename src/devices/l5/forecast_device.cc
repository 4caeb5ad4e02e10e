#include "devices/l5/forecast_device.h"

#include <chrono>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/coding.h"
#include "core/log.h"
#include "devices/l9/admission.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/scope.h"

namespace dsmil::devices::l5 {
namespace {

using json = nlohmann::json;

constexpr const char* kActor = "dbe:device35";

std::string FlagKey(const RateAnomaly& a) {
  return a.series + "|" + std::to_string(a.hour_ms) + "|" + AnomalyFlagName(a.direction);
}

// An integer field of the request in [lo, hi], `def` when absent.
Result<int64_t> Field(const json& doc, const char* name, int64_t def, int64_t lo, int64_t hi) {
  if (!doc.contains(name)) return def;
  const json& v = doc[name];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return Status::InvalidArgument(std::string(name) + ": want an integer in " + std::to_string(lo) + ".." +
                                   std::to_string(hi));
  }
  return v.get<int64_t>();
}

}  // namespace

ForecastDevice::ForecastDevice(DeviceContext ctx, ForecastOptions options)
    : StoreDevice(std::move(ctx), std::move(options)) {
  if (ctx_.metrics) metrics_ = std::make_unique<StandardMetrics>(*ctx_.metrics);
}

ForecastDevice::~ForecastDevice() { Stop(); }

Status ForecastDevice::Start() {
  if (ctx_.stores.path.empty() || warm_.joinable()) return Status::Ok();
  std::vector<std::string> tenants;
  if (!ctx_.tenant.empty()) {
    tenants.push_back(ctx_.tenant);
  } else {
    for (const TenantInfo& t : ctx_.tenants) tenants.push_back(t.id);
  }
  warm_ = std::thread([this, tenants] {
    const int64_t now = NowMs();
    const int64_t end = now - now % kHourMs;
    for (const std::string& t : tenants) {
      if (stopped()) return;
      (void)ReadCounts(t, end - kDefaultHistoryDays * 24 * kHourMs, end);
    }
  });
  return Status::Ok();
}

void ForecastDevice::Stop() {
  StoreDevice::Stop();
  if (warm_.joinable() && warm_.get_id() != std::this_thread::get_id()) warm_.join();
}

Result<std::vector<store::HourlyCount>> ForecastDevice::ReadCounts(const std::string& tenant, int64_t window_start,
                                                                   int64_t end) {
  DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
  DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<store::Archive> archive, store::OpenArchive(ctx_.stores, scope));
  return counts_.Read(tenant, *archive, window_start, end);
}

DeviceHealth ForecastDevice::Health() const {
  return StoresHealth("device " + std::to_string(ctx_.id) + " forecasts from the tenant's archive", "forecast request");
}

std::string ForecastDevice::StatusDetail() const {
  MutexLock lock(mu_);
  HourlyCountCache::Stats c = counts_.stats();
  std::string s = "forecasts answered: " + std::to_string(answered_) + ", hourly counts " + std::to_string(c.reused) +
                  " reused, " + std::to_string(c.full) + " recounted";
  if (ctx_.id == kAnomalyDeviceId) s += ", L5 flags recorded: " + std::to_string(flags_written_);
  return s;
}

dbe::Message ForecastDevice::Error(const dbe::Message& request, const std::string& tenant, StatusCode code,
                                   const char* reason, const std::string& detail) {
  if (metrics_) metrics_->CountError(l9::TenantLabel(ctx_, tenant), ctx_.id, reason);
  if (ctx_.log) {
    ctx_.log->Warn("forecast request refused",
                   {{"tenant", tenant}, {"device", std::to_string(ctx_.id)}, {"reason", reason}, {"why", detail}});
  }
  return dbe::MakeErrorReply(request, code, reason, detail.substr(0, 1024));
}

ForecastDevice::Recorded ForecastDevice::RecordFlags(const std::string& tenant, const std::vector<RateAnomaly>& flags) {
  Recorded r;
  r.flags = flags.size();
  if (flags.empty()) return r;
  if (ctx_.audit == nullptr) {
    r.error = "the node has no audit sink: flags are reported here only";
    return r;
  }
  MutexLock lock(flags_mu_);
  auto it = recorded_.find(tenant);
  if (it == recorded_.end()) {
    // First flags of this tenant in this process: the keys already written.
    std::set<std::string> keys;
    auto scope = store::TenantScope::For(tenant);
    auto archive =
        scope.ok() ? store::OpenArchive(ctx_.stores, *scope) : Result<std::unique_ptr<store::Archive>>(scope.status());
    auto rows = archive.ok() ? (*archive)->ReadAudit() : Result<std::vector<store::AuditRow>>(archive.status());
    if (!rows.ok()) {
      r.error = "the tenant's audit chain could not be read: " + rows.status().message();
      return r;
    }
    for (const store::AuditRow& row : *rows) {
      if (row.actor != kActor) continue;
      json d = json::parse(row.detail, nullptr, false);
      if (d.is_object() && d.contains("key") && d["key"].is_string()) keys.insert(d["key"].get<std::string>());
    }
    it = recorded_.emplace(tenant, std::move(keys)).first;
  }
  for (const RateAnomaly& a : flags) {
    std::string key = FlagKey(a);
    if (it->second.count(key) != 0) continue;
    json d = {{"key", key},           {"device", kAnomalyDeviceId}, {"series", a.series},
              {"hour_ms", a.hour_ms}, {"actual", a.actual},         {"expected", a.expected},
              {"lower", a.lower},     {"upper", a.upper},           {"interval", 0.99}};
    Status s = ctx_.audit->Append(tenant, AnomalyFlagName(a.direction), kActor, d.dump());
    if (!s.ok()) {
      r.error = "audit row not written: " + s.message();
      break;
    }
    it->second.insert(key);
    ++r.written;
  }
  MutexLock stats(mu_);
  flags_written_ += r.written;
  return r;
}

Result<dbe::Message> ForecastDevice::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  if (stopped()) return Status::Unavailable("device " + std::to_string(ctx_.id) + " is stopped");
  std::optional<LatencyTimer> timer;
  if (metrics_) {
    timer.emplace(metrics_->TimeRequest(l9::TenantLabel(ctx_, tenant), ctx_.id, MsgTypeLabel(uint8_t(request.type()))));
  }
  if (auto refused = l9::AdmitL9Request(ctx_, ctx_.id, dbe::MsgType::kL5ForecastReq, request, nullptr)) {
    if (metrics_) metrics_->CountError(l9::TenantLabel(ctx_, tenant), ctx_.id, "REFUSED");
    return std::move(*refused);
  }
  if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
    return Error(request, tenant, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                 "this instance of device " + std::to_string(ctx_.id) + " serves tenant " + ctx_.tenant);
  }
  if (ctx_.stores.path.empty()) {
    return Error(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED",
                 "stores.path is not set: device " + std::to_string(ctx_.id) + " forecasts from the tenant's archive");
  }
  json doc = json::object();
  if (auto payload = request.GetBytes(dbe::TlvType::kPayload); payload.ok() && !payload->empty()) {
    doc = json::parse(AsString(*payload), nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
                   "PAYLOAD is not a JSON object: want {\"horizon_h\": 1..168, \"history_days\": 3..60, "
                   "\"check_hours\": 1..168}");
    }
  }
  auto horizon = Field(doc, "horizon_h", 24, 1, kMaxHorizonHours);
  auto days = Field(doc, "history_days", kDefaultHistoryDays, kMinHistoryDays, kMaxHistoryDays);
  auto check = Field(doc, "check_hours", 24, 1, kMaxCheckHours);
  for (const auto* f : {&horizon, &days, &check}) {
    if (!f->ok()) return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", f->status().message());
  }

  // The tenant's events of the last history_days, bucketed by whole hour up
  // to the current (incomplete) hour, which is left out.
  const int64_t now = NowMs();
  const int64_t end = now - now % kHourMs;
  const int64_t window_start = end - *days * 24 * kHourMs;
  if (auto scope = store::TenantScope::For(tenant); !scope.ok()) {
    return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", scope.status().message());
  }
  auto read = ReadCounts(tenant, window_start, end);
  if (!read.ok()) {
    return Error(request, tenant, StatusCode::kUnavailable, "ARCHIVE_UNAVAILABLE",
                 "the tenant's archive could not be read: " + read.status().message());
  }
  std::vector<store::HourlyCount> rows = std::move(*read);
  HourlyCounts counts = BucketHourly(rows, SeriesStart(rows, window_start, end), end);

  Result<json> body = Status::Internal("unreachable");
  Recorded recorded;
  if (ctx_.id == kRateDeviceId) {
    body = RateForecast(counts, size_t(*horizon));
  } else if (ctx_.id == kSeverityDeviceId) {
    body = SeverityMixForecast(counts, size_t(*horizon));
  } else {
    auto flags = DetectRateAnomalies(counts, size_t(*check));
    if (flags.ok()) {
      recorded = RecordFlags(tenant, *flags);
      json list = json::array();
      for (const RateAnomaly& a : *flags) {
        list.push_back({{"flag", AnomalyFlagName(a.direction)},
                        {"series", a.series},
                        {"hour_ms", a.hour_ms},
                        {"actual", a.actual},
                        {"expected", a.expected},
                        {"lower", a.lower},
                        {"upper", a.upper}});
      }
      body = json{
          {"part", "anomalies"},
          {"history", {{"first_hour_ms", counts.first_hour_ms}, {"hours", counts.hours}, {"events", counts.events}}},
          {"check_hours", *check},
          {"checked_from_ms", end - *check * kHourMs},
          {"interval", 0.99},
          {"series_checked", counts.by_category.size() + 1},
          {"flags", std::move(list)},
          {"audit", {{"written", recorded.written}, {"already_recorded", recorded.flags - recorded.written}}}};
      if (!recorded.error.empty()) (*body)["audit"]["error"] = recorded.error;
    } else {
      body = flags.status();
    }
  }
  if (!body.ok()) {
    if (body.status().code() == StatusCode::kFailedPrecondition) {
      return Error(request, tenant, StatusCode::kFailedPrecondition, "INSUFFICIENT_HISTORY", body.status().message());
    }
    return Error(request, tenant, StatusCode::kInternal, "FORECAST_FAILED", body.status().message());
  }
  std::string request_id;
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) request_id = std::string(*rid);
  (*body)["tenant"] = tenant;
  (*body)["device"] = ctx_.id;
  (*body)["request_id"] = request_id;
  (*body)["history_days"] = *days;
  (*body)["generated_ms"] = now;
  {
    MutexLock lock(mu_);
    ++answered_;
  }
  return JsonReply(request, dbe::MsgType::kL5ForecastResp, tenant, *body);
}

Result<std::unique_ptr<Device>> CreateForecastDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new ForecastDevice(ctx));
}

}  // namespace dsmil::devices::l5

namespace dsmil::devices {

void RegisterL5Devices() {
  for (int id : {l5::kRateDeviceId, l5::kSeverityDeviceId, l5::kAnomalyDeviceId}) {
    RegisterDeviceFactory(id, l5::CreateForecastDevice);
  }
}

}  // namespace dsmil::devices
