#include "llm/model.h"

#include <string>

namespace dsmil::llm {
namespace {

Result<WeightMatrix> Matrix(const GgufFile& f, const std::string& name) {
  const GgufTensor* t = f.Tensor(name);
  if (t == nullptr) return Status::InvalidArgument("llm: tensor '" + name + "' is missing");
  if (!KernelTypeSupported(t->type)) {
    return Status::InvalidArgument("llm: tensor '" + name + "' has type " + std::string(GgmlTypeName(t->type)) +
                                   "; supported: F32, F16, Q8_0, Q4_0");
  }
  if (t->dims.size() != 2) {
    return Status::InvalidArgument("llm: tensor '" + name + "' has " + std::to_string(t->dims.size()) +
                                   " dimensions, expected 2");
  }
  WeightMatrix m;
  m.type = t->type;
  m.data = t->data;
  m.cols = static_cast<int64_t>(t->dims[0]);
  m.rows = static_cast<int64_t>(t->dims[1]);
  if (m.row_bytes() * static_cast<uint64_t>(m.rows) != t->bytes) {
    return Status::InvalidArgument("llm: tensor '" + name + "' size does not match its shape");
  }
  return m;
}

Result<const float*> Norm(const GgufFile& f, const std::string& name, uint32_t n) {
  const GgufTensor* t = f.Tensor(name);
  if (t == nullptr) return Status::InvalidArgument("llm: tensor '" + name + "' is missing");
  if (t->type != GgmlType::kF32 || t->elements() != n) {
    return Status::InvalidArgument("llm: tensor '" + name + "' must be F32 with " + std::to_string(n) + " elements");
  }
  return reinterpret_cast<const float*>(t->data);
}

uint64_t MatrixBytes(const WeightMatrix& m) { return m.row_bytes() * static_cast<uint64_t>(m.rows); }

}  // namespace

Result<std::unique_ptr<Model>> Model::Open(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  return FromGguf(std::move(file));
}

Result<std::unique_ptr<Model>> Model::FromGguf(std::unique_ptr<GgufFile> file) {
  if (file == nullptr) return Status::InvalidArgument("llm: no model file");
  std::unique_ptr<Model> m(new Model());
  DSMIL_ASSIGN_OR_RETURN(m->hp_, ReadLlamaHParams(*file));
  const GgufFile& f = *file;
  const LlamaHParams& hp = m->hp_;
  if (hp.n_rot % 2 != 0 || hp.n_rot > hp.head_dim()) {
    return Status::InvalidArgument("llm: rope dimension " + std::to_string(hp.n_rot) +
                                   " must be even and <= head size " + std::to_string(hp.head_dim()));
  }
  DSMIL_ASSIGN_OR_RETURN(m->token_embd_, Matrix(f, "token_embd.weight"));
  if (f.Tensor("output.weight") != nullptr) {
    DSMIL_ASSIGN_OR_RETURN(m->output_, Matrix(f, "output.weight"));
  } else {
    m->output_ = m->token_embd_;
  }
  DSMIL_ASSIGN_OR_RETURN(m->output_norm_, Norm(f, "output_norm.weight", hp.n_embd));
  auto check = [&](const WeightMatrix& w, const std::string& name, uint64_t rows, uint64_t cols) -> Status {
    if (static_cast<uint64_t>(w.rows) != rows || static_cast<uint64_t>(w.cols) != cols) {
      return Status::InvalidArgument("llm: tensor '" + name + "' is {" + std::to_string(w.cols) + ", " +
                                     std::to_string(w.rows) + "}, expected {" + std::to_string(cols) + ", " +
                                     std::to_string(rows) + "}");
    }
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(check(m->token_embd_, "token_embd.weight", hp.n_vocab, hp.n_embd));
  DSMIL_RETURN_IF_ERROR(check(m->output_, "output.weight", hp.n_vocab, hp.n_embd));
  m->layers_.resize(hp.n_layer);
  for (uint32_t i = 0; i < hp.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = m->layers_[i];
    DSMIL_ASSIGN_OR_RETURN(l.attn_norm, Norm(f, p + "attn_norm.weight", hp.n_embd));
    DSMIL_ASSIGN_OR_RETURN(l.ffn_norm, Norm(f, p + "ffn_norm.weight", hp.n_embd));
    struct Want {
      WeightMatrix* w;
      const char* name;
      uint64_t rows, cols;
    };
    const Want wants[] = {
        {&l.wq, "attn_q.weight", hp.n_embd, hp.n_embd},      {&l.wk, "attn_k.weight", hp.n_embd_kv(), hp.n_embd},
        {&l.wv, "attn_v.weight", hp.n_embd_kv(), hp.n_embd}, {&l.wo, "attn_output.weight", hp.n_embd, hp.n_embd},
        {&l.w_gate, "ffn_gate.weight", hp.n_ff, hp.n_embd},  {&l.w_up, "ffn_up.weight", hp.n_ff, hp.n_embd},
        {&l.w_down, "ffn_down.weight", hp.n_embd, hp.n_ff},
    };
    for (const Want& w : wants) {
      DSMIL_ASSIGN_OR_RETURN(*w.w, Matrix(f, p + w.name));
      DSMIL_RETURN_IF_ERROR(check(*w.w, p + w.name, w.rows, w.cols));
    }
  }
  m->file_ = std::move(file);
  return m;
}

uint64_t Model::WeightBytesPerToken() const {
  uint64_t total = MatrixBytes(output_) + token_embd_.row_bytes();
  for (const LayerWeights& l : layers_) {
    total += MatrixBytes(l.wq) + MatrixBytes(l.wk) + MatrixBytes(l.wv) + MatrixBytes(l.wo) + MatrixBytes(l.w_gate) +
             MatrixBytes(l.w_up) + MatrixBytes(l.w_down) + 2ull * hp_.n_embd * sizeof(float);
  }
  return total + uint64_t(hp_.n_embd) * sizeof(float);
}

uint64_t Model::WeightBytes() const {
  uint64_t total = 0;
  for (const GgufTensor& t : file_->tensors()) total += t.bytes;
  return total;
}

}  // namespace dsmil::llm
