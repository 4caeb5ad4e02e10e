#include "llm/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

namespace dsmil::llm {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  if (s.size() > 80) out += "...";
  out += "'";
  return out;
}

Status Bad(std::string msg) { return Status::InvalidArgument("gguf: " + std::move(msg)); }

// Size in bytes of a fixed-size value type; 0 for string/array/unknown.
uint64_t FixedSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kU16:
    case GgufValueType::kI16:
      return 2;
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kF32:
      return 4;
    case GgufValueType::kU64:
    case GgufValueType::kI64:
    case GgufValueType::kF64:
      return 8;
    default:
      return 0;
  }
}

bool ValueTypeKnown(uint32_t raw) { return raw <= 12; }

bool IsInteger(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8:
    case GgufValueType::kI8:
    case GgufValueType::kU16:
    case GgufValueType::kI16:
    case GgufValueType::kU32:
    case GgufValueType::kI32:
    case GgufValueType::kU64:
    case GgufValueType::kI64:
      return true;
    default:
      return false;
  }
}
bool IsSigned(GgufValueType t) {
  return t == GgufValueType::kI8 || t == GgufValueType::kI16 || t == GgufValueType::kI32 || t == GgufValueType::kI64;
}

// Little-endian bounds-checked cursor over the file bytes.
class Cursor {
 public:
  Cursor(const uint8_t* base, uint64_t size, uint64_t pos) : base_(base), size_(size), pos_(pos) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return size_ - pos_; }

  Status Need(uint64_t n, std::string_view what) const {
    if (n > left()) {
      return Bad(std::string(what) + " at byte " + std::to_string(pos_) + " needs " + std::to_string(n) +
                 " bytes, only " + std::to_string(left()) + " left in the " + std::to_string(size_) + "-byte file");
    }
    return Status::Ok();
  }
  uint64_t RawLE(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t(base_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  Status U32(uint32_t* v, std::string_view what) {
    DSMIL_RETURN_IF_ERROR(Need(4, what));
    *v = uint32_t(RawLE(4));
    return Status::Ok();
  }
  Status U64(uint64_t* v, std::string_view what) {
    DSMIL_RETURN_IF_ERROR(Need(8, what));
    *v = RawLE(8);
    return Status::Ok();
  }
  Status Skip(uint64_t n, std::string_view what) {
    DSMIL_RETURN_IF_ERROR(Need(n, what));
    pos_ += n;
    return Status::Ok();
  }
  // String: u64 length + bytes, length ≤ max.
  Status Str(std::string* s, uint64_t max, std::string_view what) {
    uint64_t n = 0;
    DSMIL_RETURN_IF_ERROR(U64(&n, std::string(what) + " length"));
    if (n > max) {
      return Bad(std::string(what) + " at byte " + std::to_string(pos_ - 8) + " has length " + std::to_string(n) +
                 ", over the limit of " + std::to_string(max) + " bytes");
    }
    DSMIL_RETURN_IF_ERROR(Need(n, what));
    if (s) s->assign(reinterpret_cast<const char*>(base_ + pos_), n);
    pos_ += n;
    return Status::Ok();
  }
  Status SkipStr(uint64_t max, std::string_view what) { return Str(nullptr, max, what); }

  // Reads one fixed-size scalar of type t into a GgufValue (no bounds check: call Need).
  GgufValue Scalar(GgufValueType t) {
    GgufValue v;
    v.type = t;
    switch (t) {
      case GgufValueType::kU8:
        v.u = RawLE(1);
        break;
      case GgufValueType::kU16:
        v.u = RawLE(2);
        break;
      case GgufValueType::kU32:
        v.u = RawLE(4);
        break;
      case GgufValueType::kU64:
        v.u = RawLE(8);
        break;
      case GgufValueType::kI8:
        v.i = int8_t(RawLE(1));
        break;
      case GgufValueType::kI16:
        v.i = int16_t(RawLE(2));
        break;
      case GgufValueType::kI32:
        v.i = int32_t(RawLE(4));
        break;
      case GgufValueType::kI64:
        v.i = int64_t(RawLE(8));
        break;
      case GgufValueType::kBool:
        v.u = RawLE(1);
        break;
      case GgufValueType::kF32: {
        uint32_t b = uint32_t(RawLE(4));
        float f;
        std::memcpy(&f, &b, 4);
        v.f = f;
        break;
      }
      case GgufValueType::kF64: {
        uint64_t b = RawLE(8);
        double d;
        std::memcpy(&d, &b, 8);
        v.f = d;
        break;
      }
      default:
        break;
    }
    return v;
  }

  // Skips (validate) or decodes (out != nullptr) a value of type t.
  Status Value(GgufValueType t, uint32_t depth, GgufValue* out, const std::string& what) {
    if (t == GgufValueType::kString) {
      std::string s;
      DSMIL_RETURN_IF_ERROR(Str(out ? &s : nullptr, kGgufMaxStringBytes, what + " string"));
      if (out) *out = GgufValue::String(std::move(s));
      return Status::Ok();
    }
    if (t == GgufValueType::kArray) {
      if (depth >= kGgufMaxArrayDepth) {
        return Bad(what + ": arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth));
      }
      uint32_t et_raw = 0;
      uint64_t n = 0;
      DSMIL_RETURN_IF_ERROR(U32(&et_raw, what + " array element type"));
      if (!ValueTypeKnown(et_raw)) {
        return Bad(what + ": unknown array element type " + std::to_string(et_raw));
      }
      DSMIL_RETURN_IF_ERROR(U64(&n, what + " array length"));
      if (n > kGgufMaxArrayElems) {
        return Bad(what + ": array of " + std::to_string(n) + " elements, over the limit of " +
                   std::to_string(kGgufMaxArrayElems));
      }
      auto et = static_cast<GgufValueType>(et_raw);
      if (out) {
        out->type = GgufValueType::kArray;
        out->elem_type = et;
        out->items.clear();
      }
      uint64_t fs = FixedSize(et);
      if (fs) {
        DSMIL_RETURN_IF_ERROR(Need(n * fs, what + " array data"));
        if (!out) {
          pos_ += n * fs;
          return Status::Ok();
        }
        out->items.reserve(n);
        for (uint64_t k = 0; k < n; ++k) out->items.push_back(Scalar(et));
        return Status::Ok();
      }
      // Strings or nested arrays: each takes at least 8 bytes.
      if (n > left() / 8) {
        return Bad(what + ": array of " + std::to_string(n) + " " + std::string(GgufValueTypeName(et)) +
                   " elements cannot fit in the " + std::to_string(left()) + " bytes left");
      }
      if (out) out->items.reserve(n);
      if (et == GgufValueType::kString && !out) {
        for (uint64_t k = 0; k < n; ++k) {
          uint64_t len = 0;
          if (left() >= 8) {
            for (int b = 0; b < 8; ++b) len |= uint64_t(base_[pos_ + b]) << (8 * b);
          }
          if (left() < 8 || len > kGgufMaxStringBytes || len > left() - 8) {
            return Str(nullptr, kGgufMaxStringBytes, what + "[" + std::to_string(k) + "]");
          }
          pos_ += 8 + len;
        }
        return Status::Ok();
      }
      for (uint64_t k = 0; k < n; ++k) {
        GgufValue item;
        DSMIL_RETURN_IF_ERROR(Value(et, depth + 1, out ? &item : nullptr, what + "[" + std::to_string(k) + "]"));
        if (out) out->items.push_back(std::move(item));
      }
      return Status::Ok();
    }
    uint64_t fs = FixedSize(t);
    if (fs == 0) return Bad(what + ": unknown value type " + std::to_string(uint32_t(t)));
    DSMIL_RETURN_IF_ERROR(Need(fs, what));
    if (out) {
      *out = Scalar(t);
    } else {
      pos_ += fs;
    }
    return Status::Ok();
  }

 private:
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_;
};

bool MulOverflows(uint64_t a, uint64_t b, uint64_t* r) { return __builtin_mul_overflow(a, b, r); }

}  // namespace

// ---- types ---------------------------------------------------------------------

bool GgmlTypeKnown(uint32_t raw) { return raw == 0 || raw == 1 || raw == 2 || raw == 8 || raw == 12 || raw == 14; }

std::string_view GgmlTypeName(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ8_0:
      return "Q8_0";
    case GgmlType::kQ4_K:
      return "Q4_K";
    case GgmlType::kQ6_K:
      return "Q6_K";
  }
  return "?";
}

Result<GgmlType> ParseGgmlType(std::string_view name) {
  for (GgmlType t :
       {GgmlType::kF32, GgmlType::kF16, GgmlType::kQ4_0, GgmlType::kQ8_0, GgmlType::kQ4_K, GgmlType::kQ6_K}) {
    std::string_view n = GgmlTypeName(t);
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(name[i])) != n[i]) eq = false;
    }
    if (eq) return t;
  }
  return Status::InvalidArgument("unknown tensor type '" + std::string(name) +
                                 "' (expected f32, f16, q4_0, q8_0, q4_k or q6_k)");
}

uint64_t GgmlBlockElements(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
    case GgmlType::kF16:
      return 1;
    case GgmlType::kQ4_0:
    case GgmlType::kQ8_0:
      return 32;
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K:
      return 256;
  }
  return 1;
}

uint64_t GgmlBlockBytes(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return 4;
    case GgmlType::kF16:
      return 2;
    case GgmlType::kQ4_0:
      return 18;  // f16 d + 16 bytes of nibbles
    case GgmlType::kQ8_0:
      return 34;  // f16 d + 32 int8
    case GgmlType::kQ4_K:
      return 144;  // f16 d, dmin + 12 scale bytes + 128 nibble bytes
    case GgmlType::kQ6_K:
      return 210;  // 128 ql + 64 qh + 16 scales + f16 d
  }
  return 4;
}

Result<uint64_t> GgmlBytes(GgmlType t, uint64_t elements) {
  uint64_t blk = GgmlBlockElements(t);
  if (elements % blk != 0) {
    return Status::InvalidArgument(std::to_string(elements) + " elements of type " + std::string(GgmlTypeName(t)) +
                                   " are not a multiple of its " + std::to_string(blk) + "-element block");
  }
  uint64_t r;
  if (MulOverflows(elements / blk, GgmlBlockBytes(t), &r)) {
    return Status::InvalidArgument("tensor size overflows 64 bits");
  }
  return r;
}

std::string_view GgufValueTypeName(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8:
      return "u8";
    case GgufValueType::kI8:
      return "i8";
    case GgufValueType::kU16:
      return "u16";
    case GgufValueType::kI16:
      return "i16";
    case GgufValueType::kU32:
      return "u32";
    case GgufValueType::kI32:
      return "i32";
    case GgufValueType::kF32:
      return "f32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kU64:
      return "u64";
    case GgufValueType::kI64:
      return "i64";
    case GgufValueType::kF64:
      return "f64";
  }
  return "?";
}

GgufValue GgufValue::StringArray(const std::vector<std::string>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (const auto& s : v) items.push_back(String(s));
  return Array(GgufValueType::kString, std::move(items));
}
GgufValue GgufValue::F32Array(const std::vector<float>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (float f : v) items.push_back(F32(f));
  return Array(GgufValueType::kF32, std::move(items));
}
GgufValue GgufValue::I32Array(const std::vector<int32_t>& v) {
  std::vector<GgufValue> items;
  items.reserve(v.size());
  for (int32_t x : v) items.push_back(I32(x));
  return Array(GgufValueType::kI32, std::move(items));
}

std::string GgufValue::Summary() const {
  switch (type) {
    case GgufValueType::kBool:
      return u ? "true" : "false";
    case GgufValueType::kString: {
      std::string q = Quote(std::string_view(s).substr(0, 60));
      q.front() = '"';
      q.back() = '"';
      if (s.size() > 60) q += "...";
      return q;
    }
    case GgufValueType::kArray:
      return "[" + std::string(GgufValueTypeName(elem_type)) + " x " + std::to_string(items.size()) + "]";
    case GgufValueType::kF32:
    case GgufValueType::kF64: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%g", f);
      return buf;
    }
    default:
      return IsSigned(type) ? std::to_string(i) : std::to_string(u);
  }
}

uint64_t GgufTensor::elements() const {
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;
  return n;
}

// ---- GgufFile ------------------------------------------------------------------

GgufFile::~GgufFile() {
  if (map_) munmap(map_, size_);
  if (owned_) ::operator delete[](owned_, std::align_val_t(64));
}

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    std::string msg = "gguf: cannot open " + path + ": " + std::strerror(e);
    return e == ENOENT ? Status::NotFound(msg) : Status::Unavailable(msg);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return Status::Unavailable("gguf: cannot stat " + path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("gguf: " + path + " is not a regular file");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->size_ = uint64_t(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    return Status::InvalidArgument("gguf: " + path + " is empty");
  }
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (m == MAP_FAILED) {
    return Status::Unavailable("gguf: cannot map " + path + ": " + std::strerror(e));
  }
  f->map_ = m;
  f->base_ = static_cast<const uint8_t*>(m);
  Status s = f->Parse();
  if (!s.ok()) return s.WithContext(path);
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::FromBuffer(std::span<const uint8_t> bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->size_ = bytes.size();
  if (!bytes.empty()) {
    f->owned_ = static_cast<uint8_t*>(::operator new[](bytes.size(), std::align_val_t(64)));
    std::memcpy(f->owned_, bytes.data(), bytes.size());
  }
  f->base_ = f->owned_;
  DSMIL_RETURN_IF_ERROR(f->Parse());
  return f;
}

Status GgufFile::Parse() {
  if (size_ < 24) {
    return Bad("file of " + std::to_string(size_) + " bytes is shorter than the 24-byte GGUF header");
  }
  if (std::memcmp(base_, "GGUF", 4) != 0) {
    return Bad("bad magic " + Quote(std::string_view(reinterpret_cast<const char*>(base_), 4)) + " (expected 'GGUF')");
  }
  Cursor c(base_, size_, 4);
  DSMIL_RETURN_IF_ERROR(c.U32(&version_, "version"));
  if (version_ == 1) return Bad("version 1 files are not supported (only 2 and 3)");
  if (version_ != 2 && version_ != 3) {
    return Bad("unsupported version " + std::to_string(version_) + (version_ > 0xffff ? " (big-endian file?)" : "") +
               " (only 2 and 3)");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  DSMIL_RETURN_IF_ERROR(c.U64(&n_tensors, "tensor count"));
  DSMIL_RETURN_IF_ERROR(c.U64(&n_kv, "kv count"));
  if (n_kv > kGgufMaxKv) {
    return Bad("kv count " + std::to_string(n_kv) + " is over the limit of " + std::to_string(kGgufMaxKv));
  }
  if (n_tensors > kGgufMaxTensors) {
    return Bad("tensor count " + std::to_string(n_tensors) + " is over the limit of " +
               std::to_string(kGgufMaxTensors));
  }
  // Each kv takes at least 13 bytes, each tensor info at least 28.
  if (n_kv > c.left() / 13) {
    return Bad("kv count " + std::to_string(n_kv) + " cannot fit in the " + std::to_string(c.left()) +
               " bytes after the header");
  }
  kv_infos_.reserve(n_kv);
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    std::string what = "kv " + std::to_string(k);
    DSMIL_RETURN_IF_ERROR(c.Str(&key, kGgufMaxKeyBytes, what + " key"));
    if (key.empty()) return Bad(what + " has an empty key");
    what += " (" + Quote(key) + ")";
    uint32_t t_raw = 0;
    DSMIL_RETURN_IF_ERROR(c.U32(&t_raw, what + " value type"));
    if (!ValueTypeKnown(t_raw)) {
      return Bad(what + " has unknown value type " + std::to_string(t_raw));
    }
    auto t = static_cast<GgufValueType>(t_raw);
    uint64_t value_pos = c.pos();
    GgufKvInfo info{key, t, GgufValueType::kU8, 1};
    if (t == GgufValueType::kArray) {
      // Peek element type and count (validated again by Value).
      Cursor peek(base_, size_, value_pos);
      uint32_t et = 0;
      uint64_t n = 0;
      if (peek.U32(&et, what).ok() && peek.U64(&n, what).ok()) {
        info.elem_type = static_cast<GgufValueType>(et);
        info.count = n;
      }
    }
    DSMIL_RETURN_IF_ERROR(c.Value(t, 0, nullptr, what));
    if (kv_index_.count(key)) return Bad("duplicate key " + Quote(key));
    kv_index_.emplace(key, KvSlot{kv_infos_.size(), value_pos});
    kv_infos_.push_back(std::move(info));
  }

  if (const KvSlot* s = Find("general.alignment")) {
    if (kv_infos_[s->info_index].type != GgufValueType::kU32) {
      return Bad("general.alignment must be u32, not " + std::string(GgufValueTypeName(kv_infos_[s->info_index].type)));
    }
    Cursor a(base_, size_, s->value_pos);
    uint32_t al = 0;
    DSMIL_RETURN_IF_ERROR(a.U32(&al, "general.alignment"));
    if (al == 0 || (al & (al - 1)) != 0 || al > kGgufMaxAlignment) {
      return Bad("general.alignment " + std::to_string(al) + " is not a power of two between 1 and " +
                 std::to_string(kGgufMaxAlignment));
    }
    alignment_ = al;
  }

  if (n_tensors > c.left() / 28) {
    return Bad("tensor count " + std::to_string(n_tensors) + " cannot fit in the " + std::to_string(c.left()) +
               " bytes left after the metadata");
  }
  tensors_.reserve(n_tensors);
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    std::string what = "tensor " + std::to_string(k);
    DSMIL_RETURN_IF_ERROR(c.Str(&t.name, kGgufMaxKeyBytes, what + " name"));
    if (t.name.empty()) return Bad(what + " has an empty name");
    what = "tensor " + Quote(t.name);
    uint32_t n_dims = 0;
    DSMIL_RETURN_IF_ERROR(c.U32(&n_dims, what + " n_dims"));
    if (n_dims == 0 || n_dims > kGgufMaxDims) {
      return Bad(what + " has " + std::to_string(n_dims) + " dimensions (1 to " + std::to_string(kGgufMaxDims) +
                 " allowed)");
    }
    uint64_t elems = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      DSMIL_RETURN_IF_ERROR(c.U64(&dim, what + " dim"));
      if (dim == 0) return Bad(what + " dim " + std::to_string(d) + " is 0");
      if (MulOverflows(elems, dim, &elems) || elems > kGgufMaxTensorElems) {
        return Bad(what + " has more than " + std::to_string(kGgufMaxTensorElems) + " elements (dim " +
                   std::to_string(d) + " = " + std::to_string(dim) + ")");
      }
      t.dims.push_back(dim);
    }
    uint32_t type_raw = 0;
    DSMIL_RETURN_IF_ERROR(c.U32(&type_raw, what + " type"));
    if (!GgmlTypeKnown(type_raw)) {
      return Bad(what + " has unsupported ggml type " + std::to_string(type_raw) +
                 " (supported: F32=0, F16=1, Q4_0=2, Q8_0=8, Q4_K=12, Q6_K=14)");
    }
    t.type = static_cast<GgmlType>(type_raw);
    uint64_t blk = GgmlBlockElements(t.type);
    if (t.dims[0] % blk != 0) {
      return Bad(what + " row length " + std::to_string(t.dims[0]) + " is not a multiple of the " +
                 std::to_string(blk) + "-element " + std::string(GgmlTypeName(t.type)) + " block");
    }
    auto bytes = GgmlBytes(t.type, elems);
    if (!bytes.ok()) return Bad(what + ": " + bytes.status().message());
    t.bytes = *bytes;
    DSMIL_RETURN_IF_ERROR(c.U64(&t.offset, what + " offset"));
    if (t.offset % alignment_ != 0) {
      return Bad(what + " offset " + std::to_string(t.offset) + " is not a multiple of the " +
                 std::to_string(alignment_) + "-byte alignment");
    }
    if (tensor_index_.count(t.name)) return Bad("duplicate tensor name " + Quote(t.name));
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  uint64_t end_of_infos = c.pos();
  data_offset_ = (end_of_infos + alignment_ - 1) / alignment_ * alignment_;
  if (!tensors_.empty() && data_offset_ > size_) {
    return Bad("data section starts at byte " + std::to_string(data_offset_) + ", past the end of the " +
               std::to_string(size_) + "-byte file");
  }
  for (GgufTensor& t : tensors_) {
    uint64_t start, end;
    if (__builtin_add_overflow(data_offset_, t.offset, &start) || __builtin_add_overflow(start, t.bytes, &end) ||
        end > size_) {
      return Bad("tensor " + Quote(t.name) + " ends at byte " +
                 (__builtin_add_overflow(data_offset_, t.offset, &start) || __builtin_add_overflow(start, t.bytes, &end)
                      ? std::string("beyond 2^64")
                      : std::to_string(end)) +
                 ", past the end of the " + std::to_string(size_) + "-byte file");
    }
    t.data = base_ + start;
  }
  // Tensors must not overlap.
  std::vector<const GgufTensor*> order;
  order.reserve(tensors_.size());
  for (const auto& t : tensors_) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    if (order[k - 1]->offset + order[k - 1]->bytes > order[k]->offset) {
      return Bad("tensor " + Quote(order[k]->name) + " (offset " + std::to_string(order[k]->offset) +
                 ") overlaps tensor " + Quote(order[k - 1]->name) + " (offset " + std::to_string(order[k - 1]->offset) +
                 ", " + std::to_string(order[k - 1]->bytes) + " bytes)");
    }
  }
  return Status::Ok();
}

const GgufFile::KvSlot* GgufFile::Find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &it->second;
}

Result<const GgufFile::KvSlot*> GgufFile::FindOrError(std::string_view key) const {
  const KvSlot* s = Find(key);
  if (!s) return Status::NotFound("gguf: key '" + std::string(key) + "' not found");
  return s;
}

bool GgufFile::Has(std::string_view key) const { return Find(key) != nullptr; }

Result<GgufValueType> GgufFile::TypeOf(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  return kv_infos_[s->info_index].type;
}

Result<GgufValue> GgufFile::Value(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  Cursor c(base_, size_, s->value_pos);
  GgufValue v;
  DSMIL_RETURN_IF_ERROR(c.Value(kv_infos_[s->info_index].type, 0, &v, "key '" + std::string(key) + "'"));
  return v;
}

namespace {

Status WrongType(std::string_view key, GgufValueType got, std::string_view want) {
  return Bad("key '" + std::string(key) + "' is " + std::string(GgufValueTypeName(got)) + ", expected " +
             std::string(want));
}

// Integer value of a scalar as (signed?, value) → checked into [lo, hi].
template <typename T>
Result<T> IntInRange(const GgufValue& v, std::string_view key) {
  if (!IsInteger(v.type)) return WrongType(key, v.type, "an integer");
  if (IsSigned(v.type)) {
    if (v.i < int64_t(std::numeric_limits<T>::min()) ||
        (v.i > 0 && uint64_t(v.i) > uint64_t(std::numeric_limits<T>::max()))) {
      return Bad("key '" + std::string(key) + "' value " + std::to_string(v.i) + " is out of range");
    }
    return T(v.i);
  }
  if (v.u > uint64_t(std::numeric_limits<T>::max())) {
    return Bad("key '" + std::string(key) + "' value " + std::to_string(v.u) + " is out of range");
  }
  return T(v.u);
}

}  // namespace

Result<uint32_t> GgufFile::U32(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  GgufValueType t = kv_infos_[s->info_index].type;
  if (!IsInteger(t)) return WrongType(key, t, "an integer");
  Cursor c(base_, size_, s->value_pos);
  return IntInRange<uint32_t>(c.Scalar(t), key);
}

Result<int32_t> GgufFile::I32(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  GgufValueType t = kv_infos_[s->info_index].type;
  if (!IsInteger(t)) return WrongType(key, t, "an integer");
  Cursor c(base_, size_, s->value_pos);
  return IntInRange<int32_t>(c.Scalar(t), key);
}

Result<uint64_t> GgufFile::U64(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  GgufValueType t = kv_infos_[s->info_index].type;
  if (!IsInteger(t)) return WrongType(key, t, "an integer");
  Cursor c(base_, size_, s->value_pos);
  return IntInRange<uint64_t>(c.Scalar(t), key);
}

Result<float> GgufFile::F32(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  GgufValueType t = kv_infos_[s->info_index].type;
  if (t != GgufValueType::kF32 && t != GgufValueType::kF64) return WrongType(key, t, "f32");
  Cursor c(base_, size_, s->value_pos);
  return float(c.Scalar(t).f);
}

Result<bool> GgufFile::Bool(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  GgufValueType t = kv_infos_[s->info_index].type;
  if (t != GgufValueType::kBool) return WrongType(key, t, "bool");
  Cursor c(base_, size_, s->value_pos);
  return c.Scalar(t).u != 0;
}

Result<std::string> GgufFile::String(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  GgufValueType t = kv_infos_[s->info_index].type;
  if (t != GgufValueType::kString) return WrongType(key, t, "string");
  Cursor c(base_, size_, s->value_pos);
  std::string out;
  DSMIL_RETURN_IF_ERROR(c.Str(&out, kGgufMaxStringBytes, key));
  return out;
}

Result<uint64_t> GgufFile::ArrayLength(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  const GgufKvInfo& info = kv_infos_[s->info_index];
  if (info.type != GgufValueType::kArray) return WrongType(key, info.type, "array");
  return info.count;
}

Result<std::vector<std::string>> GgufFile::StringArray(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  const GgufKvInfo& info = kv_infos_[s->info_index];
  if (info.type != GgufValueType::kArray || info.elem_type != GgufValueType::kString) {
    return Bad("key '" + std::string(key) + "' is not an array of strings");
  }
  Cursor c(base_, size_, s->value_pos + 12);
  std::vector<std::string> out(info.count);
  for (auto& str : out) DSMIL_RETURN_IF_ERROR(c.Str(&str, kGgufMaxStringBytes, key));
  return out;
}

Result<std::vector<float>> GgufFile::F32Array(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  const GgufKvInfo& info = kv_infos_[s->info_index];
  if (info.type != GgufValueType::kArray ||
      (info.elem_type != GgufValueType::kF32 && info.elem_type != GgufValueType::kF64)) {
    return Bad("key '" + std::string(key) + "' is not an array of f32");
  }
  Cursor c(base_, size_, s->value_pos + 12);
  std::vector<float> out(info.count);
  for (auto& f : out) f = float(c.Scalar(info.elem_type).f);
  return out;
}

Result<std::vector<int32_t>> GgufFile::I32Array(std::string_view key) const {
  DSMIL_ASSIGN_OR_RETURN(const KvSlot* s, FindOrError(key));
  const GgufKvInfo& info = kv_infos_[s->info_index];
  if (info.type != GgufValueType::kArray || !IsInteger(info.elem_type)) {
    return Bad("key '" + std::string(key) + "' is not an array of integers");
  }
  Cursor c(base_, size_, s->value_pos + 12);
  std::vector<int32_t> out(info.count);
  for (auto& x : out) {
    DSMIL_ASSIGN_OR_RETURN(x, IntInRange<int32_t>(c.Scalar(info.elem_type), key));
  }
  return out;
}

const GgufTensor* GgufFile::Tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

// ---- llama hparams -------------------------------------------------------------

namespace {

Status CheckShape(const GgufFile& f, const std::string& name, std::vector<uint64_t> want, bool optional,
                  bool* present) {
  const GgufTensor* t = f.Tensor(name);
  if (present) *present = t != nullptr;
  if (!t) {
    if (optional) return Status::Ok();
    return Bad("model has no tensor '" + name + "'");
  }
  if (t->dims != want) {
    auto fmt = [](const std::vector<uint64_t>& d) {
      std::string s = "{";
      for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
      return s + "}";
    };
    return Bad("tensor '" + name + "' has shape " + fmt(t->dims) + ", expected " + fmt(want));
  }
  if (want.size() == 1 && t->type != GgmlType::kF32) {
    return Bad("tensor '" + name + "' is " + std::string(GgmlTypeName(t->type)) + ", norm weights must be F32");
  }
  return Status::Ok();
}

}  // namespace

Result<LlamaHParams> ReadLlamaHParams(const GgufFile& f) {
  LlamaHParams hp;
  DSMIL_ASSIGN_OR_RETURN(hp.arch, f.String("general.architecture"));
  if (hp.arch.empty() || hp.arch.size() > 64) return Bad("general.architecture is empty or too long");
  const std::string p = hp.arch + ".";
  auto req = [&](const std::string& k, uint32_t* v) -> Status {
    auto r = f.U32(p + k);
    if (!r.ok()) return r.status();
    *v = *r;
    if (*v == 0) return Bad("key '" + p + k + "' is 0");
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(req("embedding_length", &hp.n_embd));
  DSMIL_RETURN_IF_ERROR(req("block_count", &hp.n_layer));
  DSMIL_RETURN_IF_ERROR(req("attention.head_count", &hp.n_head));
  DSMIL_RETURN_IF_ERROR(req("feed_forward_length", &hp.n_ff));
  DSMIL_RETURN_IF_ERROR(req("context_length", &hp.n_ctx_train));
  hp.n_head_kv = hp.n_head;
  if (f.Has(p + "attention.head_count_kv")) {
    DSMIL_RETURN_IF_ERROR(req("attention.head_count_kv", &hp.n_head_kv));
  }
  if (f.Has(p + "vocab_size")) {
    DSMIL_RETURN_IF_ERROR(req("vocab_size", &hp.n_vocab));
  } else if (f.Has("tokenizer.ggml.tokens")) {
    DSMIL_ASSIGN_OR_RETURN(uint64_t n, f.ArrayLength("tokenizer.ggml.tokens"));
    if (n == 0 || n > std::numeric_limits<int32_t>::max()) {
      return Bad("tokenizer.ggml.tokens has " + std::to_string(n) + " entries");
    }
    hp.n_vocab = uint32_t(n);
  } else {
    const GgufTensor* e = f.Tensor("token_embd.weight");
    if (!e || e->dims.size() != 2) {
      return Bad("no " + p + "vocab_size, tokenizer.ggml.tokens or 2-D token_embd.weight");
    }
    if (e->dims[1] > std::numeric_limits<int32_t>::max()) return Bad("vocabulary too large");
    hp.n_vocab = uint32_t(e->dims[1]);
  }
  if (hp.n_layer > 4096) return Bad("key '" + p + "block_count' " + std::to_string(hp.n_layer) + " is over 4096");
  if (hp.n_embd % hp.n_head != 0) {
    return Bad(p + "embedding_length " + std::to_string(hp.n_embd) + " is not a multiple of " + p +
               "attention.head_count " + std::to_string(hp.n_head));
  }
  if (hp.n_head_kv > hp.n_head || hp.n_head % hp.n_head_kv != 0) {
    return Bad(p + "attention.head_count_kv " + std::to_string(hp.n_head_kv) + " does not divide " + p +
               "attention.head_count " + std::to_string(hp.n_head));
  }
  hp.n_rot = hp.head_dim();
  if (f.Has(p + "rope.dimension_count")) {
    DSMIL_RETURN_IF_ERROR(req("rope.dimension_count", &hp.n_rot));
  }
  if (hp.n_rot > hp.head_dim() || hp.n_rot % 2 != 0) {
    return Bad(p + "rope.dimension_count " + std::to_string(hp.n_rot) + " must be even and at most the head size " +
               std::to_string(hp.head_dim()));
  }
  if (f.Has(p + "rope.freq_base")) {
    DSMIL_ASSIGN_OR_RETURN(hp.rope_freq_base, f.F32(p + "rope.freq_base"));
    if (!(hp.rope_freq_base > 0) || !std::isfinite(hp.rope_freq_base)) {
      return Bad(p + "rope.freq_base must be a positive number");
    }
  }
  if (f.Has(p + "attention.layer_norm_rms_epsilon")) {
    DSMIL_ASSIGN_OR_RETURN(hp.rms_eps, f.F32(p + "attention.layer_norm_rms_epsilon"));
    if (!(hp.rms_eps > 0) || !(hp.rms_eps < 1)) {
      return Bad(p + "attention.layer_norm_rms_epsilon must be in (0, 1)");
    }
  }
  const uint64_t e = hp.n_embd, v = hp.n_vocab, ff = hp.n_ff, kv = hp.n_embd_kv();
  DSMIL_RETURN_IF_ERROR(CheckShape(f, "token_embd.weight", {e, v}, false, nullptr));
  DSMIL_RETURN_IF_ERROR(CheckShape(f, "output_norm.weight", {e}, false, nullptr));
  bool has_output = false;
  DSMIL_RETURN_IF_ERROR(CheckShape(f, "output.weight", {e, v}, true, &has_output));
  hp.tied_output = !has_output;
  for (uint32_t l = 0; l < hp.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "attn_norm.weight", {e}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "attn_q.weight", {e, e}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "attn_k.weight", {e, kv}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "attn_v.weight", {e, kv}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "attn_output.weight", {e, e}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "ffn_norm.weight", {e}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "ffn_gate.weight", {e, ff}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "ffn_up.weight", {e, ff}, false, nullptr));
    DSMIL_RETURN_IF_ERROR(CheckShape(f, b + "ffn_down.weight", {ff, e}, false, nullptr));
  }
  return hp;
}

}  // namespace dsmil::llm
