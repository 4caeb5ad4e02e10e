#include "core/clock.h"

#include <cstdio>

namespace dsmil {
namespace {

constexpr int64_t kNanosPerSecond = 1000000000LL;
constexpr int64_t kSecondsPerDay = 86400;

// Days since 1970-01-01 of the proleptic Gregorian date y-m-d (H. Hinnant's
// civil-calendar algorithms, public domain formulation).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;
  unsigned day;
};

constexpr Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromDays(11017).year == 2000);

constexpr bool IsLeap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned DaysInMonth(int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Floor division and modulo for possibly negative values.
constexpr int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

int64_t RealClock::NowUnixNanos() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t RealClock::MonotonicNanos() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void FakeClock::Advance(std::chrono::nanoseconds d) {
  unix_nanos_.fetch_add(d.count(), std::memory_order_relaxed);
  if (d.count() > 0) monotonic_nanos_.fetch_add(d.count(), std::memory_order_relaxed);
}

Clock& DefaultClock() {
  static RealClock* clock = new RealClock();  // never destroyed: usable during exit
  return *clock;
}

std::string FormatRfc3339Utc(int64_t unix_nanos, int fraction_digits) {
  if (fraction_digits < 0) fraction_digits = 0;
  if (fraction_digits > 9) fraction_digits = 9;
  int64_t secs = unix_nanos / kNanosPerSecond;
  int64_t nanos = unix_nanos % kNanosPerSecond;
  if (nanos < 0) {  // floor towards the past (no overflow at INT64_MIN)
    secs -= 1;
    nanos += kNanosPerSecond;
  }
  const int64_t days = FloorDiv(secs, kSecondsPerDay);
  const int64_t sod = secs - days * kSecondsPerDay;
  const Civil c = CivilFromDays(days);

  char buf[48];
  int n =
      std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d", static_cast<long long>(c.year), c.month, c.day,
                    static_cast<int>(sod / 3600), static_cast<int>(sod / 60 % 60), static_cast<int>(sod % 60));
  std::string out(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (fraction_digits > 0) {
    char frac[16];
    std::snprintf(frac, sizeof(frac), "%09lld", static_cast<long long>(nanos));
    out.push_back('.');
    out.append(frac, static_cast<size_t>(fraction_digits));
  }
  out.push_back('Z');
  return out;
}

Result<int64_t> ParseRfc3339(std::string_view text) {
  const std::string_view original = text;
  auto fail = [&](std::string_view what) {
    return Status::InvalidArgument("timestamp \"" + std::string(original) + "\": " + std::string(what) +
                                   " (expected RFC 3339, e.g. 2026-11-27T12:00:00Z)");
  };
  size_t pos = 0;
  // Reads exactly `width` decimal digits.
  auto digits = [&](size_t width, int64_t* out) {
    if (pos + width > text.size()) return false;
    int64_t v = 0;
    for (size_t i = 0; i < width; ++i) {
      const char ch = text[pos + i];
      if (ch < '0' || ch > '9') return false;
      v = v * 10 + (ch - '0');
    }
    pos += width;
    *out = v;
    return true;
  };
  auto expect = [&](char a, char b) {
    if (pos < text.size() && (text[pos] == a || text[pos] == b)) {
      ++pos;
      return true;
    }
    return false;
  };

  int64_t year, month, day, hour, minute, second;
  if (!digits(4, &year) || !expect('-', '-') || !digits(2, &month) || !expect('-', '-') || !digits(2, &day)) {
    return fail("bad date part");
  }
  if (month < 1 || month > 12) return fail("month out of range");
  if (day < 1 || day > DaysInMonth(year, static_cast<unsigned>(month))) return fail("day out of range");
  if (!expect('T', 't') && !expect(' ', ' ')) return fail("missing 'T' between date and time");
  if (!digits(2, &hour) || !expect(':', ':') || !digits(2, &minute) || !expect(':', ':') || !digits(2, &second)) {
    return fail("bad time part");
  }
  if (hour > 23) return fail("hour out of range");
  if (minute > 59) return fail("minute out of range");
  if (second > 60) return fail("second out of range");  // 60: leap second, folded into the next

  int64_t frac_nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (n >= 9) return fail("more than 9 fraction digits");
      frac_nanos = frac_nanos * 10 + (text[pos] - '0');
      ++pos;
      ++n;
    }
    if (n == 0) return fail("empty fraction");
    for (; n < 9; ++n) frac_nanos *= 10;
  }

  int64_t offset_seconds = 0;
  if (expect('Z', 'z')) {
    // UTC
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh, om;
    if (!digits(2, &oh) || !expect(':', ':') || !digits(2, &om) || oh > 23 || om > 59) {
      return fail("bad UTC offset");
    }
    offset_seconds = sign * (oh * 3600 + om * 60);
  } else {
    return fail("missing time zone ('Z' or +hh:mm)");
  }
  if (pos != text.size()) return fail("trailing characters");

  // Years 0000..9999 all fit in int64 seconds; nanoseconds only from 1677 to 2262.
  const int64_t secs = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kSecondsPerDay +
                       hour * 3600 + minute * 60 + second - offset_seconds;
  constexpr int64_t kMaxSecs = INT64_MAX / kNanosPerSecond - 1;
  if (secs > kMaxSecs || secs < -kMaxSecs) return fail("outside the representable range (1677..2262)");
  return secs * kNanosPerSecond + frac_nanos;
}

}  // namespace dsmil
