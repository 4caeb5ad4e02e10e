// Keccak-f[1600] and the FIPS 202 sponge functions.
#include "crypto/sha3.h"

#include <cassert>
#include <cstring>

namespace dsmil::crypto {
namespace {

constexpr uint64_t kRoundConstants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
    0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
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
    for (int j = 0; j < 8; ++j) v |= uint64_t(in[j]) << (8 * j);
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
    for (int j = 0; j < 8; ++j) out[j] = uint8_t(v >> (8 * j));
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

// Fully unrolled theta / rho-pi / chi / iota, lanes kept in locals.
void KeccakF1600(uint64_t st[25]) {
  uint64_t a00 = st[0], a01 = st[1], a02 = st[2], a03 = st[3], a04 = st[4];
  uint64_t a05 = st[5], a06 = st[6], a07 = st[7], a08 = st[8], a09 = st[9];
  uint64_t a10 = st[10], a11 = st[11], a12 = st[12], a13 = st[13], a14 = st[14];
  uint64_t a15 = st[15], a16 = st[16], a17 = st[17], a18 = st[18], a19 = st[19];
  uint64_t a20 = st[20], a21 = st[21], a22 = st[22], a23 = st[23], a24 = st[24];
  for (int round = 0; round < 24; ++round) {
    // Theta.
    uint64_t c0 = a00 ^ a05 ^ a10 ^ a15 ^ a20;
    uint64_t c1 = a01 ^ a06 ^ a11 ^ a16 ^ a21;
    uint64_t c2 = a02 ^ a07 ^ a12 ^ a17 ^ a22;
    uint64_t c3 = a03 ^ a08 ^ a13 ^ a18 ^ a23;
    uint64_t c4 = a04 ^ a09 ^ a14 ^ a19 ^ a24;
    uint64_t d0 = c4 ^ Rol(c1, 1);
    uint64_t d1 = c0 ^ Rol(c2, 1);
    uint64_t d2 = c1 ^ Rol(c3, 1);
    uint64_t d3 = c2 ^ Rol(c4, 1);
    uint64_t d4 = c3 ^ Rol(c0, 1);
    // Rho and pi: b[y][2x+3y] = rol(a[x][y] ^ d[x], r[x][y]).
    uint64_t b00 = a00 ^ d0;
    uint64_t b10 = Rol(a01 ^ d1, 1);
    uint64_t b20 = Rol(a02 ^ d2, 62);
    uint64_t b05 = Rol(a03 ^ d3, 28);
    uint64_t b15 = Rol(a04 ^ d4, 27);
    uint64_t b16 = Rol(a05 ^ d0, 36);
    uint64_t b01 = Rol(a06 ^ d1, 44);
    uint64_t b11 = Rol(a07 ^ d2, 6);
    uint64_t b21 = Rol(a08 ^ d3, 55);
    uint64_t b06 = Rol(a09 ^ d4, 20);
    uint64_t b07 = Rol(a10 ^ d0, 3);
    uint64_t b17 = Rol(a11 ^ d1, 10);
    uint64_t b02 = Rol(a12 ^ d2, 43);
    uint64_t b12 = Rol(a13 ^ d3, 25);
    uint64_t b22 = Rol(a14 ^ d4, 39);
    uint64_t b23 = Rol(a15 ^ d0, 41);
    uint64_t b08 = Rol(a16 ^ d1, 45);
    uint64_t b18 = Rol(a17 ^ d2, 15);
    uint64_t b03 = Rol(a18 ^ d3, 21);
    uint64_t b13 = Rol(a19 ^ d4, 8);
    uint64_t b14 = Rol(a20 ^ d0, 18);
    uint64_t b24 = Rol(a21 ^ d1, 2);
    uint64_t b09 = Rol(a22 ^ d2, 61);
    uint64_t b19 = Rol(a23 ^ d3, 56);
    uint64_t b04 = Rol(a24 ^ d4, 14);
    // Chi and iota.
    a00 = b00 ^ (~b01 & b02) ^ kRoundConstants[round];
    a01 = b01 ^ (~b02 & b03);
    a02 = b02 ^ (~b03 & b04);
    a03 = b03 ^ (~b04 & b00);
    a04 = b04 ^ (~b00 & b01);
    a05 = b05 ^ (~b06 & b07);
    a06 = b06 ^ (~b07 & b08);
    a07 = b07 ^ (~b08 & b09);
    a08 = b08 ^ (~b09 & b05);
    a09 = b09 ^ (~b05 & b06);
    a10 = b10 ^ (~b11 & b12);
    a11 = b11 ^ (~b12 & b13);
    a12 = b12 ^ (~b13 & b14);
    a13 = b13 ^ (~b14 & b10);
    a14 = b14 ^ (~b10 & b11);
    a15 = b15 ^ (~b16 & b17);
    a16 = b16 ^ (~b17 & b18);
    a17 = b17 ^ (~b18 & b19);
    a18 = b18 ^ (~b19 & b15);
    a19 = b19 ^ (~b15 & b16);
    a20 = b20 ^ (~b21 & b22);
    a21 = b21 ^ (~b22 & b23);
    a22 = b22 ^ (~b23 & b24);
    a23 = b23 ^ (~b24 & b20);
    a24 = b24 ^ (~b20 & b21);
  }
  st[0] = a00; st[1] = a01; st[2] = a02; st[3] = a03; st[4] = a04;
  st[5] = a05; st[6] = a06; st[7] = a07; st[8] = a08; st[9] = a09;
  st[10] = a10; st[11] = a11; st[12] = a12; st[13] = a13; st[14] = a14;
  st[15] = a15; st[16] = a16; st[17] = a17; st[18] = a18; st[19] = a19;
  st[20] = a20; st[21] = a21; st[22] = a22; st[23] = a23; st[24] = a24;
}

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
