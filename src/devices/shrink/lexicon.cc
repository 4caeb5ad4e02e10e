#include "devices/shrink/lexicon.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace dsmil::devices::shrink {
namespace {

// The word lists of docs/shrink.md §2.1. Lower case; contractions with an
// ASCII apostrophe (a typographic one is folded to it).
enum WordClass : uint8_t {
  kNeg = 1 << 0,
  kUrg = 1 << 1,
  kFps = 1 << 2,
  kAbs = 1 << 3,
  kTent = 1 << 4,
  kNegation = 1 << 5,
};

const std::unordered_map<std::string_view, uint8_t>& Lexicon() {
  static const auto* lexicon = [] {
    auto* m = new std::unordered_map<std::string_view, uint8_t>();
    auto add = [m](uint8_t cls, std::initializer_list<std::string_view> words) {
      for (auto w : words) (*m)[w] |= cls;
    };
    add(kNeg, {"afraid",   "angry",     "anxious",   "awful",    "bad",        "broken",    "collapse", "crisis",
               "damn",     "dead",      "desperate", "disaster", "dread",      "exhausted", "fail",     "failed",
               "failing",  "failure",   "fear",      "frantic",  "frustrated", "furious",   "hate",     "helpless",
               "hopeless", "horrible",  "hurt",      "lost",     "mess",       "miserable", "nervous",  "overwhelmed",
               "panic",    "panicking", "scared",    "screwed",  "stressed",   "stuck",     "terrible", "terrified",
               "threat",   "tired",     "upset",     "worried",  "worry",      "worse",     "worst",    "wrong"});
    add(kUrg, {"asap", "critical", "deadline", "emergency", "fast", "hurry", "immediate", "immediately", "instantly",
               "now", "quick", "quickly", "rush", "urgent", "urgently"});
    add(kFps, {"i", "i'd", "i'll", "i'm", "i've", "me", "mine", "my", "myself"});
    add(kAbs, {"absolutely", "all", "always", "completely", "constantly", "definitely", "entire", "entirely", "every",
               "everything", "everyone", "full", "must", "never", "nothing", "totally", "whole"});
    add(kTent, {"actually", "again", "confused",  "confusing", "correction", "guess", "hmm",
                "lost",     "maybe", "mean",      "perhaps",   "possibly",   "redo",  "scratch",
                "somehow",  "sorry", "uncertain", "unclear",   "unsure",     "wait",  "whatever"});
    add(kNegation, {"aren't", "can't", "cannot", "couldn't", "didn't", "doesn't", "don't", "isn't", "never", "no",
                    "nor", "not", "nothing", "shouldn't", "wasn't", "won't", "wouldn't"});
    return m;
  }();
  return *lexicon;
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// The longest prefix of `text` of at most `max` bytes that does not split a
// UTF-8 sequence.
std::string_view CutUtf8(std::string_view text, size_t max) {
  if (text.size() <= max) return text;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

}  // namespace

TextFeatures ExtractFeatures(std::string_view text) {
  text = CutUtf8(text, kMaxScoredTextBytes);
  TextFeatures f;
  const auto& lexicon = Lexicon();
  size_t neg = 0, urg = 0, fps = 0, abs = 0, tent = 0, negation = 0, caps = 0, caps_candidates = 0, long_words = 0;
  size_t excl = 0, qmarks = 0;
  size_t words_in_sentence = 0;
  std::unordered_map<uint64_t, size_t> rep_counts;  // words of >= 3 characters
  size_t rep_total = 0;
  std::unordered_set<uint64_t> topic;
  std::string word;
  size_t letters = 0, upper = 0;
  auto end_word = [&] {
    if (word.empty()) return;
    f.words++;
    words_in_sentence++;
    if (letters >= 2) {
      caps_candidates++;
      if (upper == letters) caps++;
    }
    if (word.size() >= 9) long_words++;
    if (auto it = lexicon.find(word); it != lexicon.end()) {
      uint8_t c = it->second;
      neg += (c & kNeg) != 0;
      urg += (c & kUrg) != 0;
      fps += (c & kFps) != 0;
      abs += (c & kAbs) != 0;
      tent += (c & kTent) != 0;
      negation += (c & kNegation) != 0;
    }
    if (word.size() >= 3) {
      rep_counts[Fnv1a(word)]++;
      rep_total++;
    }
    if (word.size() >= 4) topic.insert(Fnv1a(word));
    word.clear();
    letters = upper = 0;
  };
  auto end_sentence = [&] {
    end_word();
    if (words_in_sentence > 0) f.sentences++;
    words_in_sentence = 0;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == 0xE2 && i + 2 < text.size() && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
        static_cast<unsigned char>(text[i + 2]) == 0x99) {
      word += '\'';  // U+2019, the typographic apostrophe
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80 || (c == '\'' && !word.empty())) {
      word += char(c);
      letters += c >= 'a' && c <= 'z';
    } else if (c >= 'A' && c <= 'Z') {
      word += char(c - 'A' + 'a');
      letters++;
      upper++;
    } else {
      if (c == '!') excl++;
      if (c == '?') qmarks++;
      if (c == '.' || c == '!' || c == '?' || c == '\n') {
        end_sentence();
      } else {
        end_word();
      }
    }
  }
  end_sentence();
  if (f.words == 0) return f;
  auto n = double(f.words);
  double s = double(std::max<size_t>(f.sentences, 1));
  f.neg = double(neg) / n;
  f.urg = double(urg) / n;
  f.fps = double(fps) / n;
  f.abs = double(abs) / n;
  f.tent = double(tent) / n;
  f.negation = double(negation) / n;
  f.excl = std::min(double(excl) / s, 3.0);
  f.qmark = std::min(double(qmarks) / s, 3.0);
  f.caps = caps_candidates ? double(caps) / double(caps_candidates) : 0.0;
  f.len = std::min(n / s, 60.0) / 60.0;
  f.long_words = double(long_words) / n;
  f.rep = rep_total >= 5 ? 1.0 - double(rep_counts.size()) / double(rep_total) : 0.0;
  f.topic_words.assign(topic.begin(), topic.end());
  std::sort(f.topic_words.begin(), f.topic_words.end());
  return f;
}

double TopicOverlap(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 0.0;
  size_t i = 0, j = 0, common = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) {
      common++;
      i++;
      j++;
    } else if (a[i] < b[j]) {
      i++;
    } else {
      j++;
    }
  }
  return double(common) / double(a.size() + b.size() - common);
}

TextScores ScoreText(const TextFeatures& f) {
  TextScores s;
  s.acute_stress = Sigmoid(-2.6 + 18 * f.neg + 14 * f.urg + 4 * f.fps + 1.2 * f.excl + 3 * f.caps);
  s.hyperfocus = Sigmoid(-2.4 + 16 * f.abs + 3.5 * f.rep + 2.5 * f.topic + 1.5 * f.caps);
  s.cognitive_load = Sigmoid(-2.8 + 12 * f.tent + 6 * f.negation + 2.2 * f.len + 3 * f.long_words + 0.8 * f.qmark);
  return s;
}

double RiskScore(const TextScores& s) { return 0.5 * s.acute_stress + 0.25 * s.hyperfocus + 0.25 * s.cognitive_load; }

std::string_view RiskLevel(double risk) {
  if (risk < 0.5) return "NOMINAL";
  if (risk < 0.7) return "ELEVATED";
  if (risk < 0.85) return "HIGH";
  return "CRITICAL";
}

}  // namespace dsmil::devices::shrink
