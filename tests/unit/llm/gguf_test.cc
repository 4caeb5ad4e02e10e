#include "llm/gguf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <random>

#include "llm/gguf_writer.h"
#include "llm/kernels.h"
#include "llm/tokenizer.h"

namespace dsmil::llm {
namespace {

// Hand-built GGUF bytes, for malformed files.
class Raw {
 public:
  Raw& U8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Raw& U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  Raw& U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(uint8_t(v >> (8 * i)));
    return *this;
  }
  Raw& Str(const std::string& s) {
    U64(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& Magic() {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return *this;
  }
  Raw& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Magic().U32(version).U64(n_tensors).U64(n_kv);
  }
  Raw& PadTo(size_t a) {
    while (b.size() % a) b.push_back(0);
    return *this;
  }
  Raw& Zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  std::vector<uint8_t> b;
};

Status Parse(const std::vector<uint8_t>& b) { return GgufFile::FromBuffer(b).status(); }

std::string Err(const std::vector<uint8_t>& b) {
  Status s = Parse(b);
  EXPECT_FALSE(s.ok());
  return s.message();
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = uint8_t(g());
  return v;
}

// A file with every metadata type and every tensor type.
std::vector<uint8_t> FullFile(uint32_t alignment, std::vector<std::vector<uint8_t>>* datas) {
  GgufWriter w(alignment);
  w.Set("t.u8", GgufValue::U8(200));
  w.Set("t.i8", GgufValue::I8(-100));
  w.Set("t.u16", GgufValue::U16(65000));
  w.Set("t.i16", GgufValue::I16(-32000));
  w.Set("t.u32", GgufValue::U32(4000000000u));
  w.Set("t.i32", GgufValue::I32(-2000000000));
  w.Set("t.u64", GgufValue::U64(0xfedcba9876543210ull));
  w.Set("t.i64", GgufValue::I64(-0x123456789abcdefll));
  w.Set("t.f32", GgufValue::F32(1.5f));
  w.Set("t.f64", GgufValue::F64(-2.25e100));
  w.Set("t.bool", GgufValue::Bool(true));
  w.Set("t.string", GgufValue::String("héllo \xF0\x9F\x98\x80 world"));
  w.Set("t.empty_string", GgufValue::String(""));
  w.Set("t.strings", GgufValue::StringArray({"a", "", "ccc"}));
  w.Set("t.f32s", GgufValue::F32Array({0.5f, -1.0f, 3.25f}));
  w.Set("t.i32s", GgufValue::I32Array({1, -2, 3}));
  w.Set("t.u8s", GgufValue::Array(GgufValueType::kU8, {GgufValue::U8(1), GgufValue::U8(2)}));
  w.Set("t.empty", GgufValue::Array(GgufValueType::kF32, {}));
  w.Set("t.nested",
        GgufValue::Array(GgufValueType::kArray, {GgufValue::StringArray({"x", "y"}), GgufValue::StringArray({"z"})}));
  struct T {
    const char* name;
    std::vector<uint64_t> dims;
    GgmlType type;
  };
  std::vector<T> ts = {{"f32", {3, 5}, GgmlType::kF32},     {"f16", {7}, GgmlType::kF16},
                       {"q4_0", {64, 2}, GgmlType::kQ4_0},  {"q8_0", {32, 3, 1}, GgmlType::kQ8_0},
                       {"q4_k", {256, 2}, GgmlType::kQ4_K}, {"q6_k", {512, 1, 1, 2}, GgmlType::kQ6_K}};
  for (const T& t : ts) EXPECT_TRUE(w.AddTensor(t.name, t.dims, t.type).ok());
  EXPECT_TRUE(w.BeginBuffer().ok());
  uint32_t seed = 1;
  for (const T& t : ts) {
    uint64_t n = 1;
    for (auto d : t.dims) n *= d;
    auto bytes = RandomBytes(*GgmlBytes(t.type, n), seed++);
    // Write in two chunks to exercise streaming.
    size_t half = bytes.size() / 2;
    EXPECT_TRUE(w.WriteTensorData(std::span(bytes).first(half)).ok());
    EXPECT_TRUE(w.WriteTensorData(std::span(bytes).subspan(half)).ok());
    datas->push_back(bytes);
  }
  EXPECT_TRUE(w.Finish().ok());
  return w.TakeBuffer();
}

TEST(GgufTest, TypeSizes) {
  EXPECT_EQ(*GgmlBytes(GgmlType::kF32, 10), 40u);
  EXPECT_EQ(*GgmlBytes(GgmlType::kF16, 10), 20u);
  EXPECT_EQ(*GgmlBytes(GgmlType::kQ4_0, 64), 36u);
  EXPECT_EQ(*GgmlBytes(GgmlType::kQ8_0, 64), 68u);
  EXPECT_EQ(*GgmlBytes(GgmlType::kQ4_K, 512), 288u);
  EXPECT_EQ(*GgmlBytes(GgmlType::kQ6_K, 256), 210u);
  EXPECT_FALSE(GgmlBytes(GgmlType::kQ8_0, 33).ok());
  EXPECT_EQ(*ParseGgmlType("q8_0"), GgmlType::kQ8_0);
  EXPECT_FALSE(ParseGgmlType("q5_1").ok());
}

TEST(GgufTest, RoundTripEveryTypeAndTensor) {
  for (uint32_t alignment : {32u, 64u, 8u}) {
    std::vector<std::vector<uint8_t>> datas;
    auto bytes = FullFile(alignment, &datas);
    auto f = GgufFile::FromBuffer(bytes);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    const GgufFile& g = **f;
    EXPECT_EQ(g.version(), 3u);
    EXPECT_EQ(g.alignment(), alignment);
    EXPECT_EQ(g.file_bytes(), bytes.size());
    EXPECT_EQ(*g.U32("t.u8"), 200u);
    EXPECT_EQ(*g.I32("t.i8"), -100);
    EXPECT_EQ(*g.U32("t.u16"), 65000u);
    EXPECT_EQ(*g.I32("t.i16"), -32000);
    EXPECT_EQ(*g.U32("t.u32"), 4000000000u);
    EXPECT_EQ(*g.I32("t.i32"), -2000000000);
    EXPECT_EQ(*g.U64("t.u64"), 0xfedcba9876543210ull);
    EXPECT_EQ(g.Value("t.i64")->i, -0x123456789abcdefll);
    EXPECT_EQ(*g.F32("t.f32"), 1.5f);
    EXPECT_EQ(g.Value("t.f64")->f, -2.25e100);
    EXPECT_EQ(*g.Bool("t.bool"), true);
    EXPECT_EQ(*g.String("t.string"), "héllo \xF0\x9F\x98\x80 world");
    EXPECT_EQ(*g.String("t.empty_string"), "");
    EXPECT_EQ(*g.StringArray("t.strings"), (std::vector<std::string>{"a", "", "ccc"}));
    EXPECT_EQ(*g.F32Array("t.f32s"), (std::vector<float>{0.5f, -1.0f, 3.25f}));
    EXPECT_EQ(*g.I32Array("t.i32s"), (std::vector<int32_t>{1, -2, 3}));
    EXPECT_EQ(*g.I32Array("t.u8s"), (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(*g.ArrayLength("t.empty"), 0u);
    auto nested = g.Value("t.nested");
    ASSERT_TRUE(nested.ok());
    ASSERT_EQ(nested->items.size(), 2u);
    EXPECT_EQ(nested->elem_type, GgufValueType::kArray);
    EXPECT_EQ(nested->items[0].items[1].s, "y");
    EXPECT_EQ(nested->items[1].items[0].s, "z");
    // Wrong type / range / absence.
    EXPECT_EQ(g.U32("t.i8").status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(g.I32("t.u32").status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(g.String("t.u8").status().message().find("'t.u8' is u8, expected string"), std::string::npos);
    EXPECT_EQ(g.U32("missing").status().code(), StatusCode::kNotFound);
    EXPECT_FALSE(g.Has("missing"));
    size_t expected_kvs = 19 + (alignment != 32 ? 1 : 0);
    EXPECT_EQ(g.kvs().size(), expected_kvs);

    ASSERT_EQ(g.tensors().size(), datas.size());
    for (size_t i = 0; i < datas.size(); ++i) {
      const GgufTensor& t = g.tensors()[i];
      EXPECT_EQ(g.Tensor(t.name), &t);
      ASSERT_EQ(t.bytes, datas[i].size()) << t.name;
      EXPECT_EQ(std::memcmp(t.data, datas[i].data(), t.bytes), 0) << t.name;
      EXPECT_EQ(t.offset % alignment, 0u);
      EXPECT_EQ((g.data_offset() + t.offset) % alignment, 0u);
    }
    EXPECT_EQ(g.Tensor("q6_k")->elements(), 1024u);
    EXPECT_EQ(g.Tensor("q6_k")->rows(), 2u);
    EXPECT_EQ(g.Tensor("nope"), nullptr);
  }
}

TEST(GgufTest, OpenMapsFile) {
  std::vector<std::vector<uint8_t>> datas;
  auto bytes = FullFile(32, &datas);
  std::string path = testing::TempDir() + "/gguf_open_test.gguf";
  {
    std::ofstream o(path, std::ios::binary);
    o.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ((*f)->path(), path);
  EXPECT_EQ(std::memcmp((*f)->Tensor("q8_0")->data, datas[3].data(), datas[3].size()), 0);
  // Tensor data is aligned in memory too (the mapping is page aligned).
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*f)->Tensor("q8_0")->data) % 32, 0u);
  unlink(path.c_str());
  EXPECT_EQ(GgufFile::Open(path).status().code(), StatusCode::kNotFound);
}

TEST(GgufTest, WriterStreamsToFile) {
  auto spec = RandomModelShape("tiny");
  ASSERT_TRUE(spec.ok());
  std::string path = testing::TempDir() + "/gguf_writer_test.gguf";
  uint64_t last = 0, total = 0;
  ASSERT_TRUE(WriteRandomLlamaModel(*spec, path, [&](uint64_t d, uint64_t t) {
                EXPECT_GE(d, last);
                last = d;
                total = t;
              }).ok());
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(last, total);
  EXPECT_EQ((*f)->file_bytes(), total);
  auto mem = RandomLlamaModelBytes(*spec);
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->size(), (*f)->file_bytes());  // deterministic
  unlink(path.c_str());
}

TEST(GgufTest, WriterRefusesMisuse) {
  GgufWriter w;
  EXPECT_FALSE(w.AddTensor("a", {33}, GgmlType::kQ8_0).ok());
  EXPECT_FALSE(w.AddTensor("a", {}, GgmlType::kF32).ok());
  EXPECT_FALSE(w.AddTensor("a", {1, 0}, GgmlType::kF32).ok());
  EXPECT_TRUE(w.AddTensor("a", {4}, GgmlType::kF32).ok());
  EXPECT_FALSE(w.AddTensor("a", {4}, GgmlType::kF32).ok());
  ASSERT_TRUE(w.BeginBuffer().ok());
  std::vector<uint8_t> too_much(17);
  EXPECT_FALSE(w.WriteTensorData(too_much).ok());
  EXPECT_FALSE(w.Finish().ok());  // 0 of 16 bytes written
}

TEST(GgufTest, TruncatedAnywhereIsRefused) {
  std::vector<std::vector<uint8_t>> datas;
  auto bytes = FullFile(32, &datas);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    Status s = Parse(cut);
    EXPECT_FALSE(s.ok()) << "prefix of " << n << " bytes accepted";
    EXPECT_EQ(s.message().rfind("gguf: ", 0), 0u) << s.message();
  }
}

TEST(GgufTest, TruncatedModelNamesTensor) {
  auto spec = RandomModelShape("tiny");
  auto bytes = RandomLlamaModelBytes(*spec);
  ASSERT_TRUE(bytes.ok());
  bytes->resize(bytes->size() - 1);
  std::string m = Err(*bytes);
  EXPECT_NE(m.find("tensor 'output.weight' ends at byte " + std::to_string(bytes->size() + 1) +
                   ", past the end of the " + std::to_string(bytes->size()) + "-byte file"),
            std::string::npos)
      << m;
}

TEST(GgufTest, BadHeaders) {
  EXPECT_NE(Err({}).find("shorter than the 24-byte"), std::string::npos);
  Raw r;
  r.b = {'G', 'G', 'M', 'L'};
  r.U32(3).U64(0).U64(0);
  EXPECT_NE(Err(r.b).find("bad magic 'GGML'"), std::string::npos);
  EXPECT_NE(Err(Raw().Header(0, 0, 1).b).find("version 1"), std::string::npos);
  EXPECT_NE(Err(Raw().Header(0, 0, 4).b).find("unsupported version 4"), std::string::npos);
  EXPECT_NE(Err(Raw().Header(0, 0, 0x03000000).b).find("big-endian"), std::string::npos);
  EXPECT_TRUE(Parse(Raw().Header(0, 0, 2).b).ok());
  EXPECT_TRUE(Parse(Raw().Header(0, 0, 3).b).ok());
  EXPECT_NE(Err(Raw().Header(0, uint64_t(1) << 40).b).find("kv count 1099511627776 is over the limit"),
            std::string::npos);
  EXPECT_NE(Err(Raw().Header(uint64_t(-1), 0).b).find("tensor count"), std::string::npos);
  EXPECT_NE(Err(Raw().Header(0, 1000).b).find("cannot fit"), std::string::npos);
  EXPECT_NE(Err(Raw().Header(10, 0).b).find("cannot fit"), std::string::npos);
}

TEST(GgufTest, BadMetadata) {
  // String length overflow.
  Raw a;
  a.Header(0, 1).U64(uint64_t(-1));
  a.Zeros(16);
  EXPECT_NE(Err(a.b).find("over the limit"), std::string::npos);
  Raw b;
  b.Header(0, 1).Str("k").U32(8).U64(100).Zeros(10);
  EXPECT_NE(Err(b.b).find("kv 0 ('k') string at byte"), std::string::npos);
  Raw c;
  c.Header(0, 1).Str("k").U32(13).Zeros(8);
  EXPECT_NE(Err(c.b).find("unknown value type 13"), std::string::npos);
  Raw d;  // array of 2^60 u32
  d.Header(0, 1).Str("k").U32(9).U32(4).U64(uint64_t(1) << 60).Zeros(8);
  EXPECT_NE(Err(d.b).find("over the limit"), std::string::npos);
  Raw e;  // array of 1000 strings in 20 bytes
  e.Header(0, 1).Str("k").U32(9).U32(8).U64(1000).Zeros(20);
  EXPECT_NE(Err(e.b).find("cannot fit"), std::string::npos);
  Raw f;  // arrays nested too deep
  f.Header(0, 1).Str("k").U32(9);
  for (int i = 0; i < 6; ++i) f.U32(9).U64(1);
  f.U32(4).U64(1).U32(7);
  EXPECT_NE(Err(f.b).find("nested deeper"), std::string::npos);
  Raw g;  // duplicate key
  g.Header(0, 2).Str("k").U32(4).U32(1).Str("k").U32(4).U32(2);
  EXPECT_NE(Err(g.b).find("duplicate key 'k'"), std::string::npos);
  Raw h;  // bad alignment
  h.Header(0, 1).Str("general.alignment").U32(4).U32(24);
  EXPECT_NE(Err(h.b).find("general.alignment 24 is not a power of two"), std::string::npos);
  Raw i;
  i.Header(0, 1).Str("").U32(4).U32(1);
  EXPECT_NE(Err(i.b).find("empty key"), std::string::npos);
}

Raw OneTensor(uint32_t n_dims, const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset, size_t data_bytes) {
  Raw r;
  r.Header(1, 0).Str("blk.3.attn_q.weight").U32(n_dims);
  for (uint64_t d : dims) r.U64(d);
  r.U32(type).U64(offset);
  r.PadTo(32).Zeros(data_bytes);
  return r;
}

TEST(GgufTest, BadTensors) {
  EXPECT_TRUE(Parse(OneTensor(2, {4, 2}, 0, 0, 32).b).ok());
  std::string m = Err(OneTensor(2, {4, 2}, 0, 0, 31).b);
  EXPECT_NE(m.find("tensor 'blk.3.attn_q.weight' ends at byte"), std::string::npos) << m;
  EXPECT_NE(m.find("past the end of the"), std::string::npos) << m;
  EXPECT_NE(Err(OneTensor(2, {4, 2}, 0, 64, 32).b).find("past the end"), std::string::npos);
  EXPECT_NE(Err(OneTensor(2, {4, 2}, 0, uint64_t(-32), 32).b).find("past the end"), std::string::npos);
  EXPECT_NE(Err(OneTensor(2, {4, 2}, 0, 8, 64).b).find("not a multiple of the 32-byte alignment"), std::string::npos);
  EXPECT_NE(Err(OneTensor(5, {1, 1, 1, 1, 1}, 0, 0, 32).b).find("5 dimensions"), std::string::npos);
  EXPECT_NE(Err(OneTensor(0, {}, 0, 0, 32).b).find("0 dimensions"), std::string::npos);
  EXPECT_NE(Err(OneTensor(2, {4, 0}, 0, 0, 32).b).find("dim 1 is 0"), std::string::npos);
  EXPECT_NE(
      Err(OneTensor(4, {1u << 20, 1u << 20, 1u << 20, 1u << 20}, 0, 0, 32).b).find("more than 1099511627776 elements"),
      std::string::npos);
  EXPECT_NE(Err(OneTensor(2, {uint64_t(-1), uint64_t(-1)}, 0, 0, 32).b).find("more than"), std::string::npos);
  EXPECT_NE(Err(OneTensor(1, {32}, 3, 0, 64).b).find("unsupported ggml type 3"), std::string::npos);
  EXPECT_NE(Err(OneTensor(1, {33}, 8, 0, 64).b).find("not a multiple of the 32-element Q8_0"), std::string::npos);
  // Overlap and duplicate names.
  Raw o;
  o.Header(2, 0).Str("a").U32(1).U64(8).U32(0).U64(0).Str("b").U32(1).U64(8).U32(0).U64(0);
  o.PadTo(32).Zeros(64);
  EXPECT_NE(Err(o.b).find("overlaps"), std::string::npos);
  Raw d;
  d.Header(2, 0).Str("a").U32(1).U64(8).U32(0).U64(0).Str("a").U32(1).U64(8).U32(0).U64(32);
  d.PadTo(32).Zeros(64);
  EXPECT_NE(Err(d.b).find("duplicate tensor name 'a'"), std::string::npos);
}

TEST(GgufTest, RandomBytesNeverCrash) {
  std::vector<std::vector<uint8_t>> datas;
  auto good = FullFile(32, &datas);
  std::mt19937 g(7);
  for (int iter = 0; iter < 3000; ++iter) {
    auto b = good;
    int flips = 1 + int(g() % 4);
    for (int k = 0; k < flips; ++k) b[g() % b.size()] = uint8_t(g());
    auto f = GgufFile::FromBuffer(b);
    if (f.ok()) {
      for (const auto& kv : (*f)->kvs()) (void)(*f)->Value(kv.key);
      (void)ReadLlamaHParams(**f);
      (void)Tokenizer::FromGguf(**f);
    }
  }
}

TEST(GgufTest, HalfAndQ8) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f}) {
    EXPECT_EQ(F16ToF32(F32ToF16(f)), f) << f;
  }
  EXPECT_TRUE(std::isinf(F16ToF32(F32ToF16(1e6f))));
  EXPECT_EQ(F32ToF16(1.0f), 0x3c00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xc000);
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = float(i - 16) / 8.0f;
  uint8_t q[34];
  QuantizeQ8_0(x.data(), 32, q);
  float d = F16ToF32(uint16_t(q[0] | (q[1] << 8)));
  EXPECT_NEAR(d, 2.0f / 127.0f, 1e-5);
  for (int i = 0; i < 32; ++i) EXPECT_NEAR(int8_t(q[2 + i]) * d, x[i], d);
}

TEST(GgufTest, LlamaHParamsOfRandomModels) {
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kQ8_0, GgmlType::kQ4_0}) {
    for (VocabKind vk : {VocabKind::kSpm, VocabKind::kBpe}) {
      auto spec = RandomModelShape("tiny");
      spec->type = type;
      spec->vocab = vk;
      spec->n_embd = 64;
      auto bytes = RandomLlamaModelBytes(*spec);
      ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
      auto f = GgufFile::FromBuffer(*bytes);
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      auto hp = ReadLlamaHParams(**f);
      ASSERT_TRUE(hp.ok()) << hp.status().ToString();
      EXPECT_EQ(hp->arch, "llama");
      EXPECT_EQ(hp->n_vocab, 512u);
      EXPECT_EQ(hp->n_embd, 64u);
      EXPECT_EQ(hp->n_layer, 2u);
      EXPECT_EQ(hp->n_head, 4u);
      EXPECT_EQ(hp->n_head_kv, 2u);
      EXPECT_EQ(hp->n_ff, 192u);
      EXPECT_EQ(hp->n_rot, 16u);
      EXPECT_EQ(hp->n_embd_kv(), 32u);
      EXPECT_FALSE(hp->tied_output);
      EXPECT_EQ((*f)->Tensor("blk.1.attn_q.weight")->type, type);
      EXPECT_EQ((*f)->Tensor("blk.1.ffn_norm.weight")->type, GgmlType::kF32);
      EXPECT_NE((*f)->String("general.name")->find("random-weights"), std::string::npos);
      EXPECT_TRUE((*f)->Has("tokenizer.chat_template"));
      auto tok = Tokenizer::FromGguf(**f);
      ASSERT_TRUE(tok.ok()) << tok.status().ToString();
      EXPECT_EQ((*tok)->vocab_size(), 512u);
    }
  }
}

TEST(GgufTest, RandomQ4ModelFollowsTheF32Weights) {
  // The same seed gives the same values before quantisation: every Q4_0 block
  // is the F32 block quantised as llama.cpp does (d = signed max / -8).
  auto spec = RandomModelShape("tiny");
  auto f32_bytes = RandomLlamaModelBytes(*spec);
  spec->type = GgmlType::kQ4_0;
  auto q4_bytes = RandomLlamaModelBytes(*spec);
  ASSERT_TRUE(f32_bytes.ok() && q4_bytes.ok());
  auto f32 = GgufFile::FromBuffer(*f32_bytes);
  auto q4 = GgufFile::FromBuffer(*q4_bytes);
  ASSERT_TRUE(f32.ok() && q4.ok());
  EXPECT_EQ(*(*q4)->U32("general.file_type"), 2u);
  EXPECT_EQ(*(*q4)->U32("general.quantization_version"), 2u);
  const GgufTensor* a = (*f32)->Tensor("blk.0.ffn_up.weight");
  const GgufTensor* b = (*q4)->Tensor("blk.0.ffn_up.weight");
  ASSERT_EQ(b->type, GgmlType::kQ4_0);
  ASSERT_EQ(b->bytes, a->elements() / 32 * 18);
  const float* x = reinterpret_cast<const float*>(a->data);
  std::vector<BlockQ4_0> want(a->elements() / 32);
  QuantizeRowQ4_0(x, want.data(), int64_t(a->elements()));
  EXPECT_EQ(std::memcmp(b->data, want.data(), b->bytes), 0);
  std::vector<float> back(a->elements());
  DequantizeRow(GgmlType::kQ4_0, b->data, back.data(), int64_t(a->elements()));
  for (uint64_t i = 0; i < a->elements(); ++i) {
    float d = HalfToFloat(want[i / 32].d);
    // Half a step, or a whole one for values opposite the block's max
    // beyond 7 steps (nibble 15 stands for 7d: the range is asymmetric).
    float step = std::fabs(d) * 1.01f;
    ASSERT_NEAR(back[i], x[i], std::fabs(x[i]) > 7 * std::fabs(d) ? step : step / 2) << i;
  }
  spec->n_ff = 200;  // not a multiple of the block
  EXPECT_FALSE(RandomLlamaModelBytes(*spec).ok());
}

TEST(GgufTest, RandomBpeModelsNameTheirPreTokenizer) {
  for (BpePre pre : {BpePre::kGpt2, BpePre::kLlama3, BpePre::kQwen2, BpePre::kDefault}) {
    auto spec = RandomModelShape("tiny");
    spec->vocab = VocabKind::kBpe;
    spec->pre = pre;
    auto bytes = RandomLlamaModelBytes(*spec);
    ASSERT_TRUE(bytes.ok());
    auto f = GgufFile::FromBuffer(*bytes);
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(*(*f)->String("tokenizer.ggml.pre"), BpePreName(pre));
    auto v = ReadVocab(**f);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->pre, pre);
  }
  auto spec = RandomModelShape("tiny");  // SPM: no pre-tokenizer key
  auto f = GgufFile::FromBuffer(*RandomLlamaModelBytes(*spec));
  EXPECT_FALSE((*f)->Has("tokenizer.ggml.pre"));
}

TEST(GgufTest, RandomWeightsAreScaled) {
  auto spec = RandomModelShape("tiny");
  auto bytes = RandomLlamaModelBytes(*spec);
  auto f = GgufFile::FromBuffer(*bytes);
  const GgufTensor* q = (*f)->Tensor("blk.0.attn_q.weight");
  const float* w = reinterpret_cast<const float*>(q->data);
  double sum2 = 0;
  for (uint64_t i = 0; i < q->elements(); ++i) sum2 += double(w[i]) * w[i];
  double std = std::sqrt(sum2 / double(q->elements()));
  EXPECT_NEAR(std, 1.0 / std::sqrt(64.0), 0.02);
  const float* norm = reinterpret_cast<const float*>((*f)->Tensor("output_norm.weight")->data);
  EXPECT_EQ(norm[0], 1.0f);
  // Another seed gives other weights.
  spec->seed = 2;
  auto other = RandomLlamaModelBytes(*spec);
  EXPECT_NE(*other, *bytes);
}

TEST(GgufTest, LlamaHParamsErrors) {
  auto spec = RandomModelShape("tiny");
  GgufWriter w;
  w.Set("general.architecture", GgufValue::String("llama"));
  w.Set("llama.embedding_length", GgufValue::U32(64));
  w.Set("llama.block_count", GgufValue::U32(1));
  w.Set("llama.attention.head_count", GgufValue::U32(4));
  w.Set("llama.feed_forward_length", GgufValue::U32(128));
  w.Set("llama.context_length", GgufValue::U32(128));
  w.Set("llama.vocab_size", GgufValue::U32(300));
  ASSERT_TRUE(w.AddTensor("token_embd.weight", {64, 300}, GgmlType::kF32).ok());
  ASSERT_TRUE(w.AddTensor("output_norm.weight", {64}, GgmlType::kF32).ok());
  ASSERT_TRUE(w.AddTensor("blk.0.attn_norm.weight", {64}, GgmlType::kF32).ok());
  ASSERT_TRUE(w.AddTensor("blk.0.attn_q.weight", {64, 32}, GgmlType::kF32).ok());
  ASSERT_TRUE(w.BeginBuffer().ok());
  std::vector<uint8_t> zeros(64 * 300 * 4);
  ASSERT_TRUE(w.WriteTensorData(zeros).ok());
  ASSERT_TRUE(w.WriteTensorData(std::span(zeros).first(256)).ok());
  ASSERT_TRUE(w.WriteTensorData(std::span(zeros).first(256)).ok());
  ASSERT_TRUE(w.WriteTensorData(std::span(zeros).first(64 * 32 * 4)).ok());
  ASSERT_TRUE(w.Finish().ok());
  auto f = GgufFile::FromBuffer(w.TakeBuffer());
  ASSERT_TRUE(f.ok());
  std::string m = ReadLlamaHParams(**f).status().message();
  EXPECT_EQ(m, "gguf: tensor 'blk.0.attn_q.weight' has shape {64, 32}, expected {64, 64}");

  GgufWriter w2;
  w2.Set("general.architecture", GgufValue::String("llama"));
  ASSERT_TRUE(w2.BeginBuffer().ok());
  ASSERT_TRUE(w2.Finish().ok());
  auto f2 = GgufFile::FromBuffer(w2.TakeBuffer());
  EXPECT_EQ(ReadLlamaHParams(**f2).status().message(), "gguf: key 'llama.embedding_length' not found");
}

TEST(GgufTest, ModelSpecChecks) {
  auto spec = RandomModelShape("tiny");
  spec->n_head = 5;
  EXPECT_NE(RandomLlamaModelBytes(*spec).status().message().find("n_embd must be a multiple of n_head"),
            std::string::npos);
  EXPECT_FALSE(RandomModelShape("7b").ok());
  EXPECT_TRUE(RandomModelShape("1.1b").ok());
}

}  // namespace
}  // namespace dsmil::llm
