// Keccak-f[1600] and the FIPS 202 sponge functions.
#include "crypto/sha3.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <bit>
#include <cassert>
#include <cstring>

namespace dsmil::crypto {
namespace {

constexpr uint64_t kRoundConstants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL, 0x000000000000808bULL,
    0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL, 0x0000000000000088ULL,
    0x0000000080008009ULL, 0x000000008000000aULL, 0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

inline uint64_t Rol(uint64_t x, int n) { return (x << n) | (x >> ((64 - n) & 63)); }

// Lane i of the state holds bytes 8i..8i+7 little-endian. XOR / extract bytes
// at an arbitrary byte offset.
inline void XorBytes(uint64_t* s, size_t offset, const uint8_t* in, size_t n) {
  while (n > 0 && (offset & 7) != 0) {
    s[offset >> 3] ^= uint64_t(*in++) << (8 * (offset & 7));
    ++offset;
    --n;
  }
  while (n >= 8) {
    uint64_t v = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&v, in, 8);
    } else {
      for (int j = 0; j < 8; ++j) v |= uint64_t(in[j]) << (8 * j);
    }
    s[offset >> 3] ^= v;
    in += 8;
    offset += 8;
    n -= 8;
  }
  while (n > 0) {
    s[offset >> 3] ^= uint64_t(*in++) << (8 * (offset & 7));
    ++offset;
    --n;
  }
}

inline void ExtractBytes(const uint64_t* s, size_t offset, uint8_t* out, size_t n) {
  while (n > 0 && (offset & 7) != 0) {
    *out++ = uint8_t(s[offset >> 3] >> (8 * (offset & 7)));
    ++offset;
    --n;
  }
  while (n >= 8) {
    uint64_t v = s[offset >> 3];
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(out, &v, 8);
    } else {
      for (int j = 0; j < 8; ++j) out[j] = uint8_t(v >> (8 * j));
    }
    out += 8;
    offset += 8;
    n -= 8;
  }
  while (n > 0) {
    *out++ = uint8_t(s[offset >> 3] >> (8 * (offset & 7)));
    ++offset;
    --n;
  }
}

}  // namespace

// One round reading lanes A##xy and writing E##xy, plane by plane: the five
// rho/pi outputs of one plane feed chi at once, so few values stay live.
#define DSMIL_KECCAK_ROUND(A, E, rc)                                              \
  do {                                                                            \
    uint64_t c0 = A##00 ^ A##05 ^ A##10 ^ A##15 ^ A##20;                          \
    uint64_t c1 = A##01 ^ A##06 ^ A##11 ^ A##16 ^ A##21;                          \
    uint64_t c2 = A##02 ^ A##07 ^ A##12 ^ A##17 ^ A##22;                          \
    uint64_t c3 = A##03 ^ A##08 ^ A##13 ^ A##18 ^ A##23;                          \
    uint64_t c4 = A##04 ^ A##09 ^ A##14 ^ A##19 ^ A##24;                          \
    uint64_t d0 = c4 ^ Rol(c1, 1);                                                \
    uint64_t d1 = c0 ^ Rol(c2, 1);                                                \
    uint64_t d2 = c1 ^ Rol(c3, 1);                                                \
    uint64_t d3 = c2 ^ Rol(c4, 1);                                                \
    uint64_t d4 = c3 ^ Rol(c0, 1);                                                \
    uint64_t b0 = A##00 ^ d0, b1 = Rol(A##06 ^ d1, 44), b2 = Rol(A##12 ^ d2, 43); \
    uint64_t b3 = Rol(A##18 ^ d3, 21), b4 = Rol(A##24 ^ d4, 14);                  \
    E##00 = b0 ^ (b1 | b2) ^ (rc);                                                \
    E##01 = b1 ^ (~b2 | b3);                                                      \
    E##02 = b2 ^ (b3 & b4);                                                       \
    E##03 = b3 ^ (b4 | b0);                                                       \
    E##04 = b4 ^ (b0 & b1);                                                       \
    b0 = Rol(A##03 ^ d3, 28), b1 = Rol(A##09 ^ d4, 20), b2 = Rol(A##10 ^ d0, 3);  \
    b3 = Rol(A##16 ^ d1, 45), b4 = Rol(A##22 ^ d2, 61);                           \
    E##05 = b0 ^ (b1 | b2);                                                       \
    E##06 = b1 ^ (b2 & b3);                                                       \
    E##07 = b2 ^ (b3 | ~b4);                                                      \
    E##08 = b3 ^ (b4 | b0);                                                       \
    E##09 = b4 ^ (b0 & b1);                                                       \
    b0 = Rol(A##01 ^ d1, 1), b1 = Rol(A##07 ^ d2, 6), b2 = Rol(A##13 ^ d3, 25);   \
    b3 = Rol(A##19 ^ d4, 8), b4 = Rol(A##20 ^ d0, 18);                            \
    E##10 = b0 ^ (b1 | b2);                                                       \
    E##11 = b1 ^ (b2 & b3);                                                       \
    E##12 = b2 ^ (~b3 & b4);                                                      \
    E##13 = ~b3 ^ (b4 | b0);                                                      \
    E##14 = b4 ^ (b0 & b1);                                                       \
    b0 = Rol(A##04 ^ d4, 27), b1 = Rol(A##05 ^ d0, 36), b2 = Rol(A##11 ^ d1, 10); \
    b3 = Rol(A##17 ^ d2, 15), b4 = Rol(A##23 ^ d3, 56);                           \
    E##15 = b0 ^ (b1 & b2);                                                       \
    E##16 = b1 ^ (b2 | b3);                                                       \
    E##17 = b2 ^ (~b3 | b4);                                                      \
    E##18 = ~b3 ^ (b4 & b0);                                                      \
    E##19 = b4 ^ (b0 | b1);                                                       \
    b0 = Rol(A##02 ^ d2, 62), b1 = Rol(A##08 ^ d3, 55), b2 = Rol(A##14 ^ d4, 39); \
    b3 = Rol(A##15 ^ d0, 41), b4 = Rol(A##21 ^ d1, 2);                            \
    E##20 = b0 ^ (~b1 & b2);                                                      \
    E##21 = ~b1 ^ (b2 | b3);                                                      \
    E##22 = b2 ^ (b3 & b4);                                                       \
    E##23 = b3 ^ (b4 | b0);                                                       \
    E##24 = b4 ^ (b0 & b1);                                                       \
  } while (0)

// Two rounds per iteration, ping-ponging between the a.. and e.. lanes.
// Lanes 1, 2, 8, 12, 17 and 20 are kept complemented inside the permutation
// ("lane complementing"), which turns most of chi's NOTs into plain OR/AND.
void KeccakF1600(uint64_t st[25]) {
  uint64_t a00 = st[0], a01 = ~st[1], a02 = ~st[2], a03 = st[3], a04 = st[4];
  uint64_t a05 = st[5], a06 = st[6], a07 = st[7], a08 = ~st[8], a09 = st[9];
  uint64_t a10 = st[10], a11 = st[11], a12 = ~st[12], a13 = st[13], a14 = st[14];
  uint64_t a15 = st[15], a16 = st[16], a17 = ~st[17], a18 = st[18], a19 = st[19];
  uint64_t a20 = ~st[20], a21 = st[21], a22 = st[22], a23 = st[23], a24 = st[24];
  uint64_t e00, e01, e02, e03, e04, e05, e06, e07, e08, e09, e10, e11, e12;
  uint64_t e13, e14, e15, e16, e17, e18, e19, e20, e21, e22, e23, e24;
  for (int round = 0; round < 24; round += 2) {
    DSMIL_KECCAK_ROUND(a, e, kRoundConstants[round]);
    DSMIL_KECCAK_ROUND(e, a, kRoundConstants[round + 1]);
  }
  st[0] = a00;
  st[1] = ~a01;
  st[2] = ~a02;
  st[3] = a03;
  st[4] = a04;
  st[5] = a05;
  st[6] = a06;
  st[7] = a07;
  st[8] = ~a08;
  st[9] = a09;
  st[10] = a10;
  st[11] = a11;
  st[12] = ~a12;
  st[13] = a13;
  st[14] = a14;
  st[15] = a15;
  st[16] = a16;
  st[17] = ~a17;
  st[18] = a18;
  st[19] = a19;
  st[20] = ~a20;
  st[21] = a21;
  st[22] = a22;
  st[23] = a23;
  st[24] = a24;
}

#undef DSMIL_KECCAK_ROUND

Keccak::Keccak(size_t rate_bytes, uint8_t domain) : rate_(rate_bytes), domain_(domain) {
  assert(rate_bytes > 0 && rate_bytes < 200 && rate_bytes % 8 == 0);
}

void Keccak::Reset() {
  state_.fill(0);
  pos_ = 0;
  squeezing_ = false;
}

void Keccak::Absorb(std::span<const uint8_t> data) {
  assert(!squeezing_ && "Keccak::Absorb after Squeeze");
  const uint8_t* in = data.data();
  size_t n = data.size();
  while (n > 0) {
    size_t take = rate_ - pos_;
    if (take > n) take = n;
    XorBytes(state_.data(), pos_, in, take);
    pos_ += take;
    in += take;
    n -= take;
    if (pos_ == rate_) {
      KeccakF1600(state_.data());
      pos_ = 0;
    }
  }
}

void Keccak::Finalize() {
  uint8_t d = domain_;
  XorBytes(state_.data(), pos_, &d, 1);
  uint8_t last = 0x80;
  XorBytes(state_.data(), rate_ - 1, &last, 1);
  KeccakF1600(state_.data());
  pos_ = 0;
  squeezing_ = true;
}

void Keccak::Squeeze(std::span<uint8_t> out) {
  if (!squeezing_) Finalize();
  uint8_t* p = out.data();
  size_t n = out.size();
  while (n > 0) {
    if (pos_ == rate_) {
      KeccakF1600(state_.data());
      pos_ = 0;
    }
    size_t take = rate_ - pos_;
    if (take > n) take = n;
    ExtractBytes(state_.data(), pos_, p, take);
    pos_ += take;
    p += take;
    n -= take;
  }
}

std::array<uint8_t, 32> Sha3_256(std::span<const uint8_t> data) {
  Keccak k(136, 0x06);
  k.Absorb(data);
  std::array<uint8_t, 32> out;
  k.Squeeze(out);
  return out;
}

std::array<uint8_t, 64> Sha3_512(std::span<const uint8_t> data) {
  Keccak k(72, 0x06);
  k.Absorb(data);
  std::array<uint8_t, 64> out;
  k.Squeeze(out);
  return out;
}

void Shake128Hash(std::span<const uint8_t> data, std::span<uint8_t> out) {
  Shake128 k;
  k.Absorb(data);
  k.Squeeze(out);
}

void Shake256Hash(std::span<const uint8_t> data, std::span<uint8_t> out) {
  Shake256 k;
  k.Absorb(data);
  k.Squeeze(out);
}

}  // namespace dsmil::crypto
