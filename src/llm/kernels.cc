#include "llm/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "llm/kernels_internal.h"

namespace dsmil::llm {
namespace internal {
namespace {

void DotQ8Scalar(const BlockQ8_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb,
                 float* out) {
  for (int c = 0; c < nc; ++c) {
    float sum = 0;
    for (int64_t i = 0; i < nb; ++i) {
      int32_t acc = 0;
      for (int j = 0; j < kQuantBlock; ++j) acc += int32_t(w[i].qs[j]) * int32_t(x[c][i].qs[j]);
      sum += float(acc) * (HalfToFloat(w[i].d) * xd[c][i]);
    }
    out[c] = sum;
  }
}

void DotQ4Scalar(const BlockQ4_0* w, const BlockQ8_0* const* x, const float* const* xd, int nc, int64_t nb,
                 float* out) {
  for (int c = 0; c < nc; ++c) {
    float sum = 0;
    for (int64_t i = 0; i < nb; ++i) {
      int32_t acc = 0;
      for (int j = 0; j < kQuantBlock / 2; ++j) {
        acc += (int32_t(w[i].qs[j] & 0x0F) - 8) * int32_t(x[c][i].qs[j]);
        acc += (int32_t(w[i].qs[j] >> 4) - 8) * int32_t(x[c][i].qs[j + kQuantBlock / 2]);
      }
      sum += float(acc) * (HalfToFloat(w[i].d) * xd[c][i]);
    }
    out[c] = sum;
  }
}

void DotF16Scalar(const uint16_t* w, const float* const* x, int nc, int64_t n, float* out) {
  for (int c = 0; c < nc; ++c) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += HalfToFloat(w[i]) * x[c][i];
    out[c] = sum;
  }
}

void DotF32Scalar(const float* w, const float* const* x, int nc, int64_t n, float* out) {
  for (int c = 0; c < nc; ++c) {
    float sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += w[i] * x[c][i];
    out[c] = sum;
  }
}

void AxpyF32Scalar(float s, const float* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * a[i];
}

void AxpyF16Scalar(float s, const uint16_t* a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += s * HalfToFloat(a[i]);
}

void F16ToF32Scalar(const uint16_t* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(src[i]);
}

}  // namespace

const KernelTable& ScalarKernels() {
  static const KernelTable table = {DotQ8Scalar,   DotQ4Scalar,   DotF16Scalar,   DotF32Scalar,
                                    AxpyF32Scalar, AxpyF16Scalar, F16ToF32Scalar, nullptr};
  return table;
}

}  // namespace internal

namespace {

const internal::KernelTable& Table(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512:
      return internal::Avx512Kernels();
    case KernelIsa::kAvx2:
      return internal::Avx2Kernels();
    case KernelIsa::kScalar:
      break;
  }
  return internal::ScalarKernels();
}

}  // namespace

std::string_view KernelIsaName(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kScalar:
      return "scalar";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kAvx512:
      return "avx512-vnni";
  }
  return "?";
}

#if defined(__x86_64__) || defined(__i386__)
// F16C (CPUID.1:ECX bit 29); not every compiler's __builtin_cpu_supports knows it.
// AVX2 implies the OS saves the YMM state F16C needs.
static bool CpuHasF16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
}
#endif

bool KernelIsaSupported(KernelIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  switch (isa) {
    case KernelIsa::kScalar:
      return true;
    case KernelIsa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && CpuHasF16c();
    case KernelIsa::kAvx512:
      return KernelIsaSupported(KernelIsa::kAvx2) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == KernelIsa::kScalar;
#endif
}

KernelIsa BestKernelIsa() {
  static const KernelIsa best = [] {
    if (KernelIsaSupported(KernelIsa::kAvx512)) return KernelIsa::kAvx512;
    if (KernelIsaSupported(KernelIsa::kAvx2)) return KernelIsa::kAvx2;
    return KernelIsa::kScalar;
  }();
  return best;
}

std::string KernelDescription() {
  std::string s(KernelIsaName(BestKernelIsa()));
  bool amx = false;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
  amx = __builtin_cpu_supports("amx-int8");
#endif
  s += amx ? " (AMX: present on this CPU but no AMX kernels are built)"
           : " (AMX: absent on this CPU; no AMX kernels are built)";
  return s;
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t abs = x & 0x7FFFFFFF;
  if (abs >= 0x7F800000u) {  // Inf or NaN
    return uint16_t(sign | 0x7C00 | (abs > 0x7F800000u ? 0x200 | ((abs >> 13) & 0x3FF) : 0));
  }
  if (abs >= 0x477FF000u) return uint16_t(sign | 0x7C00);  // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {                                 // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return uint16_t(sign);          // < 2^-25: rounds to 0
    uint32_t e = abs >> 23;
    uint32_t m = (abs & 0x7FFFFF) | 0x800000;
    uint32_t shift = 126 - e;  // 14 + (113 - e)
    uint32_t half = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);  // rebias exponent, drop 13 bits
  uint32_t rem = abs & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;
  return uint16_t(sign | h);
}

bool KernelTypeSupported(GgmlType t) {
  return t == GgmlType::kF32 || t == GgmlType::kF16 || t == GgmlType::kQ8_0 || t == GgmlType::kQ4_0;
}

size_t RowBytes(GgmlType t, int64_t n) {
  switch (t) {
    case GgmlType::kF32:
      return size_t(n) * 4;
    case GgmlType::kF16:
      return size_t(n) * 2;
    case GgmlType::kQ8_0:
      return size_t(n / kQuantBlock) * sizeof(BlockQ8_0);
    case GgmlType::kQ4_0:
      return size_t(n / kQuantBlock) * sizeof(BlockQ4_0);
    default:
      break;
  }
  return 0;
}

void DequantizeRow(GgmlType t, const void* src, float* dst, int64_t n) {
  switch (t) {
    case GgmlType::kF32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case GgmlType::kF16: {
      const auto* h = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(h[i]);
      return;
    }
    case GgmlType::kQ8_0: {
      const auto* b = static_cast<const BlockQ8_0*>(src);
      for (int64_t i = 0; i < n / kQuantBlock; ++i) {
        float d = HalfToFloat(b[i].d);
        for (int j = 0; j < kQuantBlock; ++j) dst[i * kQuantBlock + j] = d * float(b[i].qs[j]);
      }
      return;
    }
    case GgmlType::kQ4_0: {
      const auto* b = static_cast<const BlockQ4_0*>(src);
      for (int64_t i = 0; i < n / kQuantBlock; ++i) {
        float d = HalfToFloat(b[i].d);
        for (int j = 0; j < kQuantBlock / 2; ++j) {
          dst[i * kQuantBlock + j] = d * float(int(b[i].qs[j] & 0x0F) - 8);
          dst[i * kQuantBlock + j + kQuantBlock / 2] = d * float(int(b[i].qs[j] >> 4) - 8);
        }
      }
      return;
    }
    default:
      break;
  }
  std::memset(dst, 0, size_t(n) * 4);
}

void QuantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQuantBlock; ++i) {
    const float* v = x + i * kQuantBlock;
    float amax = 0;
    for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(v[j]));
    float d = amax / 127.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    for (int j = 0; j < kQuantBlock; ++j) y[i].qs[j] = static_cast<int8_t>(std::lround(v[j] * id));
  }
}

void QuantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n) {
  for (int64_t i = 0; i < n / kQuantBlock; ++i) {
    const float* v = x + i * kQuantBlock;
    float amax = 0, max = 0;
    for (int j = 0; j < kQuantBlock; ++j) {
      if (std::fabs(v[j]) > amax) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    float d = max / -8.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = FloatToHalf(d);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
      int a = std::min(15, static_cast<int>(v[j] * id + 8.5f));
      int b = std::min(15, static_cast<int>(v[j + kQuantBlock / 2] * id + 8.5f));
      y[i].qs[j] = static_cast<uint8_t>(a | (b << 4));
    }
  }
}

void MatMul(const WeightMatrix& w, const float* x, int64_t batch, float* y, ThreadPool* pool, KernelIsa isa) {
  if (batch <= 0 || w.rows <= 0) return;
  const internal::KernelTable& k = Table(isa);
  const int64_t cols = w.cols;
  const bool quantised = w.type == GgmlType::kQ8_0 || w.type == GgmlType::kQ4_0;
  const int64_t nb = cols / kQuantBlock;
  thread_local std::vector<BlockQ8_0> xq;
  thread_local std::vector<float> xqd;
  if (quantised) {
    if (xq.size() < size_t(batch * nb)) xq.resize(size_t(batch * nb));
    if (xqd.size() < size_t(batch * nb)) xqd.resize(size_t(batch * nb));
    BlockQ8_0* q = xq.data();
    float* qd = xqd.data();
    auto quantise = [&](int64_t b) {
      QuantizeRowQ8_0(x + b * cols, q + b * nb, cols);
      for (int64_t i = 0; i < nb; ++i) qd[b * nb + i] = HalfToFloat(q[b * nb + i].d);
    };
    if (pool != nullptr && batch > 1) {
      pool->ParallelFor(batch, quantise);
    } else {
      for (int64_t b = 0; b < batch; ++b) quantise(b);
    }
  }
  const BlockQ8_0* xq_data = xq.data();
  const float* xqd_data = xqd.data();
  const int64_t rows = w.rows;
  const size_t row_bytes = w.row_bytes();
  // Rows per task: small enough to balance two or more threads on a decode
  // step, large enough that a prompt's activations are reused from cache.
  const int64_t rows_per_task = batch > 1 ? 32 : 16;
  const int64_t tasks = (rows + rows_per_task - 1) / rows_per_task;
  auto run = [&](int64_t task) {
    const int64_t r0 = task * rows_per_task;
    const int64_t r1 = std::min(rows, r0 + rows_per_task);
    for (int64_t b0 = 0; b0 < batch; b0 += internal::kMaxCols) {
      const int nc = static_cast<int>(std::min<int64_t>(internal::kMaxCols, batch - b0));
      const BlockQ8_0* xqs[internal::kMaxCols];
      const float* xds[internal::kMaxCols];
      const float* xfs[internal::kMaxCols];
      for (int c = 0; c < nc; ++c) {
        if (quantised) {
          xqs[c] = xq_data + (b0 + c) * nb;
          xds[c] = xqd_data + (b0 + c) * nb;
        }
        xfs[c] = x + (b0 + c) * cols;
      }
      float out[internal::kMaxCols];
      int64_t r = r0;
      if (w.type == GgmlType::kQ8_0 && k.dot_q8_2rows != nullptr && batch > 1) {
        // Two rows at a time: each activation block is loaded once for both.
        float out1[internal::kMaxCols];
        for (; r + 1 < r1; r += 2) {
          const auto* w0 = reinterpret_cast<const BlockQ8_0*>(w.data + size_t(r) * row_bytes);
          const auto* w1 = reinterpret_cast<const BlockQ8_0*>(w.data + size_t(r + 1) * row_bytes);
          k.dot_q8_2rows(w0, w1, xqs, xds, nc, nb, out, out1);
          for (int c = 0; c < nc; ++c) {
            y[(b0 + c) * rows + r] = out[c];
            y[(b0 + c) * rows + r + 1] = out1[c];
          }
        }
      }
      for (; r < r1; ++r) {
        const uint8_t* row = w.data + size_t(r) * row_bytes;
        switch (w.type) {
          case GgmlType::kQ8_0:
            k.dot_q8(reinterpret_cast<const BlockQ8_0*>(row), xqs, xds, nc, nb, out);
            break;
          case GgmlType::kQ4_0:
            k.dot_q4(reinterpret_cast<const BlockQ4_0*>(row), xqs, xds, nc, nb, out);
            break;
          case GgmlType::kF16:
            k.dot_f16(reinterpret_cast<const uint16_t*>(row), xfs, nc, cols, out);
            break;
          case GgmlType::kF32:
            k.dot_f32(reinterpret_cast<const float*>(row), xfs, nc, cols, out);
            break;
          default:
            for (int c = 0; c < nc; ++c) out[c] = 0;
            break;
        }
        for (int c = 0; c < nc; ++c) y[(b0 + c) * rows + r] = out[c];
      }
    }
  };
  if (pool != nullptr) {
    pool->ParallelFor(tasks, run);
  } else {
    for (int64_t t = 0; t < tasks; ++t) run(t);
  }
}

float DotF32(const float* a, const float* b, int64_t n, KernelIsa isa) {
  float out;
  Table(isa).dot_f32(a, &b, 1, n, &out);
  return out;
}

float DotF16(const uint16_t* a, const float* b, int64_t n, KernelIsa isa) {
  float out;
  Table(isa).dot_f16(a, &b, 1, n, &out);
  return out;
}

void AxpyF32(float s, const float* a, float* y, int64_t n, KernelIsa isa) { Table(isa).axpy_f32(s, a, y, n); }
void DotF32Multi(const float* a, const float* const* b, int nb, int64_t n, float* out, KernelIsa isa) {
  Table(isa).dot_f32(a, b, nb, n, out);
}
void DotF16Multi(const uint16_t* a, const float* const* b, int nb, int64_t n, float* out, KernelIsa isa) {
  Table(isa).dot_f16(a, b, nb, n, out);
}
void HalfToFloatRow(const uint16_t* src, float* dst, int64_t n, KernelIsa isa) { Table(isa).f16_to_f32(src, dst, n); }
void AxpyF16(float s, const uint16_t* a, float* y, int64_t n, KernelIsa isa) { Table(isa).axpy_f16(s, a, y, n); }

}  // namespace dsmil::llm
