// Fuzzes the parser of the control API's status document (dsmilctl reads it
// from remote nodes): any bytes give a status or an InvalidArgument naming
// the field; an accepted document survives a JSON round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "node/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = dsmil::node::NodeStatusFromJson(text);
  if (!s.ok()) {
    if (s.status().code() != dsmil::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  std::string once = dsmil::node::NodeStatusToJson(*s);
  auto again = dsmil::node::NodeStatusFromJson(once);
  if (!again.ok()) std::abort();
  if (dsmil::node::NodeStatusToJson(*again) != once) std::abort();
  return 0;
}
