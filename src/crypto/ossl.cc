// OpenSSL 3 glue: DRBG, cleanse, ECDH P-384, HKDF-SHA-384, AES-256-GCM.
#include "crypto/ossl.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstring>
#include <string>

namespace dsmil::crypto {
namespace {

// "what: <openssl error queue>" (drains the calling thread's error queue).
std::string OsslError(const std::string& what) {
  std::string msg = what;
  unsigned long e;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    msg += first ? ": " : "; ";
    msg += buf;
    first = false;
  }
  return msg;
}

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

Result<Bytes> EncodedPublic(EVP_PKEY* pkey) {
  unsigned char* buf = nullptr;
  size_t n = EVP_PKEY_get1_encoded_public_key(pkey, &buf);
  if (n == 0 || buf == nullptr) return Status::Internal(OsslError("p384: encoding the public key"));
  Bytes out(buf, buf + n);
  OPENSSL_free(buf);
  if (out.size() != kP384PublicKeyBytes) {
    return Status::Internal("p384: public key encodes to " + std::to_string(out.size()) + " bytes");
  }
  return out;
}

// An EVP_PKEY for a P-384 public point (validated by OpenSSL on import).
Result<PkeyPtr> PublicFromPoint(ByteView point) {
  if (point.size() != kP384PublicKeyBytes || point[0] != 0x04) {
    return Status::InvalidArgument("p384: peer public key must be a " + std::to_string(kP384PublicKeyBytes) +
                                   "-byte uncompressed point (0x04 || X || Y), got " + std::to_string(point.size()) +
                                   " bytes");
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("P-384"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<uint8_t*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
    return Status::InvalidArgument(OsslError("p384: peer public key is not a point on P-384"));
  }
  PkeyPtr pkey(raw);
  // P-384 has cofactor 1: a point on the curve (and not infinity) is in the
  // prime-order group, so the quick check (no n*Q scalar multiplication) is
  // the full validation.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) <= 0) {
    return Status::InvalidArgument(OsslError("p384: peer public key fails the point check"));
  }
  return pkey;
}

// The GCM tag through the provider parameters directly (cheaper than the
// EVP_CIPHER_CTX_ctrl translation layer on every message).
bool GetTag(EVP_CIPHER_CTX* c, uint8_t* tag) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kAesGcmTagBytes),
                         OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(c, params) == 1;
}

bool SetTag(EVP_CIPHER_CTX* c, uint8_t* tag) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kAesGcmTagBytes),
                         OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_set_params(c, params) == 1;
}

}  // namespace

void SecureWipe(void* p, size_t n) {
  if (p != nullptr && n > 0) OPENSSL_cleanse(p, n);
}

bool ConstantTimeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status RandomBytes(std::span<uint8_t> out) {
  if (out.empty()) return Status::Ok();
  if (RAND_priv_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return Status::Internal(OsslError("random: RAND_priv_bytes failed"));
  }
  return Status::Ok();
}

Result<SecretBytes> RandomSecret(size_t n) {
  SecretBytes s(n);
  DSMIL_RETURN_IF_ERROR(RandomBytes(s));
  return s;
}

// ---- ECDH P-384 ----------------------------------------------------------

struct EcdhP384KeyPair::Impl {
  PkeyPtr pkey;
};

EcdhP384KeyPair::EcdhP384KeyPair(std::unique_ptr<Impl> impl, Bytes pub)
    : impl_(std::move(impl)), public_key_(std::move(pub)) {}
EcdhP384KeyPair::EcdhP384KeyPair(EcdhP384KeyPair&&) noexcept = default;
EcdhP384KeyPair& EcdhP384KeyPair::operator=(EcdhP384KeyPair&&) noexcept = default;
EcdhP384KeyPair::~EcdhP384KeyPair() = default;

Result<EcdhP384KeyPair> EcdhP384KeyPair::Generate() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  if (raw == nullptr) return Status::Internal(OsslError("p384: key generation failed"));
  auto impl = std::make_unique<Impl>();
  impl->pkey.reset(raw);
  DSMIL_ASSIGN_OR_RETURN(Bytes pub, EncodedPublic(raw));
  return EcdhP384KeyPair(std::move(impl), std::move(pub));
}

Result<SecretBytes> EcdhP384KeyPair::PrivateScalar() const {
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) <= 0) {
    return Status::Internal(OsslError("p384: reading the private scalar"));
  }
  SecretBytes out(kP384PrivateKeyBytes);
  int ok = BN_bn2binpad(d, out.data(), static_cast<int>(out.size()));
  BN_clear_free(d);
  if (ok < 0) return Status::Internal("p384: private scalar does not fit 48 bytes");
  return out;
}

Result<SecretBytes> EcdhP384KeyPair::Derive(ByteView peer_public) const {
  // PublicFromPoint has validated the point; set_peer need not check it again.
  DSMIL_ASSIGN_OR_RETURN(PkeyPtr peer, PublicFromPoint(peer_public));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  size_t n = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_derive_set_peer_ex(ctx.get(), peer.get(), /*validate_peer=*/0) <= 0 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &n) <= 0) {
    return Status::InvalidArgument(OsslError("p384: ECDH with the peer key failed"));
  }
  SecretBytes out(n);
  if (EVP_PKEY_derive(ctx.get(), out.data(), &n) <= 0) {
    return Status::InvalidArgument(OsslError("p384: ECDH derive failed"));
  }
  out.resize(n);
  if (n != kP384SharedSecretBytes) {
    return Status::Internal("p384: shared secret is " + std::to_string(n) + " bytes");
  }
  return out;
}

// ---- HKDF ------------------------------------------------------------------

Result<SecretBytes> HkdfSha384(ByteView ikm, ByteView salt, ByteView info, size_t out_len) {
  if (out_len == 0 || out_len > 255 * 48) {
    return Status::InvalidArgument("hkdf-sha384: output length " + std::to_string(out_len) + " outside 1..12240");
  }
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return Status::Internal(OsslError("hkdf-sha384: HKDF unavailable"));
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) return Status::Internal(OsslError("hkdf-sha384: context"));
  static const uint8_t kEmpty[1] = {0};
  OSSL_PARAM params[5];
  int i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA384"), 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<uint8_t*>(ikm.empty() ? kEmpty : ikm.data()), ikm.size());
  if (!salt.empty()) {
    params[i++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[i++] =
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()), info.size());
  }
  params[i] = OSSL_PARAM_construct_end();
  SecretBytes out(out_len);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) <= 0) {
    return Status::Internal(OsslError("hkdf-sha384: derive failed"));
  }
  return out;
}

// ---- AES-256-GCM -----------------------------------------------------------

struct AesGcm::Impl {
  CipherCtxPtr enc;
  CipherCtxPtr dec;
};

AesGcm::AesGcm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AesGcm::AesGcm(AesGcm&&) noexcept = default;
AesGcm& AesGcm::operator=(AesGcm&&) noexcept = default;
AesGcm::~AesGcm() = default;

Result<AesGcm> AesGcm::Create(ByteView key) {
  if (key.size() != kAesGcmKeyBytes) {
    return Status::InvalidArgument("aes-256-gcm: key is " + std::to_string(key.size()) + " bytes, expected 32");
  }
  auto impl = std::make_unique<Impl>();
  impl->enc.reset(EVP_CIPHER_CTX_new());
  impl->dec.reset(EVP_CIPHER_CTX_new());
  if (!impl->enc || !impl->dec ||
      EVP_EncryptInit_ex(impl->enc.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(impl->dec.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr) != 1) {
    return Status::Internal(OsslError("aes-256-gcm: key setup failed"));
  }
  return AesGcm(std::move(impl));
}

Status AesGcm::Seal(ByteView nonce, ByteView plaintext, ByteView aad, Bytes& out) {
  if (nonce.size() != kAesGcmNonceBytes) {
    return Status::InvalidArgument("aes-256-gcm: nonce is " + std::to_string(nonce.size()) + " bytes, expected 12");
  }
  EVP_CIPHER_CTX* c = impl_->enc.get();
  out.resize(plaintext.size() + kAesGcmTagBytes);
  int len = 0;
  if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(c, out.data(), &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(c, out.data() + len, &len) != 1 || !GetTag(c, out.data() + plaintext.size())) {
    return Status::Internal(OsslError("aes-256-gcm: seal failed"));
  }
  return Status::Ok();
}

Status AesGcm::Open(ByteView nonce, ByteView sealed, ByteView aad, Bytes& out) {
  if (nonce.size() != kAesGcmNonceBytes) {
    return Status::InvalidArgument("aes-256-gcm: nonce is " + std::to_string(nonce.size()) + " bytes, expected 12");
  }
  if (sealed.size() < kAesGcmTagBytes) {
    return Status::InvalidArgument("aes-256-gcm: sealed message is " + std::to_string(sealed.size()) +
                                   " bytes, shorter than the 16-byte tag");
  }
  size_t n = sealed.size() - kAesGcmTagBytes;
  EVP_CIPHER_CTX* c = impl_->dec.get();
  out.resize(n);
  uint8_t tag[kAesGcmTagBytes];
  std::memcpy(tag, sealed.data() + n, kAesGcmTagBytes);
  int len = 0;
  if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(c, out.data(), &len, sealed.data(), static_cast<int>(n)) != 1 || !SetTag(c, tag)) {
    SecureWipe(out.data(), out.size());
    out.clear();
    return Status::Internal(OsslError("aes-256-gcm: open failed"));
  }
  if (EVP_DecryptFinal_ex(c, out.data() + len, &len) != 1) {
    ERR_clear_error();
    SecureWipe(out.data(), out.size());
    out.clear();
    return Status::Unauthenticated("aes-256-gcm: authentication tag does not verify");
  }
  return Status::Ok();
}

Result<Bytes> AesGcmSeal(ByteView key, ByteView nonce, ByteView plaintext, ByteView aad) {
  DSMIL_ASSIGN_OR_RETURN(AesGcm g, AesGcm::Create(key));
  Bytes out;
  DSMIL_RETURN_IF_ERROR(g.Seal(nonce, plaintext, aad, out));
  return out;
}

Result<Bytes> AesGcmOpen(ByteView key, ByteView nonce, ByteView sealed, ByteView aad) {
  DSMIL_ASSIGN_OR_RETURN(AesGcm g, AesGcm::Create(key));
  Bytes out;
  DSMIL_RETURN_IF_ERROR(g.Open(nonce, sealed, aad, out));
  return out;
}

}  // namespace dsmil::crypto
