#include "llm/tokenizer.h"

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <queue>
#include <span>

#include "llm/gguf.h"

namespace dsmil::llm {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581 ▁
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the UTF-8 sequence starting at s[i] (1 for invalid bytes).
size_t Utf8Len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) return 1;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

std::string Utf8Encode(uint32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
  return out;
}

struct ByteMaps {
  std::array<std::string, 256> to_char;
  std::unordered_map<std::string, uint8_t> to_byte;
  ByteMaps() {
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_char[b] = Utf8Encode(printable ? uint32_t(b) : next++);
      to_byte[to_char[b]] = uint8_t(b);
    }
  }
};

const ByteMaps& Maps() {
  static const ByteMaps* m = new ByteMaps();
  return *m;
}

std::string ByteTokenText(uint8_t b) {
  static const char* kHex = "0123456789ABCDEF";
  std::string s = "<0x";
  s += kHex[b >> 4];
  s += kHex[b & 15];
  s += '>';
  return s;
}

// ---- BPE pre-tokenizers --------------------------------------------------------

struct CodePointRange {
  uint32_t first, last;
};

#include "llm/unicode_tables.inc"

bool InRanges(std::span<const CodePointRange> ranges, uint32_t cp) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](uint32_t c, const CodePointRange& r) { return c < r.first; });
  return it != ranges.begin() && cp <= (it - 1)->last;
}

// Code point classes of the splits. Every code point has at least one flag;
// 0 stands for "outside the piece being split".
constexpr uint8_t kLetter = 1, kNumber = 2, kSpaceFlag = 4, kPunct = 8, kOtherFlag = 16;

bool IsUnicodeSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint8_t ComputeFlags(uint32_t cp) {
  uint8_t f = 0;
  if (InRanges(kLetterRanges, cp)) f |= kLetter;
  if (InRanges(kNumberRanges, cp)) f |= kNumber;
  if (InRanges(kPunctuationRanges, cp)) f |= kPunct;
  if (IsUnicodeSpace(cp)) f |= kSpaceFlag;
  return f ? f : kOtherFlag;
}

uint8_t CodePointFlags(uint32_t cp) {
  static const std::array<uint8_t, 128> kAscii = [] {
    std::array<uint8_t, 128> a{};
    for (uint32_t c = 0; c < 128; ++c) a[c] = ComputeFlags(c);
    return a;
  }();
  return cp < 128 ? kAscii[cp] : ComputeFlags(cp);
}

struct CodePoint {
  uint32_t cp;
  size_t offset;  // of its first byte in the text
  uint8_t flags;
};

std::vector<CodePoint> DecodeCodePoints(std::string_view s) {
  std::vector<CodePoint> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Len(s, i);
    auto b = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    if (n == 1) {
      cp = b < 0x80 ? b : 0xFFFD;  // an invalid byte reads as U+FFFD
    } else {
      cp = b & (0xFF >> (n + 1));
      for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    out.push_back({cp, i, CodePointFlags(cp)});
    i += n;
  }
  return out;
}

constexpr uint32_t kOutside = 0xFFFFFFFF;

// Splits code points [ini, end) of `c` with one of llama.cpp's hand-written
// regex splitters; appends the end of every non-empty word to `ends`.
class PieceSplitter {
 public:
  PieceSplitter(const std::vector<CodePoint>& c, size_t ini, size_t end, std::vector<size_t>& ends)
      : c_(c), end_(end), prev_(ini), ends_(ends) {}

  uint32_t Cp(size_t p) const { return p < end_ ? c_[p].cp : kOutside; }
  uint8_t Flags(size_t p) const { return p < end_ ? c_[p].flags : 0; }
  size_t Add(size_t e) {
    size_t len = e - prev_;
    if (len > 0) ends_.push_back(e);
    prev_ = e;
    return len;
  }
  size_t end() const { return end_; }

  // 's 't 're 've 'm 'll 'd at `pos` (ASCII case-insensitive when `fold`):
  // the length of the match, or 0.
  size_t Contraction(size_t pos, bool fold) const {
    if (Cp(pos) != '\'' || pos + 1 >= end_) return 0;
    auto lower = [&](uint32_t cp) { return fold && cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; };
    uint32_t a = lower(Cp(pos + 1));
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 >= end_) return 0;
    uint32_t b = lower(Cp(pos + 2));
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

 private:
  const std::vector<CodePoint>& c_;
  size_t end_;
  size_t prev_;
  std::vector<size_t>& ends_;
};

constexpr uint8_t kWordFlags = kLetter | kNumber | kSpaceFlag;

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
void SplitGpt2(const std::vector<CodePoint>& c, size_t ini, size_t end, std::vector<size_t>& ends) {
  PieceSplitter s(c, ini, end, ends);
  for (size_t pos = ini; pos < end;) {
    const uint32_t cp = s.Cp(pos);
    if (size_t n = s.Contraction(pos, false)) {
      pos += s.Add(pos + n);
      continue;
    }
    uint8_t f2 = cp == ' ' ? s.Flags(pos + 1) : s.Flags(pos);
    bool matched = false;
    for (uint8_t cls : {kLetter, kNumber}) {
      if (f2 & cls) {
        pos += cp == ' ';
        while (f2 & cls) f2 = s.Flags(++pos);
        s.Add(pos);
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (!(f2 & kWordFlags) && f2) {
      pos += cp == ' ';
      while (!(f2 & kWordFlags) && f2) f2 = s.Flags(++pos);
      s.Add(pos);
      continue;
    }
    size_t spaces = 0;
    while (s.Flags(pos + spaces) & kSpaceFlag) ++spaces;
    if (spaces > 1 && s.Cp(pos + spaces) != kOutside) {
      pos += spaces - 1;
      s.Add(pos);
      continue;
    }
    pos += spaces > 0 ? spaces : 1;
    s.Add(pos);
  }
}

// llama3 (max_digits 3) and qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
void SplitLlama3(const std::vector<CodePoint>& c, size_t ini, size_t end, size_t max_digits,
                 std::vector<size_t>& ends) {
  PieceSplitter s(c, ini, end, ends);
  auto is_rn = [](uint32_t cp) { return cp == '\r' || cp == '\n'; };
  for (size_t pos = ini; pos < end;) {
    const uint32_t cp = s.Cp(pos);
    const uint8_t f = s.Flags(pos);
    if (size_t n = s.Contraction(pos, true)) {
      pos += s.Add(pos + n);
      continue;
    }
    if (!is_rn(cp) && !(f & kNumber) && ((f & kLetter) || (s.Flags(pos + 1) & kLetter))) {
      ++pos;
      while (s.Flags(pos) & kLetter) ++pos;
      s.Add(pos);
      continue;
    }
    if (f & kNumber) {
      size_t run = pos;
      while (s.Flags(pos) & kNumber) {
        if (++pos - run >= max_digits) {
          s.Add(pos);
          run = pos;
        }
      }
      s.Add(pos);
      continue;
    }
    uint8_t f2 = cp == ' ' ? s.Flags(pos + 1) : f;
    if (!(f2 & kWordFlags) && f) {
      pos += cp == ' ';
      while (!(f2 & kWordFlags) && f2) f2 = s.Flags(++pos);
      while (is_rn(s.Cp(pos))) ++pos;
      s.Add(pos);
      continue;
    }
    size_t spaces = 0;
    size_t last_rn = 0;
    while (s.Flags(pos + spaces) & kSpaceFlag) {
      if (is_rn(s.Cp(pos + spaces))) last_rn = pos + spaces + 1;
      ++spaces;
    }
    if (last_rn > 0) {
      pos = last_rn;
    } else if (spaces > 1 && s.Cp(pos + spaces) != kOutside) {
      pos += spaces - 1;
    } else {
      pos += spaces > 0 ? spaces : 1;
    }
    s.Add(pos);
  }
}

// Splits every piece [ends[i-1], ends[i]) so that the code points for which
// `in_run` holds form runs of their own ([class]+ in a regex).
std::vector<size_t> SplitRuns(const std::vector<CodePoint>& c, const std::vector<size_t>& ends,
                              const std::function<bool(const CodePoint&)>& in_run) {
  std::vector<size_t> out;
  size_t begin = 0;
  for (size_t e : ends) {
    for (size_t i = begin; i < e; ++i) {
      if (i + 1 == e || in_run(c[i]) != in_run(c[i + 1])) out.push_back(i + 1);
    }
    begin = e;
  }
  return out;
}

std::vector<size_t> SplitDefault(const std::vector<CodePoint>& c) {
  std::vector<size_t> ends = SplitRuns(c, {c.size()}, [](const CodePoint& p) {
    return (p.flags & kPunct) ||
           (p.cp < 128 && std::string_view("$+<=>^~|").find(char(p.cp)) != std::string_view::npos);
  });
  std::vector<size_t> words;
  size_t begin = 0;
  for (size_t e : ends) {
    SplitGpt2(c, begin, e, words);
    begin = e;
  }
  words = SplitRuns(c, words, [](const CodePoint& p) { return (p.flags & kNumber) != 0; });
  // [0-9][0-9][0-9]: leftmost matches, each split off.
  std::vector<size_t> out;
  begin = 0;
  auto digit = [&](size_t i) { return c[i].cp >= '0' && c[i].cp <= '9'; };
  for (size_t e : words) {
    size_t i = begin;
    while (i + 3 <= e) {
      if (digit(i) && digit(i + 1) && digit(i + 2)) {
        if (i > begin && (out.empty() || out.back() != i)) out.push_back(i);
        out.push_back(i + 3);
        i += 3;
      } else {
        ++i;
      }
    }
    if (out.empty() || out.back() != e) out.push_back(e);
    begin = e;
  }
  return out;
}

}  // namespace

const std::string& ByteToBpeChar(uint8_t b) { return Maps().to_char[b]; }

Result<BpePre> ParseBpePre(std::string_view name) {
  if (name == "default") return BpePre::kDefault;
  if (name == "gpt-2") return BpePre::kGpt2;
  if (name == "llama3" || name == "llama-v3" || name == "llama-bpe") return BpePre::kLlama3;
  if (name == "qwen2" || name == "deepseek-r1-qwen") return BpePre::kQwen2;
  return Status::InvalidArgument("tokenizer: tokenizer.ggml.pre '" + std::string(name) +
                                 "' is not supported (default, gpt-2, llama3, llama-v3, llama-bpe, qwen2, "
                                 "deepseek-r1-qwen)");
}

std::string_view BpePreName(BpePre pre) {
  switch (pre) {
    case BpePre::kDefault:
      return "default";
    case BpePre::kGpt2:
      return "gpt-2";
    case BpePre::kLlama3:
      return "llama-bpe";
    case BpePre::kQwen2:
      return "qwen2";
  }
  return "default";
}

std::vector<std::string_view> SplitBpeWords(std::string_view text, BpePre pre) {
  const std::vector<CodePoint> c = DecodeCodePoints(text);
  std::vector<size_t> ends;
  switch (pre) {
    case BpePre::kDefault:
      ends = SplitDefault(c);
      break;
    case BpePre::kGpt2:
      SplitGpt2(c, 0, c.size(), ends);
      break;
    case BpePre::kLlama3:
      SplitLlama3(c, 0, c.size(), 3, ends);
      break;
    case BpePre::kQwen2:
      SplitLlama3(c, 0, c.size(), 1, ends);
      break;
  }
  std::vector<std::string_view> out;
  out.reserve(ends.size());
  size_t from = 0;
  for (size_t e : ends) {
    size_t to = e < c.size() ? c[e].offset : text.size();
    if (to > from) out.push_back(text.substr(from, to - from));
    from = to;
  }
  return out;
}

Result<VocabData> ReadVocab(const GgufFile& f) {
  VocabData v;
  DSMIL_ASSIGN_OR_RETURN(std::string model, f.String("tokenizer.ggml.model"));
  if (model == "llama") {
    v.kind = VocabKind::kSpm;
  } else if (model == "gpt2") {
    v.kind = VocabKind::kBpe;
    v.add_bos = false;
    v.pre = BpePre::kDefault;  // llama.cpp's choice for a file without tokenizer.ggml.pre
    if (f.Has("tokenizer.ggml.pre")) {
      DSMIL_ASSIGN_OR_RETURN(std::string pre, f.String("tokenizer.ggml.pre"));
      DSMIL_ASSIGN_OR_RETURN(v.pre, ParseBpePre(pre));
    }
    if (v.pre == BpePre::kLlama3) v.add_bos = true;
  } else {
    return Status::InvalidArgument("tokenizer: tokenizer.ggml.model '" + model + "' is not supported (llama or gpt2)");
  }
  DSMIL_ASSIGN_OR_RETURN(v.tokens, f.StringArray("tokenizer.ggml.tokens"));
  if (f.Has("tokenizer.ggml.scores")) {
    DSMIL_ASSIGN_OR_RETURN(v.scores, f.F32Array("tokenizer.ggml.scores"));
  }
  if (f.Has("tokenizer.ggml.token_type")) {
    DSMIL_ASSIGN_OR_RETURN(v.types, f.I32Array("tokenizer.ggml.token_type"));
  }
  if (f.Has("tokenizer.ggml.merges")) {
    DSMIL_ASSIGN_OR_RETURN(v.merges, f.StringArray("tokenizer.ggml.merges"));
  }
  auto id = [&](const char* key, int32_t* out) -> Status {
    if (!f.Has(key)) return Status::Ok();
    auto r = f.I32(key);
    if (!r.ok()) {
      auto u = f.U32(key);  // some files store 0xFFFFFFFF for "none"
      if (u.ok() && *u == 0xFFFFFFFFu) {
        *out = -1;
        return Status::Ok();
      }
      return r.status();
    }
    *out = *r;
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(id("tokenizer.ggml.bos_token_id", &v.bos));
  DSMIL_RETURN_IF_ERROR(id("tokenizer.ggml.eos_token_id", &v.eos));
  DSMIL_RETURN_IF_ERROR(id("tokenizer.ggml.unknown_token_id", &v.unk));
  if (v.kind == VocabKind::kSpm && !f.Has("tokenizer.ggml.unknown_token_id")) v.unk = 0;
  if (f.Has("tokenizer.ggml.add_bos_token")) {
    DSMIL_ASSIGN_OR_RETURN(v.add_bos, f.Bool("tokenizer.ggml.add_bos_token"));
  }
  if (f.Has("tokenizer.ggml.add_space_prefix")) {
    DSMIL_ASSIGN_OR_RETURN(v.add_space_prefix, f.Bool("tokenizer.ggml.add_space_prefix"));
  }
  if (v.kind == VocabKind::kBpe) v.add_space_prefix = false;
  return v;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  DSMIL_ASSIGN_OR_RETURN(VocabData v, ReadVocab(file));
  return FromVocab(std::move(v));
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromVocab(VocabData vocab) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->v_ = std::move(vocab);
  DSMIL_RETURN_IF_ERROR(t->Build());
  return t;
}

Status Tokenizer::Build() {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("tokenizer: " + m); };
  const size_t n = v_.tokens.size();
  if (n == 0) return bad("the vocabulary is empty");
  if (n > size_t(std::numeric_limits<int32_t>::max())) return bad("the vocabulary is too large");
  if (!v_.scores.empty() && v_.scores.size() != n) {
    return bad("tokenizer.ggml.scores has " + std::to_string(v_.scores.size()) + " entries for " + std::to_string(n) +
               " tokens");
  }
  if (v_.types.empty()) v_.types.assign(n, int32_t(TokenType::kNormal));
  if (v_.types.size() != n) {
    return bad("tokenizer.ggml.token_type has " + std::to_string(v_.types.size()) + " entries for " +
               std::to_string(n) + " tokens");
  }
  for (auto [name, idp] : {std::pair{"bos", &v_.bos}, {"eos", &v_.eos}, {"unk", &v_.unk}}) {
    if (*idp < -1 || *idp >= int32_t(n)) {
      return bad(std::string(name) + " token id " + std::to_string(*idp) + " is outside the vocabulary of " +
                 std::to_string(n));
    }
  }
  index_.reserve(n);
  for (size_t i = 0; i < n; ++i) index_.emplace(v_.tokens[i], int32_t(i));
  if (v_.kind == VocabKind::kBpe) {
    merge_rank_.reserve(v_.merges.size());
    for (size_t r = 0; r < v_.merges.size(); ++r) {
      const std::string& m = v_.merges[r];
      size_t sp = m.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= m.size()) {
        return bad("merge " + std::to_string(r) + " is not of the form 'left right'");
      }
      merge_rank_.emplace(m, int32_t(r));
    }
  }
  byte_token_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    int32_t id = Find(v_.kind == VocabKind::kSpm ? ByteTokenText(uint8_t(b)) : ByteToBpeChar(uint8_t(b)));
    byte_token_[b] = id;
  }
  // Special texts, longest first.
  std::vector<int32_t> sp;
  for (size_t i = 0; i < n; ++i) {
    auto ty = TokenType(v_.types[i]);
    if ((ty == TokenType::kControl || ty == TokenType::kUserDefined) && !v_.tokens[i].empty() &&
        index_[v_.tokens[i]] == int32_t(i)) {
      sp.push_back(int32_t(i));
    }
  }
  std::stable_sort(sp.begin(), sp.end(),
                   [&](int32_t a, int32_t b) { return v_.tokens[a].size() > v_.tokens[b].size(); });
  for (int32_t id : sp) {
    specials_.push_back(v_.tokens[id]);
    special_ids_.push_back(id);
  }
  // Pieces.
  pieces_.resize(n);
  eog_.assign(n, false);
  const ByteMaps& maps = Maps();
  for (size_t i = 0; i < n; ++i) {
    const std::string& text = v_.tokens[i];
    auto ty = TokenType(v_.types[i]);
    std::string& piece = pieces_[i];
    if (ty == TokenType::kControl) {
      static const char* kEog[] = {"</s>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>", "<end_of_turn>"};
      for (const char* e : kEog) {
        if (text == e) eog_[i] = true;
      }
      continue;
    }
    if (ty == TokenType::kUnknown) {
      piece = kReplacement;
      continue;
    }
    if (ty == TokenType::kByte && v_.kind == VocabKind::kSpm && text.size() == 6 && text.compare(0, 3, "<0x") == 0 &&
        text[5] == '>') {
      auto hex = [](char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                      : -1;
      };
      int hi = hex(text[3]), lo = hex(text[4]);
      if (hi >= 0 && lo >= 0) {
        piece = char(hi * 16 + lo);
        continue;
      }
    }
    if (ty == TokenType::kUserDefined) {
      piece = text;
      continue;
    }
    if (v_.kind == VocabKind::kSpm) {
      for (size_t k = 0; k < text.size();) {
        if (text.compare(k, kSpace.size(), kSpace) == 0) {
          piece += ' ';
          k += kSpace.size();
        } else {
          piece += text[k++];
        }
      }
    } else {
      for (size_t k = 0; k < text.size();) {
        size_t len = Utf8Len(text, k);
        auto it = maps.to_byte.find(text.substr(k, len));
        if (it != maps.to_byte.end()) {
          piece += char(it->second);
        } else {
          piece += text.substr(k, len);
        }
        k += len;
      }
    }
  }
  if (v_.eos >= 0) eog_[v_.eos] = true;
  return Status::Ok();
}

int32_t Tokenizer::Find(std::string_view text) const {
  auto it = index_.find(std::string(text));
  return it == index_.end() ? -1 : it->second;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || size_t(id) >= v_.tokens.size()) return kEmpty;
  return v_.tokens[id];
}

TokenType Tokenizer::Type(int32_t id) const {
  if (id < 0 || size_t(id) >= v_.types.size()) return TokenType::kUnused;
  return TokenType(v_.types[id]);
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const { return id >= 0 && size_t(id) < eog_.size() && eog_[id]; }

std::string Tokenizer::TokenToPiece(int32_t id) const {
  if (id < 0 || size_t(id) >= pieces_.size()) return "";
  return pieces_[id];
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string out;
  bool first_text = true;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= pieces_.size()) continue;
    const std::string& p = pieces_[id];
    if (p.empty()) continue;
    if (first_text && v_.kind == VocabKind::kSpm && v_.add_space_prefix && p[0] == ' ') {
      out.append(p, 1, std::string::npos);
    } else {
      out += p;
    }
    first_text = false;
  }
  return out;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && v_.bos >= 0) out.push_back(v_.bos);
  if (!parse_special || specials_.empty()) {
    EncodeText(text, true, out);
    return out;
  }
  std::array<bool, 256> first{};
  for (const auto& s : specials_) first[static_cast<unsigned char>(s[0])] = true;
  size_t seg = 0;
  for (size_t i = 0; i < text.size();) {
    if (first[static_cast<unsigned char>(text[i])]) {
      size_t k = 0;
      for (; k < specials_.size(); ++k) {
        if (text.compare(i, specials_[k].size(), specials_[k]) == 0) break;
      }
      if (k < specials_.size()) {
        if (i > seg) EncodeText(text.substr(seg, i - seg), seg == 0, out);
        out.push_back(special_ids_[k]);
        i += specials_[k].size();
        seg = i;
        continue;
      }
    }
    ++i;
  }
  if (seg < text.size()) EncodeText(text.substr(seg), seg == 0, out);
  return out;
}

void Tokenizer::EncodeText(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (v_.kind == VocabKind::kBpe) {
    EncodeBpe(text, out);
    return;
  }
  std::string s;
  s.reserve(text.size() + text.size() / 4 + 3);
  if (at_start && v_.add_space_prefix) s += kSpace;
  for (char c : text) {
    if (c == ' ') {
      s += kSpace;
    } else {
      s += c;
    }
  }
  EncodeSpm(s, out);
}

// SentencePiece-style: start from UTF-8 characters, repeatedly merge the
// adjacent pair whose concatenation is the highest-scoring token (leftmost on
// ties), then map symbols to ids with byte fallback.
void Tokenizer::EncodeSpm(std::string_view text, std::vector<int32_t>& out) const {
  struct Sym {
    size_t start, len;
    int prev, next;
  };
  std::vector<Sym> syms;
  for (size_t i = 0; i < text.size();) {
    size_t len = Utf8Len(text, i);
    int idx = int(syms.size());
    syms.push_back({i, len, idx - 1, -1});
    if (idx > 0) syms[idx - 1].next = idx;
    i += len;
  }
  struct Bigram {
    float score;
    int left, right;
    size_t len;
  };
  auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> q(worse);
  auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    std::string_view piece = text.substr(syms[l].start, syms[l].len + syms[r].len);
    auto it = index_.find(std::string(piece));
    if (it == index_.end()) return;
    float score = v_.scores.empty() ? 0.0f : v_.scores[it->second];
    q.push({score, l, r, piece.size()});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(int(i) - 1, int(i));
  while (!q.empty()) {
    Bigram b = q.top();
    q.pop();
    Sym& l = syms[b.left];
    Sym& r = syms[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    std::string_view piece = text.substr(syms[i].start, syms[i].len);
    auto it = index_.find(std::string(piece));
    if (it != index_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (char c : piece) {
      int32_t id = byte_token_[static_cast<unsigned char>(c)];
      if (id >= 0) {
        out.push_back(id);
      } else if (v_.unk >= 0) {
        out.push_back(v_.unk);
      }
    }
  }
}

void Tokenizer::EncodeBpe(std::string_view text, std::vector<int32_t>& out) const {
  for (std::string_view chunk : SplitBpeWords(text, v_.pre)) EncodeBpeChunk(chunk, out);
}

void Tokenizer::EncodeBpeChunk(std::string_view chunk, std::vector<int32_t>& out) const {
  // The chunk's bytes as GPT-2 characters, one symbol each; then merges by
  // rank (lowest first, leftmost on ties) with a queue: O(n log n).
  std::string text;
  text.reserve(chunk.size() * 2);
  struct Sym {
    size_t start, len;
    int prev, next;
  };
  std::vector<Sym> syms;
  syms.reserve(chunk.size());
  for (char c : chunk) {
    const std::string& ch = ByteToBpeChar(static_cast<unsigned char>(c));
    int idx = int(syms.size());
    syms.push_back({text.size(), ch.size(), idx - 1, -1});
    if (idx > 0) syms[idx - 1].next = idx;
    text += ch;
  }
  if (v_.pre == BpePre::kLlama3) {  // a word that is a token is that token (llama.cpp's ignore_merges)
    auto it = index_.find(text);
    if (it != index_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Pair {
    int32_t rank;
    int left, right;
    size_t len;
  };
  auto worse = [](const Pair& a, const Pair& b) { return a.rank > b.rank || (a.rank == b.rank && a.left > b.left); };
  std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> q(worse);
  std::string key;
  auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    key.assign(text, syms[l].start, syms[l].len);
    key += ' ';
    key.append(text, syms[r].start, syms[r].len);
    auto it = merge_rank_.find(key);
    if (it == merge_rank_.end()) return;
    q.push({it->second, l, r, syms[l].len + syms[r].len});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(int(i) - 1, int(i));
  while (!q.empty()) {
    Pair p = q.top();
    q.pop();
    Sym& l = syms[p.left];
    Sym& r = syms[p.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != p.len || l.next != p.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = p.left;
    try_add(l.prev, p.left);
    try_add(p.left, l.next);
  }
  std::vector<std::string> merged;
  for (int i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
    merged.push_back(text.substr(syms[i].start, syms[i].len));
  }
  const ByteMaps& maps = Maps();
  for (const std::string& s : merged) {
    auto it = index_.find(s);
    if (it != index_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (size_t k = 0; k < s.size();) {
      size_t len = Utf8Len(s, k);
      auto b = maps.to_byte.find(s.substr(k, len));
      int32_t id = b == maps.to_byte.end() ? -1 : byte_token_[b->second];
      if (id >= 0) {
        out.push_back(id);
      } else if (v_.unk >= 0) {
        out.push_back(v_.unk);
      }
      k += len;
    }
  }
}

}  // namespace dsmil::llm
