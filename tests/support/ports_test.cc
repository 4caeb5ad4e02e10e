// ports.h: reservations are distinct, outside the kernel's ephemeral range,
// free when handed out, exclusive between processes while held, and free
// again once released.
#include "ports.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <string>

namespace dsmil::testing {
namespace {

std::string LockFile(uint16_t port) { return std::string(kPortLockDir) + "/" + std::to_string(port) + ".lock"; }

// Whether another process could take the port's lock right now.
bool LockableByAnotherProcess(uint16_t port) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(LockFile(port).c_str(), O_RDONLY | O_CLOEXEC);
    ::_exit(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool Listens(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd, 1) == 0;
  ::close(fd);
  return ok;
}

TEST(Ports, ReservationsAreDistinctFreeAndOutsideTheEphemeralRange) {
  int lo = 32768, hi = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> lo >> hi;
  auto ports = ReservePorts(16);
  ASSERT_TRUE(ports.ok()) << ports.status().ToString();
  std::set<uint16_t> seen;
  for (const auto& p : *ports) {
    EXPECT_TRUE(seen.insert(p.port()).second) << p.port() << " handed out twice";
    if (lo - 10000 >= 1000) {
      EXPECT_TRUE(p.port() >= 10000 && p.port() < lo) << p.port();
    }
    EXPECT_TRUE(Listens(p.port())) << p.port();
  }
}

TEST(Ports, HeldUntilReleasedAndMovable) {
  auto r = ReservePort();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const uint16_t port = r->port();
  ASSERT_NE(port, 0);
  EXPECT_FALSE(LockableByAnotherProcess(port));
  PortReservation moved = std::move(*r);
  EXPECT_EQ(moved.port(), port);
  EXPECT_EQ(r->port(), 0);
  EXPECT_FALSE(LockableByAnotherProcess(port)) << "a move must keep the port reserved";
  moved = PortReservation();
  EXPECT_EQ(moved.port(), 0);
  EXPECT_TRUE(LockableByAnotherProcess(port));
}

}  // namespace
}  // namespace dsmil::testing
