// Reading a dsmil::Clock the way tests need it. Tests that control time use
// dsmil::FakeClock (core/clock.h: Advance, SetUnixNanos) and hand it, or a
// NowMsOf() hook, to the code under test. Tests whose code under test reads
// the real clock (claim tokens checked against the wall clock, devices
// without a time hook) read DefaultClock(), the default here, instead of
// calling std::chrono themselves.
#pragma once

#include <cstdint>
#include <functional>

#include "core/clock.h"

namespace dsmil::testing {

// Wall-clock milliseconds / seconds since the Unix epoch.
inline int64_t UnixMillis(const Clock& clock = DefaultClock()) { return clock.NowUnixNanos() / 1000000; }
inline int64_t UnixSeconds(const Clock& clock = DefaultClock()) { return clock.NowUnixNanos() / 1000000000; }

// A `now_ms` hook of device options (l9, soc) that reads `clock`, which must
// outlive the hook.
inline std::function<int64_t()> NowMsOf(const Clock& clock) {
  return [&clock] { return UnixMillis(clock); };
}

// Milliseconds as FakeClock takes them.
inline int64_t MillisToNanos(int64_t ms) { return ms * 1000000; }

}  // namespace dsmil::testing
