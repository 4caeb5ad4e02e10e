// The `shrink:` section of the node config (docs/shrink.md §5): where SHRINK
// listens on the node that runs it, or where a node forwards its operator
// text to.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace dsmil::devices::shrink {

struct ShrinkConfig {
  bool enabled = true;
  // listen: SHRINK runs here, on host:port (port 0 = ephemeral).
  std::string listen_host;
  uint16_t listen_port = 0;
  bool listen = false;
  // forward: "https://host:port" of the cluster's SHRINK ("" = none).
  std::string forward;
  double half_life_s = 900;
};

// Parses the section (JSON of the YAML mapping). Errors start with the key.
Result<ShrinkConfig> ParseShrinkConfig(const std::string& section_json, const std::string& config_dir);

// Registers the `shrink` section (called by RegisterBuiltinDevices).
void RegisterShrinkSection();

}  // namespace dsmil::devices::shrink
