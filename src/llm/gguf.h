// GGUF v3 model files: a bounds-checked reader over a read-only mmap.
//
// Layout (all little-endian; docs/llm.md describes it in full):
//   u32 magic "GGUF" | u32 version (3, 2 accepted) | u64 tensor_count | u64 kv_count
//   kv_count × { string key | u32 value_type | value }
//   tensor_count × { string name | u32 n_dims | u64 dims[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | data section (tensor offsets are relative
//   to its start and aligned).
//   string = u64 length + bytes (no NUL); array = u32 elem_type + u64 count + elements.
//
// A GGUF file is untrusted input: every count, length, dimension product and
// offset is checked against the file and against fixed limits (kGguf* below)
// before it is used; a bad file yields Status InvalidArgument whose message
// names what is wrong ("gguf: tensor 'blk.3.attn_q.weight' ends at byte
// 123456789, past the end of the 4096-byte file"). Nothing in here crashes on
// bad bytes.
//
// Dimension order is ggml's: dims[0] is the fastest-varying (the row length,
// i.e. the input dimension of a weight matrix), dims[1] the number of rows.
// token_embd.weight is {n_embd, n_vocab}; blk.N.attn_k.weight is
// {n_embd, n_head_kv * head_dim}; blk.N.ffn_down.weight is {n_ff, n_embd}.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsmil::llm {

// ---- limits (documented in docs/llm.md) -------------------------------------
inline constexpr uint64_t kGgufMaxKv = 1u << 20;                    // key/value pairs
inline constexpr uint64_t kGgufMaxTensors = 1u << 20;               // tensor infos
inline constexpr uint64_t kGgufMaxKeyBytes = 65536;                 // key / tensor name length
inline constexpr uint64_t kGgufMaxStringBytes = 1u << 20;           // one string value (1 MiB)
inline constexpr uint64_t kGgufMaxArrayElems = 1u << 24;            // elements in one array (16M)
inline constexpr uint32_t kGgufMaxArrayDepth = 4;                   // nesting of arrays of arrays
inline constexpr uint32_t kGgufMaxDims = 4;                         // dims per tensor
inline constexpr uint64_t kGgufMaxTensorElems = uint64_t(1) << 40;  // elements of one tensor
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint32_t kGgufMaxAlignment = 1u << 16;  // must be a power of two

// ---- ggml tensor types ------------------------------------------------------
enum class GgmlType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kQ6_K = 14 };

// True when `raw` is one of the GgmlType values above.
bool GgmlTypeKnown(uint32_t raw);
// "F32", "F16", "Q4_0", "Q8_0", "Q4_K", "Q6_K" ("?" for an unknown value).
std::string_view GgmlTypeName(GgmlType t);
// Parses a case-insensitive name ("f32", "q8_0", ...).
Result<GgmlType> ParseGgmlType(std::string_view name);
// Elements per block: 1 (F32, F16), 32 (Q4_0, Q8_0), 256 (Q4_K, Q6_K).
uint64_t GgmlBlockElements(GgmlType t);
// Bytes per block: 4, 2, 18, 34, 144, 210 respectively (ggml's layouts).
uint64_t GgmlBlockBytes(GgmlType t);
// Bytes of `elements` values of type t. `elements` must be a multiple of the
// block size; returns InvalidArgument otherwise or when the result overflows.
Result<uint64_t> GgmlBytes(GgmlType t, uint64_t elements);

// ---- metadata values ------------------------------------------------------------
enum class GgufValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
// "u8", "i8", ..., "string", "array", "f64" ("?" for an unknown value).
std::string_view GgufValueTypeName(GgufValueType t);

// A fully decoded metadata value (used by the writer, and by GgufFile::Value
// for listing). Unsigned integers and bool live in `u`, signed in `i`, floats
// in `f`, strings in `s`; arrays have `elem_type` and `items` (all items of
// that type; nested arrays allowed).
struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;
  GgufValueType elem_type = GgufValueType::kU8;
  std::vector<GgufValue> items;

  static GgufValue U8(uint8_t v) { return Unsigned(GgufValueType::kU8, v); }
  static GgufValue U16(uint16_t v) { return Unsigned(GgufValueType::kU16, v); }
  static GgufValue U32(uint32_t v) { return Unsigned(GgufValueType::kU32, v); }
  static GgufValue U64(uint64_t v) { return Unsigned(GgufValueType::kU64, v); }
  static GgufValue I8(int8_t v) { return Signed(GgufValueType::kI8, v); }
  static GgufValue I16(int16_t v) { return Signed(GgufValueType::kI16, v); }
  static GgufValue I32(int32_t v) { return Signed(GgufValueType::kI32, v); }
  static GgufValue I64(int64_t v) { return Signed(GgufValueType::kI64, v); }
  static GgufValue F32(float v) {
    GgufValue x;
    x.type = GgufValueType::kF32;
    x.f = v;
    return x;
  }
  static GgufValue F64(double v) {
    GgufValue x;
    x.type = GgufValueType::kF64;
    x.f = v;
    return x;
  }
  static GgufValue Bool(bool v) { return Unsigned(GgufValueType::kBool, v ? 1 : 0); }
  static GgufValue String(std::string v) {
    GgufValue x;
    x.type = GgufValueType::kString;
    x.s = std::move(v);
    return x;
  }
  // An array whose items all have type `elem`.
  static GgufValue Array(GgufValueType elem, std::vector<GgufValue> items) {
    GgufValue x;
    x.type = GgufValueType::kArray;
    x.elem_type = elem;
    x.items = std::move(items);
    return x;
  }
  static GgufValue StringArray(const std::vector<std::string>& v);
  static GgufValue F32Array(const std::vector<float>& v);
  static GgufValue I32Array(const std::vector<int32_t>& v);

  // Short human form: "42", "1.5", "\"text\"" (truncated past 60 bytes),
  // "[string × 32000]" for arrays.
  std::string Summary() const;

 private:
  static GgufValue Unsigned(GgufValueType t, uint64_t v) {
    GgufValue x;
    x.type = t;
    x.u = v;
    return x;
  }
  static GgufValue Signed(GgufValueType t, int64_t v) {
    GgufValue x;
    x.type = t;
    x.i = v;
    return x;
  }
};

// One metadata entry as indexed by the reader (the value stays in the file
// and is decoded on access).
struct GgufKvInfo {
  std::string key;
  GgufValueType type;
  GgufValueType elem_type;  // arrays only
  uint64_t count;           // arrays: element count; otherwise 1
};

// One tensor. `data` points into the file mapping (or the owned buffer) and is
// valid as long as the GgufFile lives; it is `bytes` long.
struct GgufTensor {
  std::string name;
  std::vector<uint64_t> dims;  // 1..4 entries, ggml order (dims[0] = row length)
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // relative to the data section, as stored in the file
  uint64_t bytes = 0;   // GgmlBytes(type, elements())
  const uint8_t* data = nullptr;
  uint64_t elements() const;  // product of dims
  // dims[0] (row length) and the number of rows (product of dims[1..]).
  uint64_t row_length() const { return dims.empty() ? 0 : dims[0]; }
  uint64_t rows() const { return dims.empty() ? 0 : elements() / dims[0]; }
};

// A parsed GGUF file. Immutable after Open; all const methods are thread-safe.
class GgufFile {
 public:
  // Maps `path` read-only and parses it. Errors: NotFound (no such file) /
  // Unavailable for I/O; InvalidArgument for a malformed file, with the
  // message "PATH: gguf: what is wrong".
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses a copy of `bytes` (held in an owned, 64-byte-aligned buffer), for
  // tests and fuzzing. Same checks as Open.
  static Result<std::unique_ptr<GgufFile>> FromBuffer(std::span<const uint8_t> bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint64_t file_bytes() const { return size_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // absolute start of the data section
  const std::string& path() const { return path_; }      // "" for FromBuffer

  // ---- metadata ----
  bool Has(std::string_view key) const;
  // Type of the value under `key`; NotFound when absent.
  Result<GgufValueType> TypeOf(std::string_view key) const;
  // All entries in file order.
  const std::vector<GgufKvInfo>& kvs() const { return kv_infos_; }
  // The fully decoded value (arrays with every element).
  Result<GgufValue> Value(std::string_view key) const;

  // Typed accessors. NotFound ("gguf: key 'x' not found") when absent;
  // InvalidArgument naming the key and actual type when the type does not fit.
  // Integer accessors accept any integer type whose value is in range;
  // F32 accepts f32 and f64; I32Array accepts any integer element type in range.
  Result<uint32_t> U32(std::string_view key) const;
  Result<int32_t> I32(std::string_view key) const;
  Result<uint64_t> U64(std::string_view key) const;
  Result<float> F32(std::string_view key) const;
  Result<bool> Bool(std::string_view key) const;
  Result<std::string> String(std::string_view key) const;
  Result<std::vector<std::string>> StringArray(std::string_view key) const;
  Result<std::vector<float>> F32Array(std::string_view key) const;
  Result<std::vector<int32_t>> I32Array(std::string_view key) const;
  // Element count of the array under `key`.
  Result<uint64_t> ArrayLength(std::string_view key) const;

  // ---- tensors ----
  // The tensor called `name`, or nullptr.
  const GgufTensor* Tensor(std::string_view name) const;
  // All tensors in file order.
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

 private:
  struct KvSlot {
    size_t info_index;
    uint64_t value_pos;  // absolute offset of the value (after the u32 type)
  };
  GgufFile() = default;
  Status Parse();
  const KvSlot* Find(std::string_view key) const;
  Result<const KvSlot*> FindOrError(std::string_view key) const;

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* map_ = nullptr;       // mmap region (Open), or nullptr
  uint8_t* owned_ = nullptr;  // aligned copy (FromBuffer), or nullptr
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKvInfo> kv_infos_;
  std::map<std::string, KvSlot, std::less<>> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// ---- llama-family hyper-parameters -------------------------------------------
struct LlamaHParams {
  uint32_t n_vocab = 0;             // <arch>.vocab_size, else length of tokenizer.ggml.tokens
  uint32_t n_embd = 0;              // <arch>.embedding_length
  uint32_t n_layer = 0;             // <arch>.block_count
  uint32_t n_head = 0;              // <arch>.attention.head_count
  uint32_t n_head_kv = 0;           // <arch>.attention.head_count_kv (default n_head)
  uint32_t n_ff = 0;                // <arch>.feed_forward_length
  uint32_t n_ctx_train = 0;         // <arch>.context_length
  uint32_t n_rot = 0;               // <arch>.rope.dimension_count (default n_embd / n_head)
  float rope_freq_base = 10000.0f;  // <arch>.rope.freq_base
  float rms_eps = 1e-5f;            // <arch>.attention.layer_norm_rms_epsilon
  std::string arch;                 // general.architecture ("llama")
  bool tied_output = false;         // true when output.weight is absent (use token_embd)

  uint32_t head_dim() const { return n_head ? n_embd / n_head : 0; }
  uint32_t n_embd_kv() const { return head_dim() * n_head_kv; }
};

// Reads general.architecture and the <arch>.* keys, and checks that every
// tensor a llama forward pass needs exists with the right shape:
//   token_embd.weight {n_embd, n_vocab}, output_norm.weight {n_embd},
//   output.weight {n_embd, n_vocab} (optional: tied_output when absent),
//   blk.N.attn_norm.weight {n_embd}, blk.N.attn_q.weight {n_embd, n_embd},
//   blk.N.attn_k.weight / attn_v.weight {n_embd, n_embd_kv},
//   blk.N.attn_output.weight {n_embd, n_embd}, blk.N.ffn_norm.weight {n_embd},
//   blk.N.ffn_gate.weight / ffn_up.weight {n_embd, n_ff}, blk.N.ffn_down.weight {n_ff, n_embd}.
// Also: n_head divides n_embd, n_head_kv divides n_head, n_rot ≤ head_dim and even,
// norm weights are F32. Accepted architectures: "llama" (and any arch whose keys and
// tensors follow the llama layout, e.g. "mistral"). Errors name the key or tensor.
Result<LlamaHParams> ReadLlamaHParams(const GgufFile& file);

}  // namespace dsmil::llm
