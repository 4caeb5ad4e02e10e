// ML-KEM-1024 (FIPS 203): key generation, encapsulation, decapsulation.
//
// Encodings are the standard ones of FIPS 203, so keys and ciphertexts are
// interchangeable with every other implementation:
//   encapsulation key ek  1568 bytes  ByteEncode12(t) || rho
//   decapsulation key dk  3168 bytes  ByteEncode12(s) || ek || H(ek) || z
//   ciphertext        c   1568 bytes
//   shared secret     K     32 bytes
//
// Input checks (FIPS 203 §7): Encaps refuses an ek whose length is wrong or
// whose coefficients are not reduced mod q (the modulus check); Decaps refuses
// a dk or c of the wrong length and a dk whose stored H(ek) does not match its
// ek (the hash check). A ciphertext that does not re-encrypt (tampered) is not
// an error: Decaps then returns the implicit-rejection key J(z || c).
//
// Decaps is constant-time in the secret parts of dk (s, z) and in the derived
// message: no secret-dependent branch or table index; the re-encryption
// comparison and the implicit-rejection select use masks.
//
// All functions are thread-safe (no shared mutable state). Secrets are
// returned in SecretBytes (wiped when freed); stack temporaries are wiped.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/coding.h"
#include "core/status.h"
#include "crypto/ossl.h"

namespace dsmil::crypto {

inline constexpr size_t kMlKem1024EncapsKeyBytes = 1568;
inline constexpr size_t kMlKem1024DecapsKeyBytes = 3168;
inline constexpr size_t kMlKem1024CiphertextBytes = 1568;
inline constexpr size_t kMlKemSharedSecretBytes = 32;
inline constexpr size_t kMlKemSeedBytes = 32;  // d, z and m are 32 bytes each

struct MlKem1024KeyPair {
  Bytes ek;        // 1568 bytes, public
  SecretBytes dk;  // 3168 bytes, secret
};

struct MlKemEncapsulation {
  Bytes ciphertext;           // 1568 bytes, sent to the holder of dk
  SecretBytes shared_secret;  // 32 bytes
};

// ML-KEM.KeyGen with fresh randomness from OpenSSL's DRBG.
Result<MlKem1024KeyPair> MlKem1024KeyGen();
// ML-KEM.KeyGen_internal(d, z): deterministic; d and z are 32 bytes each.
// InvalidArgument when a seed has the wrong length.
Result<MlKem1024KeyPair> MlKem1024KeyGenInternal(ByteView d, ByteView z);

// ML-KEM.Encaps with fresh randomness; runs the ek modulus check first.
Result<MlKemEncapsulation> MlKem1024Encaps(ByteView ek);
// ML-KEM.Encaps_internal(ek, m) with the 32-byte message m; runs the ek
// modulus check first.
Result<MlKemEncapsulation> MlKem1024EncapsInternal(ByteView ek, ByteView m);

// ML-KEM.Decaps(dk, c) with the dk hash check and the implicit-rejection path.
Result<SecretBytes> MlKem1024Decaps(ByteView dk, ByteView ciphertext);

// FIPS 203 §7.2 encapsulation key check: length 1568 and every 12-bit
// coefficient < q. OK or InvalidArgument naming the first bad coefficient.
Status MlKem1024CheckEncapsKey(ByteView ek);
// FIPS 203 §7.3 decapsulation key check: length 3168 and H(ek) == h, where ek
// and h are the parts stored inside dk. Also runs the ek check on that ek.
Status MlKem1024CheckDecapsKey(ByteView dk);

// The ek stored inside a (checked) dk. InvalidArgument when dk fails the
// decapsulation key check.
Result<Bytes> MlKem1024EncapsKeyFromDecapsKey(ByteView dk);

}  // namespace dsmil::crypto
