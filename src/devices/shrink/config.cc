#include "devices/shrink/config.h"

#include <nlohmann/json.hpp>

#include "devices/config_section.h"

namespace dsmil::devices::shrink {

using nlohmann::json;

Result<ShrinkConfig> ParseShrinkConfig(const std::string& section_json, const std::string& /*config_dir*/) {
  ShrinkConfig c;
  json j = json::parse(section_json, nullptr, false);
  if (j.is_discarded() || !(j.is_object() || j.is_null())) return Status::InvalidArgument("shrink: must be a map");
  if (j.is_null()) return c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k != "enabled" && k != "listen" && k != "forward" && k != "half_life_s") {
      return Status::InvalidArgument("shrink." + k + ": unknown key (enabled, listen, forward, half_life_s)");
    }
  }
  if (auto e = j.find("enabled"); e != j.end()) {
    if (!e->is_boolean()) return Status::InvalidArgument("shrink.enabled: must be true or false");
    c.enabled = e->get<bool>();
  }
  if (auto l = j.find("listen"); l != j.end()) {
    if (!l->is_string()) return Status::InvalidArgument("shrink.listen: must be \"host:port\"");
    std::string s = l->get<std::string>();
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size() || s.size() - colon - 1 > 5) {
      return Status::InvalidArgument("shrink.listen: '" + s + "' is not host:port");
    }
    uint32_t port = 0;
    for (char ch : s.substr(colon + 1)) {
      if (ch < '0' || ch > '9') return Status::InvalidArgument("shrink.listen: '" + s + "' is not host:port");
      port = port * 10 + uint32_t(ch - '0');
    }
    if (port > 65535) return Status::InvalidArgument("shrink.listen: port " + std::to_string(port) + " is over 65535");
    c.listen_host = s.substr(0, colon);
    if (c.listen_host.size() > 2 && c.listen_host.front() == '[' && c.listen_host.back() == ']') {
      c.listen_host = c.listen_host.substr(1, c.listen_host.size() - 2);
    }
    c.listen_port = uint16_t(port);
    c.listen = true;
  }
  if (auto f = j.find("forward"); f != j.end()) {
    if (!f->is_string() || f->get<std::string>().rfind("https://", 0) != 0) {
      return Status::InvalidArgument("shrink.forward: must be an https:// URL of the cluster's SHRINK");
    }
    c.forward = f->get<std::string>();
    while (!c.forward.empty() && c.forward.back() == '/') c.forward.pop_back();
  }
  if (c.listen && !c.forward.empty()) {
    return Status::InvalidArgument("shrink.forward: a node that runs SHRINK (shrink.listen) does not forward");
  }
  if (auto h = j.find("half_life_s"); h != j.end()) {
    if (!h->is_number() || !(h->get<double>() >= 1) || !(h->get<double>() <= 604800)) {
      return Status::InvalidArgument("shrink.half_life_s: must be a number of seconds in 1..604800");
    }
    c.half_life_s = h->get<double>();
  }
  if (c.enabled && !c.listen && c.forward.empty()) {
    return Status::InvalidArgument("shrink: needs listen (run SHRINK here) or forward (send operator text there)");
  }
  return c;
}

void RegisterShrinkSection() { RegisterConfigSection<ShrinkConfig>("shrink", ParseShrinkConfig); }

}  // namespace dsmil::devices::shrink
