// Fuzz target: ML-DSA-87 verification of hostile signatures and public keys.
// Verify must never crash, must answer OK / UNAUTHENTICATED / INVALID_ARGUMENT
// with a message, and must accept the untouched valid signature.
//
// Input: the first byte selects the mode.
//   0: raw      pk (2592 bytes) || signature (4627 bytes) || message, any of
//               them short (wrong lengths must be refused cleanly).
//   1: mutate   a valid signature of a fixed key and message: bytes 1-2 give an
//               offset (big-endian, mod 4627), the rest is XORed into the
//               signature from there (reaches z and the hint encoding).
//   2: replace  the fixed key's public key with the signature bytes laid over
//               a valid signature from the offset (bytes 1-2), i.e. fuzzed
//               hint/z sections with everything else valid.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "core/coding.h"
#include "crypto/mldsa.h"

namespace {

using dsmil::Bytes;
using dsmil::ByteView;
using dsmil::Status;
using dsmil::StatusCode;
namespace crypto = dsmil::crypto;

struct Fixture {
  crypto::MlDsa87KeyPair kp;
  Bytes message;
  Bytes signature;
};

const Fixture& GetFixture() {
  static const Fixture* f = [] {
    auto* fx = new Fixture;
    std::array<uint8_t, 32> xi{};
    xi[0] = 87;
    fx->kp = crypto::MlDsa87KeyGenFromSeed(xi);
    fx->message = {'f', 'u', 'z', 'z'};
    auto sig = crypto::MlDsa87Sign(fx->kp.secret_key, fx->message, {}, crypto::MlDsaSigning::kDeterministic);
    if (!sig.ok()) std::abort();
    fx->signature = *sig;
    return fx;
  }();
  return *f;
}

void CheckStatus(const Status& s) {
  if (s.ok()) return;
  if (s.message().empty()) std::abort();
  if (s.code() != StatusCode::kUnauthenticated && s.code() != StatusCode::kInvalidArgument) {
    std::fprintf(stderr, "unexpected status: %s\n", s.ToString().c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Fixture& fx = GetFixture();
  const uint8_t mode = data[0] % 3;
  ByteView rest(data + 1, size - 1);

  if (mode == 0) {
    size_t pk_len = std::min(rest.size(), crypto::kMlDsa87PublicKeyBytes);
    ByteView pk = rest.subspan(0, pk_len);
    ByteView after = rest.subspan(pk_len);
    size_t sig_len = std::min(after.size(), crypto::kMlDsa87SignatureBytes);
    ByteView sig = after.subspan(0, sig_len);
    ByteView msg = after.subspan(sig_len);
    CheckStatus(crypto::MlDsa87Verify(pk, msg, {}, sig));
    CheckStatus(crypto::MlDsa87VerifyInternal(pk, msg, sig));
    return 0;
  }

  if (rest.size() < 2) return 0;
  size_t offset = ((size_t(rest[0]) << 8) | rest[1]) % crypto::kMlDsa87SignatureBytes;
  ByteView body = rest.subspan(2);
  Bytes sig = fx.signature;
  bool changed = false;
  for (size_t i = 0; i < body.size() && i < sig.size(); ++i) {
    uint8_t& b = sig[(offset + i) % sig.size()];
    uint8_t nb = mode == 1 ? uint8_t(b ^ body[i]) : body[i];
    changed |= nb != b;
    b = nb;
  }
  Status s = crypto::MlDsa87Verify(fx.kp.public_key, fx.message, {}, sig);
  CheckStatus(s);
  if (!changed && !s.ok()) {
    std::fprintf(stderr, "the untouched valid signature was refused: %s\n", s.ToString().c_str());
    std::abort();
  }
  if (s.ok() && sig != fx.signature) {
    // A different valid signature would need a forgery (or a hint encoding
    // accepted twice); FIPS 204 encodings are unique, so this is a bug.
    std::fprintf(stderr, "a modified signature verified\n");
    std::abort();
  }
  return 0;
}
