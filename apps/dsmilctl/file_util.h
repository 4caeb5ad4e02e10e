// Small file helpers shared by dsmilctl's commands.
#pragma once

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/status.h"

namespace dsmil::ctl {

inline bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The whole file; NotFound "cannot open PATH" when it cannot be opened.
inline Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

}  // namespace dsmil::ctl
