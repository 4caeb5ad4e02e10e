// Fuzzes the prompt-injection detector's decoding passes, the JSON messages
// payload of L8_PROMPT_CHECK and the full check over both: none may crash,
// hang, read out of bounds or exceed the view limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "devices/l8/injection_check.h"
#include "devices/l8/injection_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto views = dsmil::devices::DecodeViews(in);
  if (views.empty() || views.size() > dsmil::devices::kMaxInjectionViews || views[0].text != in) std::abort();
  for (size_t i = 1; i < views.size(); ++i) {
    if (views[i].text.size() > dsmil::devices::kMaxInjectionViewBytes) std::abort();
  }
  auto messages = dsmil::devices::ParsePromptCheckMessages(in);
  if (messages.ok()) {
    auto v = dsmil::devices::CheckPromptMessages(*messages);
    if (!(v.score >= 0 && v.score <= 1)) std::abort();
    (void)dsmil::devices::VerdictJson(v);
  } else if (size <= 4096) {
    // Small inputs also go through the full check as plain text.
    (void)dsmil::devices::VerdictJson(dsmil::devices::CheckPromptText(in));
  }
  return 0;
}
