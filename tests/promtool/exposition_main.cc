// Prints the Prometheus exposition of a registry holding every standard DSMIL
// metric, with label values that need escaping, so `promtool check metrics`
// can lint what a node serves on /metrics. With --empty: the standard
// families before any sample exists.
#include <cstdio>
#include <string_view>

#include "core/clock.h"
#include "core/dsmil_metrics.h"
#include "core/metrics.h"

int main(int argc, char** argv) {
  dsmil::Registry registry;
  if (argc > 1 && std::string_view(argv[1]) == "--empty") {
    // A node that has not served anything yet: families without children.
    dsmil::StandardMetrics m(registry);
    const std::string text = registry.Expose();
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  dsmil::FakeClock clock;
  dsmil::StandardMetrics m(registry, clock);

  for (const char* tenant : {"ALPHA", "BRAVO", "quote\"back\\slash\nnewline"}) {
    for (int device : {43, 47}) {
      for (int i = 0; i < 5; ++i) {
        auto t = m.TimeRequest(tenant, device, dsmil::MsgTypeLabel(0x41));
        clock.Advance(std::chrono::milliseconds(20 + 150 * i));
      }
    }
    m.CountError(tenant, 43, "timeout");
  }
  m.active_devices.Labels({"node-a", "L8"}).Set(8);
  m.active_devices.Labels({"node-b", "L7"}).Set(8);
  m.memory_usage_bytes.SetCallback({"47"}, [] { return 4.0 * 1024 * 1024 * 1024; });
  m.memory_usage_bytes.Labels({"43"}).Set(512.0 * 1024 * 1024);
  m.llm_tokens_per_second.Labels({"47"}).Set(23.5);
  m.node_up.Labels({"node-a", "soc"}).Set(1);
  m.node_up.Labels({"node-b", "ai"}).Set(0);
  m.SetBuildInfo("5.0.0");
  dsmil::RegisterProcessMetrics(registry);

  const std::string text = registry.Expose();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}
