// Fuzz target: Prometheus text exposition parsing (dsmilctl reads /metrics of
// remote nodes). Arbitrary bytes must never crash the parser; whatever it
// accepts must survive a write/parse round trip unchanged (label escaping is
// symmetric), and the quantile estimate over it must not crash.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "core/metrics.h"

namespace {

bool SameValue(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsmil;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = ParseExposition(text);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();  // every refusal names its reason
    return 0;
  }

  std::string again;
  for (const Sample& s : *parsed) {
    again += s.name;
    if (!s.labels.empty()) {
      again += '{';
      for (size_t i = 0; i < s.labels.size(); ++i) {
        if (i) again += ',';
        again += s.labels[i].first;
        again += "=\"";
        AppendEscapedLabelValue(again, s.labels[i].second);
        again += '"';
      }
      again += '}';
    }
    again += ' ';
    AppendMetricValue(again, s.value);
    again += '\n';
  }
  auto reparsed = ParseExposition(again);
  if (!reparsed.ok()) {
    std::fprintf(stderr, "re-parse failed: %s\n", reparsed.status().ToString().c_str());
    std::abort();
  }
  if (reparsed->size() != parsed->size()) std::abort();
  for (size_t i = 0; i < parsed->size(); ++i) {
    const Sample& a = (*parsed)[i];
    const Sample& b = (*reparsed)[i];
    if (a.name != b.name || a.labels != b.labels || !SameValue(a.value, b.value)) {
      std::fprintf(stderr, "round trip changed sample %zu (%s)\n", i, a.name.c_str());
      std::abort();
    }
  }

  if (!parsed->empty()) {
    const std::string family = (*parsed)[0].name;
    (void)HistogramQuantileFromSamples(*parsed, family, 0.99);
    if (family.size() > 7 && family.ends_with("_bucket")) {
      (void)HistogramQuantileFromSamples(*parsed, std::string_view(family).substr(0, family.size() - 7), 0.5);
    }
  }
  return 0;
}
