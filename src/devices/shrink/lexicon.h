// SHRINK's lexicon and per-text feature model (docs/shrink.md §2.1-2.3):
// word lists, the features of one text and its three scores. Pure: no state,
// no I/O; the per-tenant state is monitor.h's.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace dsmil::devices::shrink {

// Texts are cut to this many bytes (at a UTF-8 boundary) before scoring.
inline constexpr size_t kMaxScoredTextBytes = 16 << 10;

// The features of one text (docs/shrink.md §2.2), each a rate or a fraction.
struct TextFeatures {
  size_t words = 0;
  size_t sentences = 0;
  double neg = 0;         // negative-affect words / words
  double urg = 0;         // urgency words / words
  double fps = 0;         // first-person singular words / words
  double abs = 0;         // absolutist words / words
  double tent = 0;        // tentative + self-correction words / words
  double negation = 0;    // negation words / words
  double excl = 0;        // '!' per sentence, capped at 3
  double caps = 0;        // fraction of words (>= 2 letters) in capitals
  double qmark = 0;       // '?' per sentence, capped at 3
  double len = 0;         // min(mean words per sentence, 60) / 60
  double long_words = 0;  // fraction of words of >= 9 characters
  double rep = 0;         // 1 - distinct/total over words of >= 3 characters
  double topic = 0;       // Jaccard overlap with the previous text (set by the caller)
  // Hashes of the distinct words of >= 4 characters, sorted: the text's
  // topic, compared with the tenant's next text.
  std::vector<uint64_t> topic_words;
};

// The three per-text scores, each in [0, 1].
struct TextScores {
  double acute_stress = 0;
  double hyperfocus = 0;
  double cognitive_load = 0;
};

// The features of `text` (cut to kMaxScoredTextBytes). `topic` is left 0.
TextFeatures ExtractFeatures(std::string_view text);

// Jaccard overlap of two sorted hash sets (0 when both are empty).
double TopicOverlap(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b);

// The scores of docs/shrink.md §2.3.
TextScores ScoreText(const TextFeatures& f);

// risk = 0.5 acute_stress + 0.25 hyperfocus + 0.25 cognitive_load.
double RiskScore(const TextScores& s);

// "NOMINAL" (< 0.5), "ELEVATED" (< 0.7), "HIGH" (< 0.85), "CRITICAL".
std::string_view RiskLevel(double risk);

}  // namespace dsmil::devices::shrink
