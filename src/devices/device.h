// The Device interface: every DSMIL device (L3 router, L4 classifier, L7 LLM
// worker, L8 SOAR, L9 NC3, ...) is a class behind it, hosted by a node.
//
// Lifecycle: the host creates a device with CreateDevice, calls Start once,
// routes DBE messages to Handle (possibly from several threads at once, so
// implementations must be thread-safe), polls Health for /healthz, the
// control API and metrics, and calls Stop once before destroying it. Stop
// refuses new work and waits for what is in flight.
//
// A device that is not implemented yet is an UnimplementedDevice: it reports
// NOT_IMPLEMENTED as its health and answers every message with an ERROR frame
// saying so. It never returns invented output.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "dbe/message.h"

namespace dsmil::devices {

enum class DeviceState { kStarting, kHealthy, kDegraded, kFailed, kNotImplemented, kStopped };

// "STARTING", "HEALTHY", "DEGRADED", "FAILED", "NOT_IMPLEMENTED", "STOPPED".
std::string_view DeviceStateName(DeviceState s);

struct DeviceHealth {
  DeviceState state = DeviceState::kStarting;
  std::string reason;  // why, when not kHealthy
};

// What the host tells a device about where it runs.
struct DeviceContext {
  int id = 0;
  std::string tenant;  // "" = serves every tenant of the node
  std::string node;    // node name, for logs and metrics
};

class Device {
 public:
  virtual ~Device() = default;

  virtual int id() const = 0;
  // The tenant this instance is bound to, or "" when it serves every tenant.
  virtual const std::string& tenant() const = 0;

  // Brings the device up (load models, connect stores). Called once.
  virtual Status Start() = 0;
  // Refuses new work, waits for in-flight messages. Called once; idempotent.
  virtual void Stop() = 0;
  // Current health; cheap, callable from any thread.
  virtual DeviceHealth Health() const = 0;
  // Bytes the device holds now (models, caches); 0 if it holds nothing.
  virtual uint64_t MemoryUsedBytes() const { return 0; }

  // Handles one request and returns the reply frame (an ERROR frame for a
  // refusal the caller should see). A non-OK Status means the device could
  // not produce any reply (the host turns it into an ERROR frame).
  virtual Result<dbe::Message> Handle(const dbe::Message& request) = 0;
};

// Creates the device for `ctx.id`: the registered implementation, or an
// UnimplementedDevice when none is registered. InvalidArgument for an id
// outside 0..103.
Result<std::unique_ptr<Device>> CreateDevice(const DeviceContext& ctx);

// Registers the implementation of device `id` (called from static
// registration objects in the device's .cc file). Not thread-safe: call
// before main or before the first CreateDevice.
using DeviceFactory = std::function<Result<std::unique_ptr<Device>>(const DeviceContext&)>;
void RegisterDeviceFactory(int id, DeviceFactory factory);

// Whether an implementation of device `id` is registered.
bool IsImplemented(int id);

// The stand-in for a device that is not built yet.
class UnimplementedDevice final : public Device {
 public:
  explicit UnimplementedDevice(DeviceContext ctx) : ctx_(std::move(ctx)) {}
  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }
  Status Start() override { return Status::Ok(); }
  void Stop() override {}
  DeviceHealth Health() const override;
  // Always an ERROR frame: ERROR_REASON "DEVICE_NOT_IMPLEMENTED".
  Result<dbe::Message> Handle(const dbe::Message& request) override;

 private:
  DeviceContext ctx_;
};

}  // namespace dsmil::devices
