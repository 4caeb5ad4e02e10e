#include "devices/l8/injection_decode.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace dsmil::devices {
namespace {

// Input beyond this is not decoded (the rules and the model still see the
// original's head and tail).
constexpr size_t kMaxDecodeInput = 512 * 1024;
constexpr size_t kMinBase64Run = 16;
constexpr size_t kMinHexBytes = 6;
constexpr size_t kMaxFragment = 256;

bool IsB64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
         c == '-' || c == '_';
}

int B64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsAlnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Whether decoded bytes read as text: valid UTF-8, at most 10% control or
// invalid code points, at least four letters and letters making up 40% of
// the non-space characters.
bool ReadsAsText(std::string_view s) {
  size_t cps = 0, bad = 0, letters = 0, nonspace = 0;
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t len = 0;
    bool ok = LaxUtf8At(s, i, &cp, &len);
    ++cps;
    if (!ok) {
      ++bad;
      ++i;
      continue;
    }
    i += len;
    if (cp == ' ' || cp == '\n' || cp == '\t' || cp == '\r') continue;
    ++nonspace;
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0xFFFD) {
      ++bad;
    } else if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp >= 0xC0) {
      ++letters;
    }
  }
  return cps > 0 && bad * 10 <= cps && letters >= 4 && letters * 10 >= nonspace * 4;
}

// Whether decoded bytes are themselves hex or base64 text (one more pass
// may read them).
bool LooksEncoded(std::string_view s) {
  if (s.size() < 16) return false;
  for (char c : s) {
    if (!(IsB64(c) || c == '=' || c == ' ' || c == '\n' || c == '\r')) return false;
  }
  return true;
}

void AppendCapped(std::string* out, std::string_view s) {
  if (out->size() >= kMaxInjectionViewBytes) return;
  out->append(s.substr(0, kMaxInjectionViewBytes - out->size()));
}

std::string_view Clip(std::string_view text) { return text.substr(0, std::min(text.size(), kMaxDecodeInput)); }

// The output of a pass that replaces runs of `text` in place by their
// decoding (base64, hex): the text between runs is kept, each decoding is
// set off by spaces, everything capped at kMaxInjectionViewBytes.
class Splice {
 public:
  explicit Splice(std::string_view text) : text_(text) {}

  // Replaces text[from, to) by `decoded`; runs come in increasing order.
  void Replace(size_t from, size_t to, std::string_view decoded) {
    AppendCapped(&res_, text_.substr(copied_, from - copied_));
    AppendCapped(&res_, " ");
    AppendCapped(&res_, decoded);
    AppendCapped(&res_, " ");
    copied_ = to;
    found_ = true;
  }
  // False when nothing was replaced; else the whole view into *out.
  bool Finish(std::string* out) {
    if (!found_) return false;
    AppendCapped(&res_, text_.substr(copied_));
    *out = std::move(res_);
    return true;
  }

 private:
  std::string_view text_;
  std::string res_;
  size_t copied_ = 0;
  bool found_ = false;
};

// Decodes a base64 run (no padding); "" when it is not whole base64.
std::string DecodeB64(std::string_view run) {
  std::string out;
  out.reserve(run.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : run) {
    int v = B64Value(c);
    if (v < 0) return {};
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return out;
}

// The common words of the readability test: function words of English and
// the words instructions to a model are made of. Reversal pairs of each
// other ("no"/"on", "was"/"saw") are left out so that reversing ordinary
// text does not count as reading better.
constexpr std::array<std::string_view, 60> kCommonWords = {
    "the",      "and",      "you",          "your",       "all",    "are",   "for",  "that",   "this",  "with",
    "not",      "what",     "from",         "now",        "have",   "will",  "must", "please", "any",   "can",
    "out",      "how",      "about",        "into",       "only",   "then",  "they", "them",   "there", "which",
    "when",     "who",      "would",        "should",     "could",  "been",  "were", "has",    "had",   "but",
    "ignore",   "previous", "instructions", "system",     "prompt", "rules", "tell", "reveal", "print", "secret",
    "password", "forget",   "above",        "everything", "say",    "do",    "is",   "of",     "to",    "me"};

bool IsCommonWord(std::string_view w) {
  return std::find(kCommonWords.begin(), kCommonWords.end(), w) != kCommonWords.end();
}

}  // namespace

size_t CommonWordCount(std::string_view text) {
  size_t n = 0;
  std::string word;
  auto flush = [&] {
    if (word.size() >= 2 && word.size() <= 12 && IsCommonWord(word)) ++n;
    word.clear();
  };
  for (char c : text) {
    if (c >= 'A' && c <= 'Z') {
      word.push_back(char(c + 32));
    } else if (c >= 'a' && c <= 'z') {
      word.push_back(c);
    } else {
      flush();
    }
    if (word.size() > 16) word.clear();
  }
  flush();
  return n;
}

bool DecodeBase64Runs(std::string_view input, std::string* out) {
  std::string_view text = Clip(input);
  Splice splice(text);
  size_t i = 0;
  while (i < text.size()) {
    if (!IsB64(text[i]) || (i > 0 && IsAlnum(text[i - 1]))) {
      ++i;
      continue;
    }
    size_t j = i;
    bool upper = false, lower = false, digit = false;
    while (j < text.size() && IsB64(text[j])) {
      char c = text[j];
      upper |= c >= 'A' && c <= 'Z';
      lower |= c >= 'a' && c <= 'z';
      digit |= c >= '0' && c <= '9';
      ++j;
    }
    size_t end = j;
    while (end < text.size() && text[end] == '=' && end - j < 2) ++end;
    std::string_view run = text.substr(i, j - i);
    if (run.size() % 4 == 1) run.remove_suffix(1);
    if (run.size() >= kMinBase64Run && upper && (lower || digit)) {
      std::string decoded = DecodeB64(run);
      if (!decoded.empty() && (ReadsAsText(decoded) || LooksEncoded(decoded))) splice.Replace(i, end, decoded);
    }
    i = std::max(end, i + 1);
  }
  return splice.Finish(out);
}

bool DecodeHexRuns(std::string_view input, std::string* out) {
  std::string_view text = Clip(input);
  Splice splice(text);
  size_t i = 0;
  auto pair_at = [&](size_t k, size_t* next) -> int {
    bool x_next = k + 1 < text.size() && (text[k + 1] == 'x' || text[k + 1] == 'X');
    bool escape = x_next && text[k] == '\\';
    bool zero_x =
        x_next && text[k] == '0' && k + 3 < text.size() && HexValue(text[k + 2]) >= 0 && HexValue(text[k + 3]) >= 0;
    if (escape || zero_x) k += 2;
    if (k + 1 >= text.size()) return -1;
    int hi = HexValue(text[k]), lo = HexValue(text[k + 1]);
    if (hi < 0 || lo < 0) return -1;
    *next = k + 2;
    return hi * 16 + lo;
  };
  while (i < text.size()) {
    if ((i > 0 && IsAlnum(text[i - 1])) || (HexValue(text[i]) < 0 && text[i] != '\\')) {
      ++i;
      continue;
    }
    std::string bytes;
    size_t j = i, end = i;
    while (true) {
      size_t next = 0;
      int b = pair_at(j, &next);
      if (b < 0) break;
      bytes.push_back(char(b));
      end = j = next;
      if (j < text.size() && (text[j] == ' ' || text[j] == ',' || text[j] == ':')) {
        size_t probe = 0;
        if (pair_at(j + 1, &probe) >= 0) ++j;
      }
    }
    // A run must end at a word boundary ("deadbeefcafe1" is not hex pairs).
    bool boundary = end >= text.size() || !IsAlnum(text[end]);
    if (bytes.size() >= kMinHexBytes && boundary && ReadsAsText(bytes)) splice.Replace(i, end, bytes);
    i = std::max(end, i + 1);
  }
  return splice.Finish(out);
}

bool DecodeUrlEscapes(std::string_view input, std::string* out) {
  std::string_view text = Clip(input);
  std::string res;
  res.reserve(std::min(text.size(), kMaxInjectionViewBytes));
  size_t escapes = 0;
  for (size_t i = 0; i < text.size() && res.size() < kMaxInjectionViewBytes; ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 && HexValue(text[i + 2]) >= 0) {
      res.push_back(char(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
      ++escapes;
    } else {
      res.push_back(text[i]);
    }
  }
  if (escapes < 3 || !ReadsAsText(res)) return false;
  *out = std::move(res);
  return true;
}

bool DecodeTagCharacters(std::string_view input, std::string* out) {
  std::string_view text = Clip(input);
  std::string res;
  size_t tags = 0;
  bool in_run = false;
  for (size_t i = 0; i < text.size() && res.size() < kMaxInjectionViewBytes;) {
    // U+E0020..U+E007E: F3 A0 80..81 80..BF.
    if (i + 3 < text.size() && uint8_t(text[i]) == 0xF3 && uint8_t(text[i + 1]) == 0xA0 &&
        (uint8_t(text[i + 2]) == 0x80 || uint8_t(text[i + 2]) == 0x81) && (uint8_t(text[i + 3]) & 0xC0) == 0x80) {
      uint32_t low = ((uint8_t(text[i + 2]) & 0x3F) << 6) | (uint8_t(text[i + 3]) & 0x3F);
      if (low >= 0x20 && low <= 0x7E) {
        if (!in_run) res.push_back(' ');
        in_run = true;
        res.push_back(char(low));
        ++tags;
      }
      i += 4;
      continue;
    }
    if (in_run) res.push_back(' ');
    in_run = false;
    res.push_back(text[i]);
    ++i;
  }
  if (tags < 4) return false;
  *out = std::move(res);
  return true;
}

bool JoinQuotedFragments(std::string_view input, std::string* out) {
  std::string_view text = Clip(input);
  // A quoted literal at `k`: its content and the position after it.
  auto literal = [&](size_t k, std::string* content, size_t* after) {
    if (k >= text.size()) return false;
    char q = text[k];
    if (q != '"' && q != '\'' && q != '`') return false;
    content->clear();
    for (size_t p = k + 1; p < text.size() && p - k <= kMaxFragment; ++p) {
      char c = text[p];
      if (c == '\n') return false;
      if (c == '\\' && p + 1 < text.size()) {
        content->push_back(text[++p]);
        continue;
      }
      if (c == q) {
        *after = p + 1;
        return true;
      }
      content->push_back(c);
    }
    return false;
  };
  auto skip_spaces = [&](size_t k) {
    while (k < text.size() && (text[k] == ' ' || text[k] == '\t')) ++k;
    return k;
  };
  std::string res;
  bool found = false;
  size_t i = 0, copied = 0;
  std::string piece;
  while (i < text.size()) {
    size_t after = 0;
    if (!literal(i, &piece, &after)) {
      ++i;
      continue;
    }
    std::string joined = piece;
    size_t end = after, parts = 1;
    while (true) {
      size_t k = skip_spaces(end);
      if (k >= text.size() || text[k] != '+') break;
      size_t next = 0;
      if (!literal(skip_spaces(k + 1), &piece, &next)) break;
      joined += piece;
      end = next;
      ++parts;
    }
    if (parts >= 2) {
      AppendCapped(&res, text.substr(copied, i - copied));
      AppendCapped(&res, joined);
      copied = end;
      found = true;
      i = end;
    } else {
      // A lone literal: go on after its opening quote (its closing quote may
      // open the next chain).
      ++i;
    }
  }
  if (!found) return false;
  AppendCapped(&res, text.substr(copied));
  *out = std::move(res);
  return true;
}

bool Rot13IfReadable(std::string_view input, std::string* out) {
  std::string_view text = Clip(input);
  std::string res(text.substr(0, kMaxInjectionViewBytes));
  for (char& c : res) {
    if (c >= 'a' && c <= 'z') {
      c = char('a' + (c - 'a' + 13) % 26);
    } else if (c >= 'A' && c <= 'Z') {
      c = char('A' + (c - 'A' + 13) % 26);
    }
  }
  if (CommonWordCount(res) < 2) return false;
  *out = std::move(res);
  return true;
}

bool ReverseIfReadable(std::string_view input, std::string* out) {
  std::string_view text = Clip(input).substr(0, std::min(input.size(), kMaxInjectionViewBytes));
  // Reverse by code point: the bytes of each UTF-8 sequence stay in order.
  std::string res;
  res.reserve(text.size());
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && end - start < 4 && (uint8_t(text[start]) & 0xC0) == 0x80) --start;
    res.append(text.substr(start, end - start));
    end = start;
  }
  if (CommonWordCount(res) < 2 || CommonWordCount(res) <= CommonWordCount(text)) return false;
  *out = std::move(res);
  return true;
}

std::vector<InjectionView> DecodeViews(std::string_view text) {
  std::vector<InjectionView> views;
  views.push_back({"original", std::string(text)});
  struct Pass {
    const char* name;
    bool (*fn)(std::string_view, std::string*);
    bool nested;  // also run on decoded views
  };
  constexpr Pass kPasses[] = {
      {"base64", DecodeBase64Runs, true},     {"hex", DecodeHexRuns, true},          {"url", DecodeUrlEscapes, true},
      {"tags", DecodeTagCharacters, false},   {"concat", JoinQuotedFragments, true}, {"rot13", Rot13IfReadable, false},
      {"reversed", ReverseIfReadable, false},
  };
  for (const Pass& p : kPasses) {
    if (views.size() >= kMaxInjectionViews) break;
    std::string decoded;
    if (p.fn(text, &decoded)) views.push_back({p.name, std::move(decoded)});
  }
  // One level of nesting over the views the first round decoded.
  size_t first_round = views.size();
  for (size_t v = 1; v < first_round; ++v) {
    if (views[v].name == "rot13" || views[v].name == "reversed") continue;
    for (const Pass& p : kPasses) {
      if (views.size() >= kMaxInjectionViews) return views;
      if (!p.nested) continue;
      std::string decoded;
      if (p.fn(views[v].text, &decoded)) views.push_back({views[v].name + ">" + p.name, std::move(decoded)});
    }
  }
  return views;
}

bool LaxUtf8At(std::string_view s, size_t i, uint32_t* cp, size_t* len) {
  auto c = uint8_t(s[i]);
  *len = 0;
  if (c < 0x80) {
    *cp = c, *len = 1;
  } else if (c >= 0xC2 && c <= 0xDF) {
    *cp = c & 0x1F, *len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    *cp = c & 0x0F, *len = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    *cp = c & 0x07, *len = 4;
  }
  bool ok = *len > 0 && s.size() - i >= *len;
  for (size_t k = 1; ok && k < *len; ++k) {
    auto d = uint8_t(s[i + k]);
    ok = (d & 0xC0) == 0x80;
    *cp = (*cp << 6) | (d & 0x3F);
  }
  return ok;
}

}  // namespace dsmil::devices
