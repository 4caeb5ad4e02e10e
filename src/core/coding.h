// Byte coding helpers: fixed-width big-endian integers, hex. All byte order
// work of the wire formats goes through here (one module does the coding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsmil {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
inline std::string_view AsString(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

inline void PutU16BE(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void PutU32BE(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}
inline void PutU64BE(uint8_t* p, uint64_t v) {
  PutU32BE(p, uint32_t(v >> 32));
  PutU32BE(p + 4, uint32_t(v));
}
inline uint16_t GetU16BE(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t GetU32BE(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}
inline uint64_t GetU64BE(const uint8_t* p) { return (uint64_t(GetU32BE(p)) << 32) | GetU32BE(p + 4); }

inline void AppendU16BE(Bytes& out, uint16_t v) {
  uint8_t b[2];
  PutU16BE(b, v);
  out.insert(out.end(), b, b + 2);
}
inline void AppendU32BE(Bytes& out, uint32_t v) {
  uint8_t b[4];
  PutU32BE(b, v);
  out.insert(out.end(), b, b + 4);
}
inline void AppendU64BE(Bytes& out, uint64_t v) {
  uint8_t b[8];
  PutU64BE(b, v);
  out.insert(out.end(), b, b + 8);
}

// Lower-case hex of `b`.
std::string ToHex(ByteView b);
// Parses hex (either case, even length, no separators).
Result<Bytes> FromHex(std::string_view hex);

}  // namespace dsmil
