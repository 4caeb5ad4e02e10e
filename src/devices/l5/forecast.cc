#include "devices/l5/forecast.h"

#include <algorithm>
#include <cmath>

#include "devices/l5/holt_winters.h"

namespace dsmil::devices::l5 {
namespace {

using json = nlohmann::json;

constexpr const char* kSeverities[] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};
constexpr double kZ95 = 1.96;
constexpr double kZ99 = 2.576;

double Round3(double v) { return std::round(v * 1000.0) / 1000.0; }

json ModelJson(const HwModel& m) {
  return {{"alpha", m.alpha}, {"beta", m.beta}, {"gamma", m.gamma}, {"sigma", Round3(m.sigma)}};
}

// One series' forecast as the reply carries it.
Result<json> SeriesForecast(const std::vector<double>& y, int64_t next_hour_ms, size_t horizon_h) {
  DSMIL_ASSIGN_OR_RETURN(HwModel model, FitHoltWinters(y, kSeason));
  std::vector<ForecastPoint> f = Forecast(model, horizon_h, kZ95, 0.0);
  json points = json::array();
  double sum = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    double mean = std::max(f[i].mean, 0.0);
    sum += mean;
    points.push_back({{"hour_ms", next_hour_ms + int64_t(i) * kHourMs},
                      {"mean", Round3(mean)},
                      {"lower", Round3(f[i].lower)},
                      {"upper", Round3(f[i].upper)}});
  }
  return json{{"model", ModelJson(model)}, {"points", std::move(points)}, {"horizon_sum", {{"mean", Round3(sum)}}}};
}

json HistoryJson(const HourlyCounts& c) {
  return {{"first_hour_ms", c.first_hour_ms}, {"hours", c.hours}, {"events", c.events}};
}

}  // namespace

std::string InsufficientHistory(int device_id, size_t have_hours, size_t need_hours) {
  return "not enough history: device " + std::to_string(device_id) + " needs at least " + std::to_string(need_hours) +
         " complete hours (" + std::to_string((need_hours + 23) / 24) +
         " days) of the tenant's archived SOC events, counted from the first archived event in the requested "
         "history_days; the archive has " +
         std::to_string(have_hours) + " hour" + (have_hours == 1 ? "" : "s");
}

HourlyCounts BucketHourly(std::span<const store::HourlyCount> rows, int64_t start_ms, int64_t end_ms) {
  HourlyCounts c;
  c.first_hour_ms = start_ms;
  c.hours = end_ms > start_ms ? size_t((end_ms - start_ms) / kHourMs) : 0;
  c.total.assign(c.hours, 0.0);
  for (const char* s : kSeverities) c.by_severity[s].assign(c.hours, 0.0);
  for (const store::HourlyCount& r : rows) {
    if (r.hour_ms < start_ms || r.hour_ms >= start_ms + int64_t(c.hours) * kHourMs) continue;
    size_t h = size_t((r.hour_ms - start_ms) / kHourMs);
    auto n = double(r.count);
    c.events += r.count;
    c.total[h] += n;
    std::string cat = r.category.empty() ? kUnclassified : r.category;
    auto [it, fresh] = c.by_category.try_emplace(cat);
    if (fresh) it->second.assign(c.hours, 0.0);
    it->second[h] += n;
    auto sev = c.by_severity.find(r.severity);
    if (!r.category.empty() && sev != c.by_severity.end()) sev->second[h] += n;
  }
  return c;
}

int64_t SeriesStart(std::span<const store::HourlyCount> rows, int64_t window_start_ms, int64_t end_ms) {
  int64_t first = end_ms;
  for (const store::HourlyCount& r : rows) {
    if (r.hour_ms >= window_start_ms) first = std::min(first, r.hour_ms);
  }
  return first;
}

Result<json> RateForecast(const HourlyCounts& counts, size_t horizon_h) {
  if (counts.hours < kMinHistoryHours) {
    return Status::FailedPrecondition(InsufficientHistory(kRateDeviceId, counts.hours, kMinHistoryHours));
  }
  const int64_t next = counts.first_hour_ms + int64_t(counts.hours) * kHourMs;
  DSMIL_ASSIGN_OR_RETURN(json total, SeriesForecast(counts.total, next, horizon_h));
  json cats = json::object();
  for (const auto& [name, y] : counts.by_category) {
    DSMIL_ASSIGN_OR_RETURN(json s, SeriesForecast(y, next, horizon_h));
    cats[name] = std::move(s);
  }
  return json{{"part", "rate"},   {"history", HistoryJson(counts)}, {"horizon_h", horizon_h},
              {"interval", 0.95}, {"total", std::move(total)},      {"categories", std::move(cats)}};
}

Result<json> SeverityMixForecast(const HourlyCounts& counts, size_t horizon_h) {
  if (counts.hours < kMinHistoryHours) {
    return Status::FailedPrecondition(InsufficientHistory(kSeverityDeviceId, counts.hours, kMinHistoryHours));
  }
  const int64_t next = counts.first_hour_ms + int64_t(counts.hours) * kHourMs;
  json sev = json::object();
  std::map<std::string, double> sums;
  double all = 0;
  for (const char* name : kSeverities) {
    DSMIL_ASSIGN_OR_RETURN(json s, SeriesForecast(counts.by_severity.at(name), next, horizon_h));
    double sum = s["horizon_sum"]["mean"].get<double>();
    sums[name] = sum;
    all += sum;
    sev[name] = std::move(s);
  }
  json share = json::object();
  for (const char* name : kSeverities) share[name] = all > 0 ? Round3(sums[name] / all) : 0.0;
  return json{{"part", "severity_mix"},  {"history", HistoryJson(counts)}, {"horizon_h", horizon_h},
              {"interval", 0.95},        {"severities", std::move(sev)},   {"share", std::move(share)},
              {"share_defined", all > 0}};
}

std::string AnomalyFlagName(int direction) { return direction > 0 ? "L5_RATE_ANOMALY_HIGH" : "L5_RATE_ANOMALY_LOW"; }

Result<std::vector<RateAnomaly>> DetectRateAnomalies(const HourlyCounts& counts, size_t check_hours) {
  const size_t need = kMinHistoryHours + check_hours;
  if (counts.hours < need) {
    return Status::FailedPrecondition(InsufficientHistory(kAnomalyDeviceId, counts.hours, need));
  }
  const size_t fit_n = counts.hours - check_hours;
  std::vector<RateAnomaly> out;
  auto run = [&](const std::string& name, const std::vector<double>& y) -> Status {
    std::span<const double> all(y);
    DSMIL_ASSIGN_OR_RETURN(HwModel model, FitHoltWinters(all.subspan(0, fit_n), kSeason));
    std::vector<AnomalyCheck> checks = DetectAnomalies(model, all.subspan(fit_n), kZ99);
    for (size_t i = 0; i < checks.size(); ++i) {
      if (checks[i].direction == 0) continue;
      out.push_back({name, counts.first_hour_ms + int64_t(fit_n + i) * kHourMs, checks[i].actual,
                     std::max(checks[i].expected.mean, 0.0), checks[i].expected.lower, checks[i].expected.upper,
                     checks[i].direction});
    }
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(run("TOTAL", counts.total));
  for (const auto& [name, y] : counts.by_category) DSMIL_RETURN_IF_ERROR(run(name, y));
  return out;
}

}  // namespace dsmil::devices::l5
