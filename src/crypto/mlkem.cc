// ML-KEM-1024 (FIPS 203). Polynomials hold int16 coefficients mod q = 3329;
// multiplication runs in the NTT domain with Montgomery (R = 2^16) and Barrett
// reduction. Every operation on secret data is branch-free and index-free.
#include "crypto/mlkem.h"

// The polynomial loops are written to vectorise; GCC needs -O3 for that.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include <array>
#include <cstring>
#include <string>

#include "crypto/sha3.h"

namespace dsmil::crypto {
namespace {

constexpr int kN = 256;
constexpr int kQ = 3329;
constexpr int kK = 4;    // module rank of ML-KEM-1024
constexpr int kEta = 2;  // eta1 = eta2 = 2
constexpr int kDu = 11;
constexpr int kDv = 5;
constexpr int16_t kQinv = -3327;  // q^-1 mod 2^16, as a signed value

constexpr size_t kPolyBytes = 384;                        // ByteEncode12
constexpr size_t kPolyVecBytes = kK * kPolyBytes;         // 1536
constexpr size_t kEkBytes = kPolyVecBytes + 32;           // 1568
constexpr size_t kDkPkeBytes = kPolyVecBytes;             // 1536
constexpr size_t kDkBytes = kDkPkeBytes + kEkBytes + 64;  // 3168
constexpr size_t kC1Bytes = kK * kN * kDu / 8;            // 1408
constexpr size_t kC2Bytes = kN * kDv / 8;                 // 160
constexpr size_t kCtBytes = kC1Bytes + kC2Bytes;          // 1568
static_assert(kEkBytes == kMlKem1024EncapsKeyBytes);
static_assert(kDkBytes == kMlKem1024DecapsKeyBytes);
static_assert(kCtBytes == kMlKem1024CiphertextBytes);

// ---- Arithmetic mod q ------------------------------------------------------

// Returns a * 2^-16 mod q in (-q, q) for |a| < q * 2^15.
inline int16_t MontgomeryReduce(int32_t a) {
  int16_t t = static_cast<int16_t>(static_cast<int16_t>(a) * kQinv);
  return static_cast<int16_t>((a - static_cast<int32_t>(t) * kQ) >> 16);
}

// Returns the representative of a mod q in [-(q-1)/2, (q-1)/2].
inline int16_t BarrettReduce(int16_t a) {
  constexpr int32_t v = ((1 << 26) + kQ / 2) / kQ;
  int16_t t = static_cast<int16_t>((v * a + (1 << 25)) >> 26);
  return static_cast<int16_t>(a - t * kQ);
}

inline int16_t FqMul(int16_t a, int16_t b) { return MontgomeryReduce(static_cast<int32_t>(a) * b); }

// Maps (-q, q) to [0, q) without branching.
inline int16_t CondAddQ(int16_t a) { return static_cast<int16_t>(a + ((a >> 15) & kQ)); }

constexpr int PowMod(int base, int exp) {
  long r = 1, b = base % kQ;
  while (exp > 0) {
    if (exp & 1) r = r * b % kQ;
    b = b * b % kQ;
    exp >>= 1;
  }
  return static_cast<int>(r);
}

constexpr int BitRev7(int x) {
  int r = 0;
  for (int i = 0; i < 7; ++i) r |= ((x >> i) & 1) << (6 - i);
  return r;
}

// zeta^BitRev7(i) with zeta = 17, in the Montgomery domain, centred.
constexpr std::array<int16_t, 128> MakeZetas() {
  std::array<int16_t, 128> z{};
  for (int i = 0; i < 128; ++i) {
    long v = static_cast<long>(PowMod(17, BitRev7(i))) * 65536 % kQ;
    if (v > kQ / 2) v -= kQ;
    z[i] = static_cast<int16_t>(v);
  }
  return z;
}
constexpr std::array<int16_t, 128> kZetas = MakeZetas();
static_assert(kZetas[0] == -1044 && kZetas[1] == -758 && kZetas[127] == 1628);

// mont^2 / 128 mod q: undoes the 1/128 of the inverse NTT and leaves the
// result in the Montgomery domain.
constexpr int16_t kInvNttFactor = 1441;
static_assert(static_cast<long>(kInvNttFactor) * 128 % kQ == static_cast<long>(65536 % kQ) * (65536 % kQ) % kQ);

// round(x * 2^d / q) mod 2^d for x in [0, q), by multiply-and-shift
// (floor(n / q) == (n * kDivQ) >> 48 for every n < 2^25).
constexpr uint64_t kDivQ = ((uint64_t{1} << 48) + kQ - 1) / kQ;
template <int D>
inline uint16_t Compress(int16_t x) {
  uint64_t n = (static_cast<uint64_t>(static_cast<uint16_t>(x)) << D) + kQ / 2;
  return static_cast<uint16_t>(((n * kDivQ) >> 48) & ((1u << D) - 1));
}
template <int D>
inline int16_t Decompress(uint16_t y) {
  return static_cast<int16_t>((static_cast<uint32_t>(y) * kQ + (1u << (D - 1))) >> D);
}

struct Poly {
  int16_t c[kN];
};
struct PolyVec {
  Poly p[kK];
};

void Ntt(Poly& a) {
  int16_t* r = a.c;
  int k = 1;
  for (int len = 128; len >= 2; len >>= 1) {
    for (int start = 0; start < kN; start += 2 * len) {
      int16_t zeta = kZetas[k++];
      for (int j = start; j < start + len; ++j) {
        int16_t t = FqMul(zeta, r[j + len]);
        r[j + len] = static_cast<int16_t>(r[j] - t);
        r[j] = static_cast<int16_t>(r[j] + t);
      }
    }
  }
  for (int i = 0; i < kN; ++i) r[i] = BarrettReduce(r[i]);
}

// Inverse NTT; the output is multiplied by 2^16 (undoing one Montgomery
// factor of the pointwise products).
void InvNttToMont(Poly& a) {
  int16_t* r = a.c;
  int k = 127;
  for (int len = 2; len <= 128; len <<= 1) {
    for (int start = 0; start < kN; start += 2 * len) {
      int16_t zeta = kZetas[k--];
      for (int j = start; j < start + len; ++j) {
        int16_t t = r[j];
        r[j] = BarrettReduce(static_cast<int16_t>(t + r[j + len]));
        r[j + len] = FqMul(zeta, static_cast<int16_t>(r[j + len] - t));
      }
    }
  }
  for (int j = 0; j < kN; ++j) r[j] = FqMul(r[j], kInvNttFactor);
}

// Products in the NTT domain are products of degree-1 polynomials mod
// X^2 - zeta_i. For a vector b that multiplies several rows, the odd
// coefficients times +-zeta_i are computed once (the "cache"); a row product
// then accumulates a0*b0 + a1*(b1*zeta) and a0*b1 + a1*b0 over the vector in
// int32 and reduces once.
struct PolyCache {
  int16_t c[kN / 2];
};
struct PolyVecCache {
  PolyCache p[kK];
};

void ComputeCache(const PolyVec& b, PolyVecCache& cache) {
  for (int k = 0; k < kK; ++k) {
    for (int i = 0; i < kN / 4; ++i) {
      int16_t zeta = kZetas[64 + i];
      cache.p[k].c[2 * i] = FqMul(b.p[k].c[4 * i + 1], zeta);
      cache.p[k].c[2 * i + 1] = FqMul(b.p[k].c[4 * i + 3], static_cast<int16_t>(-zeta));
    }
  }
}

// r = sum_k a[k] * b[k] (NTT domain), with a factor 2^-16, coefficients in
// (-q, q). Bounds: |a| < 2^12, |b| and the cache < q, so each of the 2 * kK
// products per sum is below 2^12 * q and the sum stays within the
// Montgomery input range |x| < q * 2^15.
void InnerProduct(Poly& r, const PolyVec& a, const PolyVec& b, const PolyVecCache& bc) {
  for (int j = 0; j < kN / 2; ++j) {
    int32_t even = 0, odd = 0;
    for (int k = 0; k < kK; ++k) {
      int32_t a0 = a.p[k].c[2 * j], a1 = a.p[k].c[2 * j + 1];
      int32_t b0 = b.p[k].c[2 * j], b1 = b.p[k].c[2 * j + 1];
      even += a0 * b0 + a1 * bc.p[k].c[j];
      odd += a0 * b1 + a1 * b0;
    }
    r.c[2 * j] = MontgomeryReduce(even);
    r.c[2 * j + 1] = MontgomeryReduce(odd);
  }
}

void ToMont(Poly& a) {
  constexpr int16_t f = static_cast<int16_t>((uint64_t{1} << 32) % kQ);
  for (int j = 0; j < kN; ++j) a.c[j] = MontgomeryReduce(static_cast<int32_t>(a.c[j]) * f);
}

void Add(Poly& r, const Poly& a) {
  for (int j = 0; j < kN; ++j) r.c[j] = static_cast<int16_t>(r.c[j] + a.c[j]);
}

void Reduce(Poly& a) {
  for (int j = 0; j < kN; ++j) a.c[j] = BarrettReduce(a.c[j]);
}

// ---- Encodings -------------------------------------------------------------

// ByteEncode12 of a reduced polynomial (coefficients in (-q, q)).
void EncodePoly12(const Poly& a, uint8_t* out) {
  for (int i = 0; i < kN / 2; ++i) {
    uint16_t t0 = static_cast<uint16_t>(CondAddQ(a.c[2 * i]));
    uint16_t t1 = static_cast<uint16_t>(CondAddQ(a.c[2 * i + 1]));
    out[3 * i] = static_cast<uint8_t>(t0);
    out[3 * i + 1] = static_cast<uint8_t>((t0 >> 8) | (t1 << 4));
    out[3 * i + 2] = static_cast<uint8_t>(t1 >> 4);
  }
}

// ByteDecode12: 12-bit values in [0, 4096) (not reduced mod q).
void DecodePoly12(const uint8_t* in, Poly& a) {
  for (int i = 0; i < kN / 2; ++i) {
    a.c[2 * i] = static_cast<int16_t>((in[3 * i] | (in[3 * i + 1] << 8)) & 0xFFF);
    a.c[2 * i + 1] = static_cast<int16_t>(((in[3 * i + 1] >> 4) | (in[3 * i + 2] << 4)) & 0xFFF);
  }
}

// Packs 256 D-bit values little-endian, least significant bit first.
template <int D>
void PackBits(const uint16_t* v, uint8_t* out) {
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < kN; ++i) {
    acc |= static_cast<uint32_t>(v[i]) << bits;
    bits += D;
    while (bits >= 8) {
      *out++ = static_cast<uint8_t>(acc);
      acc >>= 8;
      bits -= 8;
    }
  }
}

template <int D>
void UnpackBits(const uint8_t* in, uint16_t* v) {
  uint32_t acc = 0;
  int bits = 0;
  for (int i = 0; i < kN; ++i) {
    while (bits < D) {
      acc |= static_cast<uint32_t>(*in++) << bits;
      bits += 8;
    }
    v[i] = static_cast<uint16_t>(acc & ((1u << D) - 1));
    acc >>= D;
    bits -= D;
  }
}

template <int D>
void CompressPoly(const Poly& a, uint8_t* out) {
  uint16_t v[kN];
  for (int j = 0; j < kN; ++j) v[j] = Compress<D>(CondAddQ(a.c[j]));
  PackBits<D>(v, out);
  SecureWipe(v, sizeof(v));
}

template <int D>
void DecompressPoly(const uint8_t* in, Poly& a) {
  uint16_t v[kN];
  UnpackBits<D>(in, v);
  for (int j = 0; j < kN; ++j) a.c[j] = Decompress<D>(v[j]);
}

// Decompress_1(ByteDecode_1(m)): bit -> 0 or (q+1)/2, by mask.
void MessageToPoly(const uint8_t m[32], Poly& a) {
  for (int i = 0; i < 32; ++i) {
    for (int b = 0; b < 8; ++b) {
      int16_t mask = static_cast<int16_t>(-static_cast<int16_t>((m[i] >> b) & 1));
      a.c[8 * i + b] = static_cast<int16_t>(mask & ((kQ + 1) / 2));
    }
  }
}

void PolyToMessage(const Poly& a, uint8_t m[32]) {
  for (int i = 0; i < 32; ++i) {
    uint8_t byte = 0;
    for (int b = 0; b < 8; ++b) {
      byte = static_cast<uint8_t>(byte | (Compress<1>(CondAddQ(a.c[8 * i + b])) << b));
    }
    m[i] = byte;
  }
}

// ---- Sampling --------------------------------------------------------------

// SampleNTT: rejection sampling from SHAKE128(rho || j || i) (public data).
void SampleNtt(const uint8_t rho[32], uint8_t j, uint8_t i, Poly& a) {
  Shake128 xof;
  uint8_t seed[34];
  std::memcpy(seed, rho, 32);
  seed[32] = j;
  seed[33] = i;
  xof.Absorb(seed);
  uint8_t buf[168 * 3];
  xof.Squeeze(buf);
  // Candidates are written unconditionally and kept by advancing the count
  // (no data-dependent branch to mispredict); two slots of slack take the
  // writes past the end.
  int16_t out[kN + 2];
  size_t len = sizeof(buf);
  int ctr = 0;
  for (;;) {
    for (size_t pos = 0; pos + 3 <= len && ctr < kN; pos += 3) {
      uint16_t d1 = static_cast<uint16_t>((buf[pos] | (buf[pos + 1] << 8)) & 0xFFF);
      uint16_t d2 = static_cast<uint16_t>((buf[pos + 1] >> 4) | (buf[pos + 2] << 4));
      out[ctr] = static_cast<int16_t>(d1);
      ctr += d1 < kQ;
      out[ctr] = static_cast<int16_t>(d2);
      ctr += d2 < kQ;
    }
    if (ctr >= kN) break;
    xof.Squeeze(std::span<uint8_t>(buf, 168));
    len = 168;
  }
  std::memcpy(a.c, out, sizeof(a.c));
}

// The matrix A-hat (transposed when `transpose`): A[i][j] = SampleNTT(rho||j||i).
void GenerateMatrix(const uint8_t rho[32], bool transpose, PolyVec a[kK]) {
  for (int i = 0; i < kK; ++i) {
    for (int j = 0; j < kK; ++j) {
      if (transpose) {
        SampleNtt(rho, static_cast<uint8_t>(i), static_cast<uint8_t>(j), a[i].p[j]);
      } else {
        SampleNtt(rho, static_cast<uint8_t>(j), static_cast<uint8_t>(i), a[i].p[j]);
      }
    }
  }
}

// SamplePolyCBD_2(PRF_2(sigma, nonce)).
void SampleCbd2(const uint8_t sigma[32], uint8_t nonce, Poly& a) {
  uint8_t in[33];
  std::memcpy(in, sigma, 32);
  in[32] = nonce;
  uint8_t buf[64 * kEta];
  Shake256Hash(in, buf);
  for (int i = 0; i < kN / 8; ++i) {
    uint32_t t = static_cast<uint32_t>(buf[4 * i]) | (static_cast<uint32_t>(buf[4 * i + 1]) << 8) |
                 (static_cast<uint32_t>(buf[4 * i + 2]) << 16) | (static_cast<uint32_t>(buf[4 * i + 3]) << 24);
    uint32_t d = (t & 0x55555555u) + ((t >> 1) & 0x55555555u);
    for (int j = 0; j < 8; ++j) {
      int16_t x = static_cast<int16_t>((d >> (4 * j)) & 3);
      int16_t y = static_cast<int16_t>((d >> (4 * j + 2)) & 3);
      a.c[8 * i + j] = static_cast<int16_t>(x - y);
    }
  }
  SecureWipe(in, sizeof(in));
  SecureWipe(buf, sizeof(buf));
}

// ---- K-PKE -----------------------------------------------------------------

// Wipes a value on scope exit.
template <typename T>
struct Wiper {
  T& v;
  ~Wiper() { SecureWipe(&v, sizeof(T)); }
};

// K-PKE.KeyGen(d): writes ek (1568 bytes) and dk_pke (1536 bytes).
void PkeKeyGen(const uint8_t d[32], uint8_t* ek, uint8_t* dk_pke) {
  uint8_t seed_in[33];
  std::memcpy(seed_in, d, 32);
  seed_in[32] = kK;
  std::array<uint8_t, 64> rho_sigma = Sha3_512(seed_in);
  const uint8_t* rho = rho_sigma.data();
  const uint8_t* sigma = rho_sigma.data() + 32;

  PolyVec a[kK];
  GenerateMatrix(rho, /*transpose=*/false, a);
  PolyVec s, e, t;
  Wiper<PolyVec> ws{s}, we{e};
  uint8_t nonce = 0;
  for (int i = 0; i < kK; ++i) SampleCbd2(sigma, nonce++, s.p[i]);
  for (int i = 0; i < kK; ++i) SampleCbd2(sigma, nonce++, e.p[i]);
  for (int i = 0; i < kK; ++i) Ntt(s.p[i]);
  for (int i = 0; i < kK; ++i) Ntt(e.p[i]);
  PolyVecCache s_cache;
  Wiper<PolyVecCache> wsc{s_cache};
  ComputeCache(s, s_cache);
  for (int i = 0; i < kK; ++i) {
    InnerProduct(t.p[i], a[i], s, s_cache);
    ToMont(t.p[i]);
    Add(t.p[i], e.p[i]);
    Reduce(t.p[i]);
  }
  for (int i = 0; i < kK; ++i) EncodePoly12(t.p[i], ek + i * kPolyBytes);
  std::memcpy(ek + kPolyVecBytes, rho, 32);
  for (int i = 0; i < kK; ++i) EncodePoly12(s.p[i], dk_pke + i * kPolyBytes);
  SecureWipe(seed_in, sizeof(seed_in));
  SecureWipe(rho_sigma.data(), rho_sigma.size());
}

// K-PKE.Encrypt(ek, m, r): ek must have passed the modulus check.
void PkeEncrypt(const uint8_t* ek, const uint8_t m[32], const uint8_t r[32], uint8_t* ct) {
  PolyVec t, at[kK];
  for (int i = 0; i < kK; ++i) DecodePoly12(ek + i * kPolyBytes, t.p[i]);
  const uint8_t* rho = ek + kPolyVecBytes;
  GenerateMatrix(rho, /*transpose=*/true, at);

  PolyVec y, e1, u;
  Poly e2, k, v;
  Wiper<PolyVec> wy{y}, we1{e1}, wu{u};
  Wiper<Poly> we2{e2}, wk{k}, wv{v};
  uint8_t nonce = 0;
  for (int i = 0; i < kK; ++i) SampleCbd2(r, nonce++, y.p[i]);
  for (int i = 0; i < kK; ++i) SampleCbd2(r, nonce++, e1.p[i]);
  SampleCbd2(r, nonce++, e2);
  for (int i = 0; i < kK; ++i) Ntt(y.p[i]);
  PolyVecCache y_cache;
  Wiper<PolyVecCache> wyc{y_cache};
  ComputeCache(y, y_cache);

  for (int i = 0; i < kK; ++i) {
    InnerProduct(u.p[i], at[i], y, y_cache);
    InvNttToMont(u.p[i]);
    Add(u.p[i], e1.p[i]);
    Reduce(u.p[i]);
  }
  InnerProduct(v, t, y, y_cache);
  InvNttToMont(v);
  MessageToPoly(m, k);
  Add(v, e2);
  Add(v, k);
  Reduce(v);

  for (int i = 0; i < kK; ++i) CompressPoly<kDu>(u.p[i], ct + i * (kN * kDu / 8));
  CompressPoly<kDv>(v, ct + kC1Bytes);
}

// K-PKE.Decrypt(dk_pke, c): writes the 32-byte message.
void PkeDecrypt(const uint8_t* dk_pke, const uint8_t* ct, uint8_t m[32]) {
  PolyVec u, s;
  Poly v, w;
  Wiper<PolyVec> ws{s};
  Wiper<Poly> ww{w};
  for (int i = 0; i < kK; ++i) DecompressPoly<kDu>(ct + i * (kN * kDu / 8), u.p[i]);
  DecompressPoly<kDv>(ct + kC1Bytes, v);
  for (int i = 0; i < kK; ++i) DecodePoly12(dk_pke + i * kPolyBytes, s.p[i]);
  for (int i = 0; i < kK; ++i) Ntt(u.p[i]);
  PolyVecCache u_cache;
  ComputeCache(u, u_cache);
  InnerProduct(w, s, u, u_cache);
  InvNttToMont(w);
  for (int j = 0; j < kN; ++j) w.c[j] = static_cast<int16_t>(v.c[j] - w.c[j]);
  Reduce(w);
  PolyToMessage(w, m);
}

Status CheckLength(const char* what, ByteView b, size_t want) {
  if (b.size() != want) {
    return Status::InvalidArgument(std::string("ml-kem-1024: ") + what + " is " + std::to_string(b.size()) +
                                   " bytes, expected " + std::to_string(want));
  }
  return Status::Ok();
}

// 0xFF when a != b (n bytes), 0x00 otherwise, without branching on the data.
uint8_t DiffMask(const uint8_t* a, const uint8_t* b, size_t n) {
  uint32_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= static_cast<uint32_t>(a[i] ^ b[i]);
  // acc in [0, 255]: (0 - acc) >> 31 is 1 exactly when acc != 0.
  uint32_t nonzero = (0u - acc) >> 31;
  return static_cast<uint8_t>(0u - nonzero);
}

}  // namespace

Status MlKem1024CheckEncapsKey(ByteView ek) {
  DSMIL_RETURN_IF_ERROR(CheckLength("encapsulation key", ek, kEkBytes));
  Poly a;
  for (int i = 0; i < kK; ++i) {
    DecodePoly12(ek.data() + i * kPolyBytes, a);
    for (int j = 0; j < kN; ++j) {
      if (a.c[j] >= kQ) {
        return Status::InvalidArgument("ml-kem-1024: encapsulation key fails the modulus check: coefficient " +
                                       std::to_string(i * kN + j) + " is " + std::to_string(a.c[j]) + " (>= q = 3329)");
      }
    }
  }
  return Status::Ok();
}

// The §7.3 hash check alone (what Decaps runs on every call).
static Status CheckDecapsKeyHash(ByteView dk) {
  DSMIL_RETURN_IF_ERROR(CheckLength("decapsulation key", dk, kDkBytes));
  ByteView ek = dk.subspan(kDkPkeBytes, kEkBytes);
  ByteView h = dk.subspan(kDkPkeBytes + kEkBytes, 32);
  std::array<uint8_t, 32> hek = Sha3_256(ek);
  if (DiffMask(hek.data(), h.data(), 32) != 0) {
    return Status::InvalidArgument(
        "ml-kem-1024: decapsulation key fails the hash check: H(ek) does not match the stored "
        "hash");
  }
  return Status::Ok();
}

Status MlKem1024CheckDecapsKey(ByteView dk) {
  DSMIL_RETURN_IF_ERROR(CheckDecapsKeyHash(dk));
  return MlKem1024CheckEncapsKey(dk.subspan(kDkPkeBytes, kEkBytes)).WithContext("inside the decapsulation key");
}

Result<MlKem1024KeyPair> MlKem1024KeyGenInternal(ByteView d, ByteView z) {
  DSMIL_RETURN_IF_ERROR(CheckLength("seed d", d, kMlKemSeedBytes));
  DSMIL_RETURN_IF_ERROR(CheckLength("seed z", z, kMlKemSeedBytes));
  MlKem1024KeyPair kp;
  kp.ek.resize(kEkBytes);
  kp.dk.resize(kDkBytes);
  uint8_t* dk = kp.dk.data();
  PkeKeyGen(d.data(), kp.ek.data(), dk);
  std::memcpy(dk + kDkPkeBytes, kp.ek.data(), kEkBytes);
  std::array<uint8_t, 32> h = Sha3_256(kp.ek);
  std::memcpy(dk + kDkPkeBytes + kEkBytes, h.data(), 32);
  std::memcpy(dk + kDkPkeBytes + kEkBytes + 32, z.data(), 32);
  return kp;
}

Result<MlKem1024KeyPair> MlKem1024KeyGen() {
  uint8_t seeds[64];
  DSMIL_RETURN_IF_ERROR(RandomBytes(seeds));
  auto kp = MlKem1024KeyGenInternal(ByteView(seeds, 32), ByteView(seeds + 32, 32));
  SecureWipe(seeds, sizeof(seeds));
  return kp;
}

Result<MlKemEncapsulation> MlKem1024EncapsInternal(ByteView ek, ByteView m) {
  DSMIL_RETURN_IF_ERROR(CheckLength("message m", m, kMlKemSeedBytes));
  DSMIL_RETURN_IF_ERROR(MlKem1024CheckEncapsKey(ek));
  uint8_t g_in[64];
  std::memcpy(g_in, m.data(), 32);
  std::array<uint8_t, 32> h = Sha3_256(ek);
  std::memcpy(g_in + 32, h.data(), 32);
  std::array<uint8_t, 64> kr = Sha3_512(g_in);
  MlKemEncapsulation out;
  out.ciphertext.resize(kCtBytes);
  PkeEncrypt(ek.data(), m.data(), kr.data() + 32, out.ciphertext.data());
  out.shared_secret.assign(kr.begin(), kr.begin() + 32);
  SecureWipe(g_in, sizeof(g_in));
  SecureWipe(kr.data(), kr.size());
  return out;
}

Result<MlKemEncapsulation> MlKem1024Encaps(ByteView ek) {
  uint8_t m[32];
  DSMIL_RETURN_IF_ERROR(RandomBytes(m));
  auto r = MlKem1024EncapsInternal(ek, ByteView(m, 32));
  SecureWipe(m, sizeof(m));
  return r;
}

Result<SecretBytes> MlKem1024Decaps(ByteView dk, ByteView ciphertext) {
  DSMIL_RETURN_IF_ERROR(CheckLength("ciphertext", ciphertext, kCtBytes));
  // FIPS 203 §7.3 asks for the hash check only; an embedded ek with 12-bit
  // values >= q stays within the arithmetic's bounds (see InnerProduct).
  DSMIL_RETURN_IF_ERROR(CheckDecapsKeyHash(dk));
  const uint8_t* dk_pke = dk.data();
  const uint8_t* ek = dk.data() + kDkPkeBytes;
  const uint8_t* h = ek + kEkBytes;
  const uint8_t* z = h + 32;

  uint8_t g_in[64];
  PkeDecrypt(dk_pke, ciphertext.data(), g_in);  // m'
  std::memcpy(g_in + 32, h, 32);
  std::array<uint8_t, 64> kr = Sha3_512(g_in);  // K' || r'

  // K-bar = J(z || c).
  uint8_t k_bar[32];
  Shake256 j;
  j.Absorb(ByteView(z, 32));
  j.Absorb(ciphertext);
  j.Squeeze(k_bar);

  uint8_t ct2[kCtBytes];
  PkeEncrypt(ek, g_in, kr.data() + 32, ct2);
  uint8_t mask = DiffMask(ct2, ciphertext.data(), kCtBytes);

  SecretBytes key(32);
  for (int i = 0; i < 32; ++i) {
    key[i] = static_cast<uint8_t>(kr[i] ^ (mask & (kr[i] ^ k_bar[i])));
  }
  SecureWipe(g_in, sizeof(g_in));
  SecureWipe(kr.data(), kr.size());
  SecureWipe(k_bar, sizeof(k_bar));
  SecureWipe(ct2, sizeof(ct2));
  return key;
}

Result<Bytes> MlKem1024EncapsKeyFromDecapsKey(ByteView dk) {
  DSMIL_RETURN_IF_ERROR(MlKem1024CheckDecapsKey(dk));
  ByteView ek = dk.subspan(kDkPkeBytes, kEkBytes);
  return Bytes(ek.begin(), ek.end());
}

}  // namespace dsmil::crypto
