// Token sampling and stop-sequence matching.
//
// Sampler: greedy (argmax, lowest id on ties) when temperature <= 0;
// otherwise logits / temperature → keep the top_k largest (top_k <= 0: all)
// → softmax → keep the smallest prefix whose probability reaches top_p
// (top_p >= 1: all) → draw with a 64-bit Mersenne Twister seeded by `seed`, so
// a given seed and logits always give the same tokens on every platform.
//
// StopMatcher: finds stop sequences in streamed text and holds back the text
// that might still become one (or an incomplete UTF-8 character), so a
// stream never shows part of a stop sequence.
//
// Neither class is thread-safe; use one per sequence.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dsmil::llm {

struct SamplingParams {
  float temperature = 0.8f;
  int32_t top_k = 40;
  float top_p = 0.95f;
  uint64_t seed = 0;
  int32_t max_tokens = 256;       // tokens generated at most (>= 1)
  std::vector<std::string> stop;  // stop sequences (text), at most kMaxStops
  bool ignore_eos = false;        // keep going past end-of-generation tokens (benchmarks)
};

inline constexpr size_t kMaxStops = 16;
inline constexpr size_t kMaxStopBytes = 256;

// InvalidArgument naming the field: temperature < 0 or > 100 or not finite,
// top_p outside (0, 1], max_tokens < 1, more than kMaxStops stops, an empty
// stop or one longer than kMaxStopBytes.
Status ValidateSamplingParams(const SamplingParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Picks the next token from `logits` (one per vocabulary entry; must not be
  // empty). Returns the token id.
  int32_t Sample(std::span<const float> logits);

  // Index of the largest logit (lowest index on ties).
  static int32_t Argmax(std::span<const float> logits);

 private:
  double Uniform();  // [0, 1), 53 bits

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;
};

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Appends `piece` to the text and returns the part that is now safe to
  // show. When a stop sequence completes, *stopped is set, the text before it
  // is returned and the stop sequence and anything after it are dropped.
  std::string Push(std::string_view piece, bool* stopped);
  // The text still held back (at the end of generation).
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  std::string pending_;
};

}  // namespace dsmil::llm
