#include "devices/store_device.h"

#include <chrono>
#include <utility>

namespace dsmil::devices {

StoreDevice::StoreDevice(DeviceContext ctx, StoreDeviceOptions options)
    : ctx_(std::move(ctx)), options_(std::move(options)) {}

Status StoreDevice::Start() { return Status::Ok(); }

void StoreDevice::Stop() {
  MutexLock lock(mu_);
  stopped_ = true;
}

int64_t StoreDevice::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool StoreDevice::stopped() const {
  MutexLock lock(mu_);
  return stopped_;
}

DeviceHealth StoreDevice::StoresHealth(std::string_view why, std::string_view refused) const {
  if (stopped()) return {DeviceState::kStopped, "stopped"};
  if (ctx_.stores.path.empty()) {
    return {DeviceState::kNotImplemented, "not configured: stores.path is not set (" + std::string(why) + "); every " +
                                              std::string(refused) + " is refused"};
  }
  return {DeviceState::kHealthy, ""};
}

dbe::Message JsonReply(const dbe::Message& request, dbe::MsgType type, const std::string& tenant,
                       const nlohmann::json& body) {
  dbe::Message reply(type);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, tenant);
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok() && !rid->empty()) {
    reply.SetString(dbe::TlvType::kRequestId, *rid);
  }
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return reply;
}

}  // namespace dsmil::devices
