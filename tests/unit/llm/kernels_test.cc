#include "llm/kernels.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "llm/threadpool.h"

namespace dsmil::llm {
namespace {

std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<KernelIsa> SupportedIsas() {
  std::vector<KernelIsa> out;
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (KernelIsaSupported(isa)) out.push_back(isa);
  }
  return out;
}

// Weights of `type` made from `f32` (rows × cols), stored as the kernels expect.
std::vector<uint8_t> Encode(GgmlType type, const std::vector<float>& f32, int64_t rows, int64_t cols) {
  std::vector<uint8_t> out(RowBytes(type, cols) * rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = f32.data() + r * cols;
    uint8_t* dst = out.data() + r * RowBytes(type, cols);
    switch (type) {
      case GgmlType::kF32:
        std::memcpy(dst, src, cols * 4);
        break;
      case GgmlType::kF16:
        for (int64_t c = 0; c < cols; ++c) reinterpret_cast<uint16_t*>(dst)[c] = FloatToHalf(src[c]);
        break;
      case GgmlType::kQ8_0:
        QuantizeRowQ8_0(src, reinterpret_cast<BlockQ8_0*>(dst), cols);
        break;
      case GgmlType::kQ4_0:
        QuantizeRowQ4_0(src, reinterpret_cast<BlockQ4_0*>(dst), cols);
        break;
      default:
        ADD_FAILURE() << "type";
        break;
    }
  }
  return out;
}

TEST(F16, ConversionRoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint32_t exp = (h >> 10) & 0x1F;
    if (exp == 0x1F && (h & 0x3FF)) continue;  // NaN payloads: only NaN-ness is kept
    EXPECT_EQ(FloatToHalf(HalfToFloat(uint16_t(h))), h) << std::hex << h;
  }
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  EXPECT_EQ(FloatToHalf(1e6f), 0x7C00);                // overflow → +Inf
  EXPECT_EQ(FloatToHalf(1.0f + 1.0f / 2048), 0x3C00);  // half an ulp: ties to even
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 2048), 0x3C02);
  EXPECT_EQ(FloatToHalf(1.0f + 3.0f / 4096), 0x3C01);
}

TEST(Quantize, Q8RoundTripWithinHalfAStep) {
  auto x = RandomVector(256, 1);
  std::vector<BlockQ8_0> q(8);
  QuantizeRowQ8_0(x.data(), q.data(), 256);
  std::vector<float> back(256);
  DequantizeRow(GgmlType::kQ8_0, q.data(), back.data(), 256);
  for (int b = 0; b < 8; ++b) {
    float d = HalfToFloat(q[b].d);
    // Half a step, plus the fp16 rounding of d times |q| <= 127.
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(back[b * 32 + j], x[b * 32 + j], d * 0.6f + 1e-6f);
  }
}

TEST(Quantize, Q4RoundTripWithinOneStep) {
  auto x = RandomVector(128, 2);
  std::vector<BlockQ4_0> q(4);
  QuantizeRowQ4_0(x.data(), q.data(), 128);
  std::vector<float> back(128);
  DequantizeRow(GgmlType::kQ4_0, q.data(), back.data(), 128);
  for (int b = 0; b < 4; ++b) {
    float d = std::fabs(HalfToFloat(q[b].d));
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(back[b * 32 + j], x[b * 32 + j], d * 1.01f);
  }
}

TEST(Quantize, F16DequantizeMatchesConversion) {
  std::vector<uint16_t> h = {0x3C00, 0xBC00, 0x0000, 0x3555, 0x7BFF};
  std::vector<float> out(h.size());
  DequantizeRow(GgmlType::kF16, h.data(), out.data(), h.size());
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(out[i], HalfToFloat(h[i]));
}

// Reference: dequantised weights (and, for quantised types, the activation
// quantised to Q8_0 and back) multiplied in double.
std::vector<double> ReferenceMatMul(GgmlType type, const std::vector<uint8_t>& w, int64_t rows, int64_t cols,
                                    const std::vector<float>& x, int64_t batch) {
  std::vector<double> y(batch * rows);
  std::vector<float> wrow(cols), xrow(cols);
  const bool quantised = type == GgmlType::kQ8_0 || type == GgmlType::kQ4_0;
  for (int64_t b = 0; b < batch; ++b) {
    if (quantised) {
      std::vector<BlockQ8_0> q(cols / 32);
      QuantizeRowQ8_0(x.data() + b * cols, q.data(), cols);
      DequantizeRow(GgmlType::kQ8_0, q.data(), xrow.data(), cols);
    } else {
      std::copy(x.begin() + b * cols, x.begin() + (b + 1) * cols, xrow.begin());
    }
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(type, w.data() + r * RowBytes(type, cols), wrow.data(), cols);
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += double(wrow[c]) * double(xrow[c]);
      y[b * rows + r] = s;
    }
  }
  return y;
}

struct MatMulCase {
  GgmlType type;
  int64_t rows, cols, batch;
};

class MatMulTest : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(MatMulTest, EveryIsaMatchesTheReference) {
  const MatMulCase p = GetParam();
  auto wf = RandomVector(p.rows * p.cols, 7, 0.05f);
  auto w = Encode(p.type, wf, p.rows, p.cols);
  auto x = RandomVector(p.batch * p.cols, 8);
  auto ref = ReferenceMatMul(p.type, w, p.rows, p.cols, x, p.batch);
  WeightMatrix m{p.type, w.data(), p.rows, p.cols};
  ThreadPool pool(3);
  for (KernelIsa isa : SupportedIsas()) {
    for (ThreadPool* tp : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::vector<float> y(p.batch * p.rows, -1.0f);
      MatMul(m, x.data(), p.batch, y.data(), tp, isa);
      for (int64_t i = 0; i < p.batch * p.rows; ++i) {
        // float accumulation over `cols` terms of size ~0.05: relative 1e-5 of
        // the sum of magnitudes is ample.
        ASSERT_NEAR(y[i], ref[i], 2e-4 * std::sqrt(double(p.cols)))
            << KernelIsaName(isa) << " threads " << (tp ? 3 : 1) << " index " << i;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Kernels, MatMulTest,
    ::testing::Values(MatMulCase{GgmlType::kF32, 37, 64, 1}, MatMulCase{GgmlType::kF32, 70, 136, 7},
                      MatMulCase{GgmlType::kF16, 37, 64, 1}, MatMulCase{GgmlType::kF16, 70, 200, 6},
                      MatMulCase{GgmlType::kQ8_0, 37, 64, 1}, MatMulCase{GgmlType::kQ8_0, 65, 96, 1},
                      MatMulCase{GgmlType::kQ8_0, 70, 256, 9}, MatMulCase{GgmlType::kQ8_0, 128, 2048, 1},
                      MatMulCase{GgmlType::kQ4_0, 37, 64, 1}, MatMulCase{GgmlType::kQ4_0, 70, 160, 5}));

TEST(MatMul, Q8HandlesMinus128Weights) {
  // ggml files may hold -128 (not produced by our quantiser): |w| is 128 unsigned.
  std::vector<BlockQ8_0> w(2);
  for (auto& b : w) {
    b.d = FloatToHalf(0.5f);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j % 2 ? -128 : 127);
  }
  std::vector<float> x(64, 1.0f);
  for (KernelIsa isa : SupportedIsas()) {
    float y = 0;
    MatMul({GgmlType::kQ8_0, reinterpret_cast<const uint8_t*>(w.data()), 1, 64}, x.data(), 1, &y, nullptr, isa);
    // x quantises to 127 × fp16(1/127) ≈ 1.
    EXPECT_NEAR(y, 0.5f * 32 * (127 - 128), 2e-3) << KernelIsaName(isa);
  }
}

TEST(Vector, DotAndAxpyMatchScalar) {
  auto a = RandomVector(77, 3), b = RandomVector(77, 4);
  std::vector<uint16_t> ah(77);
  for (int i = 0; i < 77; ++i) ah[i] = FloatToHalf(a[i]);
  double ref = 0, ref16 = 0;
  for (int i = 0; i < 77; ++i) {
    ref += double(a[i]) * b[i];
    ref16 += double(HalfToFloat(ah[i])) * b[i];
  }
  for (KernelIsa isa : SupportedIsas()) {
    EXPECT_NEAR(DotF32(a.data(), b.data(), 77, isa), ref, 1e-4) << KernelIsaName(isa);
    EXPECT_NEAR(DotF16(ah.data(), b.data(), 77, isa), ref16, 1e-4) << KernelIsaName(isa);
    std::vector<float> y(b), y16(b);
    AxpyF32(0.5f, a.data(), y.data(), 77, isa);
    AxpyF16(0.5f, ah.data(), y16.data(), 77, isa);
    for (int i = 0; i < 77; ++i) {
      EXPECT_NEAR(y[i], b[i] + 0.5f * a[i], 1e-5);
      EXPECT_NEAR(y16[i], b[i] + 0.5f * HalfToFloat(ah[i]), 1e-5);
    }
  }
}

TEST(Vector, MultiDotsAndRowConversionMatchSingle) {
  auto a = RandomVector(70, 5);
  std::vector<uint16_t> ah(70);
  for (int i = 0; i < 70; ++i) ah[i] = FloatToHalf(a[i]);
  std::vector<std::vector<float>> bs = {RandomVector(70, 6), RandomVector(70, 7), RandomVector(70, 8)};
  const float* b[3] = {bs[0].data(), bs[1].data(), bs[2].data()};
  for (KernelIsa isa : SupportedIsas()) {
    float out[3], out16[3];
    DotF32Multi(a.data(), b, 3, 70, out, isa);
    DotF16Multi(ah.data(), b, 3, 70, out16, isa);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(out[c], DotF32(a.data(), b[c], 70, KernelIsa::kScalar), 1e-4) << KernelIsaName(isa);
      EXPECT_NEAR(out16[c], DotF16(ah.data(), b[c], 70, KernelIsa::kScalar), 1e-4) << KernelIsaName(isa);
    }
    std::vector<float> row(70);
    HalfToFloatRow(ah.data(), row.data(), 70, isa);
    for (int i = 0; i < 70; ++i) EXPECT_EQ(row[i], HalfToFloat(ah[i]));
  }
}

TEST(Isa, ScalarAlwaysSupportedAndDescribed) {
  EXPECT_TRUE(KernelIsaSupported(KernelIsa::kScalar));
  EXPECT_TRUE(KernelIsaSupported(BestKernelIsa()));
  EXPECT_NE(KernelDescription().find("AMX"), std::string::npos);
}

TEST(ThreadPool, RunsEveryTaskOnceManyTimes) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.num_threads(), 4);
  std::vector<std::atomic<int>> hits(1000);
  for (int round = 0; round < 200; ++round) {
    pool.ParallelFor(1000, [&](int64_t t) { hits[t].fetch_add(1, std::memory_order_relaxed); });
  }
  for (auto& h : hits) EXPECT_EQ(h.load(), 200);
  int ran = 0;
  pool.ParallelFor(0, [&](int64_t) { ++ran; });
  EXPECT_EQ(ran, 0);
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 50; ++i) pool.ParallelFor(10, [&](int64_t t) { total.fetch_add(t + 1); });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 50 * 55);
}

}  // namespace
}  // namespace dsmil::llm
