#include "devices/l5/hourly_cache.h"

#include <algorithm>
#include <utility>

namespace dsmil::devices::l5 {

Result<std::vector<store::HourlyCount>> HourlyCountCache::Read(const std::string& tenant, store::Archive& archive,
                                                               int64_t since_ms, int64_t until_ms) {
  MutexLock lock(mu_);
  auto it = entries_.find(tenant);
  // The cached rows are usable when they cover the start of the window and
  // end inside it (rows are whole hours, the window's bounds are too).
  if (it != entries_.end() && it->second.from_ms <= since_ms && it->second.to_ms > since_ms &&
      it->second.to_ms <= until_ms) {
    Entry& e = it->second;
    uint64_t total = 0;
    for (const store::HourlyCount& r : e.rows) {
      if (r.hour_ms >= since_ms) total += r.count;
    }
    DSMIL_ASSIGN_OR_RETURN(uint64_t now_total, archive.CountBetween(since_ms, e.to_ms));
    if (now_total == total) {
      DSMIL_ASSIGN_OR_RETURN(std::vector<store::HourlyCount> fresh, archive.CountByHour(e.to_ms, until_ms));
      std::vector<store::HourlyCount> rows;
      rows.reserve(e.rows.size() + fresh.size());
      for (store::HourlyCount& r : e.rows) {
        if (r.hour_ms >= since_ms) rows.push_back(std::move(r));
      }
      rows.insert(rows.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
      e = Entry{since_ms, until_ms, rows};
      ++stats_.reused;
      return rows;
    }
    ++stats_.stale;
  }
  DSMIL_ASSIGN_OR_RETURN(std::vector<store::HourlyCount> rows, archive.CountByHour(since_ms, until_ms));
  entries_[tenant] = Entry{since_ms, until_ms, rows};
  ++stats_.full;
  return rows;
}

HourlyCountCache::Stats HourlyCountCache::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

}  // namespace dsmil::devices::l5
