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

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "dbe/message.h"
#include "devices/config_section.h"
#include "store/config.h"

namespace dsmil {
class Registry;
class Logger;
}  // namespace dsmil

namespace dsmil::store {
class AuditSink;
}  // namespace dsmil::store
namespace dsmil::tenant {
class ClaimVerifier;
}  // namespace dsmil::tenant

namespace dsmil::devices {

class Device;

enum class DeviceState { kStarting, kHealthy, kDegraded, kFailed, kNotImplemented, kStopped };

// "STARTING", "HEALTHY", "DEGRADED", "FAILED", "NOT_IMPLEMENTED", "STOPPED".
std::string_view DeviceStateName(DeviceState s);

struct DeviceHealth {
  DeviceState state = DeviceState::kStarting;
  std::string reason;  // why, when not kHealthy
};

// A tenant of the node, as configured (`tenants:` of the node config).
struct TenantInfo {
  std::string id;                         // "ALPHA"
  std::string roe_level;                  // ANALYSIS_ONLY, SOC_ASSIST, TRAINING
  std::vector<std::string> compartments;  // SOC, SIGNALS, ...
};

// Sends a request to any device (hosted here or on a peer, through the node's
// router) and waits up to `timeout` for its reply.
using DeviceCaller =
    std::function<Result<dbe::Message>(const dbe::Message& request, std::chrono::milliseconds timeout)>;
// The device `id` hosted in this process for `tenant` (or the one serving
// every tenant), or null. Valid while the node runs.
using LocalDeviceLookup = std::function<Device*(int id, const std::string& tenant)>;
// Hands operator-written text of `tenant` to SHRINK (docs/shrink.md §1):
// `source` is "l7_chat", "analyst_note" or "operator_log". Never blocks for
// long; the node scores it locally or forwards it.
using OperatorTextSink = std::function<void(const std::string& tenant, std::string_view source, std::string_view text)>;

// What the host tells a device about where it runs.
struct DeviceContext {
  DeviceContext() = default;
  DeviceContext(int id_, std::string tenant_, std::string node_)
      : id(id_), tenant(std::move(tenant_)), node(std::move(node_)) {}

  int id = 0;
  std::string tenant;          // "" = serves every tenant of the node
  std::string node;            // node name, for logs and metrics
  store::StoresConfig stores;  // the node's `stores:` section
  std::vector<TenantInfo> tenants;
  // The typed config sections the device declared (config_section.h),
  // parsed once when the node loaded its config; read them with Section<T>.
  // CreateDevice keeps exactly the declared ones. Tests hand a section in
  // with config.Put("soc", soc::SocConfig{...}) or config.PutJson(...).
  ConfigSections config;
  std::string config_dir;       // directory of the node config (relative paths)
  DeviceCaller call;            // empty when there is no router (unit tests)
  LocalDeviceLookup local;      // empty when there is no host
  Registry* metrics = nullptr;  // the node's registry; null in unit tests
  Logger* log = nullptr;        // the node's logger; null in unit tests
  // Operator text for SHRINK; empty when the node has no SHRINK (and in unit tests).
  OperatorTextSink operator_text;
  // The node's audit sink (store/audit_sink.h): refusals go to the target
  // tenant's audit chain and dsmil_refusals_total. Null in unit tests.
  store::AuditSink* audit = nullptr;
  // Verifies the claim tokens that authorize tenant-scoped requests
  // (devices/authz.h). Null in unit tests that do not set one: devices that
  // need it then refuse (fail closed).
  tenant::ClaimVerifier* claims = nullptr;

  // The declared section `name` as T: null when the node config has no such
  // section. Aborts when the device did not declare `name` or T is not its
  // registered type (config_section.h).
  template <class T>
  const T* Section(std::string_view name) const {
    return config.Get<T>(name, id);
  }
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
  // One short device-specific line for `dsmilctl status` (device 59:
  // "COAs: 3 pending"); "" when the device has nothing to add.
  virtual std::string StatusDetail() const { return ""; }

  // Handles one request and returns the reply frame (an ERROR frame for a
  // refusal the caller should see). A non-OK Status means the device could
  // not produce any reply (the host turns it into an ERROR frame).
  virtual Result<dbe::Message> Handle(const dbe::Message& request) = 0;

  // Streams partial replies (LLM workers: one L7_CHAT_RESP chunk per token or
  // group of tokens, the last one final). `on_chunk` returns false when the
  // caller is gone; the device then stops and frees what the request held.
  // Default: Handle once and deliver its reply as the only chunk.
  virtual Status HandleStreaming(const dbe::Message& request,
                                 const std::function<bool(const dbe::Message& chunk)>& on_chunk) {
    auto reply = Handle(request);
    if (!reply.ok()) return reply.status();
    on_chunk(*reply);
    return Status::Ok();
  }
};

// Creates the device for `ctx.id`: the registered implementation, or an
// UnimplementedDevice when none is registered. InvalidArgument for an id
// outside 0..103. The device gets ctx.config narrowed to the sections it
// declared (ConfigSections::Select): present ones keep their value, the
// others read as absent.
Result<std::unique_ptr<Device>> CreateDevice(const DeviceContext& ctx);

// Registers the implementation of device `id` (called from its group's
// RegisterXxxDevices). `sections` are the config sections the device reads
// (config_section.h; each must have a registered parser, else this aborts):
// CreateDevice gives the factory a DeviceContext whose `config` holds those
// and only those. Not thread-safe: call before the first CreateDevice.
using DeviceFactory = std::function<Result<std::unique_ptr<Device>>(const DeviceContext&)>;
void RegisterDeviceFactory(int id, DeviceFactory factory, std::vector<std::string> sections = {});

// The config sections device `id` declared (empty when it declared none or
// is not implemented).
std::vector<std::string> DeclaredSections(int id);

// Whether an implementation of device `id` is registered.
bool IsImplemented(int id);

// Registers every device built into the platform (devices/builtin.cc; each
// group's RegisterXxxDevices). Idempotent; call before the first CreateDevice.
void RegisterBuiltinDevices();

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
