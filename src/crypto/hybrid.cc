// Hybrid ECDH P-384 + ML-KEM-1024 key agreement (docs/crypto.md).
#include "crypto/hybrid.h"

#include <cstring>
#include <string>

#include "crypto/sha3.h"

namespace dsmil::crypto {
namespace {

Status CheckSize(const char* what, ByteView b, size_t want) {
  if (b.size() != want) {
    return Status::InvalidArgument(std::string("hybrid kem: ") + what + " is " + std::to_string(b.size()) +
                                   " bytes, expected " + std::to_string(want));
  }
  return Status::Ok();
}

}  // namespace

Result<SecretBytes> HybridCombine(ByteView ecdh_secret, ByteView mlkem_secret, ByteView offer, ByteView response,
                                  ByteView transcript, size_t out_len) {
  Keccak h(72, 0x06);  // SHA3-512
  uint8_t len[8];
  PutU64BE(len, transcript.size());
  h.Absorb(len);
  h.Absorb(transcript);
  h.Absorb(offer);
  h.Absorb(response);
  uint8_t salt[64];
  h.Squeeze(salt);
  SecretBytes ikm;
  ikm.reserve(ecdh_secret.size() + mlkem_secret.size());
  ikm.insert(ikm.end(), ecdh_secret.begin(), ecdh_secret.end());
  ikm.insert(ikm.end(), mlkem_secret.begin(), mlkem_secret.end());
  ByteView info(reinterpret_cast<const uint8_t*>(kHybridInfoLabel), sizeof(kHybridInfoLabel) - 1);
  return HkdfSha384(ikm, salt, info, out_len);
}

Result<HybridInitiator> HybridInitiator::Start() {
  DSMIL_ASSIGN_OR_RETURN(EcdhP384KeyPair ecdh, EcdhP384KeyPair::Generate());
  DSMIL_ASSIGN_OR_RETURN(MlKem1024KeyPair kem, MlKem1024KeyGen());
  Bytes offer;
  offer.reserve(kHybridOfferBytes);
  offer.insert(offer.end(), ecdh.public_key().begin(), ecdh.public_key().end());
  offer.insert(offer.end(), kem.ek.begin(), kem.ek.end());
  return HybridInitiator(std::move(ecdh), std::move(kem), std::move(offer));
}

Result<SecretBytes> HybridInitiator::Finish(ByteView response, ByteView transcript, size_t out_len) const {
  DSMIL_RETURN_IF_ERROR(CheckSize("response", response, kHybridResponseBytes));
  auto ecdh_ss = ecdh_.Derive(response.first(kP384PublicKeyBytes));
  if (!ecdh_ss.ok()) return ecdh_ss.status().WithContext("hybrid kem: responder ECDH key");
  auto kem_ss = MlKem1024Decaps(kem_.dk, response.subspan(kP384PublicKeyBytes));
  if (!kem_ss.ok()) return kem_ss.status().WithContext("hybrid kem: responder ciphertext");
  return HybridCombine(*ecdh_ss, *kem_ss, offer_, response, transcript, out_len);
}

Result<HybridResponse> HybridRespond(ByteView offer, ByteView transcript, size_t out_len) {
  DSMIL_RETURN_IF_ERROR(CheckSize("offer", offer, kHybridOfferBytes));
  DSMIL_ASSIGN_OR_RETURN(EcdhP384KeyPair ecdh, EcdhP384KeyPair::Generate());
  auto ecdh_ss = ecdh.Derive(offer.first(kP384PublicKeyBytes));
  if (!ecdh_ss.ok()) return ecdh_ss.status().WithContext("hybrid kem: initiator ECDH key");
  auto enc = MlKem1024Encaps(offer.subspan(kP384PublicKeyBytes));
  if (!enc.ok()) return enc.status().WithContext("hybrid kem: initiator encapsulation key");
  HybridResponse out;
  out.message.reserve(kHybridResponseBytes);
  out.message.insert(out.message.end(), ecdh.public_key().begin(), ecdh.public_key().end());
  out.message.insert(out.message.end(), enc->ciphertext.begin(), enc->ciphertext.end());
  DSMIL_ASSIGN_OR_RETURN(out.shared_secret,
                         HybridCombine(*ecdh_ss, enc->shared_secret, offer, out.message, transcript, out_len));
  return out;
}

}  // namespace dsmil::crypto
