#include "core/clock.h"

#include <gtest/gtest.h>

#include <ctime>

namespace dsmil {
namespace {

constexpr int64_t kSec = 1000000000LL;

TEST(Clock, FormatRfc3339) {
  EXPECT_EQ(FormatRfc3339Utc(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Utc(FakeClock::kDefaultUnixNanos + 123456789), "2026-11-27T12:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Utc(FakeClock::kDefaultUnixNanos + 123456789, 0), "2026-11-27T12:00:00Z");
  EXPECT_EQ(FormatRfc3339Utc(FakeClock::kDefaultUnixNanos + 123456789, 9), "2026-11-27T12:00:00.123456789Z");
  EXPECT_EQ(FormatRfc3339Utc(FakeClock::kDefaultUnixNanos + 999999999, 3), "2026-11-27T12:00:00.999Z");  // truncated
  EXPECT_EQ(FormatRfc3339Utc(951782400LL * kSec), "2000-02-29T00:00:00.000Z");                           // leap day
  EXPECT_EQ(FormatRfc3339Utc(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatRfc3339Utc(INT64_MAX, 9), "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(FormatRfc3339Utc(INT64_MIN, 9), "1677-09-21T00:12:43.145224192Z");
}

TEST(Clock, FormatAgreesWithGmtime) {
  // Every ~17 days across 1900..2200 compared with the C library.
  for (int64_t s = -2208988800LL; s < 7258118400LL; s += 1500007) {
    std::time_t t = static_cast<std::time_t>(s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char want[32];
    std::strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ASSERT_EQ(FormatRfc3339Utc(s * kSec, 0), want) << s;
  }
}

TEST(Clock, ParseRfc3339) {
  auto r = ParseRfc3339("2026-11-27T12:00:00.123Z");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, FakeClock::kDefaultUnixNanos + 123000000);
  EXPECT_EQ(*ParseRfc3339("2026-11-27t14:00:00+02:00"), FakeClock::kDefaultUnixNanos);
  EXPECT_EQ(*ParseRfc3339("2026-11-27T11:30:00.5-00:30"), FakeClock::kDefaultUnixNanos + kSec / 2);
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59.999999999Z"), -1);
  EXPECT_EQ(*ParseRfc3339("2016-12-31T23:59:60Z"), *ParseRfc3339("2017-01-01T00:00:00Z"));

  // Round trip.
  for (int64_t v : {int64_t{0}, int64_t{-1}, FakeClock::kDefaultUnixNanos + 42, int64_t{4102444800} * kSec - 7}) {
    EXPECT_EQ(*ParseRfc3339(FormatRfc3339Utc(v, 9)), v);
  }

  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : {
           Case{"", "bad date part"},
           Case{"2026-13-01T00:00:00Z", "month out of range"},
           Case{"2025-02-29T00:00:00Z", "day out of range"},
           Case{"2026-11-27 12:00:00", "missing time zone"},
           Case{"2026-11-27X12:00:00Z", "missing 'T'"},
           Case{"2026-11-27T24:00:00Z", "hour out of range"},
           Case{"2026-11-27T12:00:00.Z", "empty fraction"},
           Case{"2026-11-27T12:00:00.1234567891Z", "more than 9 fraction digits"},
           Case{"2026-11-27T12:00:00+0200", "bad UTC offset"},
           Case{"2026-11-27T12:00:00Zjunk", "trailing characters"},
           Case{"3000-01-01T00:00:00Z", "outside the representable range"},
       }) {
    auto p = ParseRfc3339(c.text);
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_NE(p.status().message().find(c.error), std::string::npos) << p.status().message();
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Clock, FakeClockAdvances) {
  FakeClock c;
  EXPECT_EQ(c.NowUnixNanos(), FakeClock::kDefaultUnixNanos);
  const int64_t m0 = c.MonotonicNanos();
  c.Advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(c.NowUnixNanos(), FakeClock::kDefaultUnixNanos + 1500000000);
  EXPECT_EQ(c.MonotonicNanos(), m0 + 1500000000);
  c.SetUnixNanos(0);  // wall clock jumps back, monotonic does not
  EXPECT_EQ(c.NowUnixNanos(), 0);
  EXPECT_EQ(c.MonotonicNanos(), m0 + 1500000000);
  c.AdvanceNanos(-5);
  EXPECT_EQ(c.MonotonicNanos(), m0 + 1500000000);
}

TEST(Clock, RealClockIsSane) {
  Clock& c = DefaultClock();
  EXPECT_EQ(&c, &DefaultClock());
  const int64_t now = c.NowUnixNanos();
  EXPECT_GT(now, int64_t{1600000000} * kSec);  // after 2020
  const int64_t a = c.MonotonicNanos();
  const int64_t b = c.MonotonicNanos();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace dsmil
