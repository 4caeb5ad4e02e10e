// L5's model on held-out data (docs/l5-l6.md §3): generated hourly counts with
// known daily seasonality, trend and injected anomalies; fit on days 1-21,
// score days 22-28. Every figure is printed; the thresholds and their reasons
// are the document's. Negative controls must fail them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <set>

#include "devices/l5/holt_winters.h"

namespace dsmil::devices::l5 {
namespace {

constexpr size_t kDay = 24;
constexpr size_t kTrainDays = 21;
constexpr size_t kTestDays = 7;
constexpr double kMaxMape = 0.20;
constexpr double kMinCoverage = 0.85;
constexpr double kMinPrecision = 0.7;
constexpr double kMinRecall = 0.8;

struct Series {
  std::vector<double> y;
  std::set<size_t> anomalies;  // indices into the test part
};

// A: smooth daily cycle with a slow trend.
double MeanA(size_t t) { return 60 + 0.02 * double(t) + 25 * std::sin(2 * M_PI * double(t % kDay) / kDay); }
// B: business hours, and a +15 % step on day 10.
double MeanB(size_t t) {
  double h = double(t % kDay);
  double v = h < 6 ? 20 : h < 8 ? 20 + (h - 6) * 35 : h < 18 ? 90 : h < 20 ? 90 - (h - 17) * 35 : 20;
  return t >= 10 * kDay ? v * 1.15 : v;
}

Series Generate(double (*mean)(size_t), uint32_t seed) {
  std::mt19937 rng(seed);
  Series s;
  size_t n = (kTrainDays + kTestDays) * kDay;
  for (size_t t = 0; t < n; ++t) s.y.push_back(double(std::poisson_distribution<int>(mean(t))(rng)));
  std::uniform_int_distribution<size_t> pick(0, kTestDays * kDay - 1);
  std::uniform_real_distribution<double> factor(2.5, 3.5);
  while (s.anomalies.size() < 12) s.anomalies.insert(pick(rng));
  int i = 0;
  for (size_t a : s.anomalies) {
    double& v = s.y[kTrainDays * kDay + a];
    v = (i++ % 3 == 2) ? std::floor(v * 0.1) : std::round(std::max(v, 5.0) * factor(rng));
  }
  return s;
}

struct Scores {
  double mape = 0, coverage = 0, precision = 0, recall = 0;
};

Scores Score(const std::vector<double>& train, const Series& s, const std::set<size_t>& labels) {
  auto model = FitHoltWinters(train, kDay);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  std::span<const double> test(s.y.data() + kTrainDays * kDay, kTestDays * kDay);
  auto fc = Forecast(*model, test.size(), 1.96);
  double ape = 0;
  size_t n = 0, inside = 0;
  for (size_t i = 0; i < test.size(); ++i) {
    if (s.anomalies.count(i)) continue;
    ape += std::abs(test[i] - fc[i].mean) / std::max(test[i], 1.0);
    inside += test[i] >= fc[i].lower && test[i] <= fc[i].upper;
    n++;
  }
  HwModel det = *model;
  auto checks = DetectAnomalies(det, test);
  size_t tp = 0, flagged = 0;
  for (size_t i = 0; i < checks.size(); ++i) {
    if (checks[i].direction == 0) continue;
    flagged++;
    tp += labels.count(i);
  }
  Scores r;
  r.mape = ape / double(n);
  r.coverage = double(inside) / double(n);
  r.precision = flagged ? double(tp) / double(flagged) : 0.0;
  r.recall = double(tp) / double(labels.size());
  return r;
}

bool Passes(const Scores& s) {
  return s.mape < kMaxMape && s.coverage >= kMinCoverage && s.precision >= kMinPrecision && s.recall >= kMinRecall;
}

void Print(const char* name, const Scores& s) {
  std::printf("%-34s MAPE %5.1f %%  coverage(95%%) %5.1f %%  anomaly precision %.2f recall %.2f  -> %s\n", name,
              100 * s.mape, 100 * s.coverage, s.precision, s.recall, Passes(s) ? "PASS" : "FAIL");
}

std::vector<double> Train(const Series& s) { return {s.y.begin(), s.y.begin() + kTrainDays * kDay}; }

TEST(L5HeldOut, GeneratorsAAndBMeetTheThresholds) {
  int seed = 0;
  for (auto [name, mean] : {std::pair{"A (sine + trend)", &MeanA}, std::pair{"B (business hours + step)", &MeanB}}) {
    for (uint32_t s : {11u, 12u, 13u}) {
      Series series = Generate(mean, s + uint32_t(100 * seed));
      Scores sc = Score(Train(series), series, series.anomalies);
      Print((std::string(name) + " seed " + std::to_string(s)).c_str(), sc);
      EXPECT_LT(sc.mape, kMaxMape) << name;
      EXPECT_GE(sc.coverage, kMinCoverage) << name;
      EXPECT_GE(sc.precision, kMinPrecision) << name;
      EXPECT_GE(sc.recall, kMinRecall) << name;
    }
    seed++;
  }
}

TEST(L5HeldOut, ShuffledLabelsFailTheThresholds) {
  Series series = Generate(&MeanA, 11);
  std::mt19937 rng(7);
  std::set<size_t> shuffled;
  std::uniform_int_distribution<size_t> pick(0, kTestDays * kDay - 1);
  while (shuffled.size() < series.anomalies.size()) {
    size_t i = pick(rng);
    if (!series.anomalies.count(i)) shuffled.insert(i);
  }
  Scores sc = Score(Train(series), series, shuffled);
  Print("A, anomaly labels shuffled", sc);
  EXPECT_LT(sc.precision, kMinPrecision);
  EXPECT_LT(sc.recall, kMinRecall);
  EXPECT_FALSE(Passes(sc));
}

TEST(L5HeldOut, TimeShuffledHistoryFailsTheThresholds) {
  Series series = Generate(&MeanA, 11);
  std::vector<double> train = Train(series);
  std::mt19937 rng(9);
  std::shuffle(train.begin(), train.end(), rng);
  Scores sc = Score(train, series, series.anomalies);
  Print("A, training hours shuffled in time", sc);
  EXPECT_GE(sc.mape, kMaxMape);
  EXPECT_FALSE(Passes(sc));
}

TEST(L5Model, RecoversAKnownSeasonAndRefusesShortHistory) {
  std::vector<double> y;
  for (size_t t = 0; t < 10 * kDay; ++t) y.push_back(100 + 0.5 * double(t) + (t % kDay < 12 ? 10.0 : -10.0));
  auto m = FitHoltWinters(y, kDay);
  ASSERT_TRUE(m.ok());
  auto fc = Forecast(*m, 48);
  for (size_t k = 0; k < 48; ++k) {
    size_t t = y.size() + k;
    double truth = 100 + 0.5 * double(t) + (t % kDay < 12 ? 10.0 : -10.0);
    EXPECT_NEAR(fc[k].mean, truth, 1.0) << k;
  }
  EXPECT_FALSE(FitHoltWinters(std::span<const double>(y.data(), 3 * kDay - 1), kDay).ok());
  y[5] = std::nan("");
  EXPECT_FALSE(FitHoltWinters(y, kDay).ok());
}

}  // namespace
}  // namespace dsmil::devices::l5
