#include "llm/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>

#include "llm/kernels.h"
#include "llm/vocab_gen.h"

namespace dsmil::llm {
namespace {

void PutLE(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void PutStr(std::vector<uint8_t>& out, const std::string& s) {
  PutLE(out, s.size(), 8);
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0 || alignment_ > kGgufMaxAlignment) {
    alignment_ = kGgufDefaultAlignment;
  }
}

GgufWriter::~GgufWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove((path_ + ".part").c_str());
  }
}

void GgufWriter::Set(const std::string& key, GgufValue value) {
  for (auto& kv : kvs_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  kvs_.emplace_back(key, std::move(value));
}

Status GgufWriter::AddTensor(const std::string& name, std::vector<uint64_t> dims, GgmlType type) {
  if (begun_) return Status::FailedPrecondition("gguf writer: AddTensor after Begin");
  if (name.empty() || name.size() > kGgufMaxKeyBytes) {
    return Status::InvalidArgument("gguf writer: tensor name is empty or too long");
  }
  for (const auto& t : tensors_) {
    if (t.name == name) return Status::InvalidArgument("gguf writer: duplicate tensor '" + name + "'");
  }
  if (dims.empty() || dims.size() > kGgufMaxDims) {
    return Status::InvalidArgument("gguf writer: tensor '" + name + "' needs 1 to 4 dims");
  }
  uint64_t n = 1;
  for (uint64_t d : dims) {
    if (d == 0) return Status::InvalidArgument("gguf writer: tensor '" + name + "' has a zero dim");
    if (__builtin_mul_overflow(n, d, &n) || n > kGgufMaxTensorElems) {
      return Status::InvalidArgument("gguf writer: tensor '" + name + "' is too large");
    }
  }
  if (dims[0] % GgmlBlockElements(type) != 0) {
    return Status::InvalidArgument("gguf writer: tensor '" + name + "' row length " + std::to_string(dims[0]) +
                                   " is not a multiple of the " + std::string(GgmlTypeName(type)) + " block (" +
                                   std::to_string(GgmlBlockElements(type)) + ")");
  }
  DSMIL_ASSIGN_OR_RETURN(uint64_t bytes, GgmlBytes(type, n));
  uint64_t offset = AlignUp(data_bytes_, alignment_);
  tensors_.push_back({name, std::move(dims), type, offset, bytes});
  data_bytes_ = offset + bytes;
  return Status::Ok();
}

void GgufWriter::EncodeValue(const GgufValue& v, std::vector<uint8_t>& out) const {
  switch (v.type) {
    case GgufValueType::kU8:
    case GgufValueType::kBool:
      PutLE(out, v.u, 1);
      break;
    case GgufValueType::kI8:
      PutLE(out, uint64_t(v.i), 1);
      break;
    case GgufValueType::kU16:
      PutLE(out, v.u, 2);
      break;
    case GgufValueType::kI16:
      PutLE(out, uint64_t(v.i), 2);
      break;
    case GgufValueType::kU32:
      PutLE(out, v.u, 4);
      break;
    case GgufValueType::kI32:
      PutLE(out, uint64_t(v.i), 4);
      break;
    case GgufValueType::kU64:
      PutLE(out, v.u, 8);
      break;
    case GgufValueType::kI64:
      PutLE(out, uint64_t(v.i), 8);
      break;
    case GgufValueType::kF32: {
      float f = float(v.f);
      uint32_t b;
      std::memcpy(&b, &f, 4);
      PutLE(out, b, 4);
      break;
    }
    case GgufValueType::kF64: {
      uint64_t b;
      std::memcpy(&b, &v.f, 8);
      PutLE(out, b, 8);
      break;
    }
    case GgufValueType::kString:
      PutStr(out, v.s);
      break;
    case GgufValueType::kArray:
      PutLE(out, uint32_t(v.elem_type), 4);
      PutLE(out, v.items.size(), 8);
      for (const auto& item : v.items) EncodeValue(item, out);
      break;
  }
}

uint64_t GgufWriter::HeaderBytes() const {
  std::vector<uint8_t> tmp;
  uint64_t n = 24;
  for (const auto& kv : kvs_) {
    tmp.clear();
    EncodeValue(kv.second, tmp);
    n += 8 + kv.first.size() + 4 + tmp.size();
  }
  if (alignment_ != kGgufDefaultAlignment) n += 8 + 17 + 4 + 4;
  for (const auto& t : tensors_) n += 8 + t.name.size() + 4 + 8 * t.dims.size() + 4 + 8;
  return AlignUp(n, alignment_);
}

uint64_t GgufWriter::TotalBytes() const { return HeaderBytes() + data_bytes_; }

Status GgufWriter::Emit(const void* p, size_t n) {
  if (to_buffer_) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    buf_.insert(buf_.end(), b, b + n);
  } else if (n && std::fwrite(p, 1, n, file_) != n) {
    return Status::Unavailable("gguf writer: write to " + path_ + ".part failed: " + std::strerror(errno));
  }
  written_ += n;
  return Status::Ok();
}

Status GgufWriter::Pad(uint64_t to_multiple) {
  static const uint8_t kZeros[256] = {};
  uint64_t target = AlignUp(written_, to_multiple);
  while (written_ < target) {
    DSMIL_RETURN_IF_ERROR(Emit(kZeros, std::min<uint64_t>(sizeof kZeros, target - written_)));
  }
  return Status::Ok();
}

Status GgufWriter::Begin(const std::string& path) {
  if (begun_) return Status::FailedPrecondition("gguf writer: Begin called twice");
  path_ = path;
  file_ = std::fopen((path + ".part").c_str(), "wb");
  if (!file_) {
    return Status::Unavailable("gguf writer: cannot create " + path + ".part: " + std::strerror(errno));
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  return BeginBuffer();
}

Status GgufWriter::BeginBuffer() {
  if (begun_) return Status::FailedPrecondition("gguf writer: Begin called twice");
  begun_ = true;
  to_buffer_ = file_ == nullptr;
  std::vector<uint8_t> h;
  h.insert(h.end(), {'G', 'G', 'U', 'F'});
  PutLE(h, 3, 4);
  PutLE(h, tensors_.size(), 8);
  bool add_alignment = alignment_ != kGgufDefaultAlignment;
  for (const auto& kv : kvs_) {
    if (kv.first == "general.alignment") add_alignment = false;
  }
  PutLE(h, kvs_.size() + (add_alignment ? 1 : 0), 8);
  if (add_alignment) {
    PutStr(h, "general.alignment");
    PutLE(h, uint32_t(GgufValueType::kU32), 4);
    PutLE(h, alignment_, 4);
  }
  for (const auto& kv : kvs_) {
    PutStr(h, kv.first);
    PutLE(h, uint32_t(kv.second.type), 4);
    EncodeValue(kv.second, h);
  }
  for (const auto& t : tensors_) {
    PutStr(h, t.name);
    PutLE(h, t.dims.size(), 4);
    for (uint64_t d : t.dims) PutLE(h, d, 8);
    PutLE(h, uint32_t(t.type), 4);
    PutLE(h, t.offset, 8);
  }
  DSMIL_RETURN_IF_ERROR(Emit(h.data(), h.size()));
  DSMIL_RETURN_IF_ERROR(Pad(alignment_));
  data_start_ = written_;
  cur_tensor_ = 0;
  cur_written_ = 0;
  return Status::Ok();
}

Status GgufWriter::WriteTensorData(std::span<const uint8_t> bytes) {
  if (!begun_ || finished_) return Status::FailedPrecondition("gguf writer: not writing");
  while (!bytes.empty()) {
    if (cur_tensor_ >= tensors_.size()) {
      return Status::InvalidArgument("gguf writer: " + std::to_string(bytes.size()) +
                                     " bytes of tensor data past the last tensor");
    }
    const TensorDecl& t = tensors_[cur_tensor_];
    if (cur_written_ == 0) {
      uint64_t target = data_start_ + t.offset;
      static const uint8_t kZeros[256] = {};
      while (written_ < target) {
        DSMIL_RETURN_IF_ERROR(Emit(kZeros, std::min<uint64_t>(sizeof kZeros, target - written_)));
      }
    }
    uint64_t room = t.bytes - cur_written_;
    if (bytes.size() > room) {
      return Status::InvalidArgument("gguf writer: chunk of " + std::to_string(bytes.size()) +
                                     " bytes runs past the end of tensor '" + t.name + "' (" + std::to_string(room) +
                                     " bytes left)");
    }
    DSMIL_RETURN_IF_ERROR(Emit(bytes.data(), bytes.size()));
    cur_written_ += bytes.size();
    bytes = {};
    if (cur_written_ == t.bytes) {
      ++cur_tensor_;
      cur_written_ = 0;
    }
  }
  return Status::Ok();
}

Status GgufWriter::Finish() {
  if (!begun_ || finished_) return Status::FailedPrecondition("gguf writer: not writing");
  // Skip over zero-length bookkeeping: every tensor must be complete.
  if (cur_tensor_ < tensors_.size()) {
    return Status::FailedPrecondition("gguf writer: tensor '" + tensors_[cur_tensor_].name + "' has " +
                                      std::to_string(cur_written_) + " of " +
                                      std::to_string(tensors_[cur_tensor_].bytes) + " bytes written");
  }
  finished_ = true;
  if (to_buffer_) return Status::Ok();
  bool ok = std::fflush(file_) == 0;
  ok = (std::fclose(file_) == 0) && ok;
  file_ = nullptr;
  if (!ok) {
    std::remove((path_ + ".part").c_str());
    return Status::Unavailable("gguf writer: closing " + path_ + ".part failed: " + std::strerror(errno));
  }
  if (std::rename((path_ + ".part").c_str(), path_.c_str()) != 0) {
    return Status::Unavailable("gguf writer: cannot rename " + path_ + ".part: " + std::strerror(errno));
  }
  return Status::Ok();
}

// ---- half precision / Q8_0 -----------------------------------------------------

uint16_t F32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t exp = (x >> 23) & 0xff;
  uint32_t mant = x & 0x7fffff;
  if (exp == 0xff) return uint16_t(sign | 0x7c00 | (mant ? 0x200 : 0));  // inf / nan
  int e = int(exp) - 127 + 15;
  if (e >= 0x1f) return uint16_t(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return uint16_t(sign);
    mant |= 0x800000;
    int shift = 14 - e;
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = (uint32_t(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;  // may carry into exponent: fine
  return uint16_t(sign | half);
}

float F16ToF32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      x = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000 | (mant << 13);
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void QuantizeQ8_0(const float* x, size_t n, uint8_t* out) {
  for (size_t b = 0; b < n / 32; ++b) {
    const float* v = x + b * 32;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
    float d = amax / 127.0f;
    float id = d ? 1.0f / d : 0.0f;
    uint16_t dh = F32ToF16(d);
    uint8_t* o = out + b * 34;
    o[0] = uint8_t(dh);
    o[1] = uint8_t(dh >> 8);
    for (int i = 0; i < 32; ++i) {
      o[2 + i] = uint8_t(int8_t(std::lround(v[i] * id)));
    }
  }
}

// ---- random models -------------------------------------------------------------

Result<RandomModelSpec> RandomModelShape(std::string_view shape) {
  RandomModelSpec s;
  if (shape == "tiny") return s;
  if (shape == "134m") {
    s.n_vocab = 32000;
    s.n_embd = 768;
    s.n_layer = 12;
    s.n_head = 12;
    s.n_head_kv = 12;
    s.n_ff = 2048;
    s.n_ctx_train = 2048;
    return s;
  }
  if (shape == "1.1b") {
    s.n_vocab = 32000;
    s.n_embd = 2048;
    s.n_layer = 22;
    s.n_head = 32;
    s.n_head_kv = 4;
    s.n_ff = 5632;
    s.n_ctx_train = 2048;
    return s;
  }
  return Status::InvalidArgument("unknown model shape '" + std::string(shape) +
                                 "' (expected tiny, 134m, 1.1b or custom)");
}

namespace {

constexpr const char* kLlama2Template =
    "{% if messages[0]['role'] == 'system' %}{% set sys = '<<SYS>>\\n' + messages[0]['content'] + "
    "'\\n<</SYS>>\\n\\n' %}{% set msgs = messages[1:] %}{% else %}{% set sys = '' %}"
    "{% set msgs = messages %}{% endif %}{% for m in msgs %}{% if m['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + (sys if loop.first else '') + m['content'] + ' [/INST]' }}"
    "{% else %}{{ ' ' + m['content'] + ' ' + eos_token }}{% endif %}{% endfor %}";
constexpr const char* kChatMlTemplate =
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

uint64_t SplitMix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

Status CheckSpec(const RandomModelSpec& s) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("model spec: " + m); };
  if (s.n_embd == 0 || s.n_layer == 0 || s.n_head == 0 || s.n_head_kv == 0 || s.n_ff == 0 || s.n_vocab == 0 ||
      s.n_ctx_train == 0) {
    return bad("n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab and n_ctx must be positive");
  }
  if (s.n_embd % s.n_head != 0) return bad("n_embd must be a multiple of n_head");
  if (s.n_head % s.n_head_kv != 0) return bad("n_head must be a multiple of n_head_kv");
  if ((s.n_embd / s.n_head) % 2 != 0) return bad("head size n_embd / n_head must be even");
  if (s.n_layer > 1024) return bad("n_layer over 1024");
  if (s.n_vocab < MinGeneratedVocab(s.vocab)) {
    return bad("n_vocab must be at least " + std::to_string(MinGeneratedVocab(s.vocab)));
  }
  if (s.type != GgmlType::kF32 && s.type != GgmlType::kF16 && s.type != GgmlType::kQ8_0 && s.type != GgmlType::kQ4_0) {
    return bad("weight type must be f32, f16, q8_0 or q4_0");
  }
  bool quantised = s.type == GgmlType::kQ8_0 || s.type == GgmlType::kQ4_0;
  if (quantised && (s.n_embd % 32 != 0 || s.n_ff % 32 != 0)) {
    return bad(std::string(GgmlTypeName(s.type)) + " needs n_embd and n_ff to be multiples of 32");
  }
  return Status::Ok();
}

Status WriteModel(const RandomModelSpec& s, GgufWriter& w, const std::string* path, const WriteProgress& progress) {
  DSMIL_RETURN_IF_ERROR(CheckSpec(s));
  DSMIL_ASSIGN_OR_RETURN(VocabData vocab, GenerateVocab(s.vocab, s.n_vocab, s.corpus));
  std::string name = s.name.empty() ? "random-weights" : s.name;
  if (name.find("random-weights") == std::string::npos) name += " (random-weights)";
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("general.name", GgufValue::String(name));
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2, MOSTLY_Q8_0 7.
  uint32_t ftype = s.type == GgmlType::kF32 ? 0 : s.type == GgmlType::kF16 ? 1 : s.type == GgmlType::kQ4_0 ? 2 : 7;
  w.Set("general.file_type", GgufValue::U32(ftype));
  if (s.type == GgmlType::kQ8_0 || s.type == GgmlType::kQ4_0) {
    w.Set("general.quantization_version", GgufValue::U32(2));
  }
  w.Set("llama.vocab_size", GgufValue::U32(s.n_vocab));
  w.Set("llama.context_length", GgufValue::U32(s.n_ctx_train));
  w.Set("llama.embedding_length", GgufValue::U32(s.n_embd));
  w.Set("llama.block_count", GgufValue::U32(s.n_layer));
  w.Set("llama.feed_forward_length", GgufValue::U32(s.n_ff));
  w.Set("llama.rope.dimension_count", GgufValue::U32(s.n_embd / s.n_head));
  w.Set("llama.attention.head_count", GgufValue::U32(s.n_head));
  w.Set("llama.attention.head_count_kv", GgufValue::U32(s.n_head_kv));
  w.Set("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(s.rms_eps));
  w.Set("llama.rope.freq_base", GgufValue::F32(s.rope_freq_base));
  bool spm = vocab.kind == VocabKind::kSpm;
  w.Set("tokenizer.ggml.model", GgufValue::String(spm ? "llama" : "gpt2"));
  w.Set("tokenizer.ggml.tokens", GgufValue::StringArray(vocab.tokens));
  if (!vocab.scores.empty()) w.Set("tokenizer.ggml.scores", GgufValue::F32Array(vocab.scores));
  w.Set("tokenizer.ggml.token_type", GgufValue::I32Array(vocab.types));
  if (!spm) {
    w.Set("tokenizer.ggml.merges", GgufValue::StringArray(vocab.merges));
    w.Set("tokenizer.ggml.pre", GgufValue::String(std::string(BpePreName(s.pre))));
  }
  w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(uint32_t(vocab.bos)));
  w.Set("tokenizer.ggml.eos_token_id", GgufValue::U32(uint32_t(vocab.eos)));
  if (vocab.unk >= 0) w.Set("tokenizer.ggml.unknown_token_id", GgufValue::U32(uint32_t(vocab.unk)));
  w.Set("tokenizer.ggml.add_bos_token", GgufValue::Bool(vocab.add_bos));
  w.Set("tokenizer.ggml.add_eos_token", GgufValue::Bool(false));
  if (spm) w.Set("tokenizer.ggml.add_space_prefix", GgufValue::Bool(vocab.add_space_prefix));
  w.Set("tokenizer.chat_template", GgufValue::String(spm ? kLlama2Template : kChatMlTemplate));

  // Tensors: name, dims, type, uniform bound, fill (norms = 1).
  struct T {
    std::string name;
    std::vector<uint64_t> dims;
    GgmlType type;
    float bound;  // 0: constant 1
  };
  const uint64_t e = s.n_embd, v = s.n_vocab, ff = s.n_ff;
  const uint64_t kv = uint64_t(s.n_embd / s.n_head) * s.n_head_kv;
  const float k3 = std::sqrt(3.0f);
  const float res = 1.0f / std::sqrt(2.0f * float(s.n_layer));
  std::vector<T> ts;
  ts.push_back({"token_embd.weight", {e, v}, s.type, k3});
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    std::string b = "blk." + std::to_string(l) + ".";
    ts.push_back({b + "attn_norm.weight", {e}, GgmlType::kF32, 0});
    ts.push_back({b + "attn_q.weight", {e, e}, s.type, k3 / std::sqrt(float(e))});
    ts.push_back({b + "attn_k.weight", {e, kv}, s.type, k3 / std::sqrt(float(e))});
    ts.push_back({b + "attn_v.weight", {e, kv}, s.type, k3 / std::sqrt(float(e))});
    ts.push_back({b + "attn_output.weight", {e, e}, s.type, res * k3 / std::sqrt(float(e))});
    ts.push_back({b + "ffn_norm.weight", {e}, GgmlType::kF32, 0});
    ts.push_back({b + "ffn_gate.weight", {e, ff}, s.type, k3 / std::sqrt(float(e))});
    ts.push_back({b + "ffn_up.weight", {e, ff}, s.type, k3 / std::sqrt(float(e))});
    ts.push_back({b + "ffn_down.weight", {ff, e}, s.type, res * k3 / std::sqrt(float(ff))});
  }
  ts.push_back({"output_norm.weight", {e}, GgmlType::kF32, 0});
  ts.push_back({"output.weight", {e, v}, s.type, k3 / std::sqrt(float(e))});
  for (const T& t : ts) DSMIL_RETURN_IF_ERROR(w.AddTensor(t.name, t.dims, t.type));

  if (path) {
    DSMIL_RETURN_IF_ERROR(w.Begin(*path));
  } else {
    DSMIL_RETURN_IF_ERROR(w.BeginBuffer());
  }
  const uint64_t total = w.TotalBytes();
  uint64_t done = 0;
  constexpr uint64_t kChunk = 1 << 18;  // elements (multiple of every block size)
  std::vector<float> vals;
  std::vector<uint8_t> bytes;
  std::vector<BlockQ4_0> q4;
  for (size_t k = 0; k < ts.size(); ++k) {
    const T& t = ts[k];
    uint64_t rng = s.seed * 0x100000001b3ull + k * 0x9e3779b97f4a7c15ull + 1;
    uint64_t n = 1;
    for (uint64_t d : t.dims) n *= d;
    for (uint64_t at = 0; at < n; at += kChunk) {
      uint64_t m = std::min(kChunk, n - at);
      vals.resize(m);
      if (t.bound == 0) {
        std::fill(vals.begin(), vals.end(), 1.0f);
      } else {
        for (uint64_t i = 0; i < m; i += 2) {
          uint64_t r = SplitMix(rng);
          vals[i] = (float(uint32_t(r) >> 8) * (2.0f / 16777216.0f) - 1.0f) * t.bound;
          if (i + 1 < m) vals[i + 1] = (float(uint32_t(r >> 32) >> 8) * (2.0f / 16777216.0f) - 1.0f) * t.bound;
        }
      }
      switch (t.type) {
        case GgmlType::kF32:
          bytes.resize(m * 4);
          std::memcpy(bytes.data(), vals.data(), m * 4);
          break;
        case GgmlType::kF16:
          bytes.resize(m * 2);
          for (uint64_t i = 0; i < m; ++i) {
            uint16_t h = F32ToF16(vals[i]);
            bytes[2 * i] = uint8_t(h);
            bytes[2 * i + 1] = uint8_t(h >> 8);
          }
          break;
        case GgmlType::kQ4_0:
          q4.resize(m / kQuantBlock);
          QuantizeRowQ4_0(vals.data(), q4.data(), int64_t(m));
          bytes.resize(q4.size() * sizeof(BlockQ4_0));
          std::memcpy(bytes.data(), q4.data(), bytes.size());
          break;
        default:
          bytes.resize(m / 32 * 34);
          QuantizeQ8_0(vals.data(), m, bytes.data());
          break;
      }
      DSMIL_RETURN_IF_ERROR(w.WriteTensorData(bytes));
      done += bytes.size();
      if (progress) progress(std::min(done, total), total);
    }
  }
  DSMIL_RETURN_IF_ERROR(w.Finish());
  if (progress) progress(total, total);
  return Status::Ok();
}

}  // namespace

Status WriteRandomLlamaModel(const RandomModelSpec& spec, const std::string& path, const WriteProgress& progress) {
  GgufWriter w;
  return WriteModel(spec, w, &path, progress);
}

Result<std::vector<uint8_t>> RandomLlamaModelBytes(const RandomModelSpec& spec) {
  GgufWriter w;
  DSMIL_RETURN_IF_ERROR(WriteModel(spec, w, nullptr, nullptr));
  return w.TakeBuffer();
}

}  // namespace dsmil::llm
