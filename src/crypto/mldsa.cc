// ML-DSA-87 (FIPS 204).
//
// Arithmetic: coefficients are int32 modulo q = 8380417. Multiplication uses
// the number-theoretic transform with Montgomery reduction (R = 2^32); the
// twiddle factors are computed at compile time from the primitive 512-th root
// of unity zeta = 1753 (FIPS 204 §7.5, Appendix B).
//
// Constant-time discipline. In KeyGen and Sign, no branch condition and no
// memory index depends on secret data (K, s1, s2, t0, rnd, y), with these
// documented exceptions, each released through Declassify() so that the
// valgrind-based constant-time test (tests/ct/mldsa_ct.cc) accepts them:
//   * the outcome of each rejection check of the signing loop (the z bound, the
//     r0 bound, the ct0 bound, the hint count). Only the accept/reject bit is
//     released, never the values it was computed from; whether an attempt was
//     rejected is visible from the signing time anyway and is the leakage that
//     FIPS 204 implementations are accepted to have;
//   * the challenge c~ = H(mu || w1Encode(w1)): it is part of the signature.
//     For a rejected attempt it is a hash of w1 only; SampleInBall branches on
//     the SHAKE256 stream derived from it;
//   * z and h of the accepted attempt, which are the signature itself;
//   * the single "secret key is malformed" bit of skDecode;
//   * in KeyGen: rho and the finished public key (both published), and the
//     accept bit of each nibble in ExpandS's rejection sampling. A nibble is
//     discarded exactly when it equals 15; where the 15s fall in the SHAKE256
//     stream is independent of the accepted nibbles, so it reveals nothing
//     about s1 or s2.
#include "crypto/mldsa.h"

#include <openssl/crypto.h>

#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

#include "crypto/sha3.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define DSMIL_MLDSA_HAVE_VALGRIND 1
#endif
#endif

namespace dsmil::crypto {
namespace {

// Marks bytes that were computed from secrets as public (see file comment).
// A no-op unless running under valgrind memcheck.
inline void Declassify(const void* p, size_t n) {
#ifdef DSMIL_MLDSA_HAVE_VALGRIND
  (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
#else
  (void)p;
  (void)n;
#endif
}

// ---- Parameters of ML-DSA-87 (FIPS 204 Table 1) ----
constexpr int32_t kQ = 8380417;
constexpr int kN = 256;
constexpr int kK = 8;
constexpr int kL = 7;
constexpr int kEta = 2;
constexpr int kTau = 60;
constexpr int32_t kBeta = 120;  // tau * eta
constexpr int kOmega = 75;
constexpr int kD = 13;
constexpr int32_t kGamma1 = 1 << 19;
constexpr int32_t kGamma2 = (kQ - 1) / 32;
constexpr size_t kCTildeBytes = 64;  // lambda / 4
constexpr size_t kTrBytes = 64;
constexpr size_t kPolyT1Bytes = 320;    // 10 bits
constexpr size_t kPolyEtaBytes = 96;    // 3 bits
constexpr size_t kPolyT0Bytes = 416;    // 13 bits
constexpr size_t kPolyZBytes = 640;     // 20 bits
constexpr size_t kPolyW1Bytes = 128;    // 4 bits
constexpr int kMaxSignAttempts = 1000;  // expected ~3.85; 1000 is never reached

static_assert(32 + kK * kPolyT1Bytes == kMlDsa87PublicKeyBytes);
static_assert(32 + 32 + kTrBytes + (kK + kL) * kPolyEtaBytes + kK * kPolyT0Bytes == kMlDsa87SecretKeyBytes);
static_assert(kCTildeBytes + kL * kPolyZBytes + kOmega + kK == kMlDsa87SignatureBytes);

using Poly = std::array<int32_t, kN>;
using VecL = std::array<Poly, kL>;
using VecK = std::array<Poly, kK>;
using Matrix = std::array<VecL, kK>;  // A-hat, row i = K index

// ---- Modular arithmetic ----

// q^-1 mod 2^32 by Newton iteration.
constexpr uint32_t ComputeQInv() {
  uint32_t x = 1;
  for (int i = 0; i < 5; ++i) x *= 2u - uint32_t(kQ) * x;
  return x;
}
constexpr uint32_t kQInv = ComputeQInv();
static_assert(uint32_t(kQ) * kQInv == 1u);

constexpr int64_t PowMod(int64_t base, int64_t exp) {
  int64_t r = 1;
  base %= kQ;
  while (exp > 0) {
    if (exp & 1) r = r * base % kQ;
    base = base * base % kQ;
    exp >>= 1;
  }
  return r;
}

constexpr int64_t kMont = (int64_t(1) << 32) % kQ;  // R mod q

constexpr int BitRev8(int x) {
  int r = 0;
  for (int i = 0; i < 8; ++i) r |= ((x >> i) & 1) << (7 - i);
  return r;
}

// zetas[i] = zeta^BitRev8(i) * R mod q, centred.
constexpr std::array<int32_t, kN> MakeZetas() {
  std::array<int32_t, kN> z{};
  for (int i = 0; i < kN; ++i) {
    int64_t v = PowMod(1753, BitRev8(i)) * kMont % kQ;
    if (v > kQ / 2) v -= kQ;
    z[i] = int32_t(v);
  }
  return z;
}
constexpr std::array<int32_t, kN> kZetas = MakeZetas();
static_assert(PowMod(1753, 256) == kQ - 1, "1753 is a primitive 512-th root of unity");

// R^2 / 256 mod q: the final scaling of the inverse NTT (leaves a factor R,
// which cancels the R^-1 of one Montgomery product).
constexpr int32_t kInvNttScale = int32_t(kMont * kMont % kQ * PowMod(256, kQ - 2) % kQ);

// Returns a * R^-1 mod q in (-q, q), for |a| < 2^31 * q.
inline int32_t MontgomeryReduce(int64_t a) {
  int32_t t = int32_t(uint32_t(uint64_t(a)) * kQInv);
  return int32_t((a - int64_t(t) * kQ) >> 32);
}
inline int32_t MontMul(int32_t a, int32_t b) { return MontgomeryReduce(int64_t(a) * b); }

// Returns r = a mod q with |r| <= 6283008, for a <= 2^31 - 2^22 - 1.
inline int32_t Reduce32(int32_t a) {
  int32_t t = (a + (1 << 22)) >> 23;
  return a - t * kQ;
}
// Adds q when a is negative.
inline int32_t CAddQ(int32_t a) { return a + ((a >> 31) & kQ); }
// Standard representative in [0, q).
inline int32_t Freeze(int32_t a) { return CAddQ(Reduce32(a)); }

// ---- Polynomials ----

void Ntt(Poly& a) {
  int k = 0;
  for (int len = 128; len > 0; len >>= 1) {
    for (int start = 0; start < kN; start += 2 * len) {
      const int32_t zeta = kZetas[++k];
      for (int j = start; j < start + len; ++j) {
        int32_t t = MontMul(zeta, a[j + len]);
        a[j + len] = a[j] - t;
        a[j] = a[j] + t;
      }
    }
  }
}

// Inverse NTT, output multiplied by R. Input |a| < q; output |a| < q.
void InvNttToMont(Poly& a) {
  int k = kN;
  for (int len = 1; len < kN; len <<= 1) {
    for (int start = 0; start < kN; start += 2 * len) {
      const int32_t zeta = -kZetas[--k];
      for (int j = start; j < start + len; ++j) {
        int32_t t = a[j];
        a[j] = t + a[j + len];
        a[j + len] = MontMul(zeta, t - a[j + len]);
      }
    }
  }
  for (auto& x : a) x = MontMul(kInvNttScale, x);
}

void PolyReduce(Poly& a) {
  for (auto& x : a) x = Reduce32(x);
}
void PolyFreeze(Poly& a) {
  for (auto& x : a) x = Freeze(x);
}
void PolyPointwise(Poly& out, const Poly& a, const Poly& b) {
  for (int i = 0; i < kN; ++i) out[i] = MontMul(a[i], b[i]);
}
void PolyPointwiseAcc(Poly& out, const Poly& a, const Poly& b) {
  for (int i = 0; i < kN; ++i) out[i] += MontMul(a[i], b[i]);
}

// The challenge c (tau coefficients +-1) as its non-zero positions. Public:
// derived from c~, which the signature carries.
struct Challenge {
  uint8_t pos[kTau];
  bool negative[kTau];
};

Challenge ChallengeFromPoly(const Poly& c) {
  Challenge ch{};
  int k = 0;
  for (int i = 0; i < kN && k < kTau; ++i) {
    if (c[i] != 0) {
      ch.pos[k] = uint8_t(i);
      ch.negative[k] = c[i] < 0;
      ++k;
    }
  }
  return ch;
}

// out = c * a in Z[x]/(x^256 + 1), computed exactly (no reduction mod q):
// the sum of tau signed rotations of a. |out| <= tau * max|a|, so callers pass
// a with tau * max|a| < 2^31. Branches and indices depend only on c (public).
void AddRow(int32_t* __restrict out, const int32_t* __restrict src) {
  for (int i = 0; i < kN; ++i) out[i] += src[i];
}
void SubRow(int32_t* __restrict out, const int32_t* __restrict src) {
  for (int i = 0; i < kN; ++i) out[i] -= src[i];
}

void MulChallenge(Poly& out, const Challenge& c, const Poly& a) {
  // ext = (-a, a): x^p * a is then the contiguous window ext[256 - p, 512 - p).
  int32_t ext[2 * kN];
  for (int i = 0; i < kN; ++i) {
    ext[i] = -a[i];
    ext[kN + i] = a[i];
  }
  out.fill(0);
  for (int k = 0; k < kTau; ++k) {
    const int32_t* window = ext + kN - c.pos[k];
    if (c.negative[k]) {
      SubRow(out.data(), window);
    } else {
      AddRow(out.data(), window);
    }
  }
  OPENSSL_cleanse(ext, sizeof(ext));
}

// Returns a non-zero value when some |a[i]| >= bound (a reduced, bound < q/8).
// Branch-free.
uint32_t ExceedsBound(const Poly& a, int32_t bound) {
  uint32_t bad = 0;
  for (int32_t x : a) {
    int32_t m = x >> 31;
    int32_t abs = x - (m & (2 * x));
    bad |= uint32_t(bound - 1 - abs) >> 31;
  }
  return bad;
}

// FIPS 204 Decompose for gamma2 = (q-1)/32, a in [0, q): returns r1 in [0, 15]
// and sets r0 with a = r1 * 2*gamma2 + r0 (mod q). Branch-free.
constexpr uint64_t kDecomposeMul = ((uint64_t(1) << 48) + 2 * kGamma2 - 1) / (2 * kGamma2);
inline int32_t Decompose(int32_t a, int32_t* r0) {
  // floor((a + gamma2 - 1) / (2 gamma2)) by multiply and shift (exact for a < 2^24).
  uint32_t r1 = uint32_t((uint64_t(uint32_t(a + kGamma2 - 1)) * kDecomposeMul) >> 48);
  int32_t low = a - int32_t(r1) * 2 * kGamma2;
  uint32_t wrap = r1 >> 4;  // r1 == 16: a is within gamma2 of q-1 (the r+ - r0 = q-1 case)
  *r0 = low - int32_t(wrap);
  return int32_t(r1 & 15);
}
inline int32_t HighBits(int32_t a) {
  int32_t r0;
  return Decompose(a, &r0);
}

// UseHint (verification only: public data).
inline int32_t UseHint(int32_t a, bool hint) {
  int32_t r0;
  int32_t r1 = Decompose(a, &r0);
  if (!hint) return r1;
  return r0 > 0 ? (r1 + 1) & 15 : (r1 - 1) & 15;
}

// ---- Bit packing: 256 coefficients, `bits` each, little-endian bit order ----

// value_i = base - a[i] when `offset`, else a[i].
void PackPoly(const Poly& a, int bits, bool offset, int32_t base, uint8_t* out) {
  uint64_t acc = 0;
  int nacc = 0;
  size_t o = 0;
  for (int i = 0; i < kN; ++i) {
    uint32_t v = uint32_t(offset ? base - a[i] : a[i]) & ((1u << bits) - 1);
    acc |= uint64_t(v) << nacc;
    nacc += bits;
    while (nacc >= 8) {
      out[o++] = uint8_t(acc);
      acc >>= 8;
      nacc -= 8;
    }
  }
}

// Inverse of PackPoly. Returns the OR of (value > max_value) flags over all
// coefficients (0 = every value in range); branch-free in the data.
uint32_t UnpackPoly(const uint8_t* in, int bits, bool offset, int32_t base, uint32_t max_value, Poly& a) {
  uint64_t acc = 0;
  int nacc = 0;
  size_t pos = 0;
  uint32_t bad = 0;
  const uint32_t mask = (1u << bits) - 1;
  for (int i = 0; i < kN; ++i) {
    while (nacc < bits) {
      acc |= uint64_t(in[pos++]) << nacc;
      nacc += 8;
    }
    uint32_t v = uint32_t(acc) & mask;
    acc >>= bits;
    nacc -= bits;
    bad |= (max_value - v) >> 31;
    a[i] = offset ? base - int32_t(v) : int32_t(v);
  }
  return bad;
}

// ---- Hashing and sampling ----

template <size_t N>
void Shake256Parts(std::initializer_list<ByteView> parts, uint8_t (&out)[N]) {
  Shake256 h;
  for (ByteView p : parts) h.Absorb(p);
  h.Squeeze(std::span<uint8_t>(out, N));
}

// RejNTTPoly(rho || s || r): uniform coefficients in [0, q) from SHAKE128.
void RejNttPoly(Poly& a, const uint8_t rho[32], uint8_t s, uint8_t r) {
  Shake128 g;
  uint8_t suffix[2] = {s, r};
  g.Absorb(ByteView(rho, 32));
  g.Absorb(ByteView(suffix, 2));
  uint8_t buf[168];
  int n = 0;
  while (n < kN) {
    g.Squeeze(std::span<uint8_t>(buf, sizeof(buf)));
    for (size_t i = 0; i + 3 <= sizeof(buf) && n < kN; i += 3) {
      int32_t v = int32_t(buf[i]) | (int32_t(buf[i + 1]) << 8) | (int32_t(buf[i + 2] & 0x7F) << 16);
      if (v < kQ) a[n++] = v;
    }
  }
}

void ExpandA(Matrix& a, const uint8_t rho[32]) {
  for (int i = 0; i < kK; ++i)
    for (int j = 0; j < kL; ++j) RejNttPoly(a[i][j], rho, uint8_t(j), uint8_t(i));
}

// RejBoundedPoly(rho' || IntegerToBytes(index, 2)) for eta = 2.
void RejBoundedPoly(Poly& a, const uint8_t rho_prime[64], uint16_t index) {
  Shake256 h;
  uint8_t suffix[2] = {uint8_t(index), uint8_t(index >> 8)};
  h.Absorb(ByteView(rho_prime, 64));
  h.Absorb(ByteView(suffix, 2));
  uint8_t buf[136];
  int n = 0;
  while (n < kN) {
    h.Squeeze(std::span<uint8_t>(buf, sizeof(buf)));
    for (size_t i = 0; i < sizeof(buf) && n < kN; ++i) {
      uint32_t z[2] = {uint32_t(buf[i] & 15), uint32_t(buf[i] >> 4)};
      for (uint32_t v : z) {
        uint32_t accept = (v - 15) >> 31;     // v < 15
        Declassify(&accept, sizeof(accept));  // which nibbles are discarded (see top)
        if (accept && n < kN) {
          uint32_t mod5 = v - 5 * ((v * 205) >> 10);  // v mod 5 for v < 15
          a[n++] = kEta - int32_t(mod5);
        }
      }
    }
  }
  OPENSSL_cleanse(buf, sizeof(buf));
}

// ExpandMask(rho'', kappa): y with coefficients in (-gamma1, gamma1].
void ExpandMask(VecL& y, const uint8_t rho2[64], int kappa) {
  uint8_t buf[kPolyZBytes];
  for (int r = 0; r < kL; ++r) {
    uint16_t index = uint16_t(kappa + r);
    uint8_t suffix[2] = {uint8_t(index), uint8_t(index >> 8)};
    Shake256 h;
    h.Absorb(ByteView(rho2, 64));
    h.Absorb(ByteView(suffix, 2));
    h.Squeeze(std::span<uint8_t>(buf, sizeof(buf)));
    (void)UnpackPoly(buf, 20, true, kGamma1, (1u << 20) - 1, y[r]);
  }
  OPENSSL_cleanse(buf, sizeof(buf));
}

// SampleInBall(c~): tau coefficients +-1, the rest 0. c~ is public.
void SampleInBall(Poly& c, const uint8_t* c_tilde) {
  Shake256 h;
  h.Absorb(ByteView(c_tilde, kCTildeBytes));
  uint8_t buf[136];
  h.Squeeze(std::span<uint8_t>(buf, sizeof(buf)));
  uint64_t signs = 0;
  for (int i = 0; i < 8; ++i) signs |= uint64_t(buf[i]) << (8 * i);
  size_t pos = 8;
  c.fill(0);
  for (int i = kN - kTau; i < kN; ++i) {
    int j;
    do {
      if (pos == sizeof(buf)) {
        h.Squeeze(std::span<uint8_t>(buf, sizeof(buf)));
        pos = 0;
      }
      j = buf[pos++];
    } while (j > i);
    c[i] = c[j];
    c[j] = 1 - 2 * int32_t(signs & 1);
    signs >>= 1;
  }
}

void EncodeW1(const VecK& w1, uint8_t out[kK * kPolyW1Bytes]) {
  for (int i = 0; i < kK; ++i) PackPoly(w1[i], 4, false, 0, out + i * kPolyW1Bytes);
}

// ---- Keys ----

struct SecretKey {
  uint8_t rho[32];
  uint8_t key[32];
  uint8_t tr[kTrBytes];
  VecL s1;
  VecK s2;
  VecK t0;
};

// skDecode. Returns false when an s1/s2 coefficient is out of [-eta, eta].
bool DecodeSecretKey(ByteView sk, SecretKey& out) {
  const uint8_t* p = sk.data();
  std::memcpy(out.rho, p, 32);
  std::memcpy(out.key, p + 32, 32);
  std::memcpy(out.tr, p + 64, kTrBytes);
  p += 128;
  uint32_t bad = 0;
  for (int i = 0; i < kL; ++i, p += kPolyEtaBytes) bad |= UnpackPoly(p, 3, true, kEta, 2 * kEta, out.s1[i]);
  for (int i = 0; i < kK; ++i, p += kPolyEtaBytes) bad |= UnpackPoly(p, 3, true, kEta, 2 * kEta, out.s2[i]);
  for (int i = 0; i < kK; ++i, p += kPolyT0Bytes)
    (void)UnpackPoly(p, 13, true, 1 << (kD - 1), (1u << 13) - 1, out.t0[i]);
  Declassify(&bad, sizeof(bad));
  return bad == 0;
}

struct KeyGenWork {
  Matrix a;
  VecL s1, s1_hat;
  VecK s2, t, t1, t0;
  uint8_t seed_out[128];
};

// HintBitUnpack. Returns false on a malformed encoding (FIPS 204 Alg. 21).
bool DecodeHint(const uint8_t* y, std::array<std::array<uint8_t, kN>, kK>& h) {
  for (auto& row : h) row.fill(0);
  int index = 0;
  for (int i = 0; i < kK; ++i) {
    int end = y[kOmega + i];
    if (end < index || end > kOmega) return false;
    int first = index;
    while (index < end) {
      if (index > first && y[index - 1] >= y[index]) return false;
      h[i][y[index]] = 1;
      ++index;
    }
  }
  for (int i = index; i < kOmega; ++i)
    if (y[i] != 0) return false;
  return true;
}

// M' = prefix || context || message, hashed without copying the message. The
// pure interface uses prefix = 0x00 || len(ctx); the internal one passes M' as
// `message` alone.
struct MessagePrime {
  ByteView prefix;
  ByteView context;
  ByteView message;
};

Status CheckContextLength(ByteView context) {
  if (context.size() > kMlDsaMaxContextBytes)
    return Status::InvalidArgument("ml-dsa: context is " + std::to_string(context.size()) +
                                   " bytes, at most 255 allowed");
  return Status::Ok();
}

// ---- Signing ----

struct SignWork {
  SecretKey sk;
  Matrix a;
  VecL y, y_hat, z;
  VecK w, w1, cs2, ct0;
  Poly c;
  std::array<std::array<uint8_t, kN>, kK> h;
  uint8_t rho2[64];
  uint8_t w1_packed[kK * kPolyW1Bytes];
  uint8_t c_tilde[kCTildeBytes];
};

Status CheckSecretKeyLength(ByteView sk) {
  if (sk.size() != kMlDsa87SecretKeyBytes)
    return Status::InvalidArgument("ml-dsa-87: secret key is " + std::to_string(sk.size()) + " bytes, expected " +
                                   std::to_string(kMlDsa87SecretKeyBytes));
  return Status::Ok();
}

// Sign_internal from mu (mu == nullptr: compute it from tr and m_prime).
Result<Bytes> SignImpl(ByteView secret_key, const uint8_t* mu_in, const MessagePrime& m_prime, const uint8_t rnd[32]) {
  DSMIL_RETURN_IF_ERROR(CheckSecretKeyLength(secret_key));
  auto work = std::make_unique<SignWork>();
  SignWork& s = *work;
  struct Wipe {
    SignWork* w;
    ~Wipe() { OPENSSL_cleanse(w, sizeof(*w)); }
  } wipe{work.get()};

  if (!DecodeSecretKey(secret_key, s.sk))
    return Status::InvalidArgument("ml-dsa-87: secret key is malformed: an s1/s2 coefficient is outside [-2, 2]");

  uint8_t mu[kMlDsa87MuBytes];
  if (mu_in != nullptr) {
    std::memcpy(mu, mu_in, sizeof(mu));
  } else {
    Shake256Parts({ByteView(s.sk.tr, kTrBytes), m_prime.prefix, m_prime.context, m_prime.message}, mu);
  }
  Shake256Parts({ByteView(s.sk.key, 32), ByteView(rnd, 32), ByteView(mu, sizeof(mu))}, s.rho2);

  ExpandA(s.a, s.sk.rho);

  for (int attempt = 0, kappa = 0; attempt < kMaxSignAttempts; ++attempt, kappa += kL) {
    // y, w = A y, w1 = HighBits(w).
    ExpandMask(s.y, s.rho2, kappa);
    for (int j = 0; j < kL; ++j) {
      s.y_hat[j] = s.y[j];
      Ntt(s.y_hat[j]);
    }
    for (int i = 0; i < kK; ++i) {
      PolyPointwise(s.w[i], s.a[i][0], s.y_hat[0]);
      for (int j = 1; j < kL; ++j) PolyPointwiseAcc(s.w[i], s.a[i][j], s.y_hat[j]);
      PolyReduce(s.w[i]);
      InvNttToMont(s.w[i]);
      PolyFreeze(s.w[i]);
      for (int n = 0; n < kN; ++n) s.w1[i][n] = HighBits(s.w[i][n]);
    }
    EncodeW1(s.w1, s.w1_packed);
    Shake256Parts({ByteView(mu, sizeof(mu)), ByteView(s.w1_packed, sizeof(s.w1_packed))}, s.c_tilde);
    Declassify(s.c_tilde, sizeof(s.c_tilde));  // published in the signature
    SampleInBall(s.c, s.c_tilde);
    const Challenge ch = ChallengeFromPoly(s.c);

    // z = y + c s1; reject when ||z|| >= gamma1 - beta.
    uint32_t reject = 0;
    for (int j = 0; j < kL; ++j) {
      MulChallenge(s.z[j], ch, s.sk.s1[j]);  // |c s1| <= tau * eta
      for (int n = 0; n < kN; ++n) s.z[j][n] += s.y[j][n];
      reject |= ExceedsBound(s.z[j], kGamma1 - kBeta);
    }
    Declassify(&reject, sizeof(reject));  // rejection outcome
    if (reject != 0) continue;

    // r0 = LowBits(w - c s2); reject when ||r0|| >= gamma2 - beta.
    for (int i = 0; i < kK; ++i) {
      MulChallenge(s.cs2[i], ch, s.sk.s2[i]);  // |c s2| <= tau * eta
      Poly r0;
      for (int n = 0; n < kN; ++n) {
        int32_t u = Freeze(s.w[i][n] - s.cs2[i][n]);
        (void)Decompose(u, &r0[n]);
      }
      reject |= ExceedsBound(r0, kGamma2 - kBeta);
    }
    Declassify(&reject, sizeof(reject));  // rejection outcome
    if (reject != 0) continue;

    // ct0; h = MakeHint(-ct0, w - cs2 + ct0); reject when ||ct0|| >= gamma2 or
    // more than omega hints. With the r0 check passed, HighBits(w - cs2) = w1.
    uint32_t hint_count = 0;
    for (int i = 0; i < kK; ++i) {
      MulChallenge(s.ct0[i], ch, s.sk.t0[i]);  // |c t0| <= tau * 2^12
      reject |= ExceedsBound(s.ct0[i], kGamma2);
      for (int n = 0; n < kN; ++n) {
        int32_t v = Freeze(s.w[i][n] - s.cs2[i][n] + s.ct0[i][n]);
        uint32_t differs = uint32_t(HighBits(v) ^ s.w1[i][n]);
        uint32_t bit = (0u - differs) >> 31;  // 1 when differs != 0
        s.h[i][n] = uint8_t(bit);
        hint_count += bit;
      }
    }
    reject |= (uint32_t(kOmega) - hint_count) >> 31;
    Declassify(&reject, sizeof(reject));  // rejection outcome
    if (reject != 0) continue;

    // Accepted: z and h are the signature.
    for (auto& p : s.z) Declassify(p.data(), sizeof(p));
    for (auto& row : s.h) Declassify(row.data(), row.size());
    Bytes sig(kMlDsa87SignatureBytes, 0);
    uint8_t* p = sig.data();
    std::memcpy(p, s.c_tilde, kCTildeBytes);
    p += kCTildeBytes;
    for (int j = 0; j < kL; ++j, p += kPolyZBytes) PackPoly(s.z[j], 20, true, kGamma1, p);
    int index = 0;
    for (int i = 0; i < kK; ++i) {
      for (int n = 0; n < kN; ++n)
        if (s.h[i][n]) p[index++] = uint8_t(n);
      p[kOmega + i] = uint8_t(index);
    }
    OPENSSL_cleanse(mu, sizeof(mu));
    return sig;
  }
  OPENSSL_cleanse(mu, sizeof(mu));
  return Status::Internal("ml-dsa-87: signing did not finish within " + std::to_string(kMaxSignAttempts) + " attempts");
}

// ---- Verification ----

struct VerifyWork {
  Matrix a;
  VecL z;
  VecK t1, w;
  Poly c;
  std::array<std::array<uint8_t, kN>, kK> h;
  uint8_t w1_packed[kK * kPolyW1Bytes];
};

Status CheckPublicKeyLength(ByteView pk) {
  if (pk.size() != kMlDsa87PublicKeyBytes)
    return Status::InvalidArgument("ml-dsa-87: public key is " + std::to_string(pk.size()) + " bytes, expected " +
                                   std::to_string(kMlDsa87PublicKeyBytes));
  return Status::Ok();
}

Status VerifyImpl(ByteView public_key, const uint8_t* mu_in, const MessagePrime& m_prime, ByteView signature) {
  DSMIL_RETURN_IF_ERROR(CheckPublicKeyLength(public_key));
  if (signature.size() != kMlDsa87SignatureBytes)
    return Status::InvalidArgument("ml-dsa-87: signature is " + std::to_string(signature.size()) + " bytes, expected " +
                                   std::to_string(kMlDsa87SignatureBytes));
  auto work = std::make_unique<VerifyWork>();
  VerifyWork& v = *work;

  // sigDecode.
  const uint8_t* c_tilde = signature.data();
  const uint8_t* p = c_tilde + kCTildeBytes;
  for (int j = 0; j < kL; ++j, p += kPolyZBytes) (void)UnpackPoly(p, 20, true, kGamma1, (1u << 20) - 1, v.z[j]);
  if (!DecodeHint(p, v.h)) return Status::Unauthenticated("ml-dsa-87: signature rejected: malformed hint encoding");
  for (int j = 0; j < kL; ++j)
    if (ExceedsBound(v.z[j], kGamma1 - kBeta) != 0)
      return Status::Unauthenticated("ml-dsa-87: signature rejected: z polynomial " + std::to_string(j) +
                                     " has a coefficient of norm >= gamma1 - beta");

  // pkDecode.
  const uint8_t* rho = public_key.data();
  p = rho + 32;
  for (int i = 0; i < kK; ++i, p += kPolyT1Bytes) (void)UnpackPoly(p, 10, false, 0, 1023, v.t1[i]);

  uint8_t mu[kMlDsa87MuBytes];
  if (mu_in != nullptr) {
    std::memcpy(mu, mu_in, sizeof(mu));
  } else {
    uint8_t tr[kTrBytes];
    Shake256Parts({public_key}, tr);
    Shake256Parts({ByteView(tr, sizeof(tr)), m_prime.prefix, m_prime.context, m_prime.message}, mu);
  }

  ExpandA(v.a, rho);
  SampleInBall(v.c, c_tilde);
  const Challenge ch = ChallengeFromPoly(v.c);
  for (auto& zj : v.z) Ntt(zj);
  for (int i = 0; i < kK; ++i) {
    // w'approx = InvNtt(A-hat o NTT(z)) - c t1 2^d, with c t1 computed exactly
    // (|c t1| <= tau * 1023, so |c t1 2^d| < 2^29).
    Poly ct1;
    MulChallenge(ct1, ch, v.t1[i]);
    PolyPointwise(v.w[i], v.a[i][0], v.z[0]);
    for (int j = 1; j < kL; ++j) PolyPointwiseAcc(v.w[i], v.a[i][j], v.z[j]);
    PolyReduce(v.w[i]);
    InvNttToMont(v.w[i]);
    for (int n = 0; n < kN; ++n) v.w[i][n] = Freeze(v.w[i][n] - (ct1[n] << kD));
    for (int n = 0; n < kN; ++n) v.w[i][n] = UseHint(v.w[i][n], v.h[i][n] != 0);
  }
  EncodeW1(v.w, v.w1_packed);
  uint8_t c_tilde2[kCTildeBytes];
  Shake256Parts({ByteView(mu, sizeof(mu)), ByteView(v.w1_packed, sizeof(v.w1_packed))}, c_tilde2);
  if (CRYPTO_memcmp(c_tilde, c_tilde2, kCTildeBytes) != 0)
    return Status::Unauthenticated("ml-dsa-87: signature does not verify");
  return Status::Ok();
}

}  // namespace

MlDsa87KeyPair MlDsa87KeyGenFromSeed(std::span<const uint8_t, kMlDsa87SeedBytes> xi) {
  auto work = std::make_unique<KeyGenWork>();
  KeyGenWork& g = *work;
  uint8_t seed[34];
  std::memcpy(seed, xi.data(), 32);
  seed[32] = uint8_t(kK);
  seed[33] = uint8_t(kL);
  Shake256Parts({ByteView(seed, sizeof(seed))}, g.seed_out);
  OPENSSL_cleanse(seed, sizeof(seed));
  const uint8_t* rho = g.seed_out;
  const uint8_t* rho_prime = g.seed_out + 32;
  const uint8_t* key = g.seed_out + 96;
  Declassify(rho, 32);  // published in the public key

  ExpandA(g.a, rho);
  for (int i = 0; i < kL; ++i) RejBoundedPoly(g.s1[i], rho_prime, uint16_t(i));
  for (int i = 0; i < kK; ++i) RejBoundedPoly(g.s2[i], rho_prime, uint16_t(kL + i));
  for (int j = 0; j < kL; ++j) {
    g.s1_hat[j] = g.s1[j];
    Ntt(g.s1_hat[j]);
  }
  MlDsa87KeyPair kp;
  kp.public_key.resize(kMlDsa87PublicKeyBytes);
  kp.secret_key.resize(kMlDsa87SecretKeyBytes);
  uint8_t* pk = kp.public_key.data();
  std::memcpy(pk, rho, 32);
  for (int i = 0; i < kK; ++i) {
    PolyPointwise(g.t[i], g.a[i][0], g.s1_hat[0]);
    for (int j = 1; j < kL; ++j) PolyPointwiseAcc(g.t[i], g.a[i][j], g.s1_hat[j]);
    PolyReduce(g.t[i]);
    InvNttToMont(g.t[i]);
    for (int n = 0; n < kN; ++n) {
      int32_t t = Freeze(g.t[i][n] + g.s2[i][n]);
      // Power2Round: t = t1 * 2^d + t0 with t0 in (-2^(d-1), 2^(d-1)].
      int32_t t1 = (t + (1 << (kD - 1)) - 1) >> kD;
      g.t1[i][n] = t1;
      g.t0[i][n] = t - (t1 << kD);
    }
    PackPoly(g.t1[i], 10, false, 0, pk + 32 + i * kPolyT1Bytes);
  }
  Declassify(pk, kMlDsa87PublicKeyBytes);  // the public key is public
  uint8_t* sk = kp.secret_key.data();
  std::memcpy(sk, rho, 32);
  std::memcpy(sk + 32, key, 32);
  uint8_t tr[kTrBytes];
  Shake256Parts({ByteView(kp.public_key)}, tr);
  std::memcpy(sk + 64, tr, kTrBytes);
  uint8_t* p = sk + 128;
  for (int i = 0; i < kL; ++i, p += kPolyEtaBytes) PackPoly(g.s1[i], 3, true, kEta, p);
  for (int i = 0; i < kK; ++i, p += kPolyEtaBytes) PackPoly(g.s2[i], 3, true, kEta, p);
  for (int i = 0; i < kK; ++i, p += kPolyT0Bytes) PackPoly(g.t0[i], 13, true, 1 << (kD - 1), p);
  OPENSSL_cleanse(&g, sizeof(g));
  return kp;
}

Result<MlDsa87KeyPair> MlDsa87KeyGen() {
  uint8_t xi[kMlDsa87SeedBytes];
  DSMIL_RETURN_IF_ERROR(RandomBytes(xi).WithContext("ml-dsa-87 key generation"));
  MlDsa87KeyPair kp = MlDsa87KeyGenFromSeed(std::span<const uint8_t, kMlDsa87SeedBytes>(xi));
  OPENSSL_cleanse(xi, sizeof(xi));
  return kp;
}

Result<Bytes> MlDsaFormatMessage(ByteView message, ByteView context) {
  DSMIL_RETURN_IF_ERROR(CheckContextLength(context));
  Bytes m;
  m.reserve(2 + context.size() + message.size());
  m.push_back(0);
  m.push_back(uint8_t(context.size()));
  m.insert(m.end(), context.begin(), context.end());
  m.insert(m.end(), message.begin(), message.end());
  return m;
}

Result<Bytes> MlDsa87Sign(ByteView secret_key, ByteView message, ByteView context, MlDsaSigning mode) {
  DSMIL_RETURN_IF_ERROR(CheckContextLength(context));
  const uint8_t prefix[2] = {0, uint8_t(context.size())};
  uint8_t rnd[kMlDsa87RndBytes] = {0};
  if (mode == MlDsaSigning::kHedged) DSMIL_RETURN_IF_ERROR(RandomBytes(rnd).WithContext("ml-dsa-87 signing"));
  Result<Bytes> sig = SignImpl(secret_key, nullptr, {ByteView(prefix, 2), context, message}, rnd);
  OPENSSL_cleanse(rnd, sizeof(rnd));
  return sig;
}

Result<Bytes> MlDsa87SignInternal(ByteView secret_key, ByteView m_prime,
                                  std::span<const uint8_t, kMlDsa87RndBytes> rnd) {
  return SignImpl(secret_key, nullptr, {{}, {}, m_prime}, rnd.data());
}

Result<Bytes> MlDsa87SignMu(ByteView secret_key, std::span<const uint8_t, kMlDsa87MuBytes> mu,
                            std::span<const uint8_t, kMlDsa87RndBytes> rnd) {
  return SignImpl(secret_key, mu.data(), MessagePrime{}, rnd.data());
}

Status MlDsa87Verify(ByteView public_key, ByteView message, ByteView context, ByteView signature) {
  DSMIL_RETURN_IF_ERROR(CheckContextLength(context));
  const uint8_t prefix[2] = {0, uint8_t(context.size())};
  return VerifyImpl(public_key, nullptr, {ByteView(prefix, 2), context, message}, signature);
}

Status MlDsa87VerifyInternal(ByteView public_key, ByteView m_prime, ByteView signature) {
  return VerifyImpl(public_key, nullptr, {{}, {}, m_prime}, signature);
}

Status MlDsa87VerifyMu(ByteView public_key, std::span<const uint8_t, kMlDsa87MuBytes> mu, ByteView signature) {
  return VerifyImpl(public_key, mu.data(), MessagePrime{}, signature);
}

Result<std::array<uint8_t, kMlDsa87MuBytes>> MlDsa87ComputeMu(ByteView public_key, ByteView m_prime) {
  DSMIL_RETURN_IF_ERROR(CheckPublicKeyLength(public_key));
  uint8_t tr[kTrBytes];
  Shake256Parts({public_key}, tr);
  uint8_t mu[kMlDsa87MuBytes];
  Shake256Parts({ByteView(tr, sizeof(tr)), m_prime}, mu);
  std::array<uint8_t, kMlDsa87MuBytes> out;
  std::memcpy(out.data(), mu, sizeof(mu));
  return out;
}

}  // namespace dsmil::crypto
