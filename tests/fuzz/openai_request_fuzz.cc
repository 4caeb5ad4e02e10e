// Fuzzes the OpenAI request parsers of the L7 front and the prompt-injection
// detector with the same bytes: neither may crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "devices/l7/openai.h"
#include "devices/l8/injection_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  dsmil::devices::l7::ChatRequest chat;
  if (!dsmil::devices::l7::ParseChatRequest(in, &chat)) {
    std::string prompt = dsmil::devices::l7::PromptText(chat);
    (void)dsmil::devices::DetectPromptInjection(prompt);
  }
  dsmil::devices::l7::EmbeddingsRequest emb;
  (void)dsmil::devices::l7::ParseEmbeddingsRequest(in, &emb);
  auto v = dsmil::devices::DetectPromptInjection(in);
  (void)dsmil::devices::VerdictJson(v);
  return 0;
}
