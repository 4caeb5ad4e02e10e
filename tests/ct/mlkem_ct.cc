// Constant-time check of ML-KEM-1024 decapsulation (and encapsulation), run
// under valgrind memcheck:
//
//   valgrind --error-exitcode=1 --track-origins=yes ./mlkem_ct
//
// The secret parts of the decapsulation key (the ByteEncode12 of s and the
// implicit-rejection seed z) and the encapsulation message m are marked
// undefined with VALGRIND_MAKE_MEM_UNDEFINED. Any branch or memory index that
// depends on them (or on anything derived: the decrypted message, K', r', the
// re-encryption, the comparison, the implicit-rejection select) is reported by
// memcheck as a use of uninitialised data, and the run fails. The public
// parts (ek, H(ek), the ciphertext) stay defined. The outputs are marked
// defined again before the program compares them.
//
// Both Decaps paths run: a valid ciphertext (K') and tampered ones (J(z||c)).
// Without valgrind the program still checks the results (exit 0 = pass).
#include <valgrind/memcheck.h>

#include <cstdio>
#include <cstring>

#include "core/coding.h"
#include "crypto/mlkem.h"

namespace crypto = dsmil::crypto;
using dsmil::Bytes;

namespace {

constexpr size_t kDkPke = 1536;
constexpr size_t kZOffset = 3168 - 32;

void MarkSecret(crypto::SecretBytes& dk) {
  (void)VALGRIND_MAKE_MEM_UNDEFINED(dk.data(), kDkPke);
  (void)VALGRIND_MAKE_MEM_UNDEFINED(dk.data() + kZOffset, 32);
}

void Declassify(const void* p, size_t n) { (void)VALGRIND_MAKE_MEM_DEFINED(p, n); }

}  // namespace

int main() {
  Bytes d(32), z(32), m(32);
  for (size_t i = 0; i < 32; ++i) {
    d[i] = static_cast<uint8_t>(i);
    z[i] = static_cast<uint8_t>(0xA0 ^ i);
    m[i] = static_cast<uint8_t>(0x33 + 7 * i);
  }
  auto kp = crypto::MlKem1024KeyGenInternal(d, z);
  if (!kp.ok()) {
    std::fprintf(stderr, "mlkem_ct: keygen: %s\n", kp.status().ToString().c_str());
    return 1;
  }

  // Encaps with a secret message m: ciphertext and K must not leak m through
  // branches or indices.
  (void)VALGRIND_MAKE_MEM_UNDEFINED(m.data(), m.size());
  auto enc = crypto::MlKem1024EncapsInternal(kp->ek, m);
  if (!enc.ok()) {
    std::fprintf(stderr, "mlkem_ct: encaps: %s\n", enc.status().ToString().c_str());
    return 1;
  }
  Declassify(enc->ciphertext.data(), enc->ciphertext.size());
  Declassify(enc->shared_secret.data(), enc->shared_secret.size());

  crypto::SecretBytes dk = kp->dk;
  MarkSecret(dk);
  int runs = 0, failures = 0;
  for (int round = 0; round < 4; ++round) {
    Bytes ct = enc->ciphertext;
    if (round > 0) ct[static_cast<size_t>(round) * 391] ^= static_cast<uint8_t>(1u << round);
    auto k = crypto::MlKem1024Decaps(dk, ct);
    if (!k.ok()) {
      std::fprintf(stderr, "mlkem_ct: decaps: %s\n", k.status().ToString().c_str());
      return 1;
    }
    Declassify(k->data(), k->size());
    bool same = std::memcmp(k->data(), enc->shared_secret.data(), 32) == 0;
    if (same != (round == 0)) {
      std::fprintf(stderr, "mlkem_ct: round %d: decapsulated key %s the encapsulated one\n", round,
                   same ? "equals" : "differs from");
      ++failures;
    }
    ++runs;
  }
  std::printf(
      "mlkem_ct: %d decapsulations (1 valid, %d implicit rejection) with secret dk, "
      "1 encapsulation with secret m: %s\n",
      runs, runs - 1, failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
