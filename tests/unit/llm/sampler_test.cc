#include "llm/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace dsmil::llm {
namespace {

TEST(Sampler, GreedyAtTemperatureZeroTakesTheLowestIdOfTheMaximum) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p);
  std::vector<float> logits = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(s.Sample(logits), 1);
  EXPECT_EQ(Sampler::Argmax(logits), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplingParams p;
  p.temperature = 1.5f;
  p.top_k = 1;
  Sampler s(p);
  std::vector<float> logits = {0.1f, 0.2f, 2.0f, 1.9f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.Sample(logits), 2);
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i) logits[i] = std::sin(float(i)) * 2;
  auto draw = [&](uint64_t seed) {
    SamplingParams p;
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(s.Sample(logits));
    return out;
  };
  EXPECT_EQ(draw(42), draw(42));
  EXPECT_NE(draw(42), draw(43));
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  std::vector<float> logits = {0.0f, 1.0f, 2.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.seed = 7;
  Sampler s(p);
  std::vector<int> counts(3);
  const int n = 30000;
  for (int i = 0; i < n; ++i) ++counts[s.Sample(logits)];
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(counts[i] / double(n), std::exp(double(i)) / z, 0.015) << i;
}

TEST(Sampler, TemperatureSharpens) {
  std::vector<float> logits = {0.0f, 1.0f};
  SamplingParams p;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.temperature = 0.1f;
  Sampler s(p);
  int ones = 0;
  for (int i = 0; i < 1000; ++i) ones += s.Sample(logits);
  EXPECT_GT(ones, 990);  // p(1) = 1 / (1 + e^-10)
}

TEST(Sampler, TopPKeepsTheSmallestSufficientPrefix) {
  // probabilities ≈ 0.665, 0.245, 0.090: top_p 0.6 keeps only the first.
  std::vector<float> logits = {2.0f, 1.0f, 0.0f};
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 0.6f;
  Sampler s(p);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(s.Sample(logits), 0);
  p.top_p = 0.8f;  // keeps two
  Sampler s2(p);
  std::map<int, int> seen;
  for (int i = 0; i < 2000; ++i) ++seen[s2.Sample(logits)];
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_GT(seen[1], 0);
}

TEST(Sampler, ValidationNamesTheField) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_NE(ValidateSamplingParams(p).message().find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0;
  EXPECT_NE(ValidateSamplingParams(p).message().find("top_p"), std::string::npos);
  p = {};
  p.max_tokens = 0;
  EXPECT_NE(ValidateSamplingParams(p).message().find("max_tokens"), std::string::npos);
  p = {};
  p.stop = {"ok", ""};
  EXPECT_NE(ValidateSamplingParams(p).message().find("stop[1] is empty"), std::string::npos);
  p = {};
  p.stop.assign(17, "x");
  EXPECT_FALSE(ValidateSamplingParams(p).ok());
  EXPECT_TRUE(ValidateSamplingParams(SamplingParams{}).ok());
}

TEST(StopMatcher, StopsAndNeverShowsPartOfAStop) {
  StopMatcher m({"\nUser:", "END"});
  bool stopped = false;
  std::string shown;
  shown += m.Push("Hello", &stopped);
  EXPECT_FALSE(stopped);
  shown += m.Push(" world\nUs", &stopped);  // "\nUs" may start "\nUser:"
  EXPECT_EQ(shown, "Hello world");
  EXPECT_FALSE(stopped);
  shown += m.Push("er: more", &stopped);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(shown, "Hello world");
}

TEST(StopMatcher, ReleasesHeldTextWhenItDoesNotBecomeAStop) {
  StopMatcher m({"END"});
  bool stopped = false;
  EXPECT_EQ(m.Push("THE E", &stopped), "THE ");
  EXPECT_EQ(m.Push("N", &stopped), "");
  EXPECT_EQ(m.Push("D", &stopped), "");
  EXPECT_TRUE(stopped);
  StopMatcher m2({"END"});
  EXPECT_EQ(m2.Push("EN", &stopped), "");
  EXPECT_EQ(m2.Push("X", &stopped), "ENX");
  EXPECT_EQ(m2.Push("E", &stopped), "");
  EXPECT_EQ(m2.Flush(), "E");
}

TEST(StopMatcher, HoldsBackIncompleteUtf8) {
  StopMatcher m({});
  bool stopped = false;
  EXPECT_EQ(m.Push("caf\xC3", &stopped), "caf");
  EXPECT_EQ(m.Push("\xA9!", &stopped), "\xC3\xA9!");
  EXPECT_EQ(m.Push("\xE2\x82", &stopped), "");
  EXPECT_EQ(m.Push("\xAC", &stopped), "\xE2\x82\xAC");
}

}  // namespace
}  // namespace dsmil::llm
