#include "llm/engine.h"

#include <algorithm>
#include <chrono>

#include "core/dsmil_metrics.h"

namespace dsmil::llm {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

struct Engine::Sequence {
  std::shared_ptr<Generation> gen;
  TokenCallback on_token;
  std::string tenant;
  SamplingParams params;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  size_t n_prompt = 0;
  size_t n_evaluated = 0;  // tokens whose keys and values are in the cache
  int slot = -1;
  KvCache* cache = nullptr;
  Sampler sampler;
  StopMatcher stop;
  GenerationResult result;
  SteadyClock::time_point start;
  SteadyClock::time_point first_token;
  bool done = false;

  Sequence(const SamplingParams& p) : params(p), sampler(p), stop(p.stop) {}
};

Result<GenerationResult> Generation::Wait() {
  MutexLock lock(mu_);
  while (!result_.has_value()) cv_.Wait(mu_);
  return *result_;
}

Engine::Engine(std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer, const EngineOptions& options)
    : model_(std::move(model)),
      tokenizer_(std::move(tokenizer)),
      options_(options),
      pool_(std::max(1, options.threads)),
      forward_(*model_, &pool_, options.isa) {}

Result<std::unique_ptr<Engine>> Engine::Load(const std::string& path, const EngineOptions& options,
                                             const std::function<void(double)>& progress) {
  auto model = Model::Open(path);
  if (!model.ok()) return model.status().WithContext(path);
  const GgufFile& file = (*model)->file();
  auto tokenizer = Tokenizer::FromGguf(file);
  if (!tokenizer.ok()) return tokenizer.status().WithContext(path);
  // Page the weights in now (sequential reads), so the first request does not
  // pay for it and the caller can show progress.
  const uint8_t* base = nullptr;
  uint64_t begin = UINT64_MAX, end = 0;
  for (const GgufTensor& t : file.tensors()) {
    if (t.data == nullptr) continue;
    if (base == nullptr) base = t.data - t.offset;
    begin = std::min<uint64_t>(begin, t.offset);
    end = std::max<uint64_t>(end, t.offset + t.bytes);
  }
  if (base != nullptr && end > begin) {
    volatile uint8_t sink = 0;
    const uint64_t step = 4096, report_every = std::max<uint64_t>((end - begin) / 100, step);
    uint64_t next_report = begin;
    for (uint64_t off = begin; off < end; off += step) {
      sink = sink + base[off];
      if (progress && off >= next_report) {
        progress(double(off - begin) / double(end - begin));
        next_report += report_every;
      }
    }
    (void)sink;
  }
  if (progress) progress(1.0);
  return Create(std::move(*model), std::move(*tokenizer), options);
}

Result<std::unique_ptr<Engine>> Engine::Create(std::unique_ptr<Model> model, std::unique_ptr<Tokenizer> tokenizer,
                                               const EngineOptions& options) {
  if (model == nullptr) return Status::InvalidArgument("llm: no model");
  if (options.threads < 1 || options.threads > 256) {
    return Status::InvalidArgument("threads must be between 1 and 256, got " + std::to_string(options.threads));
  }
  if (options.n_ctx < 2) return Status::InvalidArgument("ctx must be at least 2, got " + std::to_string(options.n_ctx));
  if (options.max_sequences < 1 || options.max_sequences > 1024) {
    return Status::InvalidArgument("max_sequences must be between 1 and 1024, got " +
                                   std::to_string(options.max_sequences));
  }
  if (options.max_batch_tokens < 1) return Status::InvalidArgument("max_batch_tokens must be at least 1");
  if (!KernelIsaSupported(options.isa)) {
    return Status::InvalidArgument("kernels " + std::string(KernelIsaName(options.isa)) +
                                   " are not supported by this CPU");
  }
  const LlamaHParams& hp = model->hparams();
  if (tokenizer != nullptr && tokenizer->vocab_size() != hp.n_vocab) {
    return Status::InvalidArgument("llm: the tokenizer has " + std::to_string(tokenizer->vocab_size()) +
                                   " tokens but the model's vocabulary is " + std::to_string(hp.n_vocab));
  }
  std::unique_ptr<Engine> e(new Engine(std::move(model), std::move(tokenizer), options));
  e->n_ctx_ = options.n_ctx;
  if (hp.n_ctx_train > 0) e->n_ctx_ = std::min(e->n_ctx_, hp.n_ctx_train);
  e->max_sequences_ = options.max_sequences;
  if (options.max_kv_bytes > 0) {
    const uint64_t per = KvCache::BytesFor(hp, e->n_ctx_, options.kv_f16);
    const uint64_t fit = options.max_kv_bytes / per;
    if (fit == 0) {
      return Status::InvalidArgument("max_kv_bytes " + std::to_string(options.max_kv_bytes) +
                                     " is less than one sequence's KV cache (" + std::to_string(per) + " bytes for " +
                                     std::to_string(e->n_ctx_) + " tokens)");
    }
    e->max_sequences_ = static_cast<uint32_t>(std::min<uint64_t>(e->max_sequences_, fit));
  }
  {
    MutexLock lock(e->mu_);  // before the scheduler starts; held all the same
    e->slots_.resize(e->max_sequences_);
    e->slot_used_.assign(e->max_sequences_, false);
  }
  if (auto t = e->model_->file().String("tokenizer.chat_template"); t.ok()) e->chat_template_ = *t;
  if (options.metrics != nullptr) {
    StandardMetrics std_metrics(*options.metrics);
    e->tokens_per_second_ = &std_metrics.llm_tokens_per_second.Labels({options.device_id});
    std::vector<double> buckets(StandardMetrics::kLatencyBuckets.begin(), StandardMetrics::kLatencyBuckets.end());
    e->request_seconds_ = &options.metrics
                               ->AddHistogram("dsmil_llm_request_seconds", "LLM generation time, submit to finish",
                                              {"device_id"}, buckets)
                               .Labels({options.device_id});
    e->ttft_seconds_ = &options.metrics
                            ->AddHistogram("dsmil_llm_time_to_first_token_seconds",
                                           "LLM time from submit to the first generated token", {"device_id"}, buckets)
                            .Labels({options.device_id});
  }
  e->scheduler_ = std::thread([p = e.get()] { p->SchedulerLoop(); });
  return e;
}

Engine::~Engine() {
  Shutdown();
  if (scheduler_.joinable()) scheduler_.join();
}

void Engine::Shutdown() {
  MutexLock lock(mu_);
  stopping_ = true;
  cv_.NotifyAll();
}

uint32_t Engine::sequences_in_use() const {
  MutexLock lock(mu_);
  return in_use_;
}

uint64_t Engine::kv_bytes() const {
  MutexLock lock(mu_);
  uint64_t total = 0;
  for (const auto& s : slots_) total += s ? s->bytes() : 0;
  return total;
}

Result<std::vector<int32_t>> Engine::Tokenize(const GenerationRequest& r) const {
  const uint32_t n_vocab = model_->hparams().n_vocab;
  std::vector<int32_t> tokens;
  if (!r.prompt_tokens.empty()) {
    for (size_t i = 0; i < r.prompt_tokens.size(); ++i) {
      if (r.prompt_tokens[i] < 0 || uint32_t(r.prompt_tokens[i]) >= n_vocab) {
        return Status::InvalidArgument("prompt token " + std::to_string(i) + " (" + std::to_string(r.prompt_tokens[i]) +
                                       ") is outside the vocabulary of " + std::to_string(n_vocab));
      }
    }
    tokens = r.prompt_tokens;
  } else if (!r.messages.empty()) {
    if (tokenizer_ == nullptr) return Status::InvalidArgument("chat messages need a model with a tokenizer");
    DSMIL_ASSIGN_OR_RETURN(std::string text, ApplyChatTemplate(chat_template_, r.messages, true));
    bool add_bos = tokenizer_->add_bos();
    if (add_bos && tokenizer_->bos() >= 0) {
      const std::string& bos = tokenizer_->TokenText(tokenizer_->bos());
      if (!bos.empty() && text.compare(0, bos.size(), bos) == 0) add_bos = false;  // the template has it
    }
    tokens = tokenizer_->Encode(text, add_bos, /*parse_special=*/true);
  } else if (!r.prompt.empty()) {
    if (tokenizer_ == nullptr) return Status::InvalidArgument("a text prompt needs a model with a tokenizer");
    tokens = tokenizer_->Encode(r.prompt, tokenizer_->add_bos(), /*parse_special=*/false);
  }
  if (tokens.empty()) return Status::InvalidArgument("the prompt is empty");
  if (tokens.size() + 1 > n_ctx_) {
    return Status::InvalidArgument("the prompt of " + std::to_string(tokens.size()) +
                                   " tokens does not fit the context of " + std::to_string(n_ctx_) + " tokens");
  }
  return tokens;
}

Result<std::shared_ptr<Generation>> Engine::Submit(GenerationRequest request, TokenCallback on_token) {
  const auto start = SteadyClock::now();
  DSMIL_RETURN_IF_ERROR(ValidateSamplingParams(request.params));
  DSMIL_ASSIGN_OR_RETURN(std::vector<int32_t> tokens, Tokenize(request));
  auto seq = std::make_unique<Sequence>(request.params);
  seq->gen = std::make_shared<Generation>();
  seq->on_token = std::move(on_token);
  seq->tenant = std::move(request.tenant);
  seq->n_prompt = tokens.size();
  seq->tokens = std::move(tokens);
  seq->result.prompt_tokens = static_cast<int32_t>(seq->n_prompt);
  seq->start = start;
  int slot = -1;
  bool allocate = false;
  {
    MutexLock lock(mu_);
    if (stopping_) return Status::Unavailable("llm: the engine is shutting down");
    for (uint32_t i = 0; i < max_sequences_; ++i) {
      if (!slot_used_[i]) {
        slot = static_cast<int>(i);
        break;
      }
    }
    if (slot < 0) {
      return Status::ResourceExhausted("503: model busy: " + std::to_string(in_use_) + " of " +
                                       std::to_string(max_sequences_) + " sequences in use");
    }
    slot_used_[slot] = true;
    ++in_use_;
    allocate = slots_[slot] == nullptr;
  }
  if (allocate) {
    // The slot is ours alone until released; allocate (zeroed) outside the lock.
    auto cache = std::make_unique<KvCache>(model_->hparams(), n_ctx_, options_.kv_f16);
    MutexLock lock(mu_);
    slots_[slot] = std::move(cache);
  }
  std::shared_ptr<Generation> gen = seq->gen;
  {
    MutexLock lock(mu_);
    seq->slot = slot;
    seq->cache = slots_[slot].get();
    if (stopping_) {
      slot_used_[slot] = false;
      --in_use_;
      return Status::Unavailable("llm: the engine is shutting down");
    }
    queued_.push_back(std::move(seq));
  }
  cv_.NotifyAll();
  return gen;
}

Result<GenerationResult> Engine::Generate(GenerationRequest request, TokenCallback on_token) {
  DSMIL_ASSIGN_OR_RETURN(std::shared_ptr<Generation> gen, Submit(std::move(request), std::move(on_token)));
  return gen->Wait();
}

void Engine::ReleaseSlot(int slot) {
  // Zero the keys and values before the slot can be handed out again.
  KvCache* cache;
  {
    MutexLock lock(mu_);
    cache = slots_[slot].get();
  }
  cache->Clear();
  MutexLock lock(mu_);
  slot_used_[slot] = false;
  --in_use_;
}

void Engine::Finish(Sequence& s, Result<GenerationResult> result) {
  s.done = true;
  if (result.ok()) {
    GenerationResult& r = *result;
    const auto now = SteadyClock::now();
    r.total_s = Seconds(now - s.start);
    if (r.completion_tokens > 1) r.decode_tokens_per_s = (r.completion_tokens - 1) / Seconds(now - s.first_token);
    if (request_seconds_ != nullptr) request_seconds_->Observe(r.total_s);
  }
  ReleaseSlot(s.slot);
  MutexLock lock(s.gen->mu_);
  s.gen->result_ = std::move(result);
  s.gen->cv_.NotifyAll();
}

void Engine::Step(std::vector<std::unique_ptr<Sequence>>& active) {
  std::vector<BatchToken> batch;
  std::vector<Sequence*> logit_owner;  // the sequence of each logits row
  const size_t budget = options_.max_batch_tokens;
  for (auto& s : active) {
    if (s->gen->cancel_.load(std::memory_order_relaxed)) {
      s->result.finish_reason = "cancelled";
      Finish(*s, s->result);
    }
  }
  // One decode token for each generating sequence...
  std::vector<Sequence*> decoding;
  for (auto& s : active) {
    if (s->done || s->n_evaluated < s->n_prompt) continue;
    batch.push_back({s->tokens[s->n_evaluated], static_cast<uint32_t>(s->n_evaluated), s->cache, true});
    logit_owner.push_back(s.get());
    decoding.push_back(s.get());
  }
  // ...then prompt chunks in arrival order with what is left of the budget.
  std::vector<std::pair<Sequence*, size_t>> advanced;
  for (auto& s : active) {
    if (s->done || s->n_evaluated >= s->n_prompt) continue;
    if (batch.size() >= budget) break;
    const size_t chunk = std::min(s->n_prompt - s->n_evaluated, budget - batch.size());
    for (size_t i = 0; i < chunk; ++i) {
      const size_t pos = s->n_evaluated + i;
      const bool last = pos + 1 == s->n_prompt;
      batch.push_back({s->tokens[pos], static_cast<uint32_t>(pos), s->cache, last});
      if (last) logit_owner.push_back(s.get());
    }
    advanced.emplace_back(s.get(), chunk);
  }
  if (batch.empty()) return;
  const auto t0 = SteadyClock::now();
  std::vector<float> logits;
  Status st = forward_.Eval(batch, &logits);
  if (!st.ok()) {
    for (auto& s : active) {
      if (!s->done) Finish(*s, Status::Internal("llm: forward pass failed: " + st.message()));
    }
    return;
  }
  // Rows of `logits` follow the batch: decode tokens first, then the last
  // token of each prompt that completed, which is the order of logit_owner.
  for (auto& [s, chunk] : advanced) s->n_evaluated += chunk;
  for (Sequence* s : decoding) ++s->n_evaluated;
  const uint32_t n_vocab = model_->hparams().n_vocab;
  int generated = 0;
  for (size_t row = 0; row < logit_owner.size(); ++row) {
    Sequence& s = *logit_owner[row];
    const int32_t tok = s.sampler.Sample(std::span<const float>(logits.data() + row * n_vocab, n_vocab));
    const auto now = SteadyClock::now();
    if (s.result.completion_tokens == 0) {
      s.first_token = now;
      s.result.time_to_first_token_s = Seconds(now - s.start);
      if (ttft_seconds_ != nullptr) ttft_seconds_->Observe(s.result.time_to_first_token_s);
    }
    ++generated;
    if (tokenizer_ != nullptr && !s.params.ignore_eos && tokenizer_->IsEndOfGeneration(tok)) {
      std::string tail = s.stop.Flush();
      if (!tail.empty()) {
        s.result.text += tail;
        if (s.on_token) s.on_token({-1, tail});
      }
      s.result.finish_reason = "stop";
      Finish(s, s.result);
      continue;
    }
    s.tokens.push_back(tok);
    s.result.tokens.push_back(tok);
    ++s.result.completion_tokens;
    bool stopped = false;
    std::string text;
    if (tokenizer_ != nullptr) text = s.stop.Push(tokenizer_->TokenToPiece(tok), &stopped);
    s.result.text += text;
    if (s.on_token && !s.on_token({tok, text})) {
      s.result.finish_reason = "cancelled";
      Finish(s, s.result);
      continue;
    }
    if (stopped) {
      s.result.finish_reason = "stop";
      Finish(s, s.result);
      continue;
    }
    if (s.result.completion_tokens >= s.params.max_tokens || s.tokens.size() >= n_ctx_) {
      std::string tail = s.stop.Flush();
      if (!tail.empty()) {
        s.result.text += tail;
        if (s.on_token) s.on_token({-1, tail});
      }
      s.result.finish_reason = "length";
      Finish(s, s.result);
    }
  }
  window_tokens_ += generated;
  window_seconds_ += Seconds(SteadyClock::now() - t0);
  if (tokens_per_second_ != nullptr && window_seconds_ >= 1.0) {
    tokens_per_second_->Set(window_tokens_ / window_seconds_);
    window_tokens_ = 0;
    window_seconds_ = 0;
  }
}

void Engine::SchedulerLoop() {
  std::vector<std::unique_ptr<Sequence>> active;
  for (;;) {
    {
      MutexLock lock(mu_);
      if (active.empty() && tokens_per_second_ != nullptr && window_seconds_ > 0) {
        tokens_per_second_->Set(window_tokens_ / window_seconds_);
        window_tokens_ = 0;
        window_seconds_ = 0;
      }
      while (!stopping_ && queued_.empty() && active.empty()) cv_.Wait(mu_);
      if (stopping_) break;
      while (!queued_.empty()) {
        active.push_back(std::move(queued_.front()));
        queued_.pop_front();
      }
    }
    Step(active);
    active.erase(std::remove_if(active.begin(), active.end(), [](const auto& s) { return s->done; }), active.end());
  }
  std::deque<std::unique_ptr<Sequence>> queued;
  {
    MutexLock lock(mu_);
    queued.swap(queued_);
  }
  for (auto& s : queued) active.push_back(std::move(s));
  for (auto& s : active) {
    if (!s->done) Finish(*s, Status::Unavailable("llm: the engine shut down"));
  }
}

}  // namespace dsmil::llm
