// The node status document served by the control API (GET /v1/status) and
// read by `dsmilctl status`. docs/control-api.md describes the JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsmil::node {

// Health words shared by nodes, devices and components.
inline constexpr std::string_view kHealthy = "HEALTHY";
inline constexpr std::string_view kDegraded = "DEGRADED";
inline constexpr std::string_view kFailed = "FAILED";
inline constexpr std::string_view kNotImplemented = "NOT_IMPLEMENTED";
inline constexpr std::string_view kStarting = "STARTING";

struct DeviceStatus {
  int id = 0;
  std::string name;
  std::string layer;                     // "L3" ... "L9", "UNASSIGNED"
  std::string tenant;                    // "" = every tenant of the node
  std::string health;                    // one of the words above
  std::string reason;                    // why, when not HEALTHY
  std::string detail;                    // device-specific line (Device::StatusDetail), "" when none; optional in JSON
  std::optional<double> p99_latency_ms;  // none before the first request
  uint64_t requests = 0;
  uint64_t memory_budget_bytes = 0;
  uint64_t memory_used_bytes = 0;
  std::string token_base;  // "0x8081"
};

struct ComponentStatus {  // non-device services of a node (stores, API endpoints)
  std::string name;
  std::string health;
  std::string detail;
};

struct TenantStatus {
  std::string id;
  std::string roe_level;
  std::vector<std::string> compartments;
};

// A DBE session to a peer node (state "UP" or "DOWN").
struct PeerStatus {
  std::string name;
  std::string transport;  // tcp | quic
  std::string state;      // UP | DOWN
  std::string reason;     // why DOWN (the last error); "" when UP
  uint64_t queued = 0;    // envelopes waiting for the session
};

struct NodeStatus {
  std::string node;
  std::string role;          // soc | ai | data
  std::string role_display;  // SOC/Control ...
  std::string address;
  std::string version;
  std::string health;  // HEALTHY or DEGRADED (a node that answers is never DOWN)
  std::string reason;
  double uptime_seconds = 0;
  uint64_t restarts = 0;  // restarts by a supervisor (DSMIL_RESTARTS); optional in JSON
  uint64_t rss_bytes = 0;
  uint64_t memory_total_bytes = 0;
  std::vector<DeviceStatus> devices;
  std::vector<ComponentStatus> components;
  std::vector<TenantStatus> tenants;
  std::vector<PeerStatus> peers;  // absent in documents of older nodes: empty
};

// Largest status document accepted (bytes).
inline constexpr size_t kMaxStatusJsonBytes = 4 << 20;

std::string NodeStatusToJson(const NodeStatus& s);
// Parses the JSON of NodeStatusToJson; errors name the missing or mistyped field.
Result<NodeStatus> NodeStatusFromJson(std::string_view json);

}  // namespace dsmil::node
