// Numeric kernels of the LLM engine: half-precision conversion, (de)quantisation
// of ggml block formats, and the weight-matrix products of the forward pass.
//
// Weight formats (ggml's layouts, as stored in GGUF files):
//   F32, F16                 one value per element
//   Q8_0  (34 bytes / 32)    fp16 scale d, 32 × int8 q; value = d * q
//   Q4_0  (18 bytes / 32)    fp16 scale d, 16 bytes of nibbles; element j is the low
//                            nibble of byte j (j < 16) or the high nibble of byte j-16;
//                            value = d * (nibble - 8)
//
// Products with Q8_0 / Q4_0 weights first quantise the activations to Q8_0
// blocks and multiply in int8 (AVX2 maddubs, AVX-512 VNNI dpbusd), as ggml
// does; F32 / F16 weights multiply F32 activations with FMA.
//
// Instruction sets: each kernel exists as portable scalar code and as AVX2
// (+FMA, F16C) and AVX-512 (F, BW, VL, VNNI) code compiled with per-function
// target attributes, so the library runs on any x86-64 and picks the best set
// at run time (__builtin_cpu_supports). There are no AMX kernels:
// KernelDescription() says so.
//
// Thread safety: all functions are thread-safe (MatMul uses a per-thread
// scratch buffer; concurrent MatMuls on one ThreadPool are serialised by it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "llm/gguf.h"
#include "llm/threadpool.h"

namespace dsmil::llm {

enum class KernelIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// "scalar", "avx2", "avx512-vnni".
std::string_view KernelIsaName(KernelIsa isa);
// Whether this CPU can run the kernels of `isa`.
bool KernelIsaSupported(KernelIsa isa);
// The best set this CPU supports.
KernelIsa BestKernelIsa();
// One line for logs and benchmarks, e.g. "avx512-vnni (AMX: no AMX kernels built; CPU has none)".
std::string KernelDescription();

// IEEE half <-> single conversion (round to nearest even; NaN and Inf kept).
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);

inline constexpr int64_t kQuantBlock = 32;  // elements per Q8_0 / Q4_0 block

struct BlockQ8_0 {
  uint16_t d;  // fp16 scale
  int8_t qs[kQuantBlock];
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
  uint16_t d;  // fp16 scale
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// Whether the kernels handle weights of type `t` (F32, F16, Q8_0, Q4_0).
bool KernelTypeSupported(GgmlType t);

// Bytes of one row of `n` values of type `t` (n a multiple of the block size
// for the quantised types).
size_t RowBytes(GgmlType t, int64_t n);

// Writes the `n` values of one row of type `t` at `src` to `dst` as F32.
// `t` must be KernelTypeSupported and n a multiple of its block size.
void DequantizeRow(GgmlType t, const void* src, float* dst, int64_t n);

// Quantise n values (a multiple of 32) to n/32 blocks, as ggml does.
// Q8_0: d = max|x| / 127, q = round(x / d).
// Q4_0: m = the value of largest magnitude (with its sign), d = m / -8,
//       nibble = min(15, trunc(x / d + 8.5)).
void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n);
void QuantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n);

// A weight matrix of `rows` rows of `cols` values (the input dimension), rows
// stored contiguously `RowBytes(type, cols)` apart. Does not own `data`.
struct WeightMatrix {
  GgmlType type = GgmlType::kF32;
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;

  size_t row_bytes() const { return RowBytes(type, cols); }
  const uint8_t* Row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
};

// y = x · Wᵀ for a batch of activation vectors:
//   y[b * w.rows + r] = Σ_c W[r][c] · x[b * w.cols + c]   for b < batch, r < w.rows.
// Rows are spread over `pool` (nullptr: the calling thread only). `isa` must be
// supported by the CPU. x and y must not overlap.
void MatMul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool* pool, KernelIsa isa);
inline void MatMul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool* pool) {
  MatMul(w, x, batch, y, pool, BestKernelIsa());
}

// Vector helpers for attention (dispatched like MatMul):
//   DotF32 = Σ a[i]·b[i];  DotF16 = Σ HalfToFloat(a[i])·b[i]
//   AxpyF32: y[i] += s·a[i];  AxpyF16: y[i] += s·HalfToFloat(a[i])
float DotF32(const float* a, const float* b, int64_t n, KernelIsa isa);
float DotF16(const uint16_t* a, const float* b, int64_t n, KernelIsa isa);
void AxpyF32(float s, const float* a, float* y, int64_t n, KernelIsa isa);
void AxpyF16(float s, const uint16_t* a, float* y, int64_t n, KernelIsa isa);
// One row against up to 4 vectors (the row is read once):
//   out[c] = Σ a[i]·b[c][i] for c < nb, 1 <= nb <= 4.
void DotF32Multi(const float* a, const float* const* b, int nb, int64_t n, float* out, KernelIsa isa);
void DotF16Multi(const uint16_t* a, const float* const* b, int nb, int64_t n, float* out, KernelIsa isa);
// dst[i] = HalfToFloat(src[i]).
void HalfToFloatRow(const uint16_t* src, float* dst, int64_t n, KernelIsa isa);

}  // namespace dsmil::llm
