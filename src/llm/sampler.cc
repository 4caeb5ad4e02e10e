#include "llm/sampler.h"

#include <algorithm>
#include <cmath>

namespace dsmil::llm {

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!std::isfinite(p.temperature) || p.temperature < 0 || p.temperature > 100) {
    return Status::InvalidArgument("temperature must be between 0 and 100, got " + std::to_string(p.temperature));
  }
  if (!std::isfinite(p.top_p) || p.top_p <= 0 || p.top_p > 1) {
    return Status::InvalidArgument("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  if (p.max_tokens < 1)
    return Status::InvalidArgument("max_tokens must be at least 1, got " + std::to_string(p.max_tokens));
  if (p.stop.size() > kMaxStops) {
    return Status::InvalidArgument("stop: at most " + std::to_string(kMaxStops) + " sequences, got " +
                                   std::to_string(p.stop.size()));
  }
  for (size_t i = 0; i < p.stop.size(); ++i) {
    if (p.stop[i].empty()) return Status::InvalidArgument("stop[" + std::to_string(i) + "] is empty");
    if (p.stop[i].size() > kMaxStopBytes) {
      return Status::InvalidArgument("stop[" + std::to_string(i) + "] is longer than " + std::to_string(kMaxStopBytes) +
                                     " bytes");
    }
  }
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

int32_t Sampler::Argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

double Sampler::Uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

int32_t Sampler::Sample(std::span<const float> logits) {
  if (params_.temperature <= 0 || logits.size() == 1) return Argmax(logits);
  const float inv_t = 1.0f / params_.temperature;
  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) candidates_[i] = {logits[i] * inv_t, static_cast<int32_t>(i)};
  // Larger logit first; equal logits by lower id, so the order is total.
  auto greater = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t k = candidates_.size();
  if (params_.top_k > 0 && size_t(params_.top_k) < k) k = size_t(params_.top_k);
  std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), greater);
  candidates_.resize(k);
  const float max = candidates_[0].first;
  double sum = 0;
  std::vector<double> probs(k);
  for (size_t i = 0; i < k; ++i) {
    probs[i] = std::exp(double(candidates_[i].first - max));
    sum += probs[i];
  }
  size_t keep = k;
  if (params_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < k; ++i) {
      cum += probs[i] / sum;
      if (cum >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += probs[i];
  double r = Uniform() * kept;
  for (size_t i = 0; i < keep; ++i) {
    r -= probs[i];
    if (r < 0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

namespace {

// Bytes at the end of `s` that start a UTF-8 character not yet complete.
size_t IncompleteUtf8Tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return len > back ? back : 0;
  }
  return 0;
}

}  // namespace

std::string StopMatcher::Push(std::string_view piece, bool* stopped) {
  *stopped = false;
  pending_.append(piece);
  size_t first = std::string::npos;
  for (const std::string& s : stops_) {
    size_t at = pending_.find(s);
    if (at != std::string::npos && at < first) first = at;
  }
  if (first != std::string::npos) {
    std::string out = pending_.substr(0, first);
    pending_.clear();
    *stopped = true;
    return out;
  }
  // Hold back the longest tail that is a proper prefix of a stop sequence.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    for (size_t len = std::min(s.size() - 1, pending_.size()); len > hold; --len) {
      if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
        hold = len;
        break;
      }
    }
  }
  hold = std::max(hold, IncompleteUtf8Tail(pending_));
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::Flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace dsmil::llm
