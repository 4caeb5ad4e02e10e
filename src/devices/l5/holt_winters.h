// Additive Holt-Winters with one seasonal period, prediction intervals and a
// one-step-ahead anomaly detector (docs/l5-l6.md §2): the model of the L5
// forecasting devices 33-35. Pure: no state beyond the fitted model, no I/O.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "core/status.h"

namespace dsmil::devices::l5 {

struct HwModel {
  size_t season = 24;  // m
  double alpha = 0, beta = 0, gamma = 0;
  double level = 0, trend = 0;
  std::vector<double> seasonal;  // m values; seasonal[(t) % m] is the next index to use
  size_t next = 0;               // index into seasonal for the next step
  double sigma = 0;              // RMS one-step error on the fitted history
  size_t fitted = 0;             // points the model has absorbed
};

// Fits the model on `y` with season length `m` (>= 2): grid search of alpha,
// beta, gamma by one-step SSE. InvalidArgument when y has fewer than 3 m
// points or a non-finite value.
Result<HwModel> FitHoltWinters(std::span<const double> y, size_t m);

struct ForecastPoint {
  double mean = 0;
  double lower = 0;  // clamped at `floor`
  double upper = 0;
};

// The next `h` points with intervals at normal quantile `z` (1.96: 95 %).
// Lower bounds are clamped at `floor` (0 for counts).
std::vector<ForecastPoint> Forecast(const HwModel& model, size_t h, double z = 1.96, double floor = 0.0);

// Absorbs one observation into the model (the recursions of §2).
void Update(HwModel& model, double y);

// One checked point of the anomaly detector.
struct AnomalyCheck {
  ForecastPoint expected;  // one-step interval before the point was seen
  double actual = 0;
  int direction = 0;  // +1 above the interval, -1 below, 0 inside
};

// Runs the detector through `y` (continuing `model`, which it advances):
// each point against its one-step interval at `z` (2.576: 99 %); a flagged
// point is absorbed as the bound it crossed.
std::vector<AnomalyCheck> DetectAnomalies(HwModel& model, std::span<const double> y, double z = 2.576);

}  // namespace dsmil::devices::l5
