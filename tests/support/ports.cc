#include "ports.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace dsmil::testing {
namespace {

constexpr int kLowest = 10000;  // below: well-known and registered services
constexpr int kMinCandidates = 1000;

struct Range {
  int lo = 0, hi = -1;  // inclusive
  int size() const { return hi - lo + 1; }
};

// The kernel's ephemeral range; the Linux default when it cannot be read.
Range EphemeralRange() {
  Range r{32768, 60999};
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 0, hi = 0;
  if (f >> lo >> hi && lo > 0 && hi >= lo && hi <= 65535) r = {lo, hi};
  return r;
}

// ip_local_reserved_ports: "8080,9148-9150" (empty for none).
std::set<int> KernelReservedPorts() {
  std::set<int> out;
  std::ifstream f("/proc/sys/net/ipv4/ip_local_reserved_ports");
  std::string text;
  std::getline(f, text);
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    int lo = 0, hi = 0;
    char dash = 0;
    std::stringstream is(item);
    if (!(is >> lo)) continue;
    hi = lo;
    if (is >> dash && dash == '-') is >> hi;
    for (int p = lo; p <= hi && p <= 65535; ++p) out.insert(p);
  }
  return out;
}

// Where candidates come from: below the ephemeral range, else above it, else
// (a machine whose ephemeral range covers nearly everything) anywhere.
Range CandidateRange() {
  Range eph = EphemeralRange();
  Range below{kLowest, eph.lo - 1};
  if (below.size() >= kMinCandidates) return below;
  Range above{std::max(eph.hi + 1, kLowest), 65535};
  if (above.size() >= kMinCandidates) return above;
  return Range{kLowest, 65535};
}

// Whether `port` binds on 127.0.0.1 with `type` (SOCK_STREAM / SOCK_DGRAM).
bool Binds(int type, uint16_t port) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

Status EnsureLockDir() {
  if (::mkdir(kPortLockDir, 0777) == 0) {
    // Shared by every user who runs the tests, like /tmp itself.
    ::chmod(kPortLockDir, 01777);
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::Ok();
  return Status::Unavailable(std::string("cannot create ") + kPortLockDir + ": " + std::strerror(errno));
}

// Opens and locks <dir>/<port>.lock without waiting; -1 when someone holds it
// (or the file cannot be opened).
int LockPort(uint16_t port) {
  std::string path = std::string(kPortLockDir) + "/" + std::to_string(port) + ".lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0 && errno == EACCES) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);  // another user's
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A different starting point in every process and call, so that concurrent
// tests do not all queue up behind the same first port.
uint32_t StartOffset() {
  static std::atomic<uint32_t> calls{0};
  auto t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t x = t ^ (static_cast<uint64_t>(::getpid()) << 20) ^
               (static_cast<uint64_t>(calls.fetch_add(1)) * 0x9E3779B97F4A7C15ULL);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

}  // namespace

PortReservation::PortReservation(PortReservation&& other) noexcept
    : port_(std::exchange(other.port_, 0)), lock_fd_(std::exchange(other.lock_fd_, -1)) {}

PortReservation& PortReservation::operator=(PortReservation&& other) noexcept {
  if (this != &other) {
    Release();
    port_ = std::exchange(other.port_, 0);
    lock_fd_ = std::exchange(other.lock_fd_, -1);
  }
  return *this;
}

PortReservation::~PortReservation() { Release(); }

void PortReservation::Release() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the only descriptor drops the flock
  lock_fd_ = -1;
  port_ = 0;
}

Result<PortReservation> ReservePort() {
  DSMIL_RETURN_IF_ERROR(EnsureLockDir());
  const Range range = CandidateRange();
  const std::set<int> kernel_reserved = KernelReservedPorts();
  const int start = static_cast<int>(StartOffset() % static_cast<uint32_t>(range.size()));
  int locked_elsewhere = 0, in_use = 0;
  for (int i = 0; i < range.size(); ++i) {
    const auto port = static_cast<uint16_t>(range.lo + (start + i) % range.size());
    if (kernel_reserved.count(port) != 0) continue;
    int fd = LockPort(port);
    if (fd < 0) {
      ++locked_elsewhere;
      continue;
    }
    // Checked under the lock: nobody of this suite can bind it from now on.
    if (!Binds(SOCK_STREAM, port) || !Binds(SOCK_DGRAM, port)) {
      ::close(fd);
      ++in_use;
      continue;
    }
    return PortReservation(port, fd);
  }
  return Status::Unavailable("no free loopback port in " + std::to_string(range.lo) + "-" + std::to_string(range.hi) +
                             " (" + std::to_string(locked_elsewhere) + " locked or unlockable under " + kPortLockDir +
                             ", " + std::to_string(in_use) + " in use)");
}

Result<std::vector<PortReservation>> ReservePorts(size_t n) {
  std::vector<PortReservation> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    DSMIL_ASSIGN_OR_RETURN(PortReservation r, ReservePort());
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace dsmil::testing
