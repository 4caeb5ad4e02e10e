#include "devices/device.h"

#include <map>

namespace dsmil::devices {
namespace {

struct Registration {
  DeviceFactory factory;
  std::vector<std::string> sections;  // the config sections it reads
};

std::map<int, Registration>& Factories() {
  static std::map<int, Registration> factories;
  return factories;
}

}  // namespace

std::string_view DeviceStateName(DeviceState s) {
  switch (s) {
    case DeviceState::kStarting:
      return "STARTING";
    case DeviceState::kHealthy:
      return "HEALTHY";
    case DeviceState::kDegraded:
      return "DEGRADED";
    case DeviceState::kFailed:
      return "FAILED";
    case DeviceState::kNotImplemented:
      return "NOT_IMPLEMENTED";
    case DeviceState::kStopped:
      return "STOPPED";
  }
  return "UNKNOWN";
}

void RegisterDeviceFactory(int id, DeviceFactory factory, std::vector<std::string> sections) {
  for (const auto& name : sections) {
    if (!IsConfigSectionRegistered(name)) {
      internal::ConfigSectionFatal("device " + std::to_string(id) + " declares config section '" + name +
                                   "', which has no registered parser (RegisterConfigSection first)");
    }
  }
  Factories()[id] = Registration{std::move(factory), std::move(sections)};
}

std::vector<std::string> DeclaredSections(int id) {
  auto it = Factories().find(id);
  return it == Factories().end() ? std::vector<std::string>{} : it->second.sections;
}

bool IsImplemented(int id) { return Factories().count(id) > 0; }

Result<std::unique_ptr<Device>> CreateDevice(const DeviceContext& ctx) {
  if (ctx.id < 0 || ctx.id > 103) {
    return Status::InvalidArgument("device id " + std::to_string(ctx.id) + " outside 0..103");
  }
  auto it = Factories().find(ctx.id);
  DeviceContext narrowed = ctx;
  narrowed.config = ctx.config.Select(it == Factories().end() ? std::vector<std::string>{} : it->second.sections);
  if (it == Factories().end()) return std::unique_ptr<Device>(new UnimplementedDevice(std::move(narrowed)));
  return it->second.factory(narrowed);
}

DeviceHealth UnimplementedDevice::Health() const {
  return {DeviceState::kNotImplemented, "device " + std::to_string(ctx_.id) + " is not implemented yet"};
}

Result<dbe::Message> UnimplementedDevice::Handle(const dbe::Message& request) {
  return dbe::MakeErrorReply(request, StatusCode::kUnimplemented, "DEVICE_NOT_IMPLEMENTED",
                             "device " + std::to_string(ctx_.id) + " is not implemented yet");
}

}  // namespace dsmil::devices
