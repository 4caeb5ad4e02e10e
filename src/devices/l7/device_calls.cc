#include "devices/l7/device_calls.h"

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "dbe/registry.h"

namespace dsmil::devices::l7 {

Result<dbe::Message> CallDevice(const DeviceContext& ctx, const dbe::Message& msg, int timeout_ms) {
  int dst = msg.header().dst_device;
  Device* local = ctx.local ? ctx.local(dst, std::string(msg.tenant_id())) : nullptr;
  if (local == nullptr && ctx.local) local = ctx.local(dst, "");
  if (local != nullptr) return local->Handle(msg);
  if (!ctx.call) return Status::Unavailable("device " + std::to_string(dst) + " is not reachable (no router)");
  return ctx.call(msg, std::chrono::milliseconds(timeout_ms));
}

std::string NewRequestId(const Clock& clock) {
  static std::atomic<uint64_t> seq{0};
  char buf[48];
  std::snprintf(buf, sizeof(buf), "l7-%llx-%llx", static_cast<unsigned long long>(clock.NowUnixNanos() / 1000000),
                static_cast<unsigned long long>(++seq));
  return buf;
}

Result<std::string> DevicePromptDetector::Check(const std::string& tenant, const std::string& request_id,
                                                const std::string& text) {
  return Send(tenant, request_id, dbe::ContentType::kText, text);
}

Result<std::string> DevicePromptDetector::CheckMessages(const std::string& tenant, const std::string& request_id,
                                                        const std::vector<ChatMessage>& messages) {
  nlohmann::json arr = nlohmann::json::array();
  for (const ChatMessage& m : messages) arr.push_back({{"role", m.role}, {"content", m.content}});
  nlohmann::json payload = {{"messages", std::move(arr)}};
  return Send(tenant, request_id, dbe::ContentType::kJson,
              payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::string> DevicePromptDetector::Send(const std::string& tenant, const std::string& request_id,
                                               dbe::ContentType content_type, const std::string& payload) {
  dbe::Message check(dbe::MsgType::kL8PromptCheck);
  check.header().src_device = kRouterDeviceId;
  check.header().dst_device = static_cast<uint16_t>(detector_.device);
  check.SetString(dbe::TlvType::kTenantId, tenant);
  check.SetString(dbe::TlvType::kRequestId, request_id);
  check.SetU8(dbe::TlvType::kContentType, static_cast<uint8_t>(content_type));
  check.SetString(dbe::TlvType::kPayload, payload);
  auto verdict = CallDevice(*ctx_, check, detector_.timeout_ms);
  if (!verdict.ok()) return verdict.status();
  if (verdict->type() != dbe::MsgType::kL8PromptVerdict) {
    auto reason = verdict->GetString(dbe::TlvType::kErrorReason);
    return Status::Unavailable("answered " + std::string(dbe::MsgTypeName(verdict->type())) +
                               (reason.ok() ? " " + std::string(*reason) : std::string()));
  }
  auto payload_bytes = verdict->GetBytes(dbe::TlvType::kPayload);
  return payload_bytes.ok() ? std::string(AsString(*payload_bytes)) : std::string();
}

}  // namespace dsmil::devices::l7
