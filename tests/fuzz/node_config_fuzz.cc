// Fuzzes the dsmild YAML config parser: any bytes give a config or a clear
// InvalidArgument, never a crash, a hang or an exception escaping.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "node/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = dsmil::node::ParseNodeConfig(text, "fuzz.yaml", "/srv/dsmil");
  if (!c.ok()) {
    if (c.status().code() != dsmil::StatusCode::kInvalidArgument) std::abort();
    if (c.status().message().empty()) std::abort();
    return 0;
  }
  // An accepted config satisfies the documented invariants.
  if (c->name.empty() || c->name.size() > 32) std::abort();
  for (const auto& d : c->devices) {
    if (d.id < 0 || d.id > 103) std::abort();
  }
  if (c->http.port == 0 || c->control.port == 0 || c->dbe.port == 0) std::abort();
  return 0;
}
