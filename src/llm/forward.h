// The llama forward pass over a batch of tokens from one or more sequences.
//
// Per layer: RMSNorm → Q, K, V projections → RoPE (ggml's "normal" mode:
// adjacent pairs (x[2i], x[2i+1]) of the first n_rot values of each head are
// rotated by pos · freq_base^(-2i/n_rot)) → K, V written to the sequence's
// cache → grouped-query attention over the cache (causal: a token sees
// positions 0..pos of its own sequence) → output projection → residual →
// RMSNorm → SwiGLU feed-forward (down(silu(gate·x) ⊙ up·x)) → residual.
// Then the final RMSNorm and the output matrix give the logits.
//
// All tokens of a batch go through each weight matrix together (one
// matrix-matrix product per matrix), whether they are a prompt chunk of one
// sequence or one decode token of each of many sequences.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "llm/kernels.h"
#include "llm/model.h"
#include "llm/threadpool.h"

namespace dsmil::llm {

// The keys and values of one sequence, for every layer and position
// 0..n_ctx-1, in F32 or F16. Owned by one sequence at a time; not thread-safe.
class KvCache {
 public:
  KvCache(const LlamaHParams& hp, uint32_t n_ctx, bool f16);
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Bytes a cache of this shape holds.
  static uint64_t BytesFor(const LlamaHParams& hp, uint32_t n_ctx, bool f16);

  uint32_t n_ctx() const { return n_ctx_; }
  bool f16() const { return f16_; }
  uint64_t bytes() const { return static_cast<uint64_t>(k_.size()) + v_.size(); }
  // Zeroes every key and value (a cache handed to a new request holds
  // nothing of the previous one).
  void Clear();

  // Start of the n_embd_kv values of (layer, pos); F32 or F16 per f16().
  uint8_t* K(uint32_t layer, uint32_t pos) { return k_.data() + Offset(layer, pos); }
  uint8_t* V(uint32_t layer, uint32_t pos) { return v_.data() + Offset(layer, pos); }

 private:
  size_t Offset(uint32_t layer, uint32_t pos) const { return (static_cast<size_t>(layer) * n_ctx_ + pos) * row_bytes_; }
  uint32_t n_ctx_;
  bool f16_;
  size_t row_bytes_;
  std::vector<uint8_t> k_;
  std::vector<uint8_t> v_;
};

// One token of a batch.
struct BatchToken {
  int32_t token = 0;
  uint32_t pos = 0;          // its position in its sequence
  KvCache* cache = nullptr;  // its sequence's cache
  bool want_logits = false;  // compute logits for it
};

// Runs forward passes of one model. Holds scratch buffers sized for the
// largest batch seen; one Forward per thread (not thread-safe). The Model and
// the pool must outlive it.
class Forward {
 public:
  Forward(const Model& model, ThreadPool* pool, KernelIsa isa = BestKernelIsa());

  // Evaluates `batch`. For every token with want_logits, n_vocab logits are
  // appended to *logits in batch order (it is cleared first). Every position
  // 0..pos-1 of a token's sequence must have been evaluated before (in this
  // batch, earlier in it, or in an earlier call). Errors (InvalidArgument,
  // nothing evaluated): a token id outside the vocabulary, a pos outside the
  // token's cache, a null cache.
  Status Eval(std::span<const BatchToken> batch, std::vector<float>* logits);

  const Model& model() const { return model_; }

 private:
  void Attention(std::span<const BatchToken> batch, uint32_t layer);

  const Model& model_;
  ThreadPool* pool_;
  KernelIsa isa_;
  // Scratch, [tokens][width].
  std::vector<float> x_, xb_, q_, k_, v_, att_, ff_gate_, ff_up_, out_;
};

// RMSNorm of one vector: y = x / sqrt(mean(x²) + eps) ⊙ w (sum in double).
void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps);
// RoPE in ggml's normal mode on `n_heads` heads of `head_dim` values at `pos`.
void Rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, uint32_t pos, float freq_base);

}  // namespace dsmil::llm
