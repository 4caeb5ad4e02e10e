// Fuzzes the LLM worker's parser of OpenAI request bodies (the PAYLOAD of an
// L7_CHAT_REQ): any bytes give a ChatCall or an InvalidArgument, never a crash,
// and an accepted request always has valid sampling parameters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "devices/llm/llm_worker.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  uint32_t tlv = size > 0 ? data[0] : 0;
  auto call = dsmil::devices::llm_worker::ParseChatPayload(body, tlv);
  if (call.ok()) {
    if (call->messages.empty() || !dsmil::llm::ValidateSamplingParams(call->params).ok()) std::abort();
  } else if (call.status().code() != dsmil::StatusCode::kInvalidArgument) {
    std::abort();
  }
  return 0;
}
