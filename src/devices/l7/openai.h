// The OpenAI-compatible wire format of the L7 front (:8001): request parsing
// with errors that name the offending field, and the JSON documents it sends
// (chat.completion, chat.completion.chunk, embeddings list, models list,
// errors). docs/l7.md lists the accepted fields and the DSMIL extensions.
//
// Pure functions over bytes: thread-safe; untrusted input always gets an
// error value, never a crash (tests/fuzz/openai_request_fuzz.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http.h"

namespace dsmil::devices::l7 {

// An OpenAI error: HTTP status and the {"error":{message,type,param,code}} body.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
};

// {"error":{"message":...,"type":...,"param":...,"code":...}}
std::string ErrorJson(const ApiError& e);
net::HttpResponse ErrorResponse(const ApiError& e);

struct ChatMessage {
  std::string role;     // system, developer, user, assistant, tool
  std::string content;  // text parts joined
};

// DSMIL request fields: body "dsmil": {...} or X-DSMIL-* headers (headers win).
struct DsmilFields {
  uint64_t compartments = 0;  // COMPARTMENT_MASK bits; 0 = none asked
  bool has_compartments = false;
  int classification = -1;  // dbe::Classification value; -1 = not given
  std::string roe_level;    // "" = not given
  bool rag = false;         // retrieve from the tenant's knowledge base
  int rag_k = 4;            // passages, 1..16
};

struct ChatRequest {
  std::string model;
  std::vector<ChatMessage> messages;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  uint32_t max_tokens = 0;     // 0 = not given
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::string user;
  DsmilFields dsmil;
  std::string raw;  // the body as received (JSON)
};

// Limits on one chat request.
inline constexpr size_t kMaxMessages = 256;
inline constexpr uint32_t kMaxTokensLimit = 1u << 20;

// Parses a POST /v1/chat/completions body. Errors are 400 with `param`
// naming the field ("messages[2].role").
std::optional<ApiError> ParseChatRequest(std::string_view body, ChatRequest* out);

// Applies X-DSMIL-Compartments ("SOC|SIGNALS" or "0x03"),
// X-DSMIL-Classification ("SECRET"), X-DSMIL-ROE-Level, X-DSMIL-RAG ("1") over
// the body's fields.
std::optional<ApiError> ApplyDsmilHeaders(const net::HttpRequest& req, DsmilFields* f);

// The prompt text the injection detector sees: every message's content, one
// per line, in order.
std::string PromptText(const ChatRequest& r);

struct EmbeddingsRequest {
  std::string model;
  std::vector<std::string> inputs;
  bool base64 = false;  // encoding_format "base64" (the openai npm client's default)
  std::string user;
};
inline constexpr size_t kMaxEmbeddingInputs = 2048;
std::optional<ApiError> ParseEmbeddingsRequest(std::string_view body, EmbeddingsRequest* out);

// Documents sent to clients.
std::string ChatCompletionJson(const std::string& id, int64_t created, const std::string& model,
                               const std::string& content, const std::string& finish_reason, uint32_t prompt_tokens,
                               uint32_t completion_tokens);
// One SSE chunk's JSON. `role` non-empty only on the first chunk;
// `finish_reason` non-empty only on the last.
std::string ChatChunkJson(const std::string& id, int64_t created, const std::string& model, const std::string& role,
                          const std::string& content, const std::string& finish_reason);
std::string EmbeddingsJson(const std::string& model, const std::vector<std::vector<float>>& vectors, bool base64,
                           uint32_t prompt_tokens);

struct ModelInfo {
  std::string id;
  std::string owned_by;  // "dsmil" / "upstream:<host>" / "dsmil-hashed-ngram"
  int64_t created = 0;
};
std::string ModelsJson(const std::vector<ModelInfo>& models);

// A rough token estimate for budgets and usage when a worker gives none:
// one token per 4 bytes, at least 1.
uint32_t EstimateTokens(std::string_view text);

// Base64 (RFC 4648, with padding).
std::string Base64Encode(std::string_view bytes);

}  // namespace dsmil::devices::l7
