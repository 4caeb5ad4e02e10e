#include "llm/forward.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace dsmil::llm {

KvCache::KvCache(const LlamaHParams& hp, uint32_t n_ctx, bool f16)
    : n_ctx_(n_ctx), f16_(f16), row_bytes_(size_t(hp.n_embd_kv()) * (f16 ? 2 : 4)) {
  const size_t n = size_t(hp.n_layer) * n_ctx * row_bytes_;
  k_.assign(n, 0);
  v_.assign(n, 0);
}

uint64_t KvCache::BytesFor(const LlamaHParams& hp, uint32_t n_ctx, bool f16) {
  return 2ull * hp.n_layer * n_ctx * hp.n_embd_kv() * (f16 ? 2 : 4);
}

void KvCache::Clear() {
  std::memset(k_.data(), 0, k_.size());
  std::memset(v_.data(), 0, v_.size());
}

void RmsNorm(const float* x, const float* w, float* y, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void Rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, uint32_t pos, float freq_base) {
  const float theta_scale = std::pow(freq_base, -2.0f / float(n_rot));
  float cs[512], sn[512];  // n_rot / 2 <= head_dim / 2; heads wider than 1024 take the slow path
  const int64_t pairs = n_rot / 2;
  const bool table = pairs <= 512;
  if (table) {
    float theta = float(pos);
    for (int64_t i = 0; i < pairs; ++i) {
      cs[i] = std::cos(theta);
      sn[i] = std::sin(theta);
      theta *= theta_scale;
    }
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    float theta = float(pos);
    for (int64_t i = 0; i < pairs; ++i) {
      const float c = table ? cs[i] : std::cos(theta);
      const float s = table ? sn[i] : std::sin(theta);
      theta *= theta_scale;
      const float x0 = v[2 * i], x1 = v[2 * i + 1];
      v[2 * i] = x0 * c - x1 * s;
      v[2 * i + 1] = x0 * s + x1 * c;
    }
  }
}

Forward::Forward(const Model& model, ThreadPool* pool, KernelIsa isa) : model_(model), pool_(pool), isa_(isa) {}

void Forward::Attention(std::span<const BatchToken> batch, uint32_t layer) {
  const LlamaHParams& hp = model_.hparams();
  const int64_t n_head_kv = hp.n_head_kv, head_dim = hp.head_dim(), n_embd = hp.n_embd;
  const int64_t group = hp.n_head / hp.n_head_kv;
  const float scale = 1.0f / std::sqrt(float(head_dim));
  // One task per (token, KV head): each key and value row is read once for
  // the `group` query heads that share it.
  auto task = [&](int64_t t) {
    const int64_t b = t / n_head_kv, g = t % n_head_kv;
    const BatchToken& tok = batch[b];
    KvCache& c = *tok.cache;
    const size_t elem = c.f16() ? 2 : 4;
    const uint32_t n = tok.pos + 1;
    thread_local std::vector<float> scores, vrow;
    if (scores.size() < size_t(group) * n) scores.resize(size_t(group) * n);
    if (vrow.size() < size_t(head_dim)) vrow.resize(head_dim);
    const float* q = q_.data() + b * n_embd + g * group * head_dim;
    float* out = att_.data() + b * n_embd + g * group * head_dim;
    for (uint32_t p = 0; p < n; ++p) {
      const uint8_t* k = c.K(layer, p) + g * head_dim * elem;
      for (int64_t j0 = 0; j0 < group; j0 += 4) {
        const int nq = static_cast<int>(std::min<int64_t>(4, group - j0));
        const float* qs[4];
        for (int j = 0; j < nq; ++j) qs[j] = q + (j0 + j) * head_dim;
        float dots[4];
        if (c.f16()) {
          DotF16Multi(reinterpret_cast<const uint16_t*>(k), qs, nq, head_dim, dots, isa_);
        } else {
          DotF32Multi(reinterpret_cast<const float*>(k), qs, nq, head_dim, dots, isa_);
        }
        for (int j = 0; j < nq; ++j) scores[(j0 + j) * n + p] = dots[j] * scale;
      }
    }
    for (int64_t j = 0; j < group; ++j) {  // softmax per head
      float* s = scores.data() + j * n;
      float max = -INFINITY;
      for (uint32_t p = 0; p < n; ++p) max = std::max(max, s[p]);
      double sum = 0;
      for (uint32_t p = 0; p < n; ++p) {
        s[p] = std::exp(s[p] - max);
        sum += s[p];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (uint32_t p = 0; p < n; ++p) s[p] *= inv;
    }
    std::fill(out, out + group * head_dim, 0.0f);
    for (uint32_t p = 0; p < n; ++p) {
      const uint8_t* v = c.V(layer, p) + g * head_dim * elem;
      const float* vf = reinterpret_cast<const float*>(v);
      if (c.f16()) {
        HalfToFloatRow(reinterpret_cast<const uint16_t*>(v), vrow.data(), head_dim, isa_);
        vf = vrow.data();
      }
      for (int64_t j = 0; j < group; ++j) AxpyF32(scores[j * n + p], vf, out + j * head_dim, head_dim, isa_);
    }
  };
  const int64_t tasks = static_cast<int64_t>(batch.size()) * n_head_kv;
  if (pool_ != nullptr) {
    pool_->ParallelFor(tasks, task);
  } else {
    for (int64_t t = 0; t < tasks; ++t) task(t);
  }
}

Status Forward::Eval(std::span<const BatchToken> batch, std::vector<float>* logits) {
  logits->clear();
  if (batch.empty()) return Status::Ok();
  const LlamaHParams& hp = model_.hparams();
  const int64_t n = static_cast<int64_t>(batch.size());
  for (int64_t i = 0; i < n; ++i) {
    const BatchToken& t = batch[i];
    if (t.cache == nullptr)
      return Status::InvalidArgument("llm: batch token " + std::to_string(i) + " has no KV cache");
    if (t.token < 0 || uint32_t(t.token) >= hp.n_vocab) {
      return Status::InvalidArgument("llm: token id " + std::to_string(t.token) + " is outside the vocabulary of " +
                                     std::to_string(hp.n_vocab));
    }
    if (t.pos >= t.cache->n_ctx()) {
      return Status::InvalidArgument("llm: position " + std::to_string(t.pos) + " is past the context of " +
                                     std::to_string(t.cache->n_ctx()) + " tokens");
    }
  }
  const int64_t n_embd = hp.n_embd, n_kv = hp.n_embd_kv(), n_ff = hp.n_ff, head_dim = hp.head_dim();
  x_.resize(n * n_embd);
  xb_.resize(n * n_embd);
  q_.resize(n * n_embd);
  k_.resize(n * n_kv);
  v_.resize(n * n_kv);
  att_.resize(n * n_embd);
  ff_gate_.resize(n * n_ff);
  ff_up_.resize(n * n_ff);
  out_.resize(n * n_embd);

  const WeightMatrix& embd = model_.token_embd();
  for (int64_t i = 0; i < n; ++i) DequantizeRow(embd.type, embd.Row(batch[i].token), x_.data() + i * n_embd, n_embd);

  for (uint32_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& w = model_.layer(l);
    for (int64_t i = 0; i < n; ++i)
      RmsNorm(x_.data() + i * n_embd, w.attn_norm, xb_.data() + i * n_embd, n_embd, hp.rms_eps);
    MatMul(w.wq, xb_.data(), n, q_.data(), pool_, isa_);
    MatMul(w.wk, xb_.data(), n, k_.data(), pool_, isa_);
    MatMul(w.wv, xb_.data(), n, v_.data(), pool_, isa_);
    for (int64_t i = 0; i < n; ++i) {
      const BatchToken& t = batch[i];
      Rope(q_.data() + i * n_embd, hp.n_head, head_dim, hp.n_rot, t.pos, hp.rope_freq_base);
      Rope(k_.data() + i * n_kv, hp.n_head_kv, head_dim, hp.n_rot, t.pos, hp.rope_freq_base);
      const float* k = k_.data() + i * n_kv;
      const float* v = v_.data() + i * n_kv;
      if (t.cache->f16()) {
        auto* kd = reinterpret_cast<uint16_t*>(t.cache->K(l, t.pos));
        auto* vd = reinterpret_cast<uint16_t*>(t.cache->V(l, t.pos));
        for (int64_t j = 0; j < n_kv; ++j) {
          kd[j] = FloatToHalf(k[j]);
          vd[j] = FloatToHalf(v[j]);
        }
      } else {
        std::memcpy(t.cache->K(l, t.pos), k, n_kv * sizeof(float));
        std::memcpy(t.cache->V(l, t.pos), v, n_kv * sizeof(float));
      }
    }
    Attention(batch, l);
    MatMul(w.wo, att_.data(), n, out_.data(), pool_, isa_);
    for (int64_t j = 0; j < n * n_embd; ++j) x_[j] += out_[j];

    for (int64_t i = 0; i < n; ++i)
      RmsNorm(x_.data() + i * n_embd, w.ffn_norm, xb_.data() + i * n_embd, n_embd, hp.rms_eps);
    MatMul(w.w_gate, xb_.data(), n, ff_gate_.data(), pool_, isa_);
    MatMul(w.w_up, xb_.data(), n, ff_up_.data(), pool_, isa_);
    for (int64_t j = 0; j < n * n_ff; ++j) {
      const float g = ff_gate_[j];
      ff_gate_[j] = g / (1.0f + std::exp(-g)) * ff_up_[j];
    }
    MatMul(w.w_down, ff_gate_.data(), n, out_.data(), pool_, isa_);
    for (int64_t j = 0; j < n * n_embd; ++j) x_[j] += out_[j];
  }

  int64_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!batch[i].want_logits) continue;
    RmsNorm(x_.data() + i * n_embd, model_.output_norm(), xb_.data() + m * n_embd, n_embd, hp.rms_eps);
    ++m;
  }
  if (m == 0) return Status::Ok();
  logits->resize(size_t(m) * hp.n_vocab);
  MatMul(model_.output(), xb_.data(), m, logits->data(), pool_, isa_);
  return Status::Ok();
}

}  // namespace dsmil::llm
