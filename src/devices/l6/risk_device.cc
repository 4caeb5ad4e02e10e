#include "devices/l6/risk_device.h"

#include <chrono>
#include <future>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/coding.h"
#include "core/log.h"
#include "devices/l6/risk.h"
#include "devices/l6/risk_parts.h"
#include "devices/l9/admission.h"
#include "store/archive.h"
#include "store/scope.h"

namespace dsmil::devices::l6 {

using json = nlohmann::json;

RiskDevice::RiskDevice(DeviceContext ctx, RiskOptions options) : StoreDevice(std::move(ctx), std::move(options)) {
  if (ctx_.metrics) metrics_ = std::make_unique<StandardMetrics>(*ctx_.metrics);
}

RiskDevice::~RiskDevice() = default;

DeviceHealth RiskDevice::Health() const {
  return StoresHealth("device 37 assesses the tenant's archive", "risk request");
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

Result<json> RiskDevice::CallPart(const dbe::Message& request, const std::string& tenant, int device,
                                  const json& payload) {
  dbe::Message m(dbe::MsgType::kL6RiskReq);
  m.header().src_device = uint16_t(ctx_.id);
  m.header().dst_device = uint16_t(device);
  m.SetString(dbe::TlvType::kTenantId, tenant);
  std::string rid = "l6";
  if (auto r = request.GetString(dbe::TlvType::kRequestId); r.ok()) rid = std::string(*r);
  m.SetString(dbe::TlvType::kRequestId, rid.substr(0, 100) + "/" + std::to_string(device));
  if (auto claim = request.GetBytes(dbe::TlvType::kL7ClaimToken); claim.ok()) {
    m.SetBytes(dbe::TlvType::kL7ClaimToken, *claim);
  }
  m.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  m.SetString(dbe::TlvType::kPayload, payload.dump(-1, ' ', false, json::error_handler_t::replace));
  Device* local = ctx_.local ? ctx_.local(device, tenant) : nullptr;
  if (local == nullptr && ctx_.local) local = ctx_.local(device, "");
  Result<dbe::Message> reply = Status::Unavailable("device " + std::to_string(device) + " is not reachable");
  if (local != nullptr) {
    reply = local->Handle(m);
  } else if (ctx_.call) {
    reply = ctx_.call(m, std::chrono::milliseconds(kPartTimeoutMs));
  }
  if (!reply.ok()) return reply.status();
  if (reply->type() == dbe::MsgType::kError) {
    std::string reason = "ERROR";
    if (auto r = reply->GetString(dbe::TlvType::kErrorReason); r.ok()) reason = std::string(*r);
    if (auto d = reply->GetString(dbe::TlvType::kErrorDetail); d.ok()) reason += ": " + std::string(*d);
    return Status::Unavailable(reason);
  }
  auto body = reply->GetBytes(dbe::TlvType::kPayload);
  if (!body.ok()) return Status::Unavailable("no PAYLOAD in the answer");
  json j = json::parse(AsString(*body), nullptr, false);
  if (!j.is_object()) return Status::Unavailable("the answer is not a JSON object");
  return j;
}

Result<dbe::Message> RiskDevice::Handle(const dbe::Message& request) {
  std::string tenant(request.tenant_id());
  if (stopped()) return Status::Unavailable("device 37 is stopped");
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
  bool truncated = false;
  json parts = json::object();
  if (graph->use_archive) {
    if (auto scope = store::TenantScope::For(tenant); !scope.ok()) {
      return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", scope.status().message());
    }
    // The evidence from device 36; read here when it cannot answer.
    std::vector<HostEvidence> evidence;
    auto remote = CallPart(request, tenant, kEvidenceDeviceId, {{"window_hours", graph->window_hours}});
    Result<std::vector<HostEvidence>> parsed =
        remote.ok() ? EvidenceFromJson((*remote)["hosts"]) : Result<std::vector<HostEvidence>>(remote.status());
    if (parsed.ok() && (*remote)["events"].is_number_unsigned() && (*remote)["skipped_events"].is_number_unsigned()) {
      evidence = std::move(*parsed);
      archived = (*remote)["events"].get<size_t>();
      skipped = (*remote)["skipped_events"].get<size_t>();
      truncated = (*remote)["truncated"].is_boolean() && (*remote)["truncated"].get<bool>();
      parts["evidence"] = "device 36";
    } else {
      auto read = ReadRiskEvents(ctx_.stores, tenant, since);
      if (!read.ok()) {
        return Error(request, tenant, StatusCode::kUnavailable, "ARCHIVE_UNAVAILABLE",
                     "the tenant's archive could not be read: " + read.status().message());
      }
      evidence = ComputeEvidence(read->events);
      archived = read->events.size();
      skipped = read->skipped;
      truncated = read->truncated;
      parts["evidence"] =
          "device 37 (device 36: " + (parsed.ok() ? std::string("malformed answer") : parsed.status().message()) + ")";
    }
    ApplyEvidence(*graph, evidence);
  }
  if (graph->hosts.empty()) {
    return Error(request, tenant, StatusCode::kFailedPrecondition, "NO_ASSETS",
                 "nothing to assess: the scenario lists no assets and the tenant's archive has no event with a "
                 "src_host in the last " +
                     std::to_string(graph->window_hours) + " hours");
  }
  // Checks the limits before anything is sent.
  if (Status checked = CheckRiskLimits(*graph, graph->samples); !checked.ok()) {
    return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", checked.message());
  }
  // The Monte Carlo: shard i on device 38 + i, all at once; a shard whose
  // device cannot answer runs here. The result is the same either way.
  json resolved = GraphToScenario(*graph);
  std::vector<std::future<Result<json>>> calls;
  for (size_t i = 0; i < kRiskShards; ++i) {
    json payload = {{"scenario", resolved},
                    {"shard_samples", ShardSamples(graph->samples, i)},
                    {"shard_seed", ShardSeed(graph->seed, i)}};
    calls.push_back(std::async(std::launch::async, [this, &request, &tenant, i, payload = std::move(payload)] {
      return CallPart(request, tenant, kFirstSamplerDeviceId + int(i), payload);
    }));
  }
  std::vector<RiskPartial> shards;
  json shard_parts = json::array();
  for (size_t i = 0; i < kRiskShards; ++i) {
    const int dev = kFirstSamplerDeviceId + int(i);
    Result<json> got = calls[i].get();
    Result<RiskPartial> partial =
        got.ok() && (*got).contains("shard")
            ? PartialFromJson((*got)["shard"], graph->hosts.size())
            : Result<RiskPartial>(got.ok() ? Status::InvalidArgument("no shard in the answer") : got.status());
    std::string ran_on = "device " + std::to_string(dev);
    if (!partial.ok() || partial->losses.size() != ShardSamples(graph->samples, i)) {
      ran_on = "device 37 (device " + std::to_string(dev) + ": " +
               (partial.ok() ? std::string("wrong sample count") : partial.status().message()) + ")";
      partial = SimulateShard(*graph, ShardSamples(graph->samples, i), ShardSeed(graph->seed, i));
      if (!partial.ok()) {
        return Error(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", partial.status().message());
      }
    }
    shard_parts.push_back({{"device", dev}, {"samples", partial->losses.size()}, {"ran_on", ran_on}});
    shards.push_back(std::move(*partial));
  }
  parts["shards"] = std::move(shard_parts);
  Result<RiskResult> result = MergeShards(shards, graph->hosts.size());
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
                     {"truncated", truncated}};
  body["parts"] = std::move(parts);
  body["generated_ms"] = now;
  {
    MutexLock lock(mu_);
    ++answered_;
  }
  return JsonReply(request, dbe::MsgType::kL6RiskResp, tenant, body);
}

Result<std::unique_ptr<Device>> CreateRiskDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new RiskDevice(ctx));
}

}  // namespace dsmil::devices::l6

namespace dsmil::devices {

void RegisterL6Devices() {
  RegisterDeviceFactory(l6::kRiskDeviceId, l6::CreateRiskDevice);
  RegisterDeviceFactory(l6::kEvidenceDeviceId, l6::CreateRiskPartDevice);
  for (size_t i = 0; i < l6::kRiskShards; ++i) {
    RegisterDeviceFactory(l6::kFirstSamplerDeviceId + int(i), l6::CreateRiskPartDevice);
  }
}

}  // namespace dsmil::devices
