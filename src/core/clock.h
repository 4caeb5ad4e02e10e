// Clocks: the one place DSMIL reads time, so tests can fake it.
//
// Code that needs the time takes a `Clock&` (or uses DefaultClock()) instead of
// calling std::chrono directly. Two readings are offered:
//   - NowUnixNanos(): wall-clock time, nanoseconds since 1970-01-01T00:00:00Z.
//     Use it for timestamps shown to people or stored (logs, audit, expiry).
//     It may jump (NTP, operator).
//   - MonotonicNanos(): a steady clock with an arbitrary origin. Use it for
//     durations and timeouts (latency histograms, deadlines). Never jumps back.
//
// Thread safety: every Clock method may be called from any thread at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dsmil {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time in nanoseconds since the Unix epoch (UTC).
  virtual int64_t NowUnixNanos() const = 0;
  // Steady time in nanoseconds from an unspecified origin; non-decreasing.
  virtual int64_t MonotonicNanos() const = 0;
};

// The system clocks (CLOCK_REALTIME / CLOCK_MONOTONIC via std::chrono).
class RealClock final : public Clock {
 public:
  int64_t NowUnixNanos() const override;
  int64_t MonotonicNanos() const override;
};

// A clock that only moves when told to; for tests. Both readings start at the
// given values and Advance() moves both by the same amount. Thread-safe.
class FakeClock final : public Clock {
 public:
  // Default start: 2026-11-27T12:00:00Z on the wall clock, 1 s monotonic.
  static constexpr int64_t kDefaultUnixNanos = 1795780800LL * 1000000000LL;

  explicit FakeClock(int64_t unix_nanos = kDefaultUnixNanos, int64_t monotonic_nanos = 1000000000LL)
      : unix_nanos_(unix_nanos), monotonic_nanos_(monotonic_nanos) {}

  int64_t NowUnixNanos() const override { return unix_nanos_.load(std::memory_order_relaxed); }
  int64_t MonotonicNanos() const override { return monotonic_nanos_.load(std::memory_order_relaxed); }

  // Moves both readings forward by `d` (negative values are ignored for the
  // monotonic reading, which never goes back).
  void Advance(std::chrono::nanoseconds d);
  void AdvanceNanos(int64_t nanos) { Advance(std::chrono::nanoseconds(nanos)); }
  // Sets the wall-clock reading only (it may jump either way, as a real one can).
  void SetUnixNanos(int64_t unix_nanos) { unix_nanos_.store(unix_nanos, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> unix_nanos_;
  std::atomic<int64_t> monotonic_nanos_;
};

// The process-wide real clock. The reference stays valid for the whole run.
Clock& DefaultClock();

// Formats `unix_nanos` as RFC 3339 in UTC with `fraction_digits` (0..9)
// digits after the seconds, e.g. "2026-11-27T12:00:00.123Z" for 3. The
// fraction is truncated, not rounded (a timestamp never points to the
// future). Defined for every int64 value (years 1677 to 2262).
std::string FormatRfc3339Utc(int64_t unix_nanos, int fraction_digits = 3);

// Parses an RFC 3339 timestamp ("2026-11-27T12:00:00Z", "...:00.5+02:00",
// lower-case 't'/'z' accepted, up to 9 fraction digits) into nanoseconds since
// the Unix epoch. Returns InvalidArgument naming the offending part otherwise.
Result<int64_t> ParseRfc3339(std::string_view text);

}  // namespace dsmil
