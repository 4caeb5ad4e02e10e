#include "devices/l6/risk_parts.h"

#include <chrono>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/coding.h"
#include "core/log.h"
#include "devices/l9/admission.h"
#include "store/scope.h"

namespace dsmil::devices::l6 {

using json = nlohmann::json;

Result<ArchiveEvents> ReadRiskEvents(const store::StoresConfig& stores, const std::string& tenant, int64_t since_ms) {
  DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
  DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<store::Archive> archive, store::OpenArchive(stores, scope));
  DSMIL_ASSIGN_OR_RETURN(std::vector<store::ArchivedEvent> rows, archive->Recent(kMaxRiskEvents, since_ms));
  ArchiveEvents out;
  out.truncated = rows.size() >= kMaxRiskEvents;
  out.events.reserve(rows.size());
  for (const store::ArchivedEvent& r : rows) {
    auto e = soc::ParseEvent(r.body, tenant);
    if (e.ok()) {
      out.events.push_back(std::move(*e));
    } else {
      ++out.skipped;
    }
  }
  return out;
}

RiskPartDevice::RiskPartDevice(DeviceContext ctx, RiskPartOptions options)
    : StoreDevice(std::move(ctx), std::move(options)) {
  if (ctx_.metrics) metrics_ = std::make_unique<StandardMetrics>(*ctx_.metrics);
}

RiskPartDevice::~RiskPartDevice() = default;

DeviceHealth RiskPartDevice::Health() const {
  if (ctx_.id == kEvidenceDeviceId) return StoresHealth("device 36 reads the tenant's archive", "evidence request");
  if (stopped()) return {DeviceState::kStopped, "stopped"};
  return {DeviceState::kHealthy, ""};
}

std::string RiskPartDevice::StatusDetail() const {
  MutexLock lock(mu_);
  if (ctx_.id == kEvidenceDeviceId) return "evidence reads answered: " + std::to_string(answered_);
  return "Monte Carlo shards answered: " + std::to_string(answered_) + " (" + std::to_string(samples_) + " samples)";
}

dbe::Message RiskPartDevice::Error(const dbe::Message& request, const std::string& tenant, StatusCode code,
                                   const char* reason, const std::string& detail) {
  if (metrics_) metrics_->CountError(l9::TenantLabel(ctx_, tenant), ctx_.id, reason);
  if (ctx_.log) {
    ctx_.log->Warn("risk part refused",
                   {{"tenant", tenant}, {"device", std::to_string(ctx_.id)}, {"reason", reason}, {"why", detail}});
  }
  return dbe::MakeErrorReply(request, code, reason, detail.substr(0, 1024));
}

Result<dbe::Message> RiskPartDevice::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  if (stopped()) return Status::Unavailable("device " + std::to_string(ctx_.id) + " is stopped");
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
                 "this instance of device " + std::to_string(ctx_.id) + " serves tenant " + ctx_.tenant);
  }
  json doc = json::object();
  if (auto payload = request.GetBytes(dbe::TlvType::kPayload); payload.ok() && !payload->empty()) {
    doc = json::parse(AsString(*payload), nullptr, false);
  }
  if (!doc.is_object()) {
    return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", "PAYLOAD is not a JSON object");
  }
  json body;
  size_t samples = 0;
  if (ctx_.id == kEvidenceDeviceId) {
    if (ctx_.stores.path.empty()) {
      return Error(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED",
                   "stores.path is not set: device 36 reads the tenant's archive");
    }
    int64_t hours = kDefaultWindowHours;
    if (doc.contains("window_hours")) {
      const json& v = doc["window_hours"];
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxWindowHours) {
        return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
                     "window_hours: want an integer in 1.." + std::to_string(kMaxWindowHours));
      }
      hours = v.get<int64_t>();
    }
    if (auto scope = store::TenantScope::For(tenant); !scope.ok()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", scope.status().message());
    }
    auto read = ReadRiskEvents(ctx_.stores, tenant, NowMs() - hours * 3600000);
    if (!read.ok()) {
      return Error(request, tenant, StatusCode::kUnavailable, "ARCHIVE_UNAVAILABLE",
                   "the tenant's archive could not be read: " + read.status().message());
    }
    body = {{"part", "evidence"},
            {"hosts", EvidenceToJson(ComputeEvidence(read->events))},
            {"events", read->events.size()},
            {"skipped_events", read->skipped},
            {"truncated", read->truncated},
            {"window_hours", hours}};
  } else {
    if (!doc.contains("scenario") || !doc.contains("shard_samples") || !doc["shard_samples"].is_number_unsigned() ||
        !doc.contains("shard_seed") || !doc["shard_seed"].is_number_unsigned()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
                   "want {\"scenario\": {...}, \"shard_samples\": N, \"shard_seed\": S}");
    }
    auto graph = ParseScenario(doc["scenario"]);
    if (!graph.ok()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", graph.status().message());
    }
    samples = doc["shard_samples"].get<size_t>();
    if (samples > kMaxSamples) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST",
                   "shard_samples: at most " + std::to_string(kMaxSamples));
    }
    auto shard = SimulateShard(*graph, samples, doc["shard_seed"].get<uint64_t>());
    if (!shard.ok()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", shard.status().message());
    }
    body = {{"part", "samples"}, {"shard", PartialToJson(*shard)}};
  }
  {
    MutexLock lock(mu_);
    ++answered_;
    samples_ += samples;
  }
  body["tenant"] = tenant;
  body["device"] = ctx_.id;
  return JsonReply(request, dbe::MsgType::kL6RiskResp, tenant, body);
}

Result<std::unique_ptr<Device>> CreateRiskPartDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new RiskPartDevice(ctx));
}

}  // namespace dsmil::devices::l6
