// The forward pass against a straightforward reference written here: plain
// loops in double precision over the dequantised weights, the whole sequence
// recomputed for every position (no cache, no batching).
#include "llm/forward.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "llm/gguf_writer.h"
#include "llm/model.h"

namespace dsmil::llm {
namespace {

std::unique_ptr<Model> MakeModel(GgmlType type, uint64_t seed = 1, uint32_t n_layer = 2) {
  RandomModelSpec spec;  // tiny: vocab 512, n_embd 64, 4 heads / 2 kv heads, ff 192
  spec.type = type;
  spec.seed = seed;
  spec.n_layer = n_layer;
  auto bytes = RandomLlamaModelBytes(spec);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto file = GgufFile::FromBuffer(*bytes);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  auto model = Model::FromGguf(std::move(*file));
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(*model);
}

using Mat = std::vector<std::vector<double>>;

Mat Dequant(const WeightMatrix& w) {
  Mat m(w.rows, std::vector<double>(w.cols));
  std::vector<float> row(w.cols);
  for (int64_t r = 0; r < w.rows; ++r) {
    DequantizeRow(w.type, w.Row(r), row.data(), w.cols);
    std::copy(row.begin(), row.end(), m[r].begin());
  }
  return m;
}

std::vector<double> Apply(const Mat& w, const std::vector<double>& x) {
  std::vector<double> y(w.size());
  for (size_t r = 0; r < w.size(); ++r) {
    double s = 0;
    for (size_t c = 0; c < x.size(); ++c) s += w[r][c] * x[c];
    y[r] = s;
  }
  return y;
}

std::vector<double> Norm(const std::vector<double>& x, const float* w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / double(x.size()) + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
  return y;
}

void RopeRef(std::vector<double>& x, int n_heads, int head_dim, int n_rot, int pos, double base) {
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < n_rot / 2; ++i) {
      const double theta = pos * std::pow(base, -2.0 * i / n_rot);
      double& a = x[h * head_dim + 2 * i];
      double& b = x[h * head_dim + 2 * i + 1];
      const double a0 = a, b0 = b;
      a = a0 * std::cos(theta) - b0 * std::sin(theta);
      b = a0 * std::sin(theta) + b0 * std::cos(theta);
    }
  }
}

// Logits at every position of `tokens`.
Mat ReferenceLogits(const Model& model, const std::vector<int32_t>& tokens) {
  const LlamaHParams& hp = model.hparams();
  const int n = static_cast<int>(tokens.size());
  const int n_embd = hp.n_embd, hd = hp.head_dim(), group = hp.n_head / hp.n_head_kv;
  const Mat embd = Dequant(model.token_embd());
  Mat x(n);
  for (int p = 0; p < n; ++p) x[p] = embd[tokens[p]];
  for (uint32_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& w = model.layer(l);
    const Mat wq = Dequant(w.wq), wk = Dequant(w.wk), wv = Dequant(w.wv), wo = Dequant(w.wo);
    const Mat wg = Dequant(w.w_gate), wu = Dequant(w.w_up), wd = Dequant(w.w_down);
    Mat q(n), k(n), v(n);
    for (int p = 0; p < n; ++p) {
      auto xb = Norm(x[p], w.attn_norm, hp.rms_eps);
      q[p] = Apply(wq, xb);
      k[p] = Apply(wk, xb);
      v[p] = Apply(wv, xb);
      RopeRef(q[p], hp.n_head, hd, hp.n_rot, p, hp.rope_freq_base);
      RopeRef(k[p], hp.n_head_kv, hd, hp.n_rot, p, hp.rope_freq_base);
    }
    for (int p = 0; p < n; ++p) {
      std::vector<double> att(n_embd, 0.0);
      for (uint32_t h = 0; h < hp.n_head; ++h) {
        const int kvh = h / group;
        std::vector<double> s(p + 1);
        double mx = -1e300;
        for (int t = 0; t <= p; ++t) {
          double d = 0;
          for (int i = 0; i < hd; ++i) d += q[p][h * hd + i] * k[t][kvh * hd + i];
          s[t] = d / std::sqrt(double(hd));
          mx = std::max(mx, s[t]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int t = 0; t <= p; ++t) {
          for (int i = 0; i < hd; ++i) att[h * hd + i] += s[t] / sum * v[t][kvh * hd + i];
        }
      }
      auto o = Apply(wo, att);
      for (int i = 0; i < n_embd; ++i) x[p][i] += o[i];
      auto xb = Norm(x[p], w.ffn_norm, hp.rms_eps);
      auto g = Apply(wg, xb), u = Apply(wu, xb);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      auto dn = Apply(wd, g);
      for (int i = 0; i < n_embd; ++i) x[p][i] += dn[i];
    }
  }
  const Mat out = Dequant(model.output());
  Mat logits(n);
  for (int p = 0; p < n; ++p) logits[p] = Apply(out, Norm(x[p], model.output_norm(), hp.rms_eps));
  return logits;
}

// max |a - b| / max |b|
double RelError(const float* a, const std::vector<double>& b) {
  double err = 0, mag = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    err = std::max(err, std::fabs(a[i] - b[i]));
    mag = std::max(mag, std::fabs(b[i]));
  }
  return err / mag;
}

int Argmax(const std::vector<double>& v) { return int(std::max_element(v.begin(), v.end()) - v.begin()); }

struct Case {
  GgmlType type;
  bool kv_f16;
  double tolerance;  // max relative logit error
  KernelIsa isa;
};

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (KernelIsa isa : {KernelIsa::kScalar, KernelIsa::kAvx2, KernelIsa::kAvx512}) {
    if (!KernelIsaSupported(isa)) continue;
    out.push_back({GgmlType::kF32, false, 1e-4, isa});   // float vs double accumulation
    out.push_back({GgmlType::kF32, true, 1e-2, isa});    // F16 keys and values
    out.push_back({GgmlType::kF16, false, 1e-4, isa});   // the reference uses the same F16 weights
    out.push_back({GgmlType::kQ8_0, false, 3e-2, isa});  // activations quantised to int8 blocks
  }
  return out;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string s = std::string(GgmlTypeName(info.param.type)) + (info.param.kv_f16 ? "_kvF16_" : "_kvF32_") +
                  std::string(KernelIsaName(info.param.isa));
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

class ForwardTest : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardTest, PromptBatchAndDecodeMatchTheReference) {
  const Case c = GetParam();
  auto model = MakeModel(c.type);
  const LlamaHParams& hp = model->hparams();
  const std::vector<int32_t> prompt = {1, 57, 300, 12, 499, 7, 88, 250, 3};
  const Mat ref = ReferenceLogits(*model, prompt);
  ThreadPool pool(2);
  Forward fwd(*model, &pool, c.isa);

  // The whole prompt in one batch, logits at every position.
  KvCache cache(hp, 64, c.kv_f16);
  std::vector<BatchToken> batch;
  for (size_t p = 0; p < prompt.size(); ++p) batch.push_back({prompt[p], uint32_t(p), &cache, true});
  std::vector<float> logits;
  ASSERT_TRUE(fwd.Eval(batch, &logits).ok());
  ASSERT_EQ(logits.size(), prompt.size() * hp.n_vocab);
  for (size_t p = 0; p < prompt.size(); ++p) {
    EXPECT_LT(RelError(logits.data() + p * hp.n_vocab, ref[p]), c.tolerance) << "position " << p;
  }

  // Token by token (decode steps) into a fresh cache.
  KvCache cache2(hp, 64, c.kv_f16);
  for (size_t p = 0; p < prompt.size(); ++p) {
    BatchToken t{prompt[p], uint32_t(p), &cache2, true};
    ASSERT_TRUE(fwd.Eval({&t, 1}, &logits).ok());
    EXPECT_LT(RelError(logits.data(), ref[p]), c.tolerance) << "decode position " << p;
  }
}

TEST_P(ForwardTest, GreedyDecodingGivesTheReferenceTokens) {
  const Case c = GetParam();
  auto model = MakeModel(c.type, 3);
  const LlamaHParams& hp = model->hparams();
  std::vector<int32_t> seq = {1, 200, 31};
  const size_t n_prompt = seq.size();
  ThreadPool pool(2);
  Forward fwd(*model, &pool, c.isa);
  KvCache cache(hp, 64, c.kv_f16);
  std::vector<BatchToken> batch;
  for (size_t p = 0; p < seq.size(); ++p) batch.push_back({seq[p], uint32_t(p), &cache, p + 1 == seq.size()});
  std::vector<float> logits;
  ASSERT_TRUE(fwd.Eval(batch, &logits).ok());
  for (int step = 0; step < 12; ++step) {
    const int32_t tok = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    seq.push_back(tok);
    BatchToken t{tok, uint32_t(seq.size() - 1), &cache, true};
    ASSERT_TRUE(fwd.Eval({&t, 1}, &logits).ok());
  }
  const Mat ref = ReferenceLogits(*model, seq);
  for (size_t p = n_prompt - 1; p + 1 < seq.size(); ++p) {
    EXPECT_EQ(seq[p + 1], Argmax(ref[p])) << "generated token " << (p + 1 - n_prompt);
  }
}

INSTANTIATE_TEST_SUITE_P(Llama, ForwardTest, ::testing::ValuesIn(Cases()), CaseName);

TEST(Forward, SequencesBatchedTogetherMatchSeparateRuns) {
  auto model = MakeModel(GgmlType::kQ8_0);
  const LlamaHParams& hp = model->hparams();
  ThreadPool pool(2);
  Forward fwd(*model, &pool);
  const std::vector<int32_t> a = {1, 5, 9, 44, 100}, b = {1, 300, 301};
  auto run_alone = [&](const std::vector<int32_t>& toks) {
    KvCache cache(hp, 32, true);
    std::vector<BatchToken> batch;
    for (size_t p = 0; p < toks.size(); ++p) batch.push_back({toks[p], uint32_t(p), &cache, true});
    std::vector<float> logits;
    EXPECT_TRUE(fwd.Eval(batch, &logits).ok());
    return logits;
  };
  auto la = run_alone(a), lb = run_alone(b);
  // Interleaved in one batch.
  KvCache ca(hp, 32, true), cb(hp, 32, true);
  std::vector<BatchToken> batch;
  for (size_t p = 0; p < 5; ++p) {
    batch.push_back({a[p], uint32_t(p), &ca, true});
    if (p < 3) batch.push_back({b[p], uint32_t(p), &cb, true});
  }
  std::vector<float> logits;
  ASSERT_TRUE(fwd.Eval(batch, &logits).ok());
  size_t row = 0, ia = 0, ib = 0;
  for (const BatchToken& t : batch) {
    const std::vector<float>& want = t.cache == &ca ? la : lb;
    size_t& i = t.cache == &ca ? ia : ib;
    for (uint32_t v = 0; v < hp.n_vocab; ++v) {
      ASSERT_NEAR(logits[row * hp.n_vocab + v], want[i * hp.n_vocab + v], 1e-4) << "row " << row;
    }
    ++i;
    ++row;
  }
}

TEST(Forward, RejectsBadTokensPositionsAndCaches) {
  auto model = MakeModel(GgmlType::kF32);
  Forward fwd(*model, nullptr);
  KvCache cache(model->hparams(), 4, false);
  std::vector<float> logits;
  BatchToken bad_token{512, 0, &cache, true};
  Status s = fwd.Eval({&bad_token, 1}, &logits);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("token id 512 is outside the vocabulary of 512"), std::string::npos) << s.message();
  BatchToken bad_pos{1, 4, &cache, true};
  s = fwd.Eval({&bad_pos, 1}, &logits);
  EXPECT_NE(s.message().find("position 4 is past the context of 4 tokens"), std::string::npos) << s.message();
  BatchToken no_cache{1, 0, nullptr, true};
  EXPECT_EQ(fwd.Eval({&no_cache, 1}, &logits).code(), StatusCode::kInvalidArgument);
}

TEST(KvCache, ClearZeroesEverything) {
  auto model = MakeModel(GgmlType::kF32);
  const LlamaHParams& hp = model->hparams();
  KvCache cache(hp, 8, true);
  EXPECT_EQ(cache.bytes(), KvCache::BytesFor(hp, 8, true));
  Forward fwd(*model, nullptr);
  BatchToken t{7, 0, &cache, false};
  std::vector<float> logits;
  ASSERT_TRUE(fwd.Eval({&t, 1}, &logits).ok());
  EXPECT_TRUE(logits.empty());
  auto nonzero = [&] {
    size_t n = 0;
    for (uint32_t l = 0; l < hp.n_layer; ++l) {
      for (uint32_t p = 0; p < 8; ++p) {
        for (size_t i = 0; i < hp.n_embd_kv() * 2; ++i) n += cache.K(l, p)[i] != 0 || cache.V(l, p)[i] != 0;
      }
    }
    return n;
  };
  EXPECT_GT(nonzero(), 0u);
  cache.Clear();
  EXPECT_EQ(nonzero(), 0u);
}

TEST(Model, WeightBytesPerTokenCountsEveryMatrix) {
  auto model = MakeModel(GgmlType::kQ8_0);
  const LlamaHParams& hp = model->hparams();
  const uint64_t q8_row = hp.n_embd / 32 * 34;
  const uint64_t per_layer = (2ull * hp.n_embd + 2ull * hp.n_embd_kv() + 2ull * hp.n_ff) * q8_row +
                             uint64_t(hp.n_embd) * (hp.n_ff / 32 * 34) + 2ull * hp.n_embd * 4;
  EXPECT_EQ(model->WeightBytesPerToken(), hp.n_layer * per_layer + (hp.n_vocab + 1) * q8_row + hp.n_embd * 4);
}

}  // namespace
}  // namespace dsmil::llm
