// Hybrid key encapsulation: ephemeral ECDH P-384 + ML-KEM-1024, one shared
// secret from HKDF-SHA-384 over both secrets, bound to the handshake
// transcript. The construction is specified in docs/crypto.md ("Hybrid KEM").
//
// Two messages, as a node-to-node handshake uses them:
//
//   initiator                                  responder
//   HybridInitiator::Start()
//   offer = ecdh_pub_i (97) || ek (1568)  -->  HybridRespond(offer, transcript)
//                                         <--  response = ecdh_pub_r (97) || ct (1568)
//   Finish(response, transcript)
//
// Both sides get the same secret when they pass the same transcript bytes
// (whatever the protocol has exchanged before: hellos, identities, nonces).
// The offer and response are bound into the derivation too, so a changed
// message or transcript gives unrelated secrets on the two sides.
//
// If either component fails (a bad point, a bad ek, the wrong length), the
// call returns InvalidArgument; a tampered ML-KEM ciphertext is not detected
// here (implicit rejection) but yields a different secret, which the
// protocol's key confirmation catches.
//
// Thread safety: HybridRespond is thread-safe; a HybridInitiator is used by
// one thread. Key material is wiped when the objects are destroyed.
#pragma once

#include <cstddef>

#include "core/coding.h"
#include "core/status.h"
#include "crypto/mlkem.h"
#include "crypto/ossl.h"

namespace dsmil::crypto {

inline constexpr size_t kHybridOfferBytes = kP384PublicKeyBytes + kMlKem1024EncapsKeyBytes;      // 1665
inline constexpr size_t kHybridResponseBytes = kP384PublicKeyBytes + kMlKem1024CiphertextBytes;  // 1665
inline constexpr size_t kHybridDefaultSecretBytes = 32;
// HKDF info label (the version of the construction).
inline constexpr char kHybridInfoLabel[] = "DSMIL hybrid KEM v1: ECDH-P384 + ML-KEM-1024";

class HybridInitiator {
 public:
  // Fresh ephemeral ECDH P-384 and ML-KEM-1024 key pairs.
  static Result<HybridInitiator> Start();

  HybridInitiator(HybridInitiator&&) noexcept = default;
  HybridInitiator& operator=(HybridInitiator&&) noexcept = default;

  // The offer to send: ecdh_pub (97 bytes) || ML-KEM ek (1568 bytes).
  const Bytes& offer() const { return offer_; }

  // Derives the shared secret (out_len bytes, 1..255*48) from the responder's
  // message. InvalidArgument when the response is malformed.
  Result<SecretBytes> Finish(ByteView response, ByteView transcript, size_t out_len = kHybridDefaultSecretBytes) const;

 private:
  HybridInitiator(EcdhP384KeyPair ecdh, MlKem1024KeyPair kem, Bytes offer)
      : ecdh_(std::move(ecdh)), kem_(std::move(kem)), offer_(std::move(offer)) {}
  EcdhP384KeyPair ecdh_;
  MlKem1024KeyPair kem_;
  Bytes offer_;
};

struct HybridResponse {
  Bytes message;              // ecdh_pub (97) || ML-KEM ciphertext (1568)
  SecretBytes shared_secret;  // out_len bytes
};

// Responder side: checks the offer (point on the curve, ek modulus check),
// makes an ephemeral ECDH key and an ML-KEM encapsulation, and derives.
Result<HybridResponse> HybridRespond(ByteView offer, ByteView transcript, size_t out_len = kHybridDefaultSecretBytes);

// The combiner both sides run (exposed for tests and documentation):
//   salt = SHA3-512(u64be(len(transcript)) || transcript || offer || response)
//   ikm  = ecdh_secret (48) || mlkem_secret (32)
//   out  = HKDF-SHA-384(ikm, salt, info = kHybridInfoLabel, out_len)
Result<SecretBytes> HybridCombine(ByteView ecdh_secret, ByteView mlkem_secret, ByteView offer, ByteView response,
                                  ByteView transcript, size_t out_len);

}  // namespace dsmil::crypto
