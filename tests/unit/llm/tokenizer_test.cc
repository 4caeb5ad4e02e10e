#include "llm/tokenizer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "llm/gguf.h"
#include "llm/gguf_writer.h"
#include "llm/vocab_gen.h"

namespace dsmil::llm {
namespace {

using Ids = std::vector<int32_t>;

// <unk> <s> </s> <0x00>..<0xFF> (ids 3..258), then pieces.
VocabData TinySpm() {
  VocabData v;
  v.kind = VocabKind::kSpm;
  v.tokens = {"<unk>", "<s>", "</s>"};
  v.types = {2, 3, 3};
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">");
    v.types.push_back(6);
  }
  v.scores.assign(v.tokens.size(), 0.0f);
  const std::vector<std::pair<std::string, float>> pieces = {
      {"▁h", -1},  {"ll", -2},   {"▁w", -3},    {"or", -4},      {"ld", -5},      {"▁he", -6},
      {"llo", -7}, {"▁wor", -8}, {"▁hell", -9}, {"▁hello", -10}, {"▁world", -11}, {"▁", -20}};
  for (const auto& [p, s] : pieces) {
    v.tokens.push_back(p);
    v.scores.push_back(s);
    v.types.push_back(1);
  }
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  return v;
}
constexpr int32_t kPiece = 259;  // id of the first piece
enum : int32_t { kH = kPiece, kLl, kW, kOr, kLd, kHe, kLlo, kWor, kHell, kHello, kWorld, kSp };
int32_t Byte(uint8_t b) { return 3 + b; }

// The 256 byte characters (ids 0..255), merged tokens, one control token.
VocabData TinyBpe() {
  VocabData v;
  v.kind = VocabKind::kBpe;
  v.add_bos = false;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(ByteToBpeChar(uint8_t(b)));
    v.types.push_back(1);
  }
  const std::vector<std::pair<std::string, std::string>> merges = {{"h", "e"},    {"l", "l"}, {"he", "ll"},
                                                                   {"hell", "o"}, {"Ġ", "w"}, {"o", "r"},
                                                                   {"Ġw", "or"},  {"l", "d"}, {"Ġwor", "ld"}};
  for (const auto& [l, r] : merges) {
    std::string merge = l;
    merge += ' ';
    merge += r;
    v.merges.push_back(merge);
    v.tokens.push_back(l + r);
    v.types.push_back(1);
  }
  v.tokens.push_back("<|endoftext|>");
  v.types.push_back(3);
  v.bos = v.eos = 265;
  return v;
}
enum : int32_t { kBHe = 256, kBLl, kBHell, kBHello, kBGw, kBOr, kBGwor, kBLd, kBGworld, kBEot };

std::unique_ptr<Tokenizer> Make(VocabData v) {
  auto t = Tokenizer::FromVocab(std::move(v));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

const std::vector<std::string> kRoundTrip = {
    "",
    "hello world",
    "Hello, World! 123",
    "  leading and trailing spaces  ",
    "tabs\tand\nnew\n\nlines\r\n",
    "    four spaces, then   three",
    "héllo wörld — ünïcödé",
    "中文字符和日本語のテキスト",
    "emoji 😀🚀 and flags 🇫🇷",
    "mixed: x=1; y = [2, 3]; 'quoted' \"double\" isn't we'll they've",
    std::string("\x00\x01\x7f binary", 10),
};

TEST(TokenizerTest, SpmKnownEncoding) {
  auto t = Make(TinySpm());
  EXPECT_EQ(t->Encode("hello world", false, false), (Ids{kHello, kWorld}));
  EXPECT_EQ(t->Encode("hello world", true, false), (Ids{1, kHello, kWorld}));
  // é has no piece: byte fallback.
  EXPECT_EQ(t->Encode("hé", false, false), (Ids{kH, Byte(0xC3), Byte(0xA9)}));
  EXPECT_EQ(t->Encode("😀", false, false), (Ids{kSp, Byte(0xF0), Byte(0x9F), Byte(0x98), Byte(0x80)}));
  EXPECT_EQ(t->Encode("hello  world", false, false), (Ids{kHello, kSp, kWorld}));
  // Special tokens only with parse_special; no space prefix after them.
  EXPECT_EQ(t->Encode("<s>hello</s>", false, true), (Ids{1, Byte('h'), Byte('e'), kLlo, 2}));
  Ids raw = t->Encode("<s>", false, false);
  EXPECT_EQ(raw.front(), kSp);
  EXPECT_EQ(t->Decode(raw), "<s>");
  EXPECT_EQ(t->TokenToPiece(kHello), " hello");
  EXPECT_EQ(t->TokenToPiece(Byte('A')), "A");
  EXPECT_EQ(t->TokenToPiece(1), "");
  EXPECT_EQ(t->TokenToPiece(0), "\xEF\xBF\xBD");
  EXPECT_EQ(t->TokenToPiece(99999), "");
  EXPECT_EQ(t->TokenText(kHello), "▁hello");
  EXPECT_EQ(t->Find("▁world"), kWorld);
  EXPECT_TRUE(t->IsEndOfGeneration(2));
  EXPECT_FALSE(t->IsEndOfGeneration(kHello));
  EXPECT_EQ(t->bos(), 1);
  EXPECT_EQ(t->eos(), 2);
  EXPECT_EQ(t->vocab_size(), 271u);
}

TEST(TokenizerTest, SpmRoundTrip) {
  auto t = Make(TinySpm());
  for (const auto& s : kRoundTrip) {
    EXPECT_EQ(t->Decode(t->Encode(s, true, false)), s) << s;
    EXPECT_EQ(t->Decode(t->Encode(s, false, true)), s) << s;
  }
}

TEST(TokenizerTest, BpeKnownEncoding) {
  auto t = Make(TinyBpe());
  EXPECT_EQ(t->Encode("hello world", false, false), (Ids{kBHello, kBGworld}));
  EXPECT_EQ(t->Encode("hello world", true, false), (Ids{kBEot, kBHello, kBGworld}));
  EXPECT_EQ(t->Encode("hello  world!", false, false), (Ids{kBHello, ' ', kBGworld, '!'}));
  EXPECT_EQ(t->Encode("hell", false, false), (Ids{kBHell}));
  EXPECT_EQ(t->Encode("é", false, false), (Ids{0xC3, 0xA9}));
  EXPECT_EQ(t->Encode("<|endoftext|>hello", false, true), (Ids{kBEot, kBHello}));
  Ids raw = t->Encode("<|endoftext|>", false, false);
  EXPECT_EQ(raw.size(), 13u);  // "<|", "endoftext", "|>" byte by byte
  EXPECT_EQ(t->Decode(raw), "<|endoftext|>");
  EXPECT_EQ(t->TokenToPiece(kBGworld), " world");
  EXPECT_EQ(t->TokenText(kBGworld), "Ġworld");
  EXPECT_EQ(t->TokenToPiece(kBEot), "");
  EXPECT_TRUE(t->IsEndOfGeneration(kBEot));
}

TEST(TokenizerTest, BpeRoundTrip) {
  auto t = Make(TinyBpe());
  for (const auto& s : kRoundTrip) {
    EXPECT_EQ(t->Decode(t->Encode(s, false, false)), s) << s;
    EXPECT_EQ(t->Decode(t->Encode(s, true, true)), s) << s;
  }
}

TEST(TokenizerTest, BpePreTokenizer) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(SplitBpeWords("I'm here  now\n\nok 42x!?"),
            (V{"I", "'m", " here", " ", " now", "\n", "\n", "ok", " 42", "x", "!?"}));
  EXPECT_EQ(SplitBpeWords("  "), (V{"  "}));
  EXPECT_EQ(SplitBpeWords("a  "), (V{"a", "  "}));
  EXPECT_EQ(SplitBpeWords("we'll they've"), (V{"we", "'ll", " they", "'ve"}));
  EXPECT_EQ(SplitBpeWords(""), V{});
}

// The splits of llama.cpp's pre-tokenizers (its unicode.cpp: the regexes in
// the comments of BpePre, with Unicode letters, numbers and punctuation).
TEST(TokenizerTest, BpePreTokenizerKinds) {
  using V = std::vector<std::string_view>;
  // gpt-2: only an ASCII space joins the next word; NBSP is whitespace, so it
  // stands alone before a letter; symbols (€) and punctuation form one run;
  // ½ is a number, é a letter.
  EXPECT_EQ(SplitBpeWords("a\u00a0\u00a0b", BpePre::kGpt2), (V{"a", "\u00a0", "\u00a0", "b"}));
  EXPECT_EQ(SplitBpeWords("12345 €€! é½", BpePre::kGpt2), (V{"12345", " €€!", " é", "½"}));
  EXPECT_EQ(SplitBpeWords("x  y", BpePre::kGpt2), (V{"x", " ", " y"}));
  EXPECT_EQ(SplitBpeWords("DON'T", BpePre::kGpt2), (V{"DON", "'", "T"}));  // case-sensitive contractions
  // default: punctuation (and $+<=>^~|) runs first, then gpt-2, then number
  // runs, then every three ASCII digits.
  EXPECT_EQ(SplitBpeWords("a,b 1234567 x+y", BpePre::kDefault),
            (V{"a", ",", "b", " ", "123", "456", "7", " x", "+", "y"}));
  // llama3: case-insensitive contractions, one non-letter before a word,
  // numbers in groups of three, newlines kept with the punctuation before them.
  const char* text = "I'M 12345 (x)\r\n\n  y";
  EXPECT_EQ(SplitBpeWords(text, BpePre::kLlama3), (V{"I", "'M", " ", "123", "45", " (", "x", ")\r\n\n", " ", " y"}));
  // qwen2: the same, one digit per number.
  EXPECT_EQ(SplitBpeWords(text, BpePre::kQwen2),
            (V{"I", "'M", " ", "1", "2", "3", "4", "5", " (", "x", ")\r\n\n", " ", " y"}));
  // Invalid UTF-8 bytes are one symbol each and keep their bytes.
  EXPECT_EQ(SplitBpeWords("a\xff\xfe b", BpePre::kGpt2), (V{"a", "\xff\xfe", " b"}));
  for (BpePre pre : {BpePre::kDefault, BpePre::kGpt2, BpePre::kLlama3, BpePre::kQwen2}) {
    EXPECT_EQ(SplitBpeWords("", pre), V{});
    std::string joined;
    std::string mixed = "Hello, wörld!\n\t 2024-01-31 ٣٤٥ 😀 'll '' \r\n";
    for (std::string_view w : SplitBpeWords(mixed, pre)) joined += w;
    EXPECT_EQ(joined, mixed) << BpePreName(pre);
  }
  // Random mixes of the cases above: the words always cover the text exactly.
  const std::vector<std::string> parts = {"a",  "Z",   " ", "  ",  "\n",   "\r",      "\t",     "'",
                                          "'s", "'LL", "7", "123", ",",    "$",       "\u00a0", "\u3000",
                                          "é",  "½",   "€", "😀",   "\xff", "\xe2\x82"};
  std::mt19937 rng(7);
  for (int n = 0; n < 500; ++n) {
    std::string text;
    for (int k = int(rng() % 12); k > 0; --k) text += parts[rng() % parts.size()];
    for (BpePre pre : {BpePre::kDefault, BpePre::kGpt2, BpePre::kLlama3, BpePre::kQwen2}) {
      std::string joined;
      for (std::string_view w : SplitBpeWords(text, pre)) {
        EXPECT_FALSE(w.empty());
        joined += w;
      }
      ASSERT_EQ(joined, text) << BpePreName(pre);
    }
  }
}

TEST(TokenizerTest, BpePreNames) {
  EXPECT_EQ(*ParseBpePre("default"), BpePre::kDefault);
  EXPECT_EQ(*ParseBpePre("gpt-2"), BpePre::kGpt2);
  EXPECT_EQ(*ParseBpePre("llama3"), BpePre::kLlama3);
  EXPECT_EQ(*ParseBpePre("llama-bpe"), BpePre::kLlama3);
  EXPECT_EQ(*ParseBpePre("qwen2"), BpePre::kQwen2);
  auto bad = ParseBpePre("gpt2");  // llama.cpp's name is "gpt-2"
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'gpt2'"), std::string::npos) << bad.status().ToString();
  for (BpePre pre : {BpePre::kDefault, BpePre::kGpt2, BpePre::kLlama3, BpePre::kQwen2}) {
    EXPECT_EQ(*ParseBpePre(BpePreName(pre)), pre);
  }
}

// tokenizer.ggml.pre in a file: absent → default (as llama.cpp), llama3 turns
// add_bos on unless the file says otherwise, an unknown value is refused.
TEST(TokenizerTest, ReadsPreTokenizerFromGguf) {
  auto file = [](const char* pre, int add_bos) {
    GgufWriter w;
    w.Set("tokenizer.ggml.model", GgufValue::String("gpt2"));
    w.Set("tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b", "ab"}));
    w.Set("tokenizer.ggml.merges", GgufValue::StringArray({"a b"}));
    w.Set("tokenizer.ggml.bos_token_id", GgufValue::U32(2));
    if (pre) w.Set("tokenizer.ggml.pre", GgufValue::String(pre));
    if (add_bos >= 0) w.Set("tokenizer.ggml.add_bos_token", GgufValue::Bool(add_bos == 1));
    EXPECT_TRUE(w.BeginBuffer().ok());
    EXPECT_TRUE(w.Finish().ok());
    auto f = GgufFile::FromBuffer(w.TakeBuffer());
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return std::move(f).value();
  };
  auto v = ReadVocab(*file(nullptr, -1));
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->pre, BpePre::kDefault);
  EXPECT_FALSE(v->add_bos);
  v = ReadVocab(*file("llama-bpe", -1));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->pre, BpePre::kLlama3);
  EXPECT_TRUE(v->add_bos);
  v = ReadVocab(*file("llama3", 0));
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->add_bos);
  v = ReadVocab(*file("qwen2", -1));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->pre, BpePre::kQwen2);
  auto t = Tokenizer::FromGguf(*file("tekken", -1));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("tokenizer.ggml.pre 'tekken'"), std::string::npos) << t.status().ToString();
}

// llama3 takes a word that is a token as that token, whatever the merges say.
TEST(TokenizerTest, Llama3WholeWords) {
  VocabData v = TinyBpe();
  v.merges.push_back("l o");
  v.tokens.push_back("lo");
  v.types.push_back(1);
  v.tokens.push_back("low");  // no merge makes it
  v.types.push_back(1);
  const int32_t lo = int32_t(v.tokens.size()) - 2, low = lo + 1;
  v.pre = BpePre::kGpt2;
  EXPECT_EQ(Make(v)->Encode("low", false, false), (Ids{lo, 'w'}));
  v.pre = BpePre::kLlama3;
  EXPECT_EQ(Make(v)->Encode("low", false, false), (Ids{low}));
  EXPECT_EQ(Make(v)->Encode("lowlow", false, false), (Ids{lo, 'w', lo, 'w'}));
}

TEST(TokenizerTest, ByteMap) {
  EXPECT_EQ(ByteToBpeChar('a'), "a");
  EXPECT_EQ(ByteToBpeChar(' '), "Ġ");
  EXPECT_EQ(ByteToBpeChar('\n'), "Ċ");
  EXPECT_EQ(ByteToBpeChar(0), "Ā");
}

TEST(TokenizerTest, ValidatesVocab) {
  VocabData empty;
  EXPECT_FALSE(Tokenizer::FromVocab(empty).ok());
  VocabData v = TinySpm();
  v.scores.pop_back();
  EXPECT_NE(Tokenizer::FromVocab(v).status().message().find("scores has 270 entries for 271"), std::string::npos);
  v = TinySpm();
  v.bos = 5000;
  EXPECT_NE(Tokenizer::FromVocab(v).status().message().find("bos token id 5000"), std::string::npos);
  VocabData b = TinyBpe();
  b.merges.push_back("nospace");
  EXPECT_NE(Tokenizer::FromVocab(b).status().message().find("merge 9"), std::string::npos);
}

TEST(TokenizerTest, GeneratedVocabularies) {
  for (VocabKind kind : {VocabKind::kSpm, VocabKind::kBpe}) {
    for (size_t n : {260u, 512u, 4000u, 32000u}) {
      auto v = GenerateVocab(kind, n, "");
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_EQ(v->tokens.size(), n);
      auto t = Make(*v);
      std::string text(BuiltinVocabCorpus());
      Ids ids = t->Encode(text, true, false);
      EXPECT_EQ(t->Decode(ids), text);
      if (n >= 4000) {
        // A learned vocabulary compresses its own text well.
        EXPECT_LT(ids.size(), text.size() / 3) << n;
      }
      for (const auto& s : kRoundTrip) EXPECT_EQ(t->Decode(t->Encode(s, false, false)), s);
    }
  }
  auto spm = GenerateVocab(VocabKind::kSpm, 512, "");
  EXPECT_EQ(spm->tokens[0], "<unk>");
  EXPECT_EQ(spm->tokens[1], "<s>");
  EXPECT_EQ(spm->tokens[3], "<0x00>");
  EXPECT_EQ(spm->tokens[258], "<0xFF>");
  EXPECT_EQ(spm->tokens[259].rfind("▁", 0), 0u);  // first merge starts a word
  auto again = GenerateVocab(VocabKind::kSpm, 512, "");
  EXPECT_EQ(again->tokens, spm->tokens);
  auto bpe = GenerateVocab(VocabKind::kBpe, 1000, "the cat sat on the mat");
  ASSERT_TRUE(bpe.ok());
  EXPECT_EQ(bpe->tokens[999], "<|im_end|>");
  EXPECT_EQ(bpe->tokens[997], "<|endoftext|>");
  EXPECT_EQ(bpe->bos, 997);
  EXPECT_EQ(bpe->merges[0], "a t");  // most frequent pair of "the cat sat on the mat"
  EXPECT_FALSE(GenerateVocab(VocabKind::kSpm, 100, "").ok());
}

TEST(TokenizerTest, LongInputsStayFast) {
  // One 256 KiB "word" and 256 KiB of varied text: merging is O(n log n).
  for (VocabKind kind : {VocabKind::kSpm, VocabKind::kBpe}) {
    auto v = GenerateVocab(kind, 4000, "");
    auto t = Make(*v);
    std::string same(256 * 1024, 'a');
    std::string varied;
    while (varied.size() < 256 * 1024) varied += std::string(BuiltinVocabCorpus());
    std::string glued = varied;
    for (char& c : glued) {
      if (c == ' ' || c == '\n') c = 'x';
    }
    auto start = std::chrono::steady_clock::now();
    for (const std::string* s : {&same, &varied, &glued}) {
      EXPECT_EQ(t->Decode(t->Encode(*s, false, false)), *s);
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_LT(secs, 10.0);
  }
}

TEST(TokenizerTest, FromGgufModel) {
  auto spec = RandomModelShape("tiny");
  spec->vocab = VocabKind::kBpe;
  auto bytes = RandomLlamaModelBytes(*spec);
  ASSERT_TRUE(bytes.ok());
  auto f = GgufFile::FromBuffer(*bytes);
  ASSERT_TRUE(f.ok());
  auto t = Tokenizer::FromGguf(**f);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->kind(), VocabKind::kBpe);
  Ids ids = (*t)->Encode("<|im_start|>user\nhi<|im_end|>", false, true);
  EXPECT_EQ(ids.front(), (*t)->Find("<|im_start|>"));
  EXPECT_EQ(ids.back(), (*t)->Find("<|im_end|>"));
  EXPECT_TRUE((*t)->IsEndOfGeneration(ids.back()));
}

}  // namespace
}  // namespace dsmil::llm
