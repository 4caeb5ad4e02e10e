// The hourly counts of L5 kept between requests (docs/l5-l6.md §6).
//
// Counting 14 days of a busy tenant's events per hour, category and severity
// is one grouped query over every event (≈ 260 ms at 1,000 events an hour on
// the embedded archive); the answer for hours already counted does not change
// unless an event with an old timestamp arrives late. So the cache keeps,
// per tenant, the rows of the range it last counted and, on the next request:
//   1. counts the events of the cached part of the new window with one index
//      range count (Archive::CountBetween, ≈ 13 ms for 336,000 events);
//   2. when that equals the cached rows' total, reuses them and groups only
//      the hours after the cached range; otherwise (a late event landed in a
//      counted hour) it counts the whole window again.
// The archive is append-only, so an equal count means equal rows: the
// answer is always the one a full count would give.
//
// Thread safety: Read may be called from any thread; requests for one tenant
// wait for each other.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "store/archive.h"

namespace dsmil::devices::l5 {

class HourlyCountCache {
 public:
  struct Stats {
    uint64_t full = 0;    // windows counted from scratch
    uint64_t reused = 0;  // windows that reused cached hours
    uint64_t stale = 0;   // cached hours found changed (late events)
  };

  // The rows of archive.CountByHour(since_ms, until_ms), hour order, for
  // `tenant` (the archive's own tenant).
  Result<std::vector<store::HourlyCount>> Read(const std::string& tenant, store::Archive& archive, int64_t since_ms,
                                               int64_t until_ms);
  Stats stats() const;

 private:
  struct Entry {
    int64_t from_ms = 0, to_ms = 0;  // the counted range [from, to)
    std::vector<store::HourlyCount> rows;
  };
  mutable Mutex mu_;
  std::map<std::string, Entry> entries_ DSMIL_GUARDED_BY(mu_);
  Stats stats_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace dsmil::devices::l5
