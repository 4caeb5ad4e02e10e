// Small text helpers shared by dsmilctl's commands.
#pragma once

#include <cstdint>
#include <string>

namespace dsmil::ctl {

// "1,850" for 1850: numbers as the spec's samples print them.
inline std::string Thousands(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}

}  // namespace dsmil::ctl
