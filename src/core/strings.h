// Small string helpers shared by the parsers and the operator views.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsmil {

// ASCII case-insensitive equality (bytes outside A-Z/a-z compare exactly).
inline bool EqualsIgnoreCaseAscii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = char(x - 32);
    if (y >= 'a' && y <= 'z') y = char(y - 32);
    if (x != y) return false;
  }
  return true;
}

// "1,850" for 1850: numbers as the spec's samples print them.
inline std::string Thousands(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(size_t(i), ",");
  return s;
}

}  // namespace dsmil
