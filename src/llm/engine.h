// The LLM engine: one model, many concurrent generations.
//
// Continuous batching: one scheduler thread owns the model and steps every
// active sequence together. A step takes one decode token from each sequence
// that is generating and fills the rest of the step's token budget
// (max_batch_tokens) with prompt chunks of sequences still reading their
// prompt; all of them go through each weight matrix in one matrix-matrix
// product. New requests join at the next step; finished ones leave.
//
// KV caches come from a bounded pool of max_sequences slots (fewer when
// max_kv_bytes does not fit that many). A slot is taken when a request is
// submitted and zeroed when it is released, so no request ever sees another
// request's keys and values (nor another tenant's). When every slot is in use,
// Submit returns ResourceExhausted ("503: model busy: 8 of 8 sequences in
// use") at once; requests are never queued without bound.
//
// Metrics (when a Registry is given): dsmil_llm_tokens_per_second{device_id}
// (generated tokens per second, all sequences together, over the last second
// of work), dsmil_llm_request_seconds{device_id} (submit → finish) and
// dsmil_llm_time_to_first_token_seconds{device_id}, both with the spec's
// latency buckets.
//
// Thread safety: Submit, Generate and the accessors may be called from any
// thread. Token callbacks run on the scheduler thread: they must be quick and
// must not call back into the engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/mutex.h"
#include "core/status.h"
#include "llm/chat_template.h"
#include "llm/forward.h"
#include "llm/model.h"
#include "llm/sampler.h"
#include "llm/threadpool.h"
#include "llm/tokenizer.h"

namespace dsmil::llm {

struct EngineOptions {
  int threads = 1;                  // threads of the matmul pool (scheduler thread included)
  uint32_t n_ctx = 2048;            // context per sequence (prompt + generated); capped by the model's
  uint32_t max_sequences = 8;       // KV cache slots
  uint64_t max_kv_bytes = 0;        // 0: no limit; else slots are reduced to fit (at least 1)
  bool kv_f16 = true;               // F16 (else F32) keys and values
  uint32_t max_batch_tokens = 512;  // tokens per scheduler step
  KernelIsa isa = BestKernelIsa();
  Registry* metrics = nullptr;   // optional; must outlive the engine
  std::string device_id = "47";  // metric label
};

struct GenerationRequest {
  std::string tenant;
  // The prompt: tokens if non-empty, else chat messages if non-empty (the
  // model's chat template is applied), else `prompt` text.
  std::vector<int32_t> prompt_tokens;
  std::vector<ChatMessage> messages;
  std::string prompt;
  SamplingParams params;
};

// One generated token, as streamed to the callback. `text` is the text that
// became safe to show with this token (may be empty while a possible stop
// sequence or an incomplete UTF-8 character is held back).
struct TokenEvent {
  int32_t token = 0;
  std::string text;
};

struct GenerationResult {
  std::string text;             // generated text (without any stop sequence)
  std::vector<int32_t> tokens;  // generated tokens (without an end-of-generation token)
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  std::string finish_reason;         // "stop", "length" or "cancelled"
  double time_to_first_token_s = 0;  // submit → first generated token
  double total_s = 0;                // submit → finish
  double decode_tokens_per_s = 0;    // completion tokens after the first / their time
};

// Returns false to cancel the generation (finish_reason "cancelled").
using TokenCallback = std::function<bool(const TokenEvent&)>;

// A submitted generation. Thread-safe.
class Generation {
 public:
  // Blocks until the generation ends. Errors: Unavailable when the engine shut
  // down first, Internal when the forward pass failed.
  Result<GenerationResult> Wait();
  // Asks the scheduler to stop this generation at its next step.
  void Cancel() { cancel_.store(true, std::memory_order_relaxed); }

 private:
  friend class Engine;
  std::atomic<bool> cancel_{false};
  Mutex mu_;
  CondVar cv_;
  std::optional<Result<GenerationResult>> result_ DSMIL_GUARDED_BY(mu_);
};

class Engine {
 public:
  // Opens a GGUF model (Model::Open, Tokenizer::FromGguf) and starts the
  // scheduler. `progress(fraction)` is called while the weights are paged in
  // (0..1). Errors name the file and the problem.
  static Result<std::unique_ptr<Engine>> Load(const std::string& path, const EngineOptions& options,
                                              const std::function<void(double)>& progress = nullptr);
  // Over an already loaded model; `tokenizer` may be null (token-only requests).
  static Result<std::unique_ptr<Engine>> Create(std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer,
                                                const EngineOptions& options);
  // Shutdown() and joins the scheduler.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and tokenises the request, takes a KV cache slot and queues it
  // for the next step. Errors: InvalidArgument (bad parameters, empty prompt,
  // prompt + 1 longer than the context, text or chat without a tokenizer),
  // ResourceExhausted when every slot is in use, Unavailable after Shutdown.
  Result<std::shared_ptr<Generation>> Submit(GenerationRequest request, TokenCallback on_token = nullptr);
  // Submit + Wait.
  Result<GenerationResult> Generate(GenerationRequest request, TokenCallback on_token = nullptr);

  // Refuses new requests, ends queued and active ones with Unavailable and
  // stops the scheduler. Idempotent.
  void Shutdown();

  const Model& model() const { return *model_; }
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  uint32_t max_sequences() const { return max_sequences_; }
  uint32_t n_ctx() const { return n_ctx_; }
  // Slots in use (queued or active).
  uint32_t sequences_in_use() const;
  // Bytes held: KV caches allocated so far (the weights are mapped, not counted).
  uint64_t kv_bytes() const;
  const EngineOptions& options() const { return options_; }

 private:
  struct Sequence;
  Engine(std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer, const EngineOptions& options);
  void SchedulerLoop();
  void Step(std::vector<std::unique_ptr<Sequence>>& active);
  void Finish(Sequence& s, Result<GenerationResult> result);
  void ReleaseSlot(int slot);
  Result<std::vector<int32_t>> Tokenize(const GenerationRequest& r) const;

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  EngineOptions options_;
  uint32_t n_ctx_ = 0;
  uint32_t max_sequences_ = 0;
  std::string chat_template_;
  ThreadPool pool_;
  Forward forward_;  // scheduler thread only

  mutable Mutex mu_;
  CondVar cv_;
  bool stopping_ DSMIL_GUARDED_BY(mu_) = false;
  std::deque<std::unique_ptr<Sequence>> queued_ DSMIL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<KvCache>> slots_ DSMIL_GUARDED_BY(mu_);  // null until first used
  std::vector<bool> slot_used_ DSMIL_GUARDED_BY(mu_);
  uint32_t in_use_ DSMIL_GUARDED_BY(mu_) = 0;
  std::thread scheduler_;

  // Metrics (null without a registry).
  Gauge* tokens_per_second_ = nullptr;
  Histogram* request_seconds_ = nullptr;
  Histogram* ttft_seconds_ = nullptr;
  double window_tokens_ = 0;   // scheduler thread only
  double window_seconds_ = 0;  // scheduler thread only
};

}  // namespace dsmil::llm
