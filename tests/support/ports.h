// Loopback ports for servers that must be told a number before they start:
// redis-server, postgres, a dsmild started as a program, a device that binds
// the address of its configuration. A server of our own that can bind port 0
// and report what it got (net::HttpServer::port(), net::Listener::port(),
// node::Node::http_port() / control_port()) must be used that way instead:
// that cannot race at all.
//
// Binding port 0, closing the socket and handing the number on races: the
// kernel may give the same port to any other bind(port 0) or to the local end
// of any outgoing connection before the server binds it. A reservation here
// cannot collide, for three reasons:
//   - Ports are drawn from below the kernel's ephemeral range
//     (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default; ports
//     in ip_local_reserved_ports are skipped too). The kernel never hands out
//     such a port on its own, so nothing that asks for "any port" (other
//     tests, clients, the servers under test) can take it between the
//     reservation and the server's bind.
//   - Between the tests of this suite, several processes at once under
//     `ctest -j`, a port belongs to whoever holds an exclusive flock(2) on
//     /tmp/dsmil-test-ports/<port>.lock, held for the life of the
//     PortReservation (also across a server's restarts). The kernel drops the
//     lock when its holder dies, so a crashed test leaves nothing reserved;
//     lock files are never removed (removing one would let two processes lock
//     two different files of the same name).
//   - A port some other program already uses is skipped: it must bind on
//     127.0.0.1 over TCP and over UDP (with SO_REUSEADDR, as the servers do, so
//     that connections of a previous holder still in TIME_WAIT do not count).
// What is left is a program outside this suite binding that very number by
// itself between the check and the server's bind.
//
// Only if the ephemeral range leaves fewer than 1000 ports on either side are
// ports drawn from it; then the lock and the bind check are what protect them.
//
// Thread safety: ReservePort may be called from any thread; a reservation is
// used by one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsmil::testing {

class PortReservation {
 public:
  PortReservation() = default;  // reserves nothing; port() == 0
  PortReservation(PortReservation&& other) noexcept;
  PortReservation& operator=(PortReservation&& other) noexcept;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  ~PortReservation();  // releases the port

  uint16_t port() const { return port_; }

 private:
  friend Result<PortReservation> ReservePort();
  PortReservation(uint16_t port, int lock_fd) : port_(port), lock_fd_(lock_fd) {}
  void Release();

  uint16_t port_ = 0;
  int lock_fd_ = -1;  // holds the flock
};

// Reserves one loopback port, free over TCP and UDP when reserved, for as long
// as the returned object lives. Unavailable when no port could be reserved
// (every candidate taken, or /tmp/dsmil-test-ports not writable: named).
Result<PortReservation> ReservePort();

// Reserves `n` distinct ports at once.
Result<std::vector<PortReservation>> ReservePorts(size_t n);

// The directory of the lock files.
inline constexpr char kPortLockDir[] = "/tmp/dsmil-test-ports";

}  // namespace dsmil::testing
