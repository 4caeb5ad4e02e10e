// Per-tenant request limits shared by every L7 router replica of a host
// (spec §7, §10.4): a token-bucket request rate, a cap on concurrent
// requests, and a daily token budget that concurrent requests cannot
// overspend (each request reserves its max_tokens up front and settles what it
// used when done).
//
// The counters live in one memory-mapped file (default
// <stores.path>/tenant/ratelimit.bin) that every replica maps; each operation
// holds an exclusive flock on it (plus a mutex inside the process), so the
// limits hold across processes. An in-flight request is a lease slot tagged
// with the process id: leases of a process that died are reclaimed when a
// tenant reaches its concurrency cap, so a crashed replica does not leak
// capacity.
//
// Time (the request bucket's refill and the day of the token budget) is read
// from the wall-clock reading of the Clock given to Open, the system clock
// unless told otherwise; replicas in other processes read their own clocks, so
// they must all use the system clock for the shared counters to agree.
//
// Thread safety: all methods may be called concurrently; a Lease may be
// released from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/mutex.h"
#include "core/status.h"

namespace dsmil::tenant {

struct TenantLimits {
  double requests_per_second = 0;  // 0: no rate limit
  double burst = 0;                // bucket size; 0: max(1, requests_per_second)
  int max_concurrent = 0;          // 0: no cap (at most kMaxLeases tracked)
  uint64_t tokens_per_day = 0;     // 0: no budget
};

inline constexpr int kMaxLeases = 256;  // per tenant
inline constexpr int kMaxLimitedTenants = 64;

class RateLimiter;

// One admitted request. Releases its concurrency slot and settles its token
// reservation on destruction (reserved tokens count as used unless Settle
// said otherwise). Movable.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& o) noexcept;
  Lease& operator=(Lease&& o) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  // Records the tokens the request really used (<= reserved: the rest goes
  // back to the budget). The last call before release counts.
  void Settle(uint64_t used_tokens);
  // Releases now (idempotent).
  void Release();
  bool active() const { return limiter_ != nullptr; }

 private:
  friend class RateLimiter;
  RateLimiter* limiter_ = nullptr;
  int slot_ = -1, lease_ = -1;
  uint64_t id_ = 0;
  uint64_t reserved_ = 0;
  uint64_t used_ = UINT64_MAX;  // UINT64_MAX: not settled
};

class RateLimiter {
 public:
  // Maps (creating if needed) the counter file at `path`. `limits` by tenant;
  // tenants not listed get `defaults`. `clock` must outlive the limiter.
  static Result<std::unique_ptr<RateLimiter>> Open(const std::string& path, std::map<std::string, TenantLimits> limits,
                                                   TenantLimits defaults = {}, const Clock& clock = DefaultClock());
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Admits one request of `tenant` reserving `reserve_tokens` of its daily
  // budget. ResourceExhausted naming the limit:
  //   "tenant ALPHA: rate limit of 5 requests/s exceeded"
  //   "tenant ALPHA: 4 concurrent requests already in flight (limit 4)"
  //   "tenant ALPHA: daily token budget of 10000 exhausted (used 9800, 150 reserved, 256 asked)"
  Result<Lease> Acquire(const std::string& tenant, uint64_t reserve_tokens = 0);

  // Current counters of a tenant (for metrics and tests).
  struct Usage {
    int in_flight = 0;
    uint64_t tokens_used_today = 0;
    uint64_t tokens_reserved = 0;
  };
  Result<Usage> UsageOf(const std::string& tenant);

  const TenantLimits& LimitsFor(const std::string& tenant) const;

 private:
  friend class Lease;
  struct Shared;
  RateLimiter() = default;
  void ReleaseLease(Lease& lease);
  const Clock* clock_ = nullptr;
  int fd_ = -1;
  Mutex mu_;  // with a flock of fd_: the counters in the shared mapping
  Shared* shared_ DSMIL_PT_GUARDED_BY(mu_) = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TenantLimits> limits_;
  TenantLimits defaults_;
};

}  // namespace dsmil::tenant
