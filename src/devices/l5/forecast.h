// The three parts of L5 (docs/l5-l6.md §1, §4) over a tenant's hourly SOC
// event counts: 33 the rate forecast (total and per L4 category), 34 the
// severity-mix forecast, 35 the anomaly detector. Pure functions: the device
// (forecast_device.h) reads the archive and calls them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "store/archive.h"

namespace dsmil::devices::l5 {

inline constexpr int kRateDeviceId = 33;
inline constexpr int kSeverityDeviceId = 34;
inline constexpr int kAnomalyDeviceId = 35;

inline constexpr int64_t kHourMs = 3600000;
inline constexpr size_t kSeason = 24;
// The model needs three days of hourly buckets to fit (docs/l5-l6.md §2).
inline constexpr size_t kMinHistoryHours = 3 * kSeason;
// Request limits (docs/l5-l6.md §4).
inline constexpr int64_t kMaxHorizonHours = 168;
inline constexpr int64_t kDefaultHistoryDays = 14;
inline constexpr int64_t kMinHistoryDays = 3;
inline constexpr int64_t kMaxHistoryDays = 60;
inline constexpr int64_t kMaxCheckHours = 168;

// "UNCLASSIFIED" is the category of events L4 did not classify.
inline constexpr const char* kUnclassified = "UNCLASSIFIED";

// Hourly counts over [first_hour_ms, first_hour_ms + hours * 1 h).
struct HourlyCounts {
  int64_t first_hour_ms = 0;
  size_t hours = 0;
  size_t events = 0;  // events counted
  std::vector<double> total;
  // Per L4 category seen in the window (kUnclassified for events without one).
  std::map<std::string, std::vector<double>> by_category;
  // LOW, MEDIUM, HIGH, CRITICAL: always all four (classified events only).
  std::map<std::string, std::vector<double>> by_severity;
};

// The series of [start_ms, end_ms) from the archive's hourly counts
// (store::Archive::CountByHour); start_ms and end_ms are whole hours
// (start_ms <= end_ms); rows outside are ignored.
HourlyCounts BucketHourly(std::span<const store::HourlyCount> rows, int64_t start_ms, int64_t end_ms);

// The first hour of the series (docs/l5-l6.md §4): the hour of the tenant's
// oldest event in the window, never before `window_start_ms`; `end_ms` when
// there is none. A tenant's history starts with its first event, not with
// the empty hours before it.
int64_t SeriesStart(std::span<const store::HourlyCount> rows, int64_t window_start_ms, int64_t end_ms);

// Device 33: {"total": series, "categories": {name: series}} with each
// series {"model": {...}, "points": [{"hour_ms", "mean", "lower", "upper"}],
// "horizon_sum": {"mean"}}, 95 % intervals. FailedPrecondition
// (INSUFFICIENT_HISTORY) with fewer than kMinHistoryHours hours.
Result<nlohmann::json> RateForecast(const HourlyCounts& counts, size_t horizon_h);

// Device 34: the forecast per severity and "share": each severity's share of
// the summed means over the horizon (means clamped at 0, normalised).
Result<nlohmann::json> SeverityMixForecast(const HourlyCounts& counts, size_t horizon_h);

// One L5 flag of device 35.
struct RateAnomaly {
  std::string series;  // "TOTAL" or an L4 category
  int64_t hour_ms = 0;
  double actual = 0;
  double expected = 0, lower = 0, upper = 0;  // one-step 99 % interval
  int direction = 0;                          // +1 L5_RATE_ANOMALY_HIGH, -1 L5_RATE_ANOMALY_LOW
};

std::string AnomalyFlagName(int direction);  // "L5_RATE_ANOMALY_HIGH" / "L5_RATE_ANOMALY_LOW"

// Device 35: fits each series (total and each category) on all but its last
// `check_hours` hours, then runs the detector over those hours. Needs
// kMinHistoryHours + check_hours hours (FailedPrecondition otherwise).
Result<std::vector<RateAnomaly>> DetectRateAnomalies(const HourlyCounts& counts, size_t check_hours);

// The error text of INSUFFICIENT_HISTORY: what is needed and what there is.
std::string InsufficientHistory(int device_id, size_t have_hours, size_t need_hours);

}  // namespace dsmil::devices::l5
