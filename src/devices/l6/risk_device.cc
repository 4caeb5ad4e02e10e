#include "devices/l6/risk_device.h"

#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/coding.h"
#include "core/log.h"
#include "devices/l6/risk.h"
#include "devices/l9/admission.h"
#include "store/archive.h"
#include "store/scope.h"

namespace dsmil::devices::l6 {

using json = nlohmann::json;

RiskDevice::RiskDevice(DeviceContext ctx, RiskOptions options) : ctx_(std::move(ctx)), options_(std::move(options)) {
  if (ctx_.metrics) metrics_ = std::make_unique<StandardMetrics>(*ctx_.metrics);
}

RiskDevice::~RiskDevice() = default;

void RiskDevice::Stop() {
  MutexLock lock(mu_);
  stopped_ = true;
}

int64_t RiskDevice::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DeviceHealth RiskDevice::Health() const {
  {
    MutexLock lock(mu_);
    if (stopped_) return {DeviceState::kStopped, "stopped"};
  }
  if (ctx_.stores.path.empty()) {
    return {DeviceState::kNotImplemented,
            "not configured: stores.path is not set (device 37 assesses the tenant's archive); every risk request is "
            "refused"};
  }
  return {DeviceState::kHealthy, ""};
}

std::string RiskDevice::StatusDetail() const {
  MutexLock lock(mu_);
  return "risk assessments answered: " + std::to_string(answered_);
}

dbe::Message RiskDevice::Error(const dbe::Message& request, const std::string& tenant, StatusCode code,
                               const char* reason, const std::string& detail) {
  if (metrics_) metrics_->CountError(l9::TenantLabel(ctx_, tenant), ctx_.id, reason);
  if (ctx_.log) ctx_.log->Warn("risk request refused", {{"tenant", tenant}, {"reason", reason}, {"why", detail}});
  return dbe::MakeErrorReply(request, code, reason, detail.substr(0, 1024));
}

Result<dbe::Message> RiskDevice::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  {
    MutexLock lock(mu_);
    if (stopped_) return Status::Unavailable("device 37 is stopped");
  }
  std::optional<LatencyTimer> timer;
  if (metrics_) {
    timer.emplace(metrics_->TimeRequest(l9::TenantLabel(ctx_, tenant), ctx_.id, MsgTypeLabel(uint8_t(request.type()))));
  }
  if (auto refused = l9::AdmitL9Request(ctx_, ctx_.id, dbe::MsgType::kL6RiskReq, request, nullptr)) {
    if (metrics_) metrics_->CountError(l9::TenantLabel(ctx_, tenant), ctx_.id, "REFUSED");
    return std::move(*refused);
  }
  if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
    return Error(request, tenant, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                 "this instance of device 37 serves tenant " + ctx_.tenant);
  }
  if (ctx_.stores.path.empty()) {
    return Error(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED",
                 "stores.path is not set: device 37 assesses the tenant's archive");
  }
  json scenario = json::object();
  if (auto payload = request.GetBytes(dbe::TlvType::kPayload); payload.ok() && !payload->empty()) {
    scenario = json::parse(AsString(*payload), nullptr, false);
    if (scenario.is_discarded()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", "PAYLOAD is not JSON (a scenario)");
    }
  }
  auto graph = ParseScenario(scenario);
  if (!graph.ok()) return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", graph.status().message());

  const int64_t now = NowMs();
  const int64_t since = now - graph->window_hours * 3600000;
  size_t archived = 0, skipped = 0;
  if (graph->use_archive) {
    auto scope = store::TenantScope::For(tenant);
    if (!scope.ok()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", scope.status().message());
    }
    auto archive = store::OpenArchive(ctx_.stores, *scope);
    auto rows = archive.ok() ? (*archive)->Recent(kMaxRiskEvents, since)
                             : Result<std::vector<store::ArchivedEvent>>(archive.status());
    if (!rows.ok()) {
      return Error(request, tenant, StatusCode::kUnavailable, "ARCHIVE_UNAVAILABLE",
                   "the tenant's archive could not be read: " + rows.status().message());
    }
    std::vector<soc::SocEvent> events;
    events.reserve(rows->size());
    for (const store::ArchivedEvent& r : *rows) {
      auto e = soc::ParseEvent(r.body, tenant);
      if (e.ok()) {
        events.push_back(std::move(*e));
      } else {
        ++skipped;
      }
    }
    archived = events.size();
    AddArchiveEvidence(*graph, events);
  }
  if (graph->hosts.empty()) {
    return Error(request, tenant, StatusCode::kFailedPrecondition, "NO_ASSETS",
                 "nothing to assess: the scenario lists no assets and the tenant's archive has no event with a "
                 "src_host in the last " +
                     std::to_string(graph->window_hours) + " hours");
  }
  auto result = SimulateRisk(*graph);
  if (!result.ok()) {
    return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", result.status().message());
  }
  json body = RiskReport(*graph, *result);
  std::string request_id;
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) request_id = std::string(*rid);
  body["tenant"] = tenant;
  body["device"] = ctx_.id;
  body["request_id"] = request_id;
  body["archive"] = {{"used", graph->use_archive},
                     {"window_hours", graph->window_hours},
                     {"events", archived},
                     {"skipped_events", skipped},
                     {"truncated", archived + skipped >= kMaxRiskEvents}};
  body["generated_ms"] = now;
  {
    MutexLock lock(mu_);
    ++answered_;
  }
  dbe::Message reply(dbe::MsgType::kL6RiskResp);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, tenant);
  if (!request_id.empty()) reply.SetString(dbe::TlvType::kRequestId, request_id);
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, body.dump(-1, ' ', false, json::error_handler_t::replace));
  return reply;
}

Result<std::unique_ptr<Device>> CreateRiskDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new RiskDevice(ctx));
}

}  // namespace dsmil::devices::l6

namespace dsmil::devices {

void RegisterL6Devices() { RegisterDeviceFactory(l6::kRiskDeviceId, l6::CreateRiskDevice); }

}  // namespace dsmil::devices
