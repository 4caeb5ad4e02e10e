// The device catalog: every DSMIL device id 0..103 with its layer, name,
// memory budget, token id base and home node role, as spec §3.1 gives them.
//
// Ids the spec does not place in a layer (0..13, 63..103) are in the catalog
// as Layer::kUnassigned with no name and no budget: reported as such, never
// invented. The token id base 0x8000 + 3 x id holds for every id.
//
// All data is static and immutable; every function is thread-safe, and the
// returned pointers and spans stay valid for the life of the program.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dsmil::devices {

inline constexpr int kMinDeviceId = 0;
inline constexpr int kMaxDeviceId = 103;
inline constexpr int kDeviceCount = 104;
inline constexpr uint16_t kTokenIdBase = 0x8000;

enum class Layer : uint8_t { kUnassigned, kL3, kL4, kL5, kL6, kL7, kL8, kL9 };

// The node role that hosts a device by default (spec §2, §3.1).
enum class HomeRole : uint8_t { kNone, kSoc, kAi };

struct DeviceInfo {
  int id;
  Layer layer;
  std::string_view name;  // spec §3.1 role ("L7 Router"); "" when unassigned
  uint32_t memory_gb;     // budget in GB (GiB in bytes below); 0 when unassigned
  uint16_t token_base;    // 0x8000 + 3 * id
  HomeRole home_role;

  uint64_t memory_bytes() const { return uint64_t(memory_gb) << 30; }
  bool assigned() const { return layer != Layer::kUnassigned; }
};

// 0x8000 + 3 * id (device 43 -> 0x8081).
constexpr uint16_t TokenBase(int id) { return uint16_t(kTokenIdBase + 3 * id); }

// The device, or nullptr when `id` is outside 0..103.
const DeviceInfo* FindDevice(int id);
// The device, or InvalidArgument "device 104 out of range 0..103".
Result<const DeviceInfo*> LookupDevice(int id);
// All 104 devices, ordered by id (index == id).
std::span<const DeviceInfo> AllDevices();

// The layer of `id` (kUnassigned for ids outside every layer, or out of range).
Layer LayerOf(int id);
// The devices of `layer`, ordered by id (for kUnassigned: the unassigned ids).
std::vector<const DeviceInfo*> DevicesOfLayer(Layer layer);
// First and last device id of a layer; {-1, -1} for kUnassigned.
std::pair<int, int> LayerRange(Layer layer);
// Sum of the layer's memory budgets in GB (L7 -> 40).
uint32_t LayerMemoryGb(Layer layer);
// The role that hosts the layer: SOC for L3/L4/L8/L9, AI for L5/L6/L7.
HomeRole LayerHomeRole(Layer layer);

// "L3" .. "L9", "UNASSIGNED".
std::string_view LayerName(Layer layer);
// "L3 Adaptive", "L4 Reactive", "L5 Predictive", "L6 Proactive", "L7 Extended",
// "L8 Enhanced Sec", "L9 Executive", "Unassigned".
std::string_view LayerDisplayName(Layer layer);
// Parses "L7", "l7", "7", or the spec's layer word ("EXTENDED", "ENHANCED_SEC").
// InvalidArgument otherwise ("UNASSIGNED" is not a layer one can ask for).
Result<Layer> ParseLayer(std::string_view text);

// The p99 latency SLO of spec §6.1 in milliseconds, for the devices that have
// one: 18 (L3) 50, 25 (L4) 100, 33 (L5) 200, 37 (L6) 300, 43 (L7 router) 500,
// 47 (LLM worker) 2000, 58 (SOAR) 200, 59 (COA) 3000; nullopt for the others.
std::optional<double> LatencySloMs(int id);

// "soc", "ai", "none" (the node configuration's role names).
std::string_view HomeRoleName(HomeRole role);

}  // namespace dsmil::devices
