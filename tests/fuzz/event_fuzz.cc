// Fuzz target: the SOC event parser (docs/events.md). Any bytes give an event
// or a Status, never a crash; a parsed event re-encodes to JSON that parses to
// the same canonical text; the L8 rules and SOAR run on whatever parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "devices/l8/l8_analytics.h"
#include "devices/soc/event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto e = dsmil::soc::ParseEvent(text, "ALPHA", dsmil::soc::ParseOptions{.assign_missing_id = true, .now_ms = 1});
  if (!e.ok()) {
    (void)dsmil::soc::DeadLetterJson(e.status().message(), "fuzz", 1, text);
    return 0;
  }
  std::string once = dsmil::soc::EventToJson(*e);
  auto again = dsmil::soc::ParseEvent(once, "ALPHA");
  if (!again.ok() || dsmil::soc::EventToJson(*again) != once) std::abort();
  dsmil::soc::L8Analyzer analyzer;
  analyzer.Analyze(*e, 2);
  dsmil::soc::ProposeActions(*e, {"ISOLATE_HOST", "BLOCK_DOMAIN", "ALERT_ONLY"});
  (void)dsmil::soc::EventToJson(*e);
  return 0;
}
