// Writing GGUF v3 files, and random-weight llama models for tests and
// benchmarks.
//
// GgufWriter streams: metadata and tensor declarations are collected first,
// Begin() writes the header, then tensor data is written in declaration order
// (in as many chunks as wanted) and Finish() closes the file. Only the
// metadata and the current chunk are ever in memory, so multi-GB models are
// written with constant memory. A GgufWriter is not thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "llm/gguf.h"
#include "llm/tokenizer.h"

namespace dsmil::llm {

class GgufWriter {
 public:
  // `alignment`: power of two; written as general.alignment when not 32.
  explicit GgufWriter(uint32_t alignment = kGgufDefaultAlignment);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Sets metadata `key` (replacing an earlier value, keeping its position).
  // Must be called before Begin().
  void Set(const std::string& key, GgufValue value);

  // Declares a tensor (before Begin). dims in ggml order (dims[0] = row length).
  // InvalidArgument for an empty/duplicate name, 0 or >4 dims, a zero dim, or
  // a row length that is not a multiple of the type's block.
  Status AddTensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type);

  // Writes header, metadata and tensor infos to `path` (created or truncated,
  // written to path + ".part" and renamed by Finish), or to memory.
  Status Begin(const std::string& path);
  Status BeginBuffer();

  // Appends raw tensor bytes (already in the tensor's ggml layout). Chunks fill
  // the declared tensors in order; a chunk may not run past the end of the
  // current tensor. Padding between tensors is inserted automatically.
  Status WriteTensorData(std::span<const uint8_t> bytes);

  // Checks every declared tensor byte was written, flushes and closes.
  Status Finish();
  // After Finish on a BeginBuffer writer: the whole file.
  std::vector<uint8_t> TakeBuffer() { return std::move(buf_); }

  // Total size of the file as declared so far (header + data).
  uint64_t TotalBytes() const;

 private:
  struct TensorDecl {
    std::string name;
    std::vector<uint64_t> dims;
    GgmlType type;
    uint64_t offset;
    uint64_t bytes;
  };
  Status Emit(const void* p, size_t n);
  Status Pad(uint64_t to_multiple);
  void EncodeValue(const GgufValue& v, std::vector<uint8_t>& out) const;
  uint64_t HeaderBytes() const;

  uint32_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<TensorDecl> tensors_;
  uint64_t data_bytes_ = 0;  // end of the last declared tensor within the data section
  bool begun_ = false;
  bool finished_ = false;
  std::FILE* file_ = nullptr;
  std::string path_;
  std::vector<uint8_t> buf_;
  bool to_buffer_ = false;
  uint64_t written_ = 0;  // bytes emitted so far
  size_t cur_tensor_ = 0;
  uint64_t cur_written_ = 0;  // bytes of the current tensor written
  uint64_t data_start_ = 0;
};

// IEEE half precision conversions (round to nearest even; overflow → inf).
uint16_t F32ToF16(float f);
float F16ToF32(uint16_t h);
// Quantizes `n` floats (n % 32 == 0) to Q8_0 blocks (34 bytes per 32 values:
// f16 scale d = max|x| / 127, then 32 int8 round(x / d)) into `out`.
void QuantizeQ8_0(const float* x, size_t n, uint8_t* out);

// ---- random-weight llama models ------------------------------------------------

struct RandomModelSpec {
  uint32_t n_vocab = 512;
  uint32_t n_embd = 64;
  uint32_t n_layer = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;
  uint32_t n_ff = 192;
  uint32_t n_ctx_train = 512;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  GgmlType type = GgmlType::kF32;  // weight matrices: F32, F16, Q8_0 or Q4_0 (norms stay F32)
  VocabKind vocab = VocabKind::kSpm;
  BpePre pre = BpePre::kGpt2;  // tokenizer.ggml.pre of a BPE vocabulary
  uint64_t seed = 1;
  std::string name;    // general.name; "random-weights" is always part of it
  std::string corpus;  // text the vocabulary is learned from ("" = built-in text)
};

// Named shapes: "tiny" (n_embd 64, 2 layers, vocab 512), "134m" (768, 12 layers,
// 12 heads, ff 2048, vocab 32000), "1.1b" (2048, 22 layers, 32 heads / 4 kv,
// ff 5632, vocab 32000, ctx 2048). InvalidArgument for other names.
Result<RandomModelSpec> RandomModelShape(std::string_view shape);

// Progress callback: bytes written so far, total bytes.
using WriteProgress = std::function<void(uint64_t done, uint64_t total)>;

// Writes a llama GGUF model with random weights (uniform, scaled by
// 1/sqrt(fan_in) so activations stay near unit size; norm weights 1) and a
// full vocabulary (vocab_gen) with tokenizer.ggml.* metadata and a chat
// template (llama-2 for SPM, ChatML for BPE). Deterministic for a given spec.
// Streams tensor by tensor. Errors: InvalidArgument for an inconsistent spec
// (naming the field), I/O errors from the writer.
Status WriteRandomLlamaModel(const RandomModelSpec& spec, const std::string& path,
                             const WriteProgress& progress = nullptr);
// Same, into memory (small models, tests).
Result<std::vector<uint8_t>> RandomLlamaModelBytes(const RandomModelSpec& spec);

}  // namespace dsmil::llm
