// A llama-family model's weights as views over a GGUF file's mapping.
//
// Model owns the GgufFile (and so the mmap); every WeightMatrix and norm
// pointer stays valid as long as the Model lives. Nothing is copied: the
// first forward pass pages the weights in.
//
// Thread safety: a Model is immutable after construction; any number of
// threads may read it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "llm/gguf.h"
#include "llm/kernels.h"

namespace dsmil::llm {

struct LayerWeights {
  const float* attn_norm = nullptr;  // n_embd
  WeightMatrix wq;                   // n_embd rows × n_embd
  WeightMatrix wk;                   // n_embd_kv rows × n_embd
  WeightMatrix wv;                   // n_embd_kv rows × n_embd
  WeightMatrix wo;                   // n_embd rows × n_embd
  const float* ffn_norm = nullptr;   // n_embd
  WeightMatrix w_gate;               // n_ff rows × n_embd
  WeightMatrix w_up;                 // n_ff rows × n_embd
  WeightMatrix w_down;               // n_embd rows × n_ff
};

class Model {
 public:
  // Takes the parsed file, reads the hyper-parameters (ReadLlamaHParams) and
  // checks that every weight matrix has a type the kernels support (F32, F16,
  // Q8_0, Q4_0). Errors: InvalidArgument naming the key or tensor, e.g.
  // "llm: tensor 'blk.0.attn_q.weight' has type Q4_K; supported: F32, F16, Q8_0, Q4_0".
  static Result<std::unique_ptr<Model>> FromGguf(std::unique_ptr<GgufFile> file);
  // Opens `path` (GgufFile::Open) and calls FromGguf.
  static Result<std::unique_ptr<Model>> Open(const std::string& path);

  const LlamaHParams& hparams() const { return hp_; }
  const GgufFile& file() const { return *file_; }
  const WeightMatrix& token_embd() const { return token_embd_; }  // n_vocab rows × n_embd
  const WeightMatrix& output() const { return output_; }          // n_vocab rows × n_embd
  const float* output_norm() const { return output_norm_; }
  const LayerWeights& layer(uint32_t i) const { return layers_[i]; }

  // Bytes of weights one decode step reads: every layer matrix, the output
  // matrix and one embedding row (the memory-bandwidth cost of a token).
  uint64_t WeightBytesPerToken() const;
  // Bytes of all tensors in the file's data section.
  uint64_t WeightBytes() const;

 private:
  Model() = default;

  std::unique_ptr<GgufFile> file_;
  LlamaHParams hp_;
  WeightMatrix token_embd_;
  WeightMatrix output_;
  const float* output_norm_ = nullptr;
  std::vector<LayerWeights> layers_;
};

}  // namespace dsmil::llm
