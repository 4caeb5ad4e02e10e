// Helpers shared by the tenant integration tests: run a shell command (the
// real dsmilctl, redis-cli, psql) and write small files with a given mode.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace dsmil::testutil {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};

inline RunResult RunShell(const std::string& cmd) {
  RunResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Writes `data` to `path` with `mode`; returns `path`.
inline std::string Write(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream(path) << data;
  ::chmod(path.c_str(), mode);
  return path;
}

}  // namespace dsmil::testutil
