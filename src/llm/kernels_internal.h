// Per-instruction-set kernel tables (internal to the llm library).
#pragma once

#ifndef DSMIL_INTERNAL_LLM
#error \
    "llm/kernels_internal.h is internal to dsmil_llm: include its public headers (a white-box test opts in with dsmil_white_box)"
#endif

#include <cstdint>

#include "llm/kernels.h"

namespace dsmil::llm::internal {

// Maximum number of activation vectors one dot call handles (weights are
// loaded once and multiplied with up to kMaxCols vectors).
inline constexpr int kMaxCols = 4;

struct KernelTable {
  // out[c] = row · x[c] for c < nc (1 <= nc <= kMaxCols); nb blocks or n values.
  // xd[c][i] is HalfToFloat(x[c][i].d), converted once per MatMul.
  void (*dot_q8)(const BlockQ8_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb, float* out);
  void (*dot_q4)(const BlockQ4_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb, float* out);
  void (*dot_f16)(const uint16_t* w, const float* const* x, int nc, int64_t n, float* out);
  void (*dot_f32)(const float* w, const float* const* x, int nc, int64_t n, float* out);
  void (*axpy_f32)(float s, const float* a, float* y, int64_t n);
  void (*axpy_f16)(float s, const uint16_t* a, float* y, int64_t n);
  void (*f16_to_f32)(const uint16_t* src, float* dst, int64_t n);
  // Two Q8_0 rows against nc vectors: out0[c] = w0 · x[c], out1[c] = w1 · x[c].
  // Null when the set has no such kernel (MatMul then calls dot_q8 per row).
  void (*dot_q8_2rows)(const BlockQ8_0* w0, const BlockQ8_0* w1, const BlockQ8_0* const* x, const float* const* xd,
                       int nc, int64_t nb, float* out0, float* out1);
};

const KernelTable& ScalarKernels();
// Only valid on CPUs that support the set (see KernelIsaSupported); on
// non-x86 builds these return the scalar table.
const KernelTable& Avx2Kernels();
const KernelTable& Avx512Kernels();

}  // namespace dsmil::llm::internal
