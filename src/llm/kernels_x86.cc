// AVX2 and AVX-512 kernels. Every function carries its own target attribute,
// so this file is compiled for baseline x86-64 and the kernels are only
// called after KernelIsaSupported() said yes.
#include "llm/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's intrinsic headers build the upper halves of widening casts from
// deliberately undefined values, which -Wmaybe-uninitialized reports.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#define DSMIL_AVX2 __attribute__((target("avx2,fma,f16c")))
#define DSMIL_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace dsmil::llm::internal {
namespace {

// ---- AVX2 -------------------------------------------------------------------

DSMIL_AVX2 inline float HsumAvx2(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

DSMIL_AVX2 inline float H2F(uint16_t h) { return _cvtsh_ss(h); }

// Σ w[i]·x[i] over 32 int8 pairs, as 8 int32 lanes (w may be -128: |w| is
// then 128 as unsigned, still exact).
DSMIL_AVX2 inline __m256i DotI8Avx2(__m256i w, __m256i x) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p16, ones);
}

DSMIL_AVX2 inline __m256i UnpackQ4Avx2(const uint8_t* qs) {
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  __m256i v = _mm256_insertf128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
  v = _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
  return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

template <int NC, bool kQ4>
DSMIL_AVX2 void DotQAvx2T(const void* wv, const BlockQ8_0* const* x, const float* const* xd, int64_t nb, float* out) {
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < nb; ++i) {
    __m256i w;
    float dw;
    if constexpr (kQ4) {
      const BlockQ4_0& b = static_cast<const BlockQ4_0*>(wv)[i];
      w = UnpackQ4Avx2(b.qs);
      dw = H2F(b.d);
    } else {
      const BlockQ8_0& b = static_cast<const BlockQ8_0*>(wv)[i];
      w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
      dw = H2F(b.d);
    }
    for (int c = 0; c < NC; ++c) {
      __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c][i].qs));
      __m256 d = _mm256_set1_ps(dw * xd[c][i]);
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(DotI8Avx2(w, xv)), d, acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) out[c] = HsumAvx2(acc[c]);
}

template <bool kQ4>
DSMIL_AVX2 void DotQAvx2(const void* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb,
                         float* out) {
  switch (nc) {
    case 1:
      DotQAvx2T<1, kQ4>(w, x, xd, nb, out);
      break;
    case 2:
      DotQAvx2T<2, kQ4>(w, x, xd, nb, out);
      break;
    case 3:
      DotQAvx2T<3, kQ4>(w, x, xd, nb, out);
      break;
    default:
      DotQAvx2T<4, kQ4>(w, x, xd, nb, out);
      break;
  }
}

DSMIL_AVX2 void DotQ8Avx2(const BlockQ8_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb,
                          float* out) {
  DotQAvx2<false>(w, x, xd, nc, nb, out);
}
DSMIL_AVX2 void DotQ4Avx2(const BlockQ4_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb,
                          float* out) {
  DotQAvx2<true>(w, x, xd, nc, nb, out);
}

template <int NC, bool kF16>
DSMIL_AVX2 void DotFAvx2T(const void* wv, const float* const* x, int64_t n, float* out) {
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 w;
    if constexpr (kF16) {
      w = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(wv) + i)));
    } else {
      w = _mm256_loadu_ps(static_cast<const float*>(wv) + i);
    }
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_fmadd_ps(w, _mm256_loadu_ps(x[c] + i), acc[c]);
  }
  for (int c = 0; c < NC; ++c) {
    float s = HsumAvx2(acc[c]);
    for (int64_t j = i; j < n; ++j) {
      float wj = kF16 ? H2F(static_cast<const uint16_t*>(wv)[j]) : static_cast<const float*>(wv)[j];
      s += wj * x[c][j];
    }
    out[c] = s;
  }
}

template <bool kF16>
DSMIL_AVX2 void DotFAvx2(const void* w, const float* const* x, int nc, int64_t n, float* out) {
  switch (nc) {
    case 1:
      DotFAvx2T<1, kF16>(w, x, n, out);
      break;
    case 2:
      DotFAvx2T<2, kF16>(w, x, n, out);
      break;
    case 3:
      DotFAvx2T<3, kF16>(w, x, n, out);
      break;
    default:
      DotFAvx2T<4, kF16>(w, x, n, out);
      break;
  }
}

DSMIL_AVX2 void DotF16Avx2(const uint16_t* w, const float* const* x, int nc, int64_t n, float* out) {
  DotFAvx2<true>(w, x, nc, n, out);
}
DSMIL_AVX2 void DotF32Avx2(const float* w, const float* const* x, int nc, int64_t n, float* out) {
  DotFAvx2<false>(w, x, nc, n, out);
}

DSMIL_AVX2 void AxpyF32Avx2(float s, const float* a, float* y, int64_t n) {
  __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, _mm256_loadu_ps(a + i), _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += s * a[i];
}

DSMIL_AVX2 void AxpyF16Avx2(float s, const uint16_t* a, float* y, int64_t n) {
  __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 av = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(sv, av, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += s * H2F(a[i]);
}

DSMIL_AVX2 void F16ToF32Avx2(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  }
  for (; i < n; ++i) dst[i] = H2F(src[i]);
}

// ---- AVX-512 ----------------------------------------------------------------

DSMIL_AVX512 inline __m512i Load2Blocks(const int8_t* a, const int8_t* b) {
  __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a));
  __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

template <int NC>
DSMIL_AVX512 void DotQ8Avx512T(const BlockQ8_0* w, const BlockQ8_0* const* x, const float* const* xd, int64_t nb,
                               float* out) {
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  // Lanes 0-7 take the first block's scale, lanes 8-15 the second's.
  const __m512i pick = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    __m512i wv = Load2Blocks(w[i].qs, w[i + 1].qs);
    __m512i wabs = _mm512_abs_epi8(wv);
    __mmask64 neg = _mm512_movepi8_mask(wv);
    // Both weight scales converted at once, spread to their halves.
    __m128i dh = _mm_insert_epi16(_mm_cvtsi32_si128(w[i].d), w[i + 1].d, 1);
    __m512 dw = _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(_mm_cvtph_ps(dh)));
    for (int c = 0; c < NC; ++c) {
      __m512i xv = Load2Blocks(x[c][i].qs, x[c][i + 1].qs);
      __m512i xs = _mm512_mask_sub_epi8(xv, neg, zero, xv);  // x with w's sign
      __m512i dot = _mm512_dpbusd_epi32(zero, wabs, xs);
      __m128 xd2 = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(xd[c] + i)));
      __m512 d = _mm512_mul_ps(dw, _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(xd2)));
      acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, acc[c]);
    }
  }
  for (int c = 0; c < NC; ++c) {
    float s = _mm512_reduce_add_ps(acc[c]);
    if (i < nb) {  // odd block count: the last block with 256-bit VNNI
      __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[i].qs));
      __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[c][i].qs));
      __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
      __m256 v = _mm256_cvtepi32_ps(dot);
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_movehdup_ps(h));
      s += _mm_cvtss_f32(h) * (_cvtsh_ss(w[i].d) * xd[c][i]);
    }
    out[c] = s;
  }
}

DSMIL_AVX512 void DotQ8Avx512(const BlockQ8_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb,
                              float* out) {
  switch (nc) {
    case 1:
      DotQ8Avx512T<1>(w, x, xd, nb, out);
      break;
    case 2:
      DotQ8Avx512T<2>(w, x, xd, nb, out);
      break;
    case 3:
      DotQ8Avx512T<3>(w, x, xd, nb, out);
      break;
    default:
      DotQ8Avx512T<4>(w, x, xd, nb, out);
      break;
  }
}

// Two rows × NC vectors. The activations are made unsigned (x + 128, i.e.
// x ^ 0x80) so `vpdpbusd` takes them as they are; the 128·Σw it adds is
// removed by starting each accumulation at -128·Σw (computed once per row
// pair of blocks). Per row and vector that leaves dpbusd, cvt, mul, fma.
template <int NC>
DSMIL_AVX512 void DotQ8x2Avx512T(const BlockQ8_0* w0, const BlockQ8_0* w1, const BlockQ8_0* const* x,
                                 const float* const* xd, int64_t nb, float* out0, float* out1) {
  __m512 acc0[NC], acc1[NC];
  for (int c = 0; c < NC; ++c) acc0[c] = acc1[c] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  const __m512i k80 = _mm512_set1_epi8(char(0x80));
  const __m512i pick = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    const __m512i wv0 = Load2Blocks(w0[i].qs, w0[i + 1].qs);
    const __m512i wv1 = Load2Blocks(w1[i].qs, w1[i + 1].qs);
    const __m512i neg0 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, wv0));
    const __m512i neg1 = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, k80, wv1));
    const __m512 dw0 = _mm512_permutexvar_ps(
        pick, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(w0[i].d), w0[i + 1].d, 1))));
    const __m512 dw1 = _mm512_permutexvar_ps(
        pick, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(w1[i].d), w1[i + 1].d, 1))));
    for (int c = 0; c < NC; ++c) {
      const __m512i xu = _mm512_xor_si512(Load2Blocks(x[c][i].qs, x[c][i + 1].qs), k80);
      const __m128 xd2 = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(xd[c] + i)));
      const __m512 dx = _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(xd2));
      acc0[c] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg0, xu, wv0)), _mm512_mul_ps(dw0, dx), acc0[c]);
      acc1[c] =
          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(neg1, xu, wv1)), _mm512_mul_ps(dw1, dx), acc1[c]);
    }
  }
  for (int c = 0; c < NC; ++c) {
    float s0 = _mm512_reduce_add_ps(acc0[c]), s1 = _mm512_reduce_add_ps(acc1[c]);
    for (int64_t b = i; b < nb; ++b) {  // an odd last block
      int32_t d0 = 0, d1 = 0;
      for (int j = 0; j < kQuantBlock; ++j) {
        d0 += int32_t(w0[b].qs[j]) * x[c][b].qs[j];
        d1 += int32_t(w1[b].qs[j]) * x[c][b].qs[j];
      }
      s0 += float(d0) * (_cvtsh_ss(w0[b].d) * xd[c][b]);
      s1 += float(d1) * (_cvtsh_ss(w1[b].d) * xd[c][b]);
    }
    out0[c] = s0;
    out1[c] = s1;
  }
}

DSMIL_AVX512 void DotQ8x2Avx512(const BlockQ8_0* w0, const BlockQ8_0* w1, const BlockQ8_0* const* x,
                                const float* const* xd, int nc, int64_t nb, float* out0, float* out1) {
  switch (nc) {
    case 1:
      DotQ8x2Avx512T<1>(w0, w1, x, xd, nb, out0, out1);
      break;
    case 2:
      DotQ8x2Avx512T<2>(w0, w1, x, xd, nb, out0, out1);
      break;
    case 3:
      DotQ8x2Avx512T<3>(w0, w1, x, xd, nb, out0, out1);
      break;
    default:
      DotQ8x2Avx512T<4>(w0, w1, x, xd, nb, out0, out1);
      break;
  }
}

template <int NC, bool kF16>
DSMIL_AVX512 void DotFAvx512T(const void* wv, const float* const* x, int64_t n, float* out) {
  __m512 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 w;
    if constexpr (kF16) {
      w = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(wv) + i)));
    } else {
      w = _mm512_loadu_ps(static_cast<const float*>(wv) + i);
    }
    for (int c = 0; c < NC; ++c) acc[c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(x[c] + i), acc[c]);
  }
  for (int c = 0; c < NC; ++c) {
    float s = _mm512_reduce_add_ps(acc[c]);
    for (int64_t j = i; j < n; ++j) {
      float wj = kF16 ? _cvtsh_ss(static_cast<const uint16_t*>(wv)[j]) : static_cast<const float*>(wv)[j];
      s += wj * x[c][j];
    }
    out[c] = s;
  }
}

template <bool kF16>
DSMIL_AVX512 void DotFAvx512(const void* w, const float* const* x, int nc, int64_t n, float* out) {
  switch (nc) {
    case 1:
      DotFAvx512T<1, kF16>(w, x, n, out);
      break;
    case 2:
      DotFAvx512T<2, kF16>(w, x, n, out);
      break;
    case 3:
      DotFAvx512T<3, kF16>(w, x, n, out);
      break;
    default:
      DotFAvx512T<4, kF16>(w, x, n, out);
      break;
  }
}

DSMIL_AVX512 void DotF16Avx512(const uint16_t* w, const float* const* x, int nc, int64_t n, float* out) {
  DotFAvx512<true>(w, x, nc, n, out);
}
DSMIL_AVX512 void DotF32Avx512(const float* w, const float* const* x, int nc, int64_t n, float* out) {
  DotFAvx512<false>(w, x, nc, n, out);
}

}  // namespace

const KernelTable& Avx2Kernels() {
  static const KernelTable table = {DotQ8Avx2,   DotQ4Avx2,   DotF16Avx2,   DotF32Avx2,
                                    AxpyF32Avx2, AxpyF16Avx2, F16ToF32Avx2, nullptr};
  return table;
}

const KernelTable& Avx512Kernels() {
  // Q4_0 and the attention helpers reuse the AVX2 code (short vectors).
  static const KernelTable table = {DotQ8Avx512, DotQ4Avx2,   DotF16Avx512, DotF32Avx512,
                                    AxpyF32Avx2, AxpyF16Avx2, F16ToF32Avx2, DotQ8x2Avx512};
  return table;
}

}  // namespace dsmil::llm::internal

#else  // not x86

namespace dsmil::llm::internal {
const KernelTable& Avx2Kernels() { return ScalarKernels(); }
const KernelTable& Avx512Kernels() { return ScalarKernels(); }
}  // namespace dsmil::llm::internal

#endif
