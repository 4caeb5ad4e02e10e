// LLM worker devices 47 (primary LLM, profile llm-7b-amx) and 44 (1B worker):
// each serves L7_CHAT_REQ with the in-process LLM engine (llm/engine.h).
//
// Configuration: the node's `llm:` section,
//   llm:
//     models:
//       - {device: 47, profile: llm-7b-amx, path: /opt/dsmil/models/x.gguf,
//          threads: 2, max_sequences: 8, ctx: 2048, kv_f16: true, max_kv_mb: 0}
// A relative path is taken from the node config's directory. The section is
// parsed once when the node loads its config (ParseLlmConfig, registered as
// config section "llm"; devices/config_section.h): unknown keys and wrong
// types stop the node with the key named ("llm.models[0].threads: must be an
// integer between 1 and 256").
//
// Health: NOT_IMPLEMENTED ("no model configured for device 47 (llm.models)")
// when the section has no entry for the device; STARTING while the model
// loads (in the background, with progress in the reason); FAILED with the
// loader's error when the file is missing or bad; HEALTHY once loaded. A
// device without a working model answers every chat with an ERROR frame,
// never with invented text.
//
// Protocol: request L7_CHAT_REQ with TENANT_ID, REQUEST_ID, PAYLOAD = the
// OpenAI request body (messages, max_tokens, temperature, top_p, stop, seed;
// MAX_TOKENS TLV also accepted). Reply L7_CHAT_RESP with PAYLOAD = JSON
// {text, content (= text), prompt_tokens, completion_tokens, finish_reason}
// and TOKEN_COUNT. HandleStreaming sends one MORE-flagged L7_CHAT_RESP per
// token with PAYLOAD {"delta": text}, then the final frame as above without
// MORE and without "content" (the deltas carried it).
// Errors (ERROR frames): BAD_REQUEST (InvalidArgument, naming the field),
// TENANT_MISMATCH, UNSUPPORTED_MESSAGE, NO_MODEL / MODEL_LOADING /
// MODEL_FAILED (Unavailable), MODEL_BUSY (ResourceExhausted, "503: model busy:
// 8 of 8 sequences in use").
//
// Thread safety: as every Device, all methods may be called concurrently.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "devices/device.h"
#include "llm/chat_template.h"
#include "llm/sampler.h"

namespace dsmil::devices::llm_worker {

struct ModelConfig {
  int device = 0;
  std::string profile;
  std::string path;  // absolute (resolved against the config directory)
  int threads = 1;
  uint32_t max_sequences = 8;
  uint32_t ctx = 2048;
  bool kv_f16 = true;
  uint64_t max_kv_bytes = 0;
  // Most KV slots one tenant may hold at once (fair sharing: a burst of one
  // tenant gets TENANT_BUSY, 429 at the API, while the others keep their
  // share). 0 = the pool divided evenly among the node's tenants (at least 1).
  uint32_t tenant_max_sequences = 0;
};

// The node config's `llm:` section.
struct LlmConfig {
  bool has_models = false;          // the `models` key is present
  std::vector<ModelConfig> models;  // at most one per device
};

// Parses the `llm:` section given as JSON text; relative paths are resolved
// against `config_dir`. InvalidArgument naming the key for a malformed
// section ("llm.models[1].device: device 47 is configured twice").
Result<LlmConfig> ParseLlmConfig(const std::string& section_json, const std::string& config_dir);

// The entry of `section` (null: the node config has no llm section) for
// `device`; NotFound ("no model configured for device 47 (llm.models)") when
// there is none.
Result<ModelConfig> ModelConfigFor(const LlmConfig* section, int device);

// A chat request as the worker runs it.
struct ChatCall {
  std::vector<llm::ChatMessage> messages;
  llm::SamplingParams params;
};

// Parses the OpenAI request body `payload` (untrusted bytes from the DBE
// PAYLOAD). `max_tokens_tlv` is the MAX_TOKENS TLV (0 = absent); the body's
// max_tokens / max_completion_tokens win over it. Defaults: temperature 1,
// top_p 1, all tokens considered, 256 tokens, a random seed. Errors:
// InvalidArgument naming the field ("messages[1].role: must be a string").
Result<ChatCall> ParseChatPayload(std::string_view payload, uint32_t max_tokens_tlv);

// Factory for devices 47 and 44, which read config section "llm"
// (RegisterLlmDevices registers both).
Result<std::unique_ptr<Device>> CreateLlmWorker(const DeviceContext& ctx);

}  // namespace dsmil::devices::llm_worker
