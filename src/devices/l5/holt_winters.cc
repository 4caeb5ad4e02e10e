#include "devices/l5/holt_winters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace dsmil::devices::l5 {
namespace {

constexpr double kAlphas[] = {0.02, 0.05, 0.1, 0.2, 0.3, 0.5};
constexpr double kBetas[] = {0, 0.005, 0.02, 0.05};
constexpr double kGammas[] = {0.02, 0.05, 0.1, 0.2, 0.3, 0.5};

double Mean(std::span<const double> v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

// The model after the two initial seasons' set-up, before any recursion.
HwModel Initial(std::span<const double> y, size_t m, double alpha, double beta, double gamma) {
  HwModel h;
  h.season = m;
  h.alpha = alpha;
  h.beta = beta;
  h.gamma = gamma;
  double first = Mean(y.subspan(0, m));
  double second = Mean(y.subspan(m, m));
  h.level = first;
  h.trend = (second - first) / double(m);
  h.seasonal.resize(m);
  for (size_t i = 0; i < m; ++i) h.seasonal[i] = y[i] - first;
  h.next = 0;
  return h;
}

double OneStep(const HwModel& h) { return h.level + h.trend + h.seasonal[h.next]; }

}  // namespace

void Update(HwModel& h, double y) {
  double s = h.seasonal[h.next];
  double prev_level = h.level;
  h.level = h.alpha * (y - s) + (1 - h.alpha) * (h.level + h.trend);
  h.trend = h.beta * (h.level - prev_level) + (1 - h.beta) * h.trend;
  h.seasonal[h.next] = h.gamma * (y - prev_level - h.trend) + (1 - h.gamma) * s;
  h.next = (h.next + 1) % h.season;
  h.fitted++;
}

Result<HwModel> FitHoltWinters(std::span<const double> y, size_t m) {
  if (m < 2) return Status::InvalidArgument("season: must be at least 2");
  if (y.size() < 3 * m) {
    return Status::InvalidArgument("history: " + std::to_string(y.size()) + " points, at least " +
                                   std::to_string(3 * m) + " (three seasons) are needed");
  }
  for (double v : y) {
    if (!std::isfinite(v)) return Status::InvalidArgument("history: a value is not finite");
  }
  HwModel best;
  double best_sse = std::numeric_limits<double>::infinity();
  for (double a : kAlphas) {
    for (double b : kBetas) {
      for (double g : kGammas) {
        // The level runs from day 1's mean through day 2 before errors count.
        HwModel h = Initial(y, m, a, b, g);
        double sse = 0;
        for (size_t t = 0; t < y.size(); ++t) {
          if (t >= 2 * m) {
            double e = y[t] - OneStep(h);
            sse += e * e;
          }
          Update(h, y[t]);
        }
        if (sse < best_sse) {
          best_sse = sse;
          best = std::move(h);
        }
      }
    }
  }
  best.sigma = std::sqrt(best_sse / double(y.size() - 2 * m));
  return best;
}

std::vector<ForecastPoint> Forecast(const HwModel& h, size_t steps, double z, double floor) {
  std::vector<ForecastPoint> out;
  out.reserve(steps);
  double var_sum = 1.0;  // 1 + sum of c_j^2 for j < step
  for (size_t k = 1; k <= steps; ++k) {
    if (k > 1) {
      size_t j = k - 1;
      double c = h.alpha * (1 + double(j) * h.beta) + (j % h.season == 0 ? h.gamma : 0.0);
      var_sum += c * c;
    }
    double mean = h.level + double(k) * h.trend + h.seasonal[(h.next + k - 1) % h.season];
    double half = z * h.sigma * std::sqrt(var_sum);
    out.push_back({mean, std::max(mean - half, floor), std::max(mean + half, floor)});
  }
  return out;
}

std::vector<AnomalyCheck> DetectAnomalies(HwModel& h, std::span<const double> y, double z) {
  std::vector<AnomalyCheck> out;
  out.reserve(y.size());
  for (double v : y) {
    AnomalyCheck c;
    c.expected = Forecast(h, 1, z, 0.0)[0];
    c.actual = v;
    double absorbed = v;
    if (v > c.expected.upper) {
      c.direction = 1;
      absorbed = c.expected.upper;
    } else if (v < c.expected.lower) {
      c.direction = -1;
      absorbed = c.expected.lower;
    }
    Update(h, absorbed);
    out.push_back(c);
  }
  return out;
}

}  // namespace dsmil::devices::l5
