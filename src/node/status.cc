#include "node/status.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

namespace dsmil::node {

using nlohmann::json;

std::string NodeStatusToJson(const NodeStatus& s) {
  json j;
  j["node"] = s.node;
  j["role"] = s.role;
  j["role_display"] = s.role_display;
  j["address"] = s.address;
  j["version"] = s.version;
  j["health"] = s.health;
  j["reason"] = s.reason;
  j["uptime_seconds"] = s.uptime_seconds;
  j["restarts"] = s.restarts;
  j["memory"] = {{"rss_bytes", s.rss_bytes}, {"total_bytes", s.memory_total_bytes}};
  j["devices"] = json::array();
  for (const auto& d : s.devices) {
    json dj = {{"id", d.id},
               {"name", d.name},
               {"layer", d.layer},
               {"tenant", d.tenant},
               {"health", d.health},
               {"reason", d.reason},
               {"requests", d.requests},
               {"memory_budget_bytes", d.memory_budget_bytes},
               {"memory_used_bytes", d.memory_used_bytes},
               {"token_base", d.token_base}};
    dj["p99_latency_ms"] = d.p99_latency_ms ? json(*d.p99_latency_ms) : json(nullptr);
    if (!d.detail.empty()) dj["detail"] = d.detail;
    j["devices"].push_back(std::move(dj));
  }
  j["components"] = json::array();
  for (const auto& c : s.components) {
    j["components"].push_back({{"name", c.name}, {"health", c.health}, {"detail", c.detail}});
  }
  j["tenants"] = json::array();
  for (const auto& t : s.tenants) {
    j["tenants"].push_back({{"id", t.id}, {"roe_level", t.roe_level}, {"compartments", t.compartments}});
  }
  j["peers"] = json::array();
  for (const auto& p : s.peers) {
    j["peers"].push_back(
        {{"name", p.name}, {"transport", p.transport}, {"state", p.state}, {"reason", p.reason}, {"queued", p.queued}});
  }
  return j.dump();
}

namespace {

template <typename T>
Status Get(const json& j, const char* key, T* out, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) return Status::InvalidArgument("status JSON: " + where + key + ": missing");
  auto wrong = [&] {
    return Status::InvalidArgument("status JSON: " + where + key + ": wrong type (" + it->type_name() + ")");
  };
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return wrong();
    *out = it->get<std::string>();
  } else if constexpr (std::is_integral_v<T>) {
    // Only integers in range: a float cast to an integer type could overflow.
    if (it->is_number_unsigned()) {
      uint64_t v = it->get<uint64_t>();
      if (v > uint64_t(std::numeric_limits<T>::max())) return wrong();
      *out = T(v);
    } else if (it->is_number_integer()) {
      int64_t v = it->get<int64_t>();
      if (v < 0 && !std::is_signed_v<T>) return wrong();
      if (std::is_signed_v<T> &&
          (v < int64_t(std::numeric_limits<T>::min()) || v > int64_t(std::numeric_limits<T>::max()))) {
        return wrong();
      }
      *out = T(v);
    } else {
      return wrong();
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) return wrong();
    *out = it->get<T>();
  } else {
    if (!it->is_array()) return wrong();
    for (const auto& e : *it) {
      if (!e.is_string()) return wrong();
    }
    *out = it->get<T>();
  }
  return Status::Ok();
}

}  // namespace

Result<NodeStatus> NodeStatusFromJson(std::string_view text) {
  if (text.size() > kMaxStatusJsonBytes) {
    return Status::InvalidArgument("status JSON: " + std::to_string(text.size()) + " bytes, over the limit of " +
                                   std::to_string(kMaxStatusJsonBytes));
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("status JSON: not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("status JSON: not an object");
  NodeStatus s;
  DSMIL_RETURN_IF_ERROR(Get(j, "node", &s.node, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "role", &s.role, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "role_display", &s.role_display, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "address", &s.address, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "version", &s.version, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "health", &s.health, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "reason", &s.reason, ""));
  DSMIL_RETURN_IF_ERROR(Get(j, "uptime_seconds", &s.uptime_seconds, ""));
  if (j.contains("restarts")) DSMIL_RETURN_IF_ERROR(Get(j, "restarts", &s.restarts, ""));
  if (auto m = j.find("memory"); m != j.end()) {
    if (!m->is_object()) return Status::InvalidArgument("status JSON: memory: not an object");
    DSMIL_RETURN_IF_ERROR(Get(*m, "rss_bytes", &s.rss_bytes, "memory."));
    DSMIL_RETURN_IF_ERROR(Get(*m, "total_bytes", &s.memory_total_bytes, "memory."));
  }
  const json kNoArray = json::array();
  auto field_array = [&](const char* key) -> const json& {
    auto it = j.find(key);
    return it == j.end() ? kNoArray : *it;
  };
  const json& devices = field_array("devices");
  if (!devices.is_array()) return Status::InvalidArgument("status JSON: devices: not an array");
  for (size_t i = 0; i < devices.size(); ++i) {
    const json& dj = devices[i];
    std::string w = "devices[" + std::to_string(i) + "].";
    if (!dj.is_object()) return Status::InvalidArgument("status JSON: " + w + ": not an object");
    DeviceStatus d;
    DSMIL_RETURN_IF_ERROR(Get(dj, "id", &d.id, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "name", &d.name, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "layer", &d.layer, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "tenant", &d.tenant, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "health", &d.health, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "reason", &d.reason, w));
    if (dj.contains("detail")) DSMIL_RETURN_IF_ERROR(Get(dj, "detail", &d.detail, w));  // absent from older nodes
    DSMIL_RETURN_IF_ERROR(Get(dj, "requests", &d.requests, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "memory_budget_bytes", &d.memory_budget_bytes, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "memory_used_bytes", &d.memory_used_bytes, w));
    DSMIL_RETURN_IF_ERROR(Get(dj, "token_base", &d.token_base, w));
    if (auto p = dj.find("p99_latency_ms"); p != dj.end() && !p->is_null()) {
      if (!p->is_number()) return Status::InvalidArgument("status JSON: " + w + "p99_latency_ms: wrong type");
      d.p99_latency_ms = p->get<double>();
    }
    s.devices.push_back(std::move(d));
  }
  const json& comps = field_array("components");
  if (!comps.is_array()) return Status::InvalidArgument("status JSON: components: not an array");
  for (size_t i = 0; i < comps.size(); ++i) {
    if (!comps[i].is_object())
      return Status::InvalidArgument("status JSON: components[" + std::to_string(i) + "]: not an object");
    ComponentStatus c;
    std::string w = "components[" + std::to_string(i) + "].";
    DSMIL_RETURN_IF_ERROR(Get(comps[i], "name", &c.name, w));
    DSMIL_RETURN_IF_ERROR(Get(comps[i], "health", &c.health, w));
    DSMIL_RETURN_IF_ERROR(Get(comps[i], "detail", &c.detail, w));
    s.components.push_back(std::move(c));
  }
  const json& tenants = field_array("tenants");
  if (!tenants.is_array()) return Status::InvalidArgument("status JSON: tenants: not an array");
  for (size_t i = 0; i < tenants.size(); ++i) {
    if (!tenants[i].is_object())
      return Status::InvalidArgument("status JSON: tenants[" + std::to_string(i) + "]: not an object");
    TenantStatus t;
    std::string w = "tenants[" + std::to_string(i) + "].";
    DSMIL_RETURN_IF_ERROR(Get(tenants[i], "id", &t.id, w));
    DSMIL_RETURN_IF_ERROR(Get(tenants[i], "roe_level", &t.roe_level, w));
    DSMIL_RETURN_IF_ERROR(Get(tenants[i], "compartments", &t.compartments, w));
    s.tenants.push_back(std::move(t));
  }
  const json& peers = field_array("peers");
  if (!peers.is_array()) return Status::InvalidArgument("status JSON: peers: not an array");
  for (size_t i = 0; i < peers.size(); ++i) {
    if (!peers[i].is_object())
      return Status::InvalidArgument("status JSON: peers[" + std::to_string(i) + "]: not an object");
    PeerStatus p;
    std::string w = "peers[" + std::to_string(i) + "].";
    DSMIL_RETURN_IF_ERROR(Get(peers[i], "name", &p.name, w));
    DSMIL_RETURN_IF_ERROR(Get(peers[i], "transport", &p.transport, w));
    DSMIL_RETURN_IF_ERROR(Get(peers[i], "state", &p.state, w));
    DSMIL_RETURN_IF_ERROR(Get(peers[i], "reason", &p.reason, w));
    DSMIL_RETURN_IF_ERROR(Get(peers[i], "queued", &p.queued, w));
    s.peers.push_back(std::move(p));
  }
  return s;
}

}  // namespace dsmil::node
