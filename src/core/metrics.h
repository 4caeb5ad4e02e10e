// Metrics registry with Prometheus text exposition (format 0.0.4).
//
// A Registry holds metric families (Counter, Gauge, Histogram). A family has a
// name, a help text and a fixed list of label names; its children are the
// time series, one per tuple of label values, created on first use:
//
//   Registry registry;
//   auto& requests = registry.AddCounter("dsmil_requests_total", "Total requests processed",
//                                        {"tenant_id", "device_id", "msg_type"});
//   Counter& c = requests.Labels({"ALPHA", "43", "0x41"});  // cache it on hot paths
//   c.Inc();
//   std::string text = registry.Expose();                    // serve on /metrics
//
// Hot path: Counter::Inc, Gauge::Set/Inc/Dec and Histogram::Observe are lock-free
// (relaxed atomics). Family::Labels takes a shared (reader) lock to find an existing
// child and an exclusive lock only when it creates one. Children are never removed
// and never move, so a `Counter&` stays valid as long as the Registry lives.
//
// Names are fixed by code, so an invalid metric or label name, a wrong number of
// label values, or registering the same name twice with a different type or label
// set is a programming error: the process prints what is wrong to stderr and
// aborts (in every build type, so a bad name is never served). Code that builds
// names from outside input checks them first with ValidateMetricName /
// ValidateLabelName. Label *values* are data: any bytes are accepted and escaped.
//
// Cardinality: every distinct label tuple is kept until the Registry dies, so
// label values must come from bounded sets (tenants, devices, message types),
// never from request ids or free text.
//
// Thread safety: every method of every class here may be called concurrently.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"

namespace dsmil {

// ---------------------------------------------------------------------------
// Metric values.

// A monotonically increasing count. Value() is the sum of all increments.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds 1 (a single atomic add).
  void Inc() { whole_.fetch_add(1, std::memory_order_relaxed); }
  // Adds `v`. Whole numbers up to 2^53 take the integer path; other values are
  // added to a floating-point part. Negative, NaN or infinite `v` is ignored
  // (a counter never goes down).
  void Inc(double v);
  double Value() const;

 private:
  std::atomic<uint64_t> whole_{0};
  std::atomic<double> fraction_{0.0};
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A point-in-time copy of a histogram: cumulative counts per upper bound.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // finite, strictly increasing; +Inf is implied last
  std::vector<uint64_t> cumulative;  // size upper_bounds.size() + 1; last = count (+Inf)
  double sum = 0.0;

  uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }

  // Adds `other` into this snapshot. Returns InvalidArgument if the bucket
  // bounds differ. An empty (default) snapshot takes `other`'s bounds.
  Status Merge(const HistogramSnapshot& other);

  // Estimated q-quantile (0 <= q <= 1) with PromQL histogram_quantile()'s
  // linear interpolation (see HistogramQuantile). NaN when empty.
  double Quantile(double q) const;
};

// Observations counted into fixed buckets (upper bounds, "le" = less or equal).
class Histogram {
 public:
  // `upper_bounds` must outlive the Histogram (the family owns them).
  explicit Histogram(std::span<const double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `v` into the first bucket whose upper bound is >= v (+Inf if none)
  // and adds it to the sum. NaN is counted in +Inf only and poisons the sum,
  // as in the Prometheus clients.
  void Observe(double v);

  // Consistent enough for exposition: each field is read atomically, but an
  // Observe racing with Snapshot may be seen in the buckets and not the sum.
  HistogramSnapshot Snapshot() const;

 private:
  std::span<const double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0.0};
};

// PromQL histogram_quantile(): `upper_bounds` sorted ascending with +Inf last,
// `cumulative` the matching cumulative counts. Returns NaN when there are no
// observations, fewer than two buckets or the last bound is not +Inf; -Inf for
// q < 0 and +Inf for q > 1. A rank falling into the +Inf bucket returns the
// highest finite bound; within the first bucket the lower bound is 0 (unless
// the bucket's upper bound is <= 0, then that bound is returned).
double HistogramQuantile(double q, std::span<const double> upper_bounds, std::span<const double> cumulative);

// ---------------------------------------------------------------------------
// Families.

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge", "histogram".
std::string_view MetricTypeName(MetricType type);

// Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Returns InvalidArgument naming the
// first bad character otherwise.
Status ValidateMetricName(std::string_view name);
// Label names: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved).
Status ValidateLabelName(std::string_view name);

// Appends `value` escaped for a label value (\\, \", \n) to `out`.
void AppendEscapedLabelValue(std::string& out, std::string_view value);
// Appends `v` in the exposition's number form: shortest round-trip decimal,
// "+Inf", "-Inf" or "NaN".
void AppendMetricValue(std::string& out, double v);

namespace metrics_internal {

// Orders label-value tuples lexicographically; transparent so lookups with a
// span of string_view need no allocation.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
      return std::string_view(x) < std::string_view(y);
    });
  }
};

}  // namespace metrics_internal

// Common part of all families: identity, labels, exposition.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends "# HELP", "# TYPE" and one line per sample to `out`, children in
  // label-value order.
  virtual void Expose(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);

  // Aborts with a message unless values.size() == label_names().size().
  void CheckArity(size_t n) const;
  // Appends `name{l1="v1",...[,extra_name="extra_value"]}` (no braces when empty).
  void AppendSeries(std::string& out, std::string_view name, std::span<const std::string> values,
                    std::string_view extra_name = {}, std::string_view extra_value = {}) const;

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
};

// A family of children of type T (Counter, Gauge or Histogram).
template <typename T>
class Family final : public FamilyBase {
 public:
  // Returns the child for these label values, creating it (value 0) on first
  // use. The number of values must match label_names() (abort otherwise). The
  // reference stays valid for the life of the Registry.
  T& Labels(std::initializer_list<std::string_view> values) {
    return Labels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  T& Labels(std::span<const std::string_view> values);
  T& Labels(const std::vector<std::string>& values);

  // Counter and Gauge families only: makes the child for `values` report
  // `fn()` at exposition time instead of its stored value (e.g. memory in
  // use, computed when scraped). `fn` runs on the scraping thread while the
  // registry's and the family's locks are held, so it must be quick and must
  // not touch this registry. Replaces any earlier callback of that child.
  void SetCallback(std::initializer_list<std::string_view> values,
                   std::function<double()> fn) requires(!std::is_same_v<T, Histogram>);

  // Calls fn(const std::vector<std::string>& label_values, value) for each
  // child in label-value order; value is a HistogramSnapshot (Histogram) or a
  // double (Counter, Gauge; callbacks evaluated). Runs under the family's
  // shared lock: fn must not create children of this family.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    ReaderLock lock(mu_);
    for (const auto& [values, child] : children_) fn(values, Read(child));
  }

  // Histogram families only: the upper bounds shared by all children.
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

  void Expose(std::string& out) const override;

 private:
  friend class Registry;
  struct Child {
    template <typename... Args>
    explicit Child(Args&&... args) : metric(std::forward<Args>(args)...) {}
    T metric;
    std::function<double()> callback;  // Counter/Gauge: overrides metric when set
  };

  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::vector<double> upper_bounds = {})
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
        upper_bounds_(std::move(upper_bounds)) {}

  Child& GetOrCreate(std::span<const std::string_view> values);
  auto Read(const Child& child) const {
    if constexpr (std::is_same_v<T, Histogram>) {
      return child.metric.Snapshot();
    } else {
      return child.callback ? child.callback() : child.metric.Value();
    }
  }

  const std::vector<double> upper_bounds_;
  mutable SharedMutex mu_;
  std::map<std::vector<std::string>, Child, metrics_internal::LabelValuesLess> children_ DSMIL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// ---------------------------------------------------------------------------
// Registry.

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family, or returns the existing one when a family of that name
  // with the same type, label names (and bounds) exists, so independent
  // modules may register a shared metric. Aborts on an invalid name, a reused
  // name with a different shape, or (histograms) bounds that are empty, not
  // finite or not strictly increasing. Counter names should end in "_total".
  // A family without labels gets its single child at once (exposed as 0).
  // The returned reference lives as long as the Registry.
  CounterFamily& AddCounter(std::string name, std::string help, std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                std::vector<double> upper_bounds);

  // The family of that name, or nullptr.
  const FamilyBase* Find(std::string_view name) const;

  // Every family in the Prometheus text format 0.0.4, families ordered by
  // name, children by label values. Content type: kExpositionContentType.
  std::string Expose() const;

 private:
  template <typename F, typename... Args>
  F& Add(MetricType type, std::string name, std::string help, std::vector<std::string> label_names, Args&&... extra);

  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_ DSMIL_GUARDED_BY(mu_);
};

inline constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";

// A process-wide registry for code that has no registry handed to it.
Registry& DefaultRegistry();

// ---------------------------------------------------------------------------
// Reading an exposition back (dsmilctl scrapes /metrics of remote nodes).

struct Sample {
  std::string name;                                         // e.g. "dsmil_request_latency_seconds_bucket"
  std::vector<std::pair<std::string, std::string>> labels;  // in text order, values unescaped
  double value = 0.0;

  // The value of label `label_name`, or nullptr.
  const std::string* Label(std::string_view label_name) const;
};

// Parses Prometheus text format 0.0.4 (comments and TYPE/HELP lines are
// skipped; an optional timestamp after the value is accepted and dropped).
// Returns InvalidArgument naming the line number and problem on malformed
// input. Untrusted input is fine: no recursion, output grows linearly.
Result<std::vector<Sample>> ParseExposition(std::string_view text);

// Adds up histogram `family_name` (samples "<family_name>_bucket") over every
// series whose labels include all of `match` (name, value) pairs, and returns
// its q-quantile with HistogramQuantile(). NaN when no series matches or it
// has no observations. E.g. p99 of device 43:
//   HistogramQuantileFromSamples(samples, "dsmil_request_latency_seconds", 0.99, {{"device_id", "43"}})
double HistogramQuantileFromSamples(std::span<const Sample> samples, std::string_view family_name, double q,
                                    std::span<const std::pair<std::string_view, std::string_view>> match = {});

}  // namespace dsmil
