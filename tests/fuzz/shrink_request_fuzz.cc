// Fuzz target: SHRINK's inputs from outside (docs/shrink.md): the POST body
// parser of /v1/notes and /v1/text, and the feature model over any bytes.
// The first byte selects the body kind (with or without "source").
//   - A refused body names its reason; an accepted one has a tenant id and a
//     non-empty text.
//   - Every feature and score of any text is finite and in its range.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "devices/shrink/lexicon.h"
#include "devices/shrink/service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace shrink = dsmil::devices::shrink;
  if (size < 1) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  bool with_source = data[0] % 2 == 1;
  auto parsed = shrink::ParseTextRequest(input, with_source);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();
  } else if (parsed->text.empty() || parsed->source.has_value() != with_source) {
    std::abort();
  }
  shrink::TextFeatures f = shrink::ExtractFeatures(parsed.ok() ? std::string_view(parsed->text) : input);
  shrink::TextScores s = shrink::ScoreText(f);
  for (double v : {f.neg, f.urg, f.fps, f.abs, f.tent, f.negation, f.caps, f.len, f.long_words, f.rep}) {
    if (!std::isfinite(v) || v < 0 || v > 1) std::abort();
  }
  for (double v : {s.acute_stress, s.hyperfocus, s.cognitive_load, shrink::RiskScore(s)}) {
    if (!std::isfinite(v) || v < 0 || v > 1) std::abort();
  }
  if (f.sentences > f.words) std::abort();
  return 0;
}
