#include "devices/l9/l9_device.h"

#include <chrono>
#include <utility>

namespace dsmil::devices::l9 {

L9Device::L9Device(DeviceContext ctx, L9Options options) : ctx_(std::move(ctx)), options_(std::move(options)) {}

Status L9Device::Start() { return Status::Ok(); }

void L9Device::Stop() {
  MutexLock lock(mu_);
  stopped_ = true;
}

int64_t L9Device::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool L9Device::stopped() const {
  MutexLock lock(mu_);
  return stopped_;
}

DeviceHealth L9Device::StoresHealth(std::string_view why, std::string_view refused) const {
  if (stopped()) return {DeviceState::kStopped, "stopped"};
  if (ctx_.stores.path.empty()) {
    return {DeviceState::kNotImplemented, "not configured: stores.path is not set (" + std::string(why) + "); every " +
                                              std::string(refused) + " is refused"};
  }
  return {DeviceState::kHealthy, ""};
}

}  // namespace dsmil::devices::l9
