#include "devices/l8/injection_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "devices/l8/injection_decode.h"

namespace dsmil::devices {
namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr uint64_t kFnvPrime = 1099511628211ULL;

uint64_t Fnv(uint64_t h, std::string_view s) {
  for (char c : s) h = (h ^ uint8_t(c)) * kFnvPrime;
  return h;
}

uint32_t Index(uint64_t h) {
  // Fold the high bits in: FNV's low bits alone mix poorly.
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return uint32_t(h & ((uint64_t(1) << kInjectionFeatureBits) - 1));
}

// Code points of `text` for the script n-grams: case folded where it is cheap
// (ASCII, Cyrillic, Greek), invisible characters and combining marks dropped,
// punctuation, symbols and spacing turned into single spaces.
std::vector<uint32_t> ScriptFold(std::string_view s, bool* other_script) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  auto space = [&] {
    if (!out.empty() && out.back() != ' ') out.push_back(' ');
  };
  size_t i = 0;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t len = 0;
    if (!LaxUtf8At(s, i, &cp, &len)) {
      ++i;
      space();
      continue;
    }
    i += len;
    if (cp < 0x80) {
      if (cp >= 'A' && cp <= 'Z') cp += 32;
      if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
        out.push_back(cp);
      } else {
        space();
      }
      continue;
    }
    bool invisible = cp == 0xAD || (cp >= 0x300 && cp <= 0x36F) || (cp >= 0x200B && cp <= 0x200F) ||
                     (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF ||
                     (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0000 && cp <= 0xE01EF);
    if (invisible) continue;
    bool punct = cp < 0xC0 || (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
                 (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
                 (cp >= 0xFF5B && cp <= 0xFF65) || cp >= 0x1F000 || cp == 0xD7 || cp == 0xF7;
    if (punct) {
      space();
      continue;
    }
    if (cp >= 0x410 && cp <= 0x42F) cp += 0x20;
    if (cp >= 0x400 && cp <= 0x40F) cp += 0x50;
    if (cp >= 0x391 && cp <= 0x3A9) cp += 0x20;
    if (cp >= 0x250) *other_script = true;
    out.push_back(cp);
  }
  return out;
}

class Builder {
 public:
  explicit Builder(FeatureVector* out) : out_(out) {}

  void Binary(std::string_view prefix, std::string_view token) {
    out_->push_back({Index(Fnv(Fnv(kFnvOffset, prefix), token)), 1.0f});
  }

  // Starts a group whose features are scaled by 1/sqrt(count) at End().
  void Begin() { group_start_ = out_->size(); }
  void Add(uint64_t h) { out_->push_back({Index(h), 1.0f}); }
  void End() {
    size_t n = out_->size() - group_start_;
    if (n == 0) return;
    auto scale = float(1.0 / std::sqrt(double(n)));
    for (size_t k = group_start_; k < out_->size(); ++k) (*out_)[k].value = scale;
  }

 private:
  FeatureVector* out_;
  size_t group_start_ = 0;
};

std::string ClipHeadTail(std::string_view text) {
  if (text.size() <= 2 * kInjectionMaxBytes) return std::string(text);
  std::string out;
  out.reserve(2 * kInjectionMaxBytes + 1);
  out.append(text.substr(0, kInjectionMaxBytes));
  out.push_back('\n');
  out.append(text.substr(text.size() - kInjectionMaxBytes));
  return out;
}

void PutU32(std::string* s, uint32_t v) {
  for (int k = 0; k < 4; ++k) s->push_back(char((v >> (8 * k)) & 0xFF));
}
void PutF64(std::string* s, double v) {
  uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(u));
  for (int k = 0; k < 8; ++k) s->push_back(char((u >> (8 * k)) & 0xFF));
}
uint32_t GetU32(std::string_view s, size_t at) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= uint32_t(uint8_t(s[at + k])) << (8 * k);
  return v;
}
double GetF64(std::string_view s, size_t at) {
  uint64_t u = 0;
  for (int k = 0; k < 8; ++k) u |= uint64_t(uint8_t(s[at + k])) << (8 * k);
  double v = 0;
  std::memcpy(&v, &u, sizeof(v));
  return v;
}

constexpr char kMagic[] = "DSMIJ002";
constexpr size_t kHeaderBytes = 8 + 4 + 8 * 9;

// Long texts are also scored in overlapping windows, so that an instruction
// is not diluted by the bulk around it (a log with one line that talks to
// the model). At most kMaxWindows per text: the first and last halves.
constexpr size_t kMaxWindows = 64;

void AddWindows(const ScoringUnit& u, std::vector<ScoringUnit>* units) {
  const size_t n = u.text.size(), step = kInjectionWindowBytes / 2;
  if (n <= 2 * kInjectionWindowBytes) return;
  size_t count = (n - kInjectionWindowBytes + step - 1) / step + 1;
  for (size_t k = 0; k < count; ++k) {
    if (count > kMaxWindows && k >= kMaxWindows / 2 && k < count - kMaxWindows / 2) continue;
    size_t start = std::min(k * step, n - kInjectionWindowBytes);
    // Start and end on a UTF-8 character boundary.
    while (start > 0 && (uint8_t(u.text[start]) & 0xC0) == 0x80) --start;
    size_t end = std::min(n, start + kInjectionWindowBytes);
    while (end < n && (uint8_t(u.text[end]) & 0xC0) == 0x80) ++end;
    ScoringUnit w;
    w.role = u.role;
    w.name = u.name + " @" + std::to_string(start);
    w.text = u.text.substr(start, end - start);
    w.structure = u.structure;
    units->push_back(std::move(w));
  }
}

}  // namespace

PromptRole ParsePromptRole(std::string_view role) {
  if (role == "system" || role == "developer") return PromptRole::kSystem;
  if (role == "assistant") return PromptRole::kAssistant;
  if (role == "tool" || role == "function") return PromptRole::kTool;
  return PromptRole::kUser;
}

std::string_view PromptRoleName(PromptRole role) {
  switch (role) {
    case PromptRole::kSystem:
      return "system";
    case PromptRole::kAssistant:
      return "assistant";
    case PromptRole::kTool:
      return "tool";
    case PromptRole::kConversation:
      return "conversation";
    case PromptRole::kUser:
      break;
  }
  return "user";
}

std::vector<ScoringUnit> ScoringUnits(const std::vector<PromptMessage>& messages) {
  std::vector<ScoringUnit> units;
  // Structure of the conversation, as the client sent it.
  std::vector<std::string> conv;
  size_t systems = 0;
  bool seen_other = false, late_system = false;
  for (const PromptMessage& m : messages) {
    PromptRole r = ParsePromptRole(m.role);
    if (r == PromptRole::kSystem) {
      ++systems;
      late_system |= seen_other;
    } else {
      seen_other = true;
    }
  }
  if (systems > 0) conv.emplace_back("has_sys");
  if (systems > 1) conv.emplace_back("multi_sys");
  if (late_system) conv.emplace_back("sys_late");
  for (const PromptMessage& m : messages) {
    if (ParsePromptRole(m.role) == PromptRole::kAssistant) {
      conv.emplace_back("has_asst");
      break;
    }
  }
  if (!messages.empty() && ParsePromptRole(messages.back().role) == PromptRole::kAssistant) {
    conv.emplace_back("asst_last");
  }
  seen_other = false;
  for (size_t i = 0; i < messages.size(); ++i) {
    ScoringUnit u;
    u.role = ParsePromptRole(messages[i].role);
    u.name = "message " + std::to_string(i + 1) + " (" + std::string(PromptRoleName(u.role)) + ")";
    u.text = ClipHeadTail(messages[i].content);
    if (u.role == PromptRole::kSystem && seen_other) u.structure.emplace_back("sys_late");
    if (u.role != PromptRole::kSystem) seen_other = true;
    if (i + 1 == messages.size() && messages.size() > 1) u.structure.emplace_back("last");
    if (messages.size() == 1) u.structure = conv;
    if (u.role == PromptRole::kSystem || u.role == PromptRole::kAssistant) u.tagged.emplace_back(u.role, u.text);
    AddWindows(u, &units);
    units.push_back(std::move(u));
  }
  if (messages.size() > 1) {
    ScoringUnit c;
    c.role = PromptRole::kConversation;
    c.name = "conversation";
    std::string joined;
    for (const PromptMessage& m : messages) {
      if (!joined.empty()) joined.push_back('\n');
      joined += m.content;
    }
    c.text = ClipHeadTail(joined);
    c.structure = std::move(conv);
    for (const PromptMessage& m : messages) {
      PromptRole r = ParsePromptRole(m.role);
      if (r == PromptRole::kSystem || r == PromptRole::kAssistant) {
        c.tagged.emplace_back(r, m.content.substr(0, kInjectionWindowBytes * 4));
      }
    }
    units.push_back(std::move(c));
  }
  return units;
}

FeatureVector ExtractFeatures(std::string_view text, const ScoringUnit& unit, std::string_view view,
                              const InjectionVerdict& rules) {
  FeatureVector x;
  Builder b(&x);
  std::string norm = " " + NormalizeForInjection(text) + " ";
  x.reserve(norm.size() * 3 + 64);

  // Character 3-5-grams of the normalised text.
  b.Begin();
  uint64_t c_seed = Fnv(kFnvOffset, "c:");
  for (size_t i = 0; i + 3 <= norm.size(); ++i) {
    uint64_t h = c_seed;
    for (size_t n = 1; n <= 5 && i + n <= norm.size(); ++n) {
      h = (h ^ uint8_t(norm[i + n - 1])) * kFnvPrime;
      if (n >= 3) b.Add(h ^ n);
    }
  }
  b.End();

  // Code-point 2-4-grams of other scripts.
  bool other = false;
  std::vector<uint32_t> cps = ScriptFold(text, &other);
  if (other) {
    b.Begin();
    uint64_t s_seed = Fnv(kFnvOffset, "s:");
    for (size_t i = 0; i + 2 <= cps.size(); ++i) {
      uint64_t h = s_seed;
      bool foreign = false;
      for (size_t n = 1; n <= 4 && i + n <= cps.size(); ++n) {
        uint32_t cp = cps[i + n - 1];
        foreign |= cp >= 0x250;
        for (int k = 0; k < 4; ++k) h = (h ^ ((cp >> (8 * k)) & 0xFF)) * kFnvPrime;
        if (n >= 2 && foreign) b.Add(h ^ n);
      }
    }
    b.End();
  }

  // Word unigrams and bigrams.
  b.Begin();
  uint64_t w_seed = Fnv(kFnvOffset, "w:");
  uint64_t b_seed = Fnv(kFnvOffset, "b:");
  std::string_view prev;
  std::string_view words(norm);
  size_t p = 1;
  while (p < words.size()) {
    size_t q = words.find(' ', p);
    if (q == std::string_view::npos) q = words.size();
    if (q > p) {
      std::string_view w = words.substr(p, q - p);
      b.Add(Fnv(w_seed, w));
      if (!prev.empty()) b.Add(Fnv(Fnv(Fnv(b_seed, prev), " "), w));
      prev = w;
    }
    p = q + 1;
  }
  b.End();

  // Words of system and assistant turns, tagged with the role: what a
  // client-supplied turn says matters more than that it exists.
  if (!unit.tagged.empty()) {
    b.Begin();
    for (const auto& [role, part] : unit.tagged) {
      uint64_t seed = Fnv(Fnv(kFnvOffset, "t:"), PromptRoleName(role));
      std::string tn = NormalizeForInjection(part);
      size_t a = 0;
      while (a < tn.size()) {
        size_t e = tn.find(' ', a);
        if (e == std::string::npos) e = tn.size();
        if (e > a) b.Add(Fnv(seed, std::string_view(tn).substr(a, e - a)));
        a = e + 1;
      }
    }
    b.End();
  }

  // Rules, role, view, structure.
  std::string_view role = PromptRoleName(unit.role);
  b.Binary("bias:", "");
  b.Binary("role:", role);
  b.Binary("view:", view == "original" ? "original" : "decoded");
  if (view != "original") b.Binary("view:", view);
  for (const InjectionMatch& m : rules.matches) {
    b.Binary("r:", m.rule);
    b.Binary("r:", std::string(role) + "|" + m.rule);
  }
  if (!rules.matches.empty()) b.Binary("r:", std::string(role) + "|any");
  if (rules.obfuscated) b.Binary("obf", rules.matches.empty() ? "" : "+rule");
  for (const std::string& s : unit.structure) {
    b.Binary("st:", s);
    b.Binary("st:", std::string(role) + "|" + s);
  }
  return x;
}

std::vector<AnalysedView> AnalyseUnit(const ScoringUnit& unit) {
  std::vector<AnalysedView> out;
  for (InjectionView& v : DecodeViews(unit.text)) {
    AnalysedView a;
    a.view = v.name;
    a.rules = DetectPromptInjection(v.text);
    a.features = ExtractFeatures(v.text, unit, v.name, a.rules);
    out.push_back(std::move(a));
  }
  return out;
}

double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  double e = std::exp(z);
  return e / (1.0 + e);
}

double InjectionModel::Margin(const FeatureVector& x) const {
  double m = bias;
  size_t mask = weights.size() - 1;
  for (const HashedFeature& f : x) m += double(weights[f.index & mask]) * f.value;
  return m;
}

double InjectionModel::ModelProbability(double margin) const { return Sigmoid(platt_a * margin + platt_b); }

double InjectionModel::Score(double margin, double rules_score) const {
  double combined = Sigmoid(comb_m * margin + comb_r * rules_score + comb_b);
  if (rules_score <= 0) return combined;
  return std::max(combined, Sigmoid(rules_a * rules_score + rules_b));
}

std::string InjectionModel::Serialize() const {
  std::string s(kMagic, 8);
  PutU32(&s, bits);
  PutF64(&s, bias);
  PutF64(&s, platt_a);
  PutF64(&s, platt_b);
  PutF64(&s, comb_m);
  PutF64(&s, comb_r);
  PutF64(&s, comb_b);
  PutF64(&s, threshold);
  PutF64(&s, rules_a);
  PutF64(&s, rules_b);
  for (float w : weights) {
    uint32_t u = 0;
    std::memcpy(&u, &w, sizeof(u));
    PutU32(&s, u);
  }
  return s;
}

Result<InjectionModel> InjectionModel::Parse(std::string_view s) {
  if (s.size() < kHeaderBytes || s.substr(0, 8) != std::string_view(kMagic, 8)) {
    return Status::InvalidArgument("injection model: not a DSMIJ002 weights file");
  }
  InjectionModel m;
  m.bits = GetU32(s, 8);
  if (m.bits != kInjectionFeatureBits) {
    return Status::InvalidArgument("injection model: " + std::to_string(m.bits) + " feature bits, expected " +
                                   std::to_string(kInjectionFeatureBits));
  }
  size_t n = size_t(1) << m.bits;
  if (s.size() != kHeaderBytes + 4 * n) {
    return Status::InvalidArgument("injection model: " + std::to_string(s.size()) + " bytes, expected " +
                                   std::to_string(kHeaderBytes + 4 * n));
  }
  m.bias = float(GetF64(s, 12));
  m.platt_a = GetF64(s, 20);
  m.platt_b = GetF64(s, 28);
  m.comb_m = GetF64(s, 36);
  m.comb_r = GetF64(s, 44);
  m.comb_b = GetF64(s, 52);
  m.threshold = GetF64(s, 60);
  m.rules_a = GetF64(s, 68);
  m.rules_b = GetF64(s, 76);
  for (double v : {m.platt_a, m.platt_b, m.comb_m, m.comb_r, m.comb_b, m.threshold, m.rules_a, m.rules_b}) {
    if (!std::isfinite(v)) return Status::InvalidArgument("injection model: a parameter is not finite");
  }
  m.weights.resize(n);
  for (size_t k = 0; k < n; ++k) {
    uint32_t u = GetU32(s, kHeaderBytes + 4 * k);
    std::memcpy(&m.weights[k], &u, sizeof(u));
    if (!std::isfinite(m.weights[k])) return Status::InvalidArgument("injection model: a weight is not finite");
  }
  return m;
}

}  // namespace dsmil::devices
