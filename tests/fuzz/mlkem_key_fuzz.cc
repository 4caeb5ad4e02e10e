// Fuzz target: ML-KEM-1024 key decoding and decapsulation of outside bytes.
//
// The first input byte picks what the rest is fed to:
//   0  a PREFIX.key container (DecodePrivateKeyFile), then Decaps with it
//   1  an encapsulation key (the §7.2 modulus check, then Encaps)
//   2  a ciphertext, decapsulated with a fixed valid key
//   3  a raw decapsulation key (the §7.3 hash check, then Decaps)
// Every call must return a value or a Status; none may crash, leak or read out
// of bounds. Round trips that succeed are checked for agreement.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/coding.h"
#include "crypto/keyfile.h"
#include "crypto/mlkem.h"

namespace crypto = dsmil::crypto;
using dsmil::Bytes;
using dsmil::ByteView;

namespace {

const crypto::MlKem1024KeyPair& FixedKey() {
  static const crypto::MlKem1024KeyPair kp = [] {
    auto r = crypto::MlKem1024KeyGenInternal(Bytes(32, 0x11), Bytes(32, 0x22));
    if (!r.ok()) std::abort();
    return std::move(r).value();
  }();
  return kp;
}

void CheckAgreement(ByteView ek, ByteView dk) {
  auto enc = crypto::MlKem1024EncapsInternal(ek, Bytes(32, 0x5A));
  if (!enc.ok()) return;
  auto k = crypto::MlKem1024Decaps(dk, enc->ciphertext);
  // A dk that passed the hash check embeds this ek; its s may still be
  // arbitrary, so only the shape is checked.
  if (k.ok() && k->size() != crypto::kMlKemSharedSecretBytes) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ByteView in(data + 1, size - 1);
  const auto& fixed = FixedKey();
  switch (data[0] % 4) {
    case 0: {
      auto key = crypto::DecodePrivateKeyFile(in);
      if (key.ok() && key->alg == crypto::KeyAlg::kMlKem1024) {
        auto ek = crypto::MlKem1024EncapsKeyFromDecapsKey(key->key);
        if (!ek.ok()) std::abort();  // decoding already ran the dk check
        CheckAgreement(*ek, key->key);
      }
      break;
    }
    case 1: {
      dsmil::Status s = crypto::MlKem1024CheckEncapsKey(in);
      auto enc = crypto::MlKem1024EncapsInternal(in, Bytes(32, 1));
      if (s.ok() != enc.ok()) std::abort();
      break;
    }
    case 2: {
      auto k = crypto::MlKem1024Decaps(fixed.dk, in);
      if (k.ok() != (in.size() == crypto::kMlKem1024CiphertextBytes)) std::abort();
      break;
    }
    case 3: {
      auto k = crypto::MlKem1024Decaps(in, Bytes(crypto::kMlKem1024CiphertextBytes, 0x42));
      if (k.ok() != crypto::MlKem1024CheckDecapsKey(in).ok()) std::abort();
      if (k.ok()) {
        auto ek = crypto::MlKem1024EncapsKeyFromDecapsKey(in);
        if (ek.ok()) CheckAgreement(*ek, in);
      }
      break;
    }
  }
  return 0;
}
