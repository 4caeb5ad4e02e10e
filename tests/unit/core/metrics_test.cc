#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/dsmil_metrics.h"

namespace dsmil {
namespace {

TEST(Metrics, ExpositionGolden) {
  Registry r;
  auto& requests = r.AddCounter("dsmil_requests_total", "Total requests processed", {"tenant_id", "device_id"});
  requests.Labels({"BRAVO", "47"}).Inc(3);
  requests.Labels({"ALPHA", "43"}).Inc();
  requests.Labels({"ALPHA", "43"}).Inc();
  auto& up = r.AddGauge("dsmil_node_up", "Whether the node is up", {"node"});
  up.Labels({"node-a"}).Set(1);
  up.Labels({"node-b"}).Set(0);
  r.AddGauge("dsmil_temperature", "Temperature in\nCelsius \\ approx").Labels({}).Set(-2.5);
  auto& lat = r.AddHistogram("dsmil_latency_seconds", "Latency", {"device_id"}, {0.1, 1, 2.5});
  Histogram& h = lat.Labels({"43"});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.7);
  h.Observe(3);

  const std::string want =
      "# HELP dsmil_latency_seconds Latency\n"
      "# TYPE dsmil_latency_seconds histogram\n"
      "dsmil_latency_seconds_bucket{device_id=\"43\",le=\"0.1\"} 2\n"
      "dsmil_latency_seconds_bucket{device_id=\"43\",le=\"1\"} 3\n"
      "dsmil_latency_seconds_bucket{device_id=\"43\",le=\"2.5\"} 3\n"
      "dsmil_latency_seconds_bucket{device_id=\"43\",le=\"+Inf\"} 4\n"
      "dsmil_latency_seconds_sum{device_id=\"43\"} 3.85\n"
      "dsmil_latency_seconds_count{device_id=\"43\"} 4\n"
      "# HELP dsmil_node_up Whether the node is up\n"
      "# TYPE dsmil_node_up gauge\n"
      "dsmil_node_up{node=\"node-a\"} 1\n"
      "dsmil_node_up{node=\"node-b\"} 0\n"
      "# HELP dsmil_requests_total Total requests processed\n"
      "# TYPE dsmil_requests_total counter\n"
      "dsmil_requests_total{tenant_id=\"ALPHA\",device_id=\"43\"} 2\n"
      "dsmil_requests_total{tenant_id=\"BRAVO\",device_id=\"47\"} 3\n"
      "# HELP dsmil_temperature Temperature in\\nCelsius \\\\ approx\n"
      "# TYPE dsmil_temperature gauge\n"
      "dsmil_temperature -2.5\n";
  EXPECT_EQ(r.Expose(), want);
}

TEST(Metrics, LabelValueEscaping) {
  Registry r;
  auto& c = r.AddCounter("x_total", "x", {"v"});
  c.Labels({"a\\b\"c\nd"}).Inc();
  EXPECT_EQ(r.Expose(),
            "# HELP x_total x\n# TYPE x_total counter\n"
            "x_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(Metrics, EmptyFamilyWithoutLabelsExposesZero) {
  Registry r;
  r.AddCounter("events_total", "Events");
  EXPECT_EQ(r.Expose(), "# HELP events_total Events\n# TYPE events_total counter\nevents_total 0\n");
}

TEST(Metrics, SpecialValues) {
  std::string s;
  AppendMetricValue(s, std::numeric_limits<double>::infinity());
  s += ' ';
  AppendMetricValue(s, -std::numeric_limits<double>::infinity());
  s += ' ';
  AppendMetricValue(s, std::nan(""));
  s += ' ';
  AppendMetricValue(s, 1e21);
  s += ' ';
  AppendMetricValue(s, 0.01);
  EXPECT_EQ(s, "+Inf -Inf NaN 1e+21 0.01");
}

TEST(Metrics, CounterIgnoresNegativeAndKeepsFractions) {
  Counter c;
  c.Inc();
  c.Inc(2);
  c.Inc(0.25);
  c.Inc(-5);
  c.Inc(std::nan(""));
  EXPECT_DOUBLE_EQ(c.Value(), 3.25);
}

TEST(Metrics, GaugeSetIncDec) {
  Gauge g;
  g.Set(10);
  g.Inc();
  g.Inc(4.5);
  g.Dec(2);
  EXPECT_DOUBLE_EQ(g.Value(), 13.5);
}

TEST(Metrics, CallbackGauge) {
  Registry r;
  auto& mem = r.AddGauge("mem_bytes", "Memory", {"device_id"});
  double v = 100;
  mem.SetCallback({"47"}, [&v] { return v; });
  mem.Labels({"48"}).Set(5);
  v = 4096;
  EXPECT_EQ(r.Expose(),
            "# HELP mem_bytes Memory\n# TYPE mem_bytes gauge\n"
            "mem_bytes{device_id=\"47\"} 4096\nmem_bytes{device_id=\"48\"} 5\n");
}

TEST(Metrics, ChildrenAreStableAndShared) {
  Registry r;
  auto& f = r.AddCounter("a_total", "a", {"k"});
  Counter& first = f.Labels({"x"});
  for (int i = 0; i < 1000; ++i) f.Labels({std::to_string(i)});
  EXPECT_EQ(&first, &f.Labels({"x"}));
  EXPECT_EQ(&first, &f.Labels(std::vector<std::string>{"x"}));
  // Registering again with the same shape returns the same family.
  EXPECT_EQ(&f, &r.AddCounter("a_total", "a", {"k"}));
}

TEST(Metrics, ConcurrentIncrementsSum) {
  Registry r;
  auto& f = r.AddCounter("hits_total", "hits", {"tenant_id"});
  auto& h = r.AddHistogram("lat_seconds", "lat", {"tenant_id"}, {1, 2});
  auto& g = r.AddGauge("level", "level");
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string tenant = t % 2 ? "ALPHA" : "BRAVO";
      for (int i = 0; i < kPerThread; ++i) {
        f.Labels({tenant}).Inc();  // lookup each time: exercises the shared lock
        h.Labels({tenant}).Observe(1.5);
        g.Labels({}).Inc(0.5);
        if (i % 1000 == 0) (void)r.Expose();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(f.Labels({"ALPHA"}).Value() + f.Labels({"BRAVO"}).Value(), kThreads * kPerThread);
  EXPECT_EQ(f.Labels({"ALPHA"}).Value(), kThreads / 2 * kPerThread);
  HistogramSnapshot s = h.Labels({"ALPHA"}).Snapshot();
  EXPECT_EQ(s.count(), uint64_t{kThreads / 2 * kPerThread});
  EXPECT_EQ(s.cumulative[0], 0u);
  EXPECT_EQ(s.cumulative[1], uint64_t{kThreads / 2 * kPerThread});
  EXPECT_DOUBLE_EQ(s.sum, 1.5 * kThreads / 2 * kPerThread);
  EXPECT_DOUBLE_EQ(g.Labels({}).Value(), 0.5 * kThreads * kPerThread);
}

TEST(Metrics, HistogramCumulativeBuckets) {
  std::vector<double> bounds = {0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0};
  Histogram h(bounds);
  for (double v : {0.001, 0.01, 0.02, 0.3, 0.3, 0.9, 4.0, 11.0, 100.0}) h.Observe(v);
  HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{2, 3, 3, 5, 6, 6, 7, 7, 9}));
  EXPECT_EQ(s.count(), 9u);
  EXPECT_NEAR(s.sum, 116.531, 1e-9);
  h.Observe(std::nan(""));  // counted in +Inf only
  EXPECT_EQ(h.Snapshot().cumulative, (std::vector<uint64_t>{2, 3, 3, 5, 6, 6, 7, 7, 10}));
}

TEST(Metrics, QuantileMatchesPromQL) {
  // Buckets: le=1:10, le=2:20, le=4:40, +Inf:40 (cumulative).
  std::vector<double> b = {1, 2, 4, INFINITY};
  std::vector<double> c = {10, 20, 40, 40};
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.5, b, c), 2.0);   // rank 20 -> top of bucket 2
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.25, b, c), 1.0);  // rank 10
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.1, b, c), 0.4);   // rank 4 in [0,1]: 4/10
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.75, b, c), 3.0);  // rank 30 in (2,4]: 2 + 2*10/20
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, b, c), 2 + 2 * (39.6 - 20) / 20);
  EXPECT_EQ(HistogramQuantile(-0.1, b, c), -INFINITY);
  EXPECT_EQ(HistogramQuantile(1.1, b, c), INFINITY);
  EXPECT_TRUE(std::isnan(HistogramQuantile(std::nan(""), b, c)));
  // Rank in +Inf bucket: the highest finite bound.
  std::vector<double> c2 = {10, 20, 40, 100};
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.99, b, c2), 4.0);
  // No observations / no +Inf bucket: NaN.
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, b, std::vector<double>{0, 0, 0, 0})));
  EXPECT_TRUE(std::isnan(HistogramQuantile(0.5, std::vector<double>{1, 2}, std::vector<double>{1, 2})));
  // Unsorted input is sorted first; non-monotonic counts are fixed up.
  std::vector<double> bu = {INFINITY, 2, 1, 4};
  std::vector<double> cu = {40, 20, 10, 40};
  EXPECT_DOUBLE_EQ(HistogramQuantile(0.75, bu, cu), 3.0);
}

TEST(Metrics, SnapshotQuantileAndMerge) {
  std::vector<double> bounds = {0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0};
  Histogram a(bounds), b(bounds);
  for (int i = 0; i < 90; ++i) a.Observe(0.03);  // (0.01, 0.05]
  for (int i = 0; i < 10; ++i) b.Observe(0.3);   // (0.1, 0.5]
  HistogramSnapshot s = a.Snapshot();
  ASSERT_TRUE(s.Merge(b.Snapshot()).ok());
  EXPECT_EQ(s.count(), 100u);
  // rank 99: bucket (0.1,0.5] holds ranks 90..100 -> 0.1 + 0.4 * 9/10.
  EXPECT_NEAR(s.Quantile(0.99), 0.46, 1e-12);
  // rank 50 in (0.01,0.05] holding 0..90 -> 0.01 + 0.04 * 50/90.
  EXPECT_NEAR(s.Quantile(0.5), 0.01 + 0.04 * 50 / 90, 1e-12);
  std::vector<double> other = {1, 2};
  Histogram c(other);
  EXPECT_FALSE(s.Merge(c.Snapshot()).ok());
  EXPECT_TRUE(std::isnan(HistogramSnapshot().Quantile(0.5)));
}

TEST(Metrics, NameValidation) {
  EXPECT_TRUE(ValidateMetricName("dsmil_requests_total").ok());
  EXPECT_TRUE(ValidateMetricName("job:rate5m").ok());
  EXPECT_TRUE(ValidateMetricName("_x9").ok());
  EXPECT_FALSE(ValidateMetricName("").ok());
  EXPECT_FALSE(ValidateMetricName("9lives").ok());
  EXPECT_FALSE(ValidateMetricName("a-b").ok());
  Status s = ValidateMetricName("dsmil requests");
  EXPECT_EQ(s.message(),
            "metric name \"dsmil requests\": character ' ' at 5 not allowed (want [a-zA-Z_:][a-zA-Z0-9_:]*)");
  EXPECT_TRUE(ValidateLabelName("tenant_id").ok());
  EXPECT_FALSE(ValidateLabelName("a:b").ok());
  EXPECT_FALSE(ValidateLabelName("0a").ok());
  EXPECT_FALSE(ValidateLabelName("__name__").ok());
  EXPECT_TRUE(ValidateLabelName("_a").ok());
}

TEST(MetricsDeathTest, ProgrammingErrorsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("bad name", "x");
      },
      "metric name \"bad name\"");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("a_total", "x", {"k"}).Labels({"1", "2"});
      },
      "2 label values given, family has 1");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("a_total", "x", {"k"});
        r.AddGauge("a_total", "x", {"k"});
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddHistogram("h", "x", {}, {1, 1});
      },
      "strictly increasing");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddHistogram("h", "x", {"le"}, {1});
      },
      "reserved");
}

TEST(Metrics, ParseExpositionRoundTrip) {
  Registry r;
  StandardMetrics m(r);
  m.requests_total.Labels({"AL\"PHA", "43", "0x41"}).Inc(7);
  auto& h = m.request_latency_seconds.Labels({"ALPHA", "43", "0x41"});
  for (int i = 0; i < 100; ++i) h.Observe(i < 95 ? 0.02 : 0.7);
  auto& h2 = m.request_latency_seconds.Labels({"BRAVO", "43", "0x41"});
  for (int i = 0; i < 100; ++i) h2.Observe(0.02);
  Result<std::vector<Sample>> parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  bool found = false;
  for (const Sample& s : *parsed) {
    if (s.name == "dsmil_requests_total") {
      ASSERT_NE(s.Label("tenant_id"), nullptr);
      EXPECT_EQ(*s.Label("tenant_id"), "AL\"PHA");
      EXPECT_EQ(s.value, 7);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  // ALPHA alone: ranks 95..100 are in (0.5, 1] -> p99 = 0.5 + 0.5 * 4/5.
  std::vector<std::pair<std::string_view, std::string_view>> alpha = {{"tenant_id", "ALPHA"}};
  EXPECT_NEAR(HistogramQuantileFromSamples(*parsed, "dsmil_request_latency_seconds", 0.99, alpha), 0.9, 1e-12);
  // Summed over both tenants: 200 observations, rank 198 in (0.5,1] holding 195..200.
  EXPECT_NEAR(HistogramQuantileFromSamples(*parsed, "dsmil_request_latency_seconds", 0.99), 0.5 + 0.5 * 3 / 5, 1e-12);
  std::vector<std::pair<std::string_view, std::string_view>> none = {{"tenant_id", "CHARLIE"}};
  EXPECT_TRUE(std::isnan(HistogramQuantileFromSamples(*parsed, "dsmil_request_latency_seconds", 0.99, none)));
}

TEST(Metrics, ParseExpositionForms) {
  auto r = ParseExposition(
      "# comment\n\n"
      "a 1\n"
      "b{} +Inf 1700000000000\r\n"
      "c { x = \"1\" , y=\"a\\\\b\\nc\", } -3.5e-2\n"
      "d NaN\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 4u);
  EXPECT_EQ((*r)[0].name, "a");
  EXPECT_EQ((*r)[1].value, INFINITY);
  EXPECT_EQ((*r)[2].labels.size(), 2u);
  EXPECT_EQ((*r)[2].labels[1].second, "a\\b\nc");
  EXPECT_DOUBLE_EQ((*r)[2].value, -0.035);
  EXPECT_TRUE(std::isnan((*r)[3].value));
}

TEST(Metrics, ParseExpositionErrors) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           Case{"a\n", "line 1: expected a value after \"a\""},
           Case{"a 1\nb{x=\"1} 2\n", "line 2: unterminated value of label \"x\""},
           Case{"{x=\"1\"} 2\n", "line 1: expected a metric name at column 1"},
           Case{"a{x} 2\n", "line 1: expected '=' after label \"x\""},
           Case{"a{x=1} 2\n", "line 1: expected '\"' to open the value of label \"x\""},
           Case{"a{x=\"1\" y=\"2\"} 2\n", "line 1: expected ',' or '}' after a label value"},
           Case{"a 1x\n", "line 1: bad value \"1x\""},
           Case{"a 1 2 3\n", "line 1: unexpected text after the timestamp"},
           Case{"a 1 x\n", "line 1: bad timestamp"},
       }) {
    auto r = ParseExposition(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().message(), std::string("metrics exposition ") + c.error) << c.text;
  }
}

TEST(StandardMetrics, RegistersSpecFamilies) {
  Registry r;
  FakeClock clock;
  StandardMetrics m(r, clock);
  {
    auto t = m.TimeRequest("ALPHA", 43, MsgTypeLabel(0x41));
    clock.Advance(std::chrono::milliseconds(30));
  }
  {
    auto t = m.TimeRequest("ALPHA", "43", "0x41");
    clock.Advance(std::chrono::milliseconds(700));
    EXPECT_DOUBLE_EQ(t.Stop(), 0.7);
    clock.Advance(std::chrono::seconds(100));  // after Stop: not observed
  }
  {
    auto t = m.TimeRequest("ALPHA", "43", "0x41");
    t.Cancel();
  }
  m.CountError("ALPHA", 43, "timeout");
  m.SetBuildInfo("5.0.0");
  EXPECT_EQ(m.requests_total.Labels({"ALPHA", "43", "0x41"}).Value(), 3);
  HistogramSnapshot s = m.request_latency_seconds.Labels({"ALPHA", "43", "0x41"}).Snapshot();
  EXPECT_EQ(s.upper_bounds, (std::vector<double>{0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0}));
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{0, 1, 1, 1, 2, 2, 2, 2, 2}));
  EXPECT_NEAR(s.sum, 0.73, 1e-12);
  EXPECT_EQ(m.errors_total.Labels({"ALPHA", "43", "timeout"}).Value(), 1);

  const std::string text = r.Expose();
  for (const char* line : {
           "# TYPE dsmil_requests_total counter\n",
           "# TYPE dsmil_errors_total counter\n",
           "# TYPE dsmil_request_latency_seconds histogram\n",
           "# TYPE dsmil_active_devices gauge\n",
           "# TYPE dsmil_memory_usage_bytes gauge\n",
           "# TYPE dsmil_llm_tokens_per_second gauge\n",
           "# TYPE dsmil_node_up gauge\n",
           "# TYPE dsmil_build_info gauge\n",
           "dsmil_build_info{version=\"5.0.0\"} 1\n",
           "dsmil_request_latency_seconds_bucket{tenant_id=\"ALPHA\",device_id=\"43\",msg_type=\"0x41\",le=\"0.05\"} "
           "1\n",
           "dsmil_request_latency_seconds_bucket{tenant_id=\"ALPHA\",device_id=\"43\",msg_type=\"0x41\",le=\"10\"} 2\n",
           "dsmil_request_latency_seconds_bucket{tenant_id=\"ALPHA\",device_id=\"43\",msg_type=\"0x41\",le=\"+Inf\"} "
           "2\n",
           "dsmil_request_latency_seconds_count{tenant_id=\"ALPHA\",device_id=\"43\",msg_type=\"0x41\"} 2\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
  // A second StandardMetrics on the same registry shares the families.
  StandardMetrics again(r, clock);
  EXPECT_EQ(&again.requests_total, &m.requests_total);
  EXPECT_EQ(MsgTypeLabel(0xFF), "0xFF");
}

TEST(Metrics, ForEachVisitsChildrenInOrder) {
  Registry r;
  auto& g = r.AddGauge("g", "g", {"k"});
  g.Labels({"b"}).Set(2);
  g.SetCallback({"a"}, [] { return 1.0; });
  std::vector<std::pair<std::string, double>> seen;
  g.ForEach([&](const std::vector<std::string>& values, double v) { seen.emplace_back(values[0], v); });
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, double>>{{"a", 1.0}, {"b", 2.0}}));
  auto& h = r.AddHistogram("h_seconds", "h", {"k"}, {1});
  h.Labels({"x"}).Observe(0.5);
  uint64_t total = 0;
  h.ForEach([&](const std::vector<std::string>&, const HistogramSnapshot& s) { total += s.count(); });
  EXPECT_EQ(total, 1u);
  EXPECT_EQ(r.Find("h_seconds"), &h);
  EXPECT_EQ(r.Find("nope"), nullptr);
}

TEST(StandardMetrics, ProcessMetrics) {
  Registry r;
  RegisterProcessMetrics(r);
  RegisterProcessMetrics(r);  // idempotent
  auto parsed = ParseExposition(r.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  std::map<std::string, double> v;
  for (const Sample& s : *parsed) v[s.name] = s.value;
  ASSERT_EQ(v.size(), 5u);
  EXPECT_GT(v["process_resident_memory_bytes"], 1e5);
  EXPECT_GE(v["process_virtual_memory_bytes"], v["process_resident_memory_bytes"]);
  EXPECT_GE(v["process_cpu_seconds_total"], 0);
  EXPECT_GE(v["process_open_fds"], 3);  // stdin, stdout, stderr at least
  const double now = static_cast<double>(DefaultClock().NowUnixNanos()) / 1e9;
  EXPECT_LE(v["process_start_time_seconds"], now + 1);
  EXPECT_GT(v["process_start_time_seconds"], now - 3600);
}

}  // namespace
}  // namespace dsmil
