#include "devices/catalog.h"
#include "core/strings.h"

#include <array>
#include <string>

namespace dsmil::devices {
namespace {

struct LayerSpec {
  Layer layer;
  int first;
  int last;
  std::string_view name;
  std::string_view display;
  std::string_view word;  // the spec's upper-case layer word
  HomeRole role;
};

// Spec §2 and §3.1.
constexpr LayerSpec kLayers[] = {
    {Layer::kL3, 14, 22, "L3", "L3 Adaptive", "ADAPTIVE", HomeRole::kSoc},
    {Layer::kL4, 23, 32, "L4", "L4 Reactive", "REACTIVE", HomeRole::kSoc},
    {Layer::kL5, 33, 35, "L5", "L5 Predictive", "PREDICTIVE", HomeRole::kAi},
    {Layer::kL6, 36, 42, "L6", "L6 Proactive", "PROACTIVE", HomeRole::kAi},
    {Layer::kL7, 43, 50, "L7", "L7 Extended", "EXTENDED", HomeRole::kAi},
    {Layer::kL8, 51, 58, "L8", "L8 Enhanced Sec", "ENHANCED_SEC", HomeRole::kSoc},
    {Layer::kL9, 59, 62, "L9", "L9 Executive", "EXECUTIVE", HomeRole::kSoc},
};

struct Named {
  int id;
  std::string_view name;
  uint32_t memory_gb;
};

// Devices the spec names one by one (§3.1 tables; §6.1 for 18, 25, 33, 37).
constexpr Named kNamed[] = {
    {18, "Adaptive Router", 1},
    {25, "Reactive Classifier", 1},
    {33, "Predictive Forecast", 1},
    {37, "Proactive Risk Model", 1},
    {43, "L7 Router", 5},
    {44, "LLM Worker (1B, NPU)", 2},
    {45, "Vision Encoder", 3},
    {46, "Speech-to-Text", 2},
    {47, "Primary LLM (7B, AMX)", 20},
    {48, "Agent Runtime", 4},
    {49, "Tool Executor", 2},
    {50, "RAG Engine", 2},
    {51, "Adversarial ML Defense", 1},
    {52, "Security Analytics Fusion", 1},
    {53, "Cryptographic AI / PQC Watcher", 1},
    {54, "Threat Intelligence Fusion", 1},
    {55, "Behavioral Biometrics", 1},
    {56, "Secure Enclave Management", 1},
    {57, "Network Security AI", 1},
    {58, "SOAR Orchestrator", 1},
    {59, "COA Engine", 3},
    {60, "Global Strategy", 3},
    {61, "NC3 Integration", 3},
    {62, "Coalition Intelligence", 3},
};

// Range roles of §3.1 for devices not named one by one; each device of these
// ranges has 1 GB (L3 9 GB / 9, L4 10 GB / 10, L5 3 GB / 3, L6 7 GB / 7).
constexpr std::string_view RangeRole(Layer layer) {
  switch (layer) {
    case Layer::kL3:
      return "Rapid response, sensor fusion";
    case Layer::kL4:
      return "Multi-domain classification";
    case Layer::kL5:
      return "Forecasting, time-series";
    case Layer::kL6:
      return "Risk modeling, scenario planning";
    default:
      return "";
  }
}

const LayerSpec* SpecOf(Layer layer) {
  for (const LayerSpec& s : kLayers) {
    if (s.layer == layer) return &s;
  }
  return nullptr;
}

Layer ComputeLayer(int id) {
  for (const LayerSpec& s : kLayers) {
    if (id >= s.first && id <= s.last) return s.layer;
  }
  return Layer::kUnassigned;
}

std::array<DeviceInfo, kDeviceCount> BuildCatalog() {
  std::array<DeviceInfo, kDeviceCount> all{};
  for (int id = 0; id < kDeviceCount; ++id) {
    Layer layer = ComputeLayer(id);
    const LayerSpec* spec = SpecOf(layer);
    DeviceInfo d{id, layer, "", 0, TokenBase(id), spec ? spec->role : HomeRole::kNone};
    if (spec) {
      d.name = RangeRole(layer);
      d.memory_gb = 1;
    }
    for (const Named& n : kNamed) {
      if (n.id == id) {
        d.name = n.name;
        d.memory_gb = n.memory_gb;
      }
    }
    all[size_t(id)] = d;
  }
  return all;
}

const std::array<DeviceInfo, kDeviceCount>& Catalog() {
  static const std::array<DeviceInfo, kDeviceCount> catalog = BuildCatalog();
  return catalog;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return EqualsIgnoreCaseAscii(a, b); }

}  // namespace

const DeviceInfo* FindDevice(int id) {
  if (id < kMinDeviceId || id > kMaxDeviceId) return nullptr;
  return &Catalog()[size_t(id)];
}

Result<const DeviceInfo*> LookupDevice(int id) {
  const DeviceInfo* d = FindDevice(id);
  if (d == nullptr) {
    return Status::InvalidArgument("device " + std::to_string(id) + " out of range 0..103");
  }
  return d;
}

std::span<const DeviceInfo> AllDevices() { return Catalog(); }

Layer LayerOf(int id) { return ComputeLayer(id); }

std::vector<const DeviceInfo*> DevicesOfLayer(Layer layer) {
  std::vector<const DeviceInfo*> out;
  for (const DeviceInfo& d : Catalog()) {
    if (d.layer == layer) out.push_back(&d);
  }
  return out;
}

std::pair<int, int> LayerRange(Layer layer) {
  const LayerSpec* s = SpecOf(layer);
  return s ? std::pair<int, int>{s->first, s->last} : std::pair<int, int>{-1, -1};
}

uint32_t LayerMemoryGb(Layer layer) {
  uint32_t sum = 0;
  for (const DeviceInfo& d : Catalog()) {
    if (d.layer == layer) sum += d.memory_gb;
  }
  return sum;
}

HomeRole LayerHomeRole(Layer layer) {
  const LayerSpec* s = SpecOf(layer);
  return s ? s->role : HomeRole::kNone;
}

std::string_view LayerName(Layer layer) {
  const LayerSpec* s = SpecOf(layer);
  return s ? s->name : std::string_view("UNASSIGNED");
}

std::string_view LayerDisplayName(Layer layer) {
  const LayerSpec* s = SpecOf(layer);
  return s ? s->display : std::string_view("Unassigned");
}

Result<Layer> ParseLayer(std::string_view text) {
  for (const LayerSpec& s : kLayers) {
    if (EqualsIgnoreCase(text, s.name) || EqualsIgnoreCase(text, s.word) || EqualsIgnoreCase(text, s.display) ||
        text == s.name.substr(1)) {
      return s.layer;
    }
  }
  return Status::InvalidArgument("unknown layer '" + std::string(text) + "' (want L3, L4, L5, L6, L7, L8 or L9)");
}

std::optional<double> LatencySloMs(int id) {
  switch (id) {
    case 18:
      return 50;
    case 25:
      return 100;
    case 33:
    case 58:
      return 200;
    case 37:
      return 300;
    case 43:
      return 500;
    case 47:
      return 2000;
    case 59:
      return 3000;
    default:
      return std::nullopt;
  }
}

std::string_view HomeRoleName(HomeRole role) {
  switch (role) {
    case HomeRole::kSoc:
      return "soc";
    case HomeRole::kAi:
      return "ai";
    case HomeRole::kNone:
      return "none";
  }
  return "none";
}

}  // namespace dsmil::devices
