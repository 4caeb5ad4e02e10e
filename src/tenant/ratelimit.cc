#include "tenant/ratelimit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/mutex.h"

namespace dsmil::tenant {
namespace {

constexpr uint64_t kFileMagic = 0x44534D494C524C31ull;  // "DSMILRL1"

struct LeaseRec {
  int32_t pid;  // 0: free
  int32_t pad;
  uint64_t id;
  uint64_t reserved;
};

struct Slot {
  char tenant[40];  // NUL-terminated; "" = free
  double bucket;    // tokens in the request bucket
  int64_t last_ns;  // last refill
  int64_t day;      // day number of `used`
  uint64_t used;    // tokens settled today
  uint64_t reserved;
  uint64_t next_id;
  LeaseRec leases[kMaxLeases];
};

}  // namespace

struct RateLimiter::Shared {
  uint64_t magic;
  uint32_t version;
  uint32_t slots;
  Slot slot[kMaxLimitedTenants];
};

namespace {

// Holds the process mutex and the file lock.
class DSMIL_SCOPED_CAPABILITY Locked {
 public:
  Locked(Mutex& mu, int fd) DSMIL_ACQUIRE(mu) : g_(mu), fd_(fd) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~Locked() DSMIL_RELEASE() { ::flock(fd_, LOCK_UN); }

 private:
  MutexLock g_;
  int fd_;
};

bool ProcessAlive(int32_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

Result<std::unique_ptr<RateLimiter>> RateLimiter::Open(const std::string& path,
                                                       std::map<std::string, TenantLimits> limits,
                                                       TenantLimits defaults, const Clock& clock) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal("ratelimit: open " + path + ": " + std::strerror(errno));
  size_t size = sizeof(Shared);
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  struct stat st {};
  ::fstat(fd, &st);
  bool fresh = size_t(st.st_size) < size;
  if (fresh && ::ftruncate(fd, off_t(size)) != 0) {
    int e = errno;
    ::close(fd);
    return Status::Internal("ratelimit: size " + path + ": " + std::strerror(e));
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    ::close(fd);
    return Status::Internal("ratelimit: mmap " + path + ": " + std::strerror(e));
  }
  auto* shared = static_cast<Shared*>(p);
  if (shared->magic != kFileMagic) {
    if (!fresh && shared->magic != 0) {
      ::flock(fd, LOCK_UN);
      ::munmap(p, size);
      ::close(fd);
      return Status::DataLoss("ratelimit: " + path + " is not a rate-limit counter file");
    }
    std::memset(p, 0, size);
    shared->magic = kFileMagic;
    shared->version = 1;
    shared->slots = kMaxLimitedTenants;
  }
  ::flock(fd, LOCK_UN);
  std::unique_ptr<RateLimiter> rl(new RateLimiter());
  rl->clock_ = &clock;
  rl->fd_ = fd;
  rl->shared_ = shared;
  rl->map_size_ = size;
  rl->limits_ = std::move(limits);
  rl->defaults_ = defaults;
  return rl;
}

RateLimiter::~RateLimiter() {
  if (shared_ != nullptr) ::munmap(shared_, map_size_);
  if (fd_ >= 0) ::close(fd_);
}

const TenantLimits& RateLimiter::LimitsFor(const std::string& tenant) const {
  auto it = limits_.find(tenant);
  return it == limits_.end() ? defaults_ : it->second;
}

Result<Lease> RateLimiter::Acquire(const std::string& tenant, uint64_t reserve_tokens) {
  if (tenant.empty() || tenant.size() >= sizeof(Slot::tenant)) {
    return Status::InvalidArgument("ratelimit: invalid tenant '" + tenant + "'");
  }
  const TenantLimits& lim = LimitsFor(tenant);
  Locked lock(mu_, fd_);
  Slot* slot = nullptr;
  int index = -1;
  for (int i = 0; i < kMaxLimitedTenants; ++i) {
    Slot& s = shared_->slot[i];
    if (std::strncmp(s.tenant, tenant.c_str(), sizeof(s.tenant)) == 0) {
      slot = &s, index = i;
      break;
    }
    if (s.tenant[0] == '\0' && slot == nullptr) slot = &s, index = i;
  }
  if (slot == nullptr) return Status::ResourceExhausted("ratelimit: more than 64 tenants in the counter file");
  int64_t now = clock_->NowUnixNanos();
  if (slot->tenant[0] == '\0') {
    std::memset(slot, 0, sizeof(Slot));
    std::memcpy(slot->tenant, tenant.data(), tenant.size());
    slot->bucket = -1;  // filled below
    slot->last_ns = now;
  }
  // Request rate: token bucket.
  double burst = lim.burst > 0 ? lim.burst : std::max(1.0, lim.requests_per_second);
  if (slot->bucket < 0) slot->bucket = burst;
  if (lim.requests_per_second > 0) {
    double elapsed = double(std::max<int64_t>(0, now - slot->last_ns)) / 1e9;
    slot->bucket = std::min(burst, slot->bucket + elapsed * lim.requests_per_second);
  }
  slot->last_ns = now;
  // Concurrency.
  auto count_in_flight = [&] {
    int n = 0;
    for (const LeaseRec& l : slot->leases) n += l.pid != 0;
    return n;
  };
  int in_flight = count_in_flight();
  int cap = lim.max_concurrent > 0 ? std::min(lim.max_concurrent, kMaxLeases) : kMaxLeases;
  if (in_flight >= cap) {
    // Reclaim leases of processes that died.
    for (LeaseRec& l : slot->leases) {
      if (l.pid != 0 && !ProcessAlive(l.pid)) {
        slot->reserved -= std::min(slot->reserved, l.reserved);
        l = LeaseRec{};
      }
    }
    in_flight = count_in_flight();
  }
  if (in_flight >= cap) {
    if (lim.max_concurrent > 0) {
      return Status::ResourceExhausted("tenant " + tenant + ": " + std::to_string(in_flight) +
                                       " concurrent requests already in flight (limit " +
                                       std::to_string(lim.max_concurrent) + ")");
    }
    return Status::ResourceExhausted("tenant " + tenant + ": " + std::to_string(kMaxLeases) +
                                     " requests in flight (the most one host tracks)");
  }
  // Daily budget.
  int64_t day = now / (86400LL * 1000000000LL);
  if (slot->day != day) {
    slot->day = day;
    slot->used = 0;
  }
  if (lim.tokens_per_day > 0 && slot->used + slot->reserved + reserve_tokens > lim.tokens_per_day) {
    return Status::ResourceExhausted("tenant " + tenant + ": daily token budget of " +
                                     std::to_string(lim.tokens_per_day) + " exhausted (used " +
                                     std::to_string(slot->used) + ", " + std::to_string(slot->reserved) +
                                     " reserved, " + std::to_string(reserve_tokens) + " asked)");
  }
  if (lim.requests_per_second > 0) {
    if (slot->bucket < 1.0) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%g", lim.requests_per_second);
      return Status::ResourceExhausted("tenant " + tenant + ": rate limit of " + buf + " requests/s exceeded");
    }
    slot->bucket -= 1.0;
  }
  for (int i = 0; i < kMaxLeases; ++i) {
    LeaseRec& l = slot->leases[i];
    if (l.pid != 0) continue;
    l.pid = int32_t(::getpid());
    l.id = ++slot->next_id;
    l.reserved = reserve_tokens;
    slot->reserved += reserve_tokens;
    Lease lease;
    lease.limiter_ = this;
    lease.slot_ = index;
    lease.lease_ = i;
    lease.id_ = l.id;
    lease.reserved_ = reserve_tokens;
    return lease;
  }
  return Status::Internal("ratelimit: no free lease slot");  // unreachable: in_flight < cap
}

void RateLimiter::ReleaseLease(Lease& lease) {
  Locked lock(mu_, fd_);
  Slot& s = shared_->slot[lease.slot_];
  LeaseRec& l = s.leases[lease.lease_];
  if (l.pid != int32_t(::getpid()) || l.id != lease.id_) return;  // reclaimed meanwhile
  uint64_t used = lease.used_ == UINT64_MAX ? lease.reserved_ : std::min(lease.used_, lease.reserved_);
  s.reserved -= std::min(s.reserved, l.reserved);
  s.used += used;
  l = LeaseRec{};
}

Result<RateLimiter::Usage> RateLimiter::UsageOf(const std::string& tenant) {
  Locked lock(mu_, fd_);
  for (const Slot& s : shared_->slot) {
    if (std::strncmp(s.tenant, tenant.c_str(), sizeof(s.tenant)) != 0) continue;
    Usage u;
    for (const LeaseRec& l : s.leases) u.in_flight += l.pid != 0;
    u.tokens_used_today = s.used;
    u.tokens_reserved = s.reserved;
    return u;
  }
  return Usage{};
}

Lease::Lease(Lease&& o) noexcept
    : limiter_(o.limiter_), slot_(o.slot_), lease_(o.lease_), id_(o.id_), reserved_(o.reserved_), used_(o.used_) {
  o.limiter_ = nullptr;
}

Lease& Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    Release();
    limiter_ = o.limiter_, slot_ = o.slot_, lease_ = o.lease_, id_ = o.id_, reserved_ = o.reserved_, used_ = o.used_;
    o.limiter_ = nullptr;
  }
  return *this;
}

Lease::~Lease() { Release(); }

void Lease::Settle(uint64_t used_tokens) { used_ = used_tokens; }

void Lease::Release() {
  if (limiter_ == nullptr) return;
  limiter_->ReleaseLease(*this);
  limiter_ = nullptr;
}

}  // namespace dsmil::tenant
