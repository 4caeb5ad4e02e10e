#include "core/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace dsmil {
namespace {

constexpr double kMaxExactWhole = 9007199254740992.0;  // 2^53

[[noreturn]] void MetricsFatal(const std::string& msg) {
  std::fprintf(stderr, "dsmil metrics: %s\n", msg.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Printable(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", static_cast<unsigned char>(c));
  return buf;
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
}

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

std::string FormatBound(double v) {
  std::string s;
  AppendMetricValue(s, v);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// Values.

void Counter::Inc(double v) {
  if (!(v >= 0.0) || std::isinf(v)) return;  // negative, NaN, +Inf
  if (v <= kMaxExactWhole && v == std::floor(v)) {
    whole_.fetch_add(static_cast<uint64_t>(v), std::memory_order_relaxed);
  } else {
    fraction_.fetch_add(v, std::memory_order_relaxed);
  }
}

double Counter::Value() const {
  return static_cast<double>(whole_.load(std::memory_order_relaxed)) + fraction_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds), counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {}

void Histogram::Observe(double v) {
  size_t i = upper_bounds_.size();  // +Inf (also for NaN)
  if (!std::isnan(v)) {
    i = static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v) - upper_bounds_.begin());
  }
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::Snapshot() const {
  HistogramSnapshot s;
  s.upper_bounds.assign(upper_bounds_.begin(), upper_bounds_.end());
  s.cumulative.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

Status HistogramSnapshot::Merge(const HistogramSnapshot& other) {
  if (cumulative.empty()) {
    *this = other;
    return Status::Ok();
  }
  if (other.cumulative.empty()) return Status::Ok();
  if (upper_bounds != other.upper_bounds) {
    return Status::InvalidArgument("histogram merge: bucket bounds differ (" + std::to_string(upper_bounds.size()) +
                                   " vs " + std::to_string(other.upper_bounds.size()) + " bounds)");
  }
  for (size_t i = 0; i < cumulative.size(); ++i) cumulative[i] += other.cumulative[i];
  sum += other.sum;
  return Status::Ok();
}

double HistogramSnapshot::Quantile(double q) const {
  std::vector<double> bounds(upper_bounds);
  bounds.push_back(std::numeric_limits<double>::infinity());
  std::vector<double> counts(cumulative.begin(), cumulative.end());
  if (counts.size() != bounds.size()) return std::numeric_limits<double>::quiet_NaN();
  return HistogramQuantile(q, bounds, counts);
}

double HistogramQuantile(double q, std::span<const double> upper_bounds, std::span<const double> cumulative) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (std::isnan(q)) return nan;
  if (q < 0) return -std::numeric_limits<double>::infinity();
  if (q > 1) return std::numeric_limits<double>::infinity();
  if (upper_bounds.size() != cumulative.size() || upper_bounds.empty()) return nan;

  // Sort by bound, merge equal bounds, force counts to be non-decreasing (as
  // PromQL does for series scraped at slightly different moments).
  std::vector<std::pair<double, double>> b;
  b.reserve(upper_bounds.size());
  for (size_t i = 0; i < upper_bounds.size(); ++i) b.emplace_back(upper_bounds[i], cumulative[i]);
  std::sort(b.begin(), b.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  if (!std::isinf(b.back().first) || b.back().first < 0) return nan;
  std::vector<std::pair<double, double>> merged;
  for (const auto& e : b) {
    if (!merged.empty() && merged.back().first == e.first) {
      merged.back().second += e.second;
    } else {
      merged.push_back(e);
    }
  }
  for (size_t i = 1; i < merged.size(); ++i) merged[i].second = std::max(merged[i].second, merged[i - 1].second);
  if (merged.size() < 2) return nan;

  const double observations = merged.back().second;
  if (observations == 0 || std::isnan(observations)) return nan;
  double rank = q * observations;
  size_t idx = 0;
  const size_t last = merged.size() - 1;
  while (idx < last && merged[idx].second < rank) ++idx;
  if (idx == last) return merged[last - 1].first;
  if (idx == 0 && merged[0].first <= 0) return merged[0].first;
  double start = 0;
  const double end = merged[idx].first;
  double count = merged[idx].second;
  if (idx > 0) {
    start = merged[idx - 1].first;
    count -= merged[idx - 1].second;
    rank -= merged[idx - 1].second;
  }
  return start + (end - start) * (rank / count);
}

// ---------------------------------------------------------------------------
// Names and formatting.

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

Status ValidateMetricName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("metric name is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsNameStart(c) || c == ':' || (i > 0 && IsDigit(c));
    if (!ok) {
      return Status::InvalidArgument("metric name \"" + std::string(name) + "\": character " + Printable(c) + " at " +
                                     std::to_string(i) + " not allowed (want [a-zA-Z_:][a-zA-Z0-9_:]*)");
    }
  }
  return Status::Ok();
}

Status ValidateLabelName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("label name is empty");
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!(IsNameStart(c) || (i > 0 && IsDigit(c)))) {
      return Status::InvalidArgument("label name \"" + std::string(name) + "\": character " + Printable(c) + " at " +
                                     std::to_string(i) + " not allowed (want [a-zA-Z_][a-zA-Z0-9_]*)");
    }
  }
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') {
    return Status::InvalidArgument("label name \"" + std::string(name) + "\": names starting with __ are reserved");
  }
  return Status::Ok();
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
}

void AppendMetricValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, r.ptr);
  }
}

// ---------------------------------------------------------------------------
// Families.

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

void FamilyBase::CheckArity(size_t n) const {
  if (n != label_names_.size()) {
    MetricsFatal("metric " + name_ + ": " + std::to_string(n) + " label values given, family has " +
                 std::to_string(label_names_.size()) + " label names");
  }
}

void FamilyBase::AppendSeries(std::string& out, std::string_view name, std::span<const std::string> values,
                              std::string_view extra_name, std::string_view extra_value) const {
  out += name;
  if (values.empty() && extra_name.empty()) return;
  out.push_back('{');
  bool first = true;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!first) out.push_back(',');
    first = false;
    out += label_names_[i];
    out += "=\"";
    AppendEscapedLabelValue(out, values[i]);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out.push_back(',');
    out += extra_name;
    out += "=\"";
    AppendEscapedLabelValue(out, extra_value);
    out.push_back('"');
  }
  out.push_back('}');
}

template <typename T>
typename Family<T>::Child& Family<T>::GetOrCreate(std::span<const std::string_view> values) {
  CheckArity(values.size());
  {
    ReaderLock lock(mu_);
    auto it = children_.find(values);
    if (it != children_.end()) return it->second;
  }
  WriterLock lock(mu_);
  auto it = children_.find(values);
  if (it == children_.end()) {
    std::vector<std::string> key(values.begin(), values.end());
    if constexpr (std::is_same_v<T, Histogram>) {
      it = children_.try_emplace(std::move(key), std::span<const double>(upper_bounds_)).first;
    } else {
      it = children_.try_emplace(std::move(key)).first;
    }
  }
  return it->second;
}

template <typename T>
T& Family<T>::Labels(std::span<const std::string_view> values) {
  return GetOrCreate(values).metric;
}

template <typename T>
T& Family<T>::Labels(const std::vector<std::string>& values) {
  std::vector<std::string_view> views(values.begin(), values.end());
  return GetOrCreate(views).metric;
}

template <typename T>
void Family<T>::SetCallback(std::initializer_list<std::string_view> values,
                            std::function<double()> fn) requires(!std::is_same_v<T, Histogram>) {
  Child& child = GetOrCreate(std::span<const std::string_view>(values.begin(), values.size()));
  WriterLock lock(mu_);
  child.callback = std::move(fn);
}

template <typename T>
void Family<T>::Expose(std::string& out) const {
  out += "# HELP ";
  out += name();
  out.push_back(' ');
  AppendEscapedHelp(out, help());
  out += "\n# TYPE ";
  out += name();
  out.push_back(' ');
  out += MetricTypeName(type());
  out.push_back('\n');

  ReaderLock lock(mu_);
  if constexpr (std::is_same_v<T, Histogram>) {
    const std::string bucket = name() + "_bucket";
    const std::string sum = name() + "_sum";
    const std::string count = name() + "_count";
    std::vector<std::string> les;
    les.reserve(upper_bounds_.size());
    for (double b : upper_bounds_) les.push_back(FormatBound(b));
    for (const auto& [values, child] : children_) {
      const HistogramSnapshot s = child.metric.Snapshot();
      for (size_t i = 0; i <= les.size(); ++i) {
        AppendSeries(out, bucket, values, "le", i < les.size() ? std::string_view(les[i]) : "+Inf");
        out.push_back(' ');
        AppendUint(out, s.cumulative[i]);
        out.push_back('\n');
      }
      AppendSeries(out, sum, values);
      out.push_back(' ');
      AppendMetricValue(out, s.sum);
      out.push_back('\n');
      AppendSeries(out, count, values);
      out.push_back(' ');
      AppendUint(out, s.count());
      out.push_back('\n');
    }
  } else {
    for (const auto& [values, child] : children_) {
      AppendSeries(out, name(), values);
      out.push_back(' ');
      AppendMetricValue(out, child.callback ? child.callback() : child.metric.Value());
      out.push_back('\n');
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------
// Registry.

template <typename F, typename... Args>
F& Registry::Add(MetricType type, std::string name, std::string help, std::vector<std::string> label_names,
                 Args&&... extra) {
  if (Status s = ValidateMetricName(name); !s.ok()) MetricsFatal(s.message());
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (Status s = ValidateLabelName(label_names[i]); !s.ok()) MetricsFatal("metric " + name + ": " + s.message());
    if (type == MetricType::kHistogram && label_names[i] == "le") {
      MetricsFatal("metric " + name + ": label name \"le\" is reserved for histogram buckets");
    }
    for (size_t j = 0; j < i; ++j) {
      if (label_names[j] == label_names[i]) MetricsFatal("metric " + name + ": label \"" + label_names[i] + "\" twice");
    }
  }
  MutexLock lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    auto* existing = dynamic_cast<F*>(it->second.get());
    bool same = existing != nullptr && existing->type() == type && existing->label_names() == label_names;
    if constexpr (sizeof...(Args) == 1) {
      same = same && ((existing->upper_bounds() == extra) && ...);
    }
    if (!same) MetricsFatal("metric " + name + " registered twice with a different type, labels or buckets");
    return *existing;
  }
  const bool no_labels = label_names.empty();
  std::unique_ptr<F> family(new F(name, std::move(help), type, std::move(label_names), std::forward<Args>(extra)...));
  F& ref = *family;
  families_.emplace(std::move(name), std::move(family));
  if (no_labels) ref.Labels(std::span<const std::string_view>());
  return ref;
}

CounterFamily& Registry::AddCounter(std::string name, std::string help, std::vector<std::string> label_names) {
  return Add<CounterFamily>(MetricType::kCounter, std::move(name), std::move(help), std::move(label_names));
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help, std::vector<std::string> label_names) {
  return Add<GaugeFamily>(MetricType::kGauge, std::move(name), std::move(help), std::move(label_names));
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                        std::vector<double> upper_bounds) {
  if (upper_bounds.empty()) MetricsFatal("histogram " + name + ": no bucket bounds");
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i])) {
      MetricsFatal("histogram " + name + ": bound " + std::to_string(i) + " is not finite (+Inf is implied)");
    }
    if (i > 0 && !(upper_bounds[i] > upper_bounds[i - 1])) {
      MetricsFatal("histogram " + name + ": bounds not strictly increasing at index " + std::to_string(i));
    }
  }
  return Add<HistogramFamily>(MetricType::kHistogram, std::move(name), std::move(help), std::move(label_names),
                              std::move(upper_bounds));
}

const FamilyBase* Registry::Find(std::string_view name) const {
  MutexLock lock(mu_);
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second.get();
}

std::string Registry::Expose() const {
  std::string out;
  MutexLock lock(mu_);
  for (const auto& [name, family] : families_) family->Expose(out);
  return out;
}

Registry& DefaultRegistry() {
  static Registry* registry = new Registry();  // never destroyed: usable during exit
  return *registry;
}

// ---------------------------------------------------------------------------
// Parsing.

const std::string* Sample::Label(std::string_view label_name) const {
  for (const auto& [k, v] : labels) {
    if (k == label_name) return &v;
  }
  return nullptr;
}

namespace {

bool ParseFloatToken(std::string_view tok, double* out) {
  if (tok.empty()) return false;
  std::string_view body = tok;
  bool negative = false;
  if (body[0] == '+' || body[0] == '-') {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  auto iequals = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char x = a[i];
      if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
      if (x != b[i]) return false;
    }
    return true;
  };
  if (iequals(body, "inf") || iequals(body, "infinity")) {
    *out = negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (iequals(body, "nan")) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (body.empty() || body[0] == '+' || body[0] == '-') return false;
  double v = 0;
  auto r = std::from_chars(body.data(), body.data() + body.size(), v);
  if (r.ec != std::errc() || r.ptr != body.data() + body.size()) {
    if (r.ec != std::errc::result_out_of_range || r.ptr != body.data() + body.size()) return false;
  }
  *out = negative ? -v : v;
  return true;
}

}  // namespace

Result<std::vector<Sample>> ParseExposition(std::string_view text) {
  std::vector<Sample> samples;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    size_t p = 0;
    auto skip_ws = [&] {
      while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    };
    auto fail = [&](const std::string& what) {
      return Status::InvalidArgument("metrics exposition line " + std::to_string(line_no) + ": " + what);
    };
    skip_ws();
    if (p == line.size() || line[p] == '#') continue;

    Sample s;
    const size_t name_start = p;
    while (p < line.size() && (IsNameStart(line[p]) || line[p] == ':' || (p > name_start && IsDigit(line[p])))) ++p;
    if (p == name_start) return fail("expected a metric name at column " + std::to_string(p + 1));
    s.name.assign(line.substr(name_start, p - name_start));

    const size_t after_name = p;
    skip_ws();
    bool had_labels = false;
    if (p < line.size() && line[p] == '{') {
      had_labels = true;
      ++p;
      while (true) {
        skip_ws();
        if (p < line.size() && line[p] == '}') {
          ++p;
          break;
        }
        const size_t ls = p;
        while (p < line.size() && (IsNameStart(line[p]) || (p > ls && IsDigit(line[p])))) ++p;
        if (p == ls) return fail("expected a label name at column " + std::to_string(p + 1));
        std::string label(line.substr(ls, p - ls));
        skip_ws();
        if (p >= line.size() || line[p] != '=') return fail("expected '=' after label \"" + label + "\"");
        ++p;
        skip_ws();
        if (p >= line.size() || line[p] != '"')
          return fail("expected '\"' to open the value of label \"" + label + "\"");
        ++p;
        std::string value;
        bool closed = false;
        while (p < line.size()) {
          const char c = line[p++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (p >= line.size()) break;
            const char e = line[p++];
            if (e == 'n') {
              value.push_back('\n');
            } else if (e == '\\' || e == '"') {
              value.push_back(e);
            } else {
              value.push_back('\\');
              value.push_back(e);
            }
          } else {
            value.push_back(c);
          }
        }
        if (!closed) return fail("unterminated value of label \"" + label + "\"");
        s.labels.emplace_back(std::move(label), std::move(value));
        skip_ws();
        if (p < line.size() && line[p] == ',') {
          ++p;
          continue;
        }
        if (p < line.size() && line[p] == '}') {
          ++p;
          break;
        }
        return fail("expected ',' or '}' after a label value");
      }
    }
    const size_t before_ws = had_labels ? p : after_name;
    skip_ws();
    if (p == before_ws || p == line.size()) return fail("expected a value after \"" + s.name + "\"");
    const size_t vs = p;
    while (p < line.size() && line[p] != ' ' && line[p] != '\t') ++p;
    if (!ParseFloatToken(line.substr(vs, p - vs), &s.value)) {
      return fail("bad value \"" + std::string(line.substr(vs, p - vs)) + "\"");
    }
    skip_ws();
    if (p < line.size()) {  // optional timestamp (integer milliseconds)
      const size_t ts = p;
      if (line[p] == '-') ++p;
      while (p < line.size() && IsDigit(line[p])) ++p;
      if (p == ts || (p == ts + 1 && line[ts] == '-')) return fail("bad timestamp");
      skip_ws();
      if (p != line.size()) return fail("unexpected text after the timestamp");
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

double HistogramQuantileFromSamples(std::span<const Sample> samples, std::string_view family_name, double q,
                                    std::span<const std::pair<std::string_view, std::string_view>> match) {
  const std::string bucket_name = std::string(family_name) + "_bucket";
  std::map<double, double> by_le;
  for (const Sample& s : samples) {
    if (s.name != bucket_name) continue;
    const std::string* le = s.Label("le");
    if (le == nullptr) continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      const std::string* got = s.Label(k);
      if (got == nullptr || *got != v) {
        all = false;
        break;
      }
    }
    if (!all) continue;
    double bound;
    if (!ParseFloatToken(*le, &bound) || std::isnan(bound)) continue;
    by_le[bound] += s.value;
  }
  std::vector<double> bounds, counts;
  for (const auto& [b, c] : by_le) {
    bounds.push_back(b);
    counts.push_back(c);
  }
  return HistogramQuantile(q, bounds, counts);
}

}  // namespace dsmil
