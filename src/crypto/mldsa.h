// ML-DSA-87 (FIPS 204): module-lattice digital signatures, security category 5.
//
// Byte formats are the standard encodings of FIPS 204: public key 2592 bytes
// (pkEncode), secret key 4896 bytes (skEncode), signature 4627 bytes
// (sigEncode). Keys and signatures are exchangeable with any other FIPS 204
// implementation.
//
// Entry points, from the usual to the low level:
//   * MlDsa87KeyGen / MlDsa87Sign / MlDsa87Verify: the pure ML-DSA of FIPS 204
//     §5 with a context string (0..255 bytes); M' = 0x00 || len(ctx) || ctx || M.
//   * ...Internal: ML-DSA.KeyGen_internal / Sign_internal / Verify_internal of
//     §6, taking the already formatted message M' (used by test vectors, and by
//     callers building HashML-DSA's M' themselves).
//   * ...Mu: Sign/Verify from the 64-byte message representative
//     mu = SHAKE256(tr || M', 64) computed elsewhere ("external mu").
//
// Signing is hedged by default (fresh 32-byte rnd from the OpenSSL DRBG);
// deterministic signing (rnd = 32 zero bytes) on request.
//
// Constant time: Sign and KeyGen do not branch or index memory on secret data,
// except for the outcome of the rejection checks of the signing loop, the
// challenge c~ (both public once the signature is released), and which SHAKE
// nibbles KeyGen's ExpandS discards (independent of the key; see mldsa.cc).
// tests/ct/mldsa_ct.cc checks this under valgrind memcheck.
// Secret temporaries are wiped before return; secret keys are returned in
// SecretBytes (wiped when freed); the caller owns the secret key it passes in.
//
// Thread safety: every function is reentrant; no shared state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/coding.h"
#include "core/status.h"
#include "crypto/ossl.h"

namespace dsmil::crypto {

inline constexpr size_t kMlDsa87PublicKeyBytes = 2592;
inline constexpr size_t kMlDsa87SecretKeyBytes = 4896;
inline constexpr size_t kMlDsa87SignatureBytes = 4627;
inline constexpr size_t kMlDsa87SeedBytes = 32;  // xi of KeyGen
inline constexpr size_t kMlDsa87RndBytes = 32;   // rnd of Sign
inline constexpr size_t kMlDsa87MuBytes = 64;    // mu = H(tr || M')
inline constexpr size_t kMlDsaMaxContextBytes = 255;

struct MlDsa87KeyPair {
  Bytes public_key;        // 2592 bytes
  SecretBytes secret_key;  // 4896 bytes; wiped when freed
};

enum class MlDsaSigning {
  kHedged,         // rnd drawn from the system DRBG (FIPS 204 default)
  kDeterministic,  // rnd = 32 zero bytes: same key + message -> same signature
};

// ML-DSA.KeyGen_internal(xi): the key pair derived from the 32-byte seed xi.
// Deterministic; never fails.
MlDsa87KeyPair MlDsa87KeyGenFromSeed(std::span<const uint8_t, kMlDsa87SeedBytes> xi);

// ML-DSA.KeyGen: a key pair from a fresh seed. Fails (kInternal) only when the
// system DRBG fails.
Result<MlDsa87KeyPair> MlDsa87KeyGen();

// ML-DSA.Sign(sk, M, ctx). Returns the 4627-byte signature.
// kInvalidArgument: sk is not 4896 bytes, its s1/s2 coefficients are out of
// range, or ctx is longer than 255 bytes. kInternal: the DRBG failed.
Result<Bytes> MlDsa87Sign(ByteView secret_key, ByteView message, ByteView context,
                          MlDsaSigning mode = MlDsaSigning::kHedged);

// ML-DSA.Sign_internal(sk, M', rnd) with M' taken as-is.
Result<Bytes> MlDsa87SignInternal(ByteView secret_key, ByteView m_prime,
                                  std::span<const uint8_t, kMlDsa87RndBytes> rnd);

// Sign_internal from the message representative mu instead of M'.
Result<Bytes> MlDsa87SignMu(ByteView secret_key, std::span<const uint8_t, kMlDsa87MuBytes> mu,
                            std::span<const uint8_t, kMlDsa87RndBytes> rnd);

// ML-DSA.Verify(pk, M, sigma, ctx).
// OK: the signature is valid.
// kUnauthenticated: the signature does not verify (wrong key or message,
//   altered bytes, z out of range, malformed hint encoding).
// kInvalidArgument: the public key is not 2592 bytes, the signature is not
//   4627 bytes, or ctx is longer than 255 bytes.
Status MlDsa87Verify(ByteView public_key, ByteView message, ByteView context, ByteView signature);

// ML-DSA.Verify_internal(pk, M', sigma) with M' taken as-is. Same results.
Status MlDsa87VerifyInternal(ByteView public_key, ByteView m_prime, ByteView signature);

// Verify_internal from the message representative mu. Same results.
Status MlDsa87VerifyMu(ByteView public_key, std::span<const uint8_t, kMlDsa87MuBytes> mu, ByteView signature);

// M' of pure ML-DSA: 0x00 || len(ctx) || ctx || message. ctx must be <= 255
// bytes (kInvalidArgument otherwise).
Result<Bytes> MlDsaFormatMessage(ByteView message, ByteView context);

// mu = SHAKE256(SHAKE256(pk, 64) || M', 64), for callers that hash elsewhere.
// kInvalidArgument when pk is not 2592 bytes.
Result<std::array<uint8_t, kMlDsa87MuBytes>> MlDsa87ComputeMu(ByteView public_key, ByteView m_prime);

}  // namespace dsmil::crypto
