// dsmil_test_ports: the reservations of ports.h for test scripts.
//
//   dsmil_test_ports N --hold-for PID [--max-seconds S]
//
// Reserves N loopback ports, prints them on one line separated by spaces, and
// keeps them reserved in the background until process PID (the script: $$ in
// sh, os.getpid() in Python) has ended, or for S seconds at most (default
// 3600). It returns as soon as the line is printed, so `set -- $(...)` works.
// Exit status: 0 once printed; 1 when no port could be reserved; 2 for usage.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>

#include "ports.h"

namespace {

int Usage() {
  std::fprintf(stderr, "usage: dsmil_test_ports N --hold-for PID [--max-seconds S]\n");
  return 2;
}

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

int Run(int argc, char** argv) {
  int64_t n = 0, max_seconds = 3600, hold_for = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--hold-for" && i + 1 < argc) {
      hold_for = std::strtoll(argv[++i], nullptr, 10);
    } else if (a == "--max-seconds" && i + 1 < argc) {
      max_seconds = std::strtoll(argv[++i], nullptr, 10);
    } else if (n == 0 && !a.empty() && a[0] != '-') {
      n = std::strtoll(a.c_str(), nullptr, 10);
    } else {
      return Usage();
    }
  }
  if (n <= 0 || n > 64 || hold_for <= 0 || hold_for > INT32_MAX || max_seconds <= 0) return Usage();

  auto ports = dsmil::testing::ReservePorts(static_cast<size_t>(n));
  if (!ports.ok()) {
    std::fprintf(stderr, "dsmil_test_ports: %s\n", ports.status().ToString().c_str());
    return 1;
  }
  // The child inherits the locked descriptors, so the locks outlive this
  // process; it must not hold the caller's stdout open, or $(...) would wait.
  pid_t child = ::fork();
  if (child < 0) {
    std::perror("dsmil_test_ports: fork");
    return 1;
  }
  if (child > 0) {
    std::string line;
    for (const auto& p : *ports) line += (line.empty() ? "" : " ") + std::to_string(p.port());
    std::printf("%s\n", line.c_str());
    return 0;  // the parent's copies close; the child's keep the locks
  }
  ::setsid();
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    if (devnull > 2) ::close(devnull);
  }
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  while (Alive(static_cast<pid_t>(hold_for)) && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsmil_test_ports: %s\n", e.what());
    return 1;
  }
}
