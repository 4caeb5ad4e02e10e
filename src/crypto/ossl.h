// Classical primitives through OpenSSL 3, plus secret-memory helpers:
// secure random bytes, SecureWipe / SecretBytes, ECDH P-384, HKDF-SHA-384,
// AES-256-GCM seal/open.
//
// All functions are thread-safe (they share no mutable state; OpenSSL 3's
// default library context is thread-safe). Errors are Status values naming the
// failing step; OpenSSL's error queue is drained into the message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/coding.h"
#include "core/status.h"

namespace dsmil::crypto {

// Overwrites `n` bytes at `p` with zeros in a way the compiler cannot elide
// (OPENSSL_cleanse).
void SecureWipe(void* p, size_t n);

// Allocator that wipes memory before giving it back, so a SecretBytes never
// leaves key material in freed heap (including on reallocation).
template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() noexcept = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept {
    SecureWipe(p, n * sizeof(T));
    ::operator delete(p);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

// Byte buffer for secrets (private keys, shared secrets): wiped when freed.
using SecretBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;

inline SecretBytes ToSecret(ByteView b) { return SecretBytes(b.begin(), b.end()); }

// Constant-time equality of two equal-length buffers (CRYPTO_memcmp); false
// when the lengths differ (the lengths are not secret).
bool ConstantTimeEquals(ByteView a, ByteView b);

// Fills `out` from OpenSSL's DRBG (RAND_priv_bytes). Fails only when the DRBG
// cannot be seeded.
Status RandomBytes(std::span<uint8_t> out);
Result<SecretBytes> RandomSecret(size_t n);

// ---- ECDH P-384 ----------------------------------------------------------

inline constexpr size_t kP384PublicKeyBytes = 97;     // uncompressed SEC1 point 0x04 || X || Y
inline constexpr size_t kP384PrivateKeyBytes = 48;    // big-endian scalar
inline constexpr size_t kP384SharedSecretBytes = 48;  // X coordinate of the shared point

// An ephemeral or static P-384 key pair. Move-only; owns an OpenSSL EVP_PKEY.
class EcdhP384KeyPair {
 public:
  // A fresh random key pair.
  static Result<EcdhP384KeyPair> Generate();

  EcdhP384KeyPair(EcdhP384KeyPair&&) noexcept;
  EcdhP384KeyPair& operator=(EcdhP384KeyPair&&) noexcept;
  ~EcdhP384KeyPair();

  // The 97-byte uncompressed public point.
  const Bytes& public_key() const { return public_key_; }
  // The 48-byte private scalar (for key files / tests).
  Result<SecretBytes> PrivateScalar() const;

  // ECDH with the peer's 97-byte uncompressed public point. The peer point is
  // validated (on the curve, not infinity); returns the 48-byte X coordinate.
  Result<SecretBytes> Derive(ByteView peer_public) const;

 private:
  struct Impl;
  explicit EcdhP384KeyPair(std::unique_ptr<Impl> impl, Bytes pub);
  std::unique_ptr<Impl> impl_;
  Bytes public_key_;
};

// ---- HKDF-SHA-384 (RFC 5869) ---------------------------------------------

// Extract-then-expand; out_len <= 255 * 48.
Result<SecretBytes> HkdfSha384(ByteView ikm, ByteView salt, ByteView info, size_t out_len);

// ---- AES-256-GCM -----------------------------------------------------------

inline constexpr size_t kAesGcmKeyBytes = 32;
inline constexpr size_t kAesGcmNonceBytes = 12;
inline constexpr size_t kAesGcmTagBytes = 16;

// Encrypts `plaintext` under a 32-byte key and a 12-byte nonce (never reuse a
// nonce with the same key), authenticating `aad` too. Returns
// ciphertext || 16-byte tag.
Result<Bytes> AesGcmSeal(ByteView key, ByteView nonce, ByteView plaintext, ByteView aad);
// Reverses AesGcmSeal; Unauthenticated when the tag does not verify (nothing
// of the plaintext is returned then).
Result<Bytes> AesGcmOpen(ByteView key, ByteView nonce, ByteView sealed, ByteView aad);

// A reusable AES-256-GCM context for one key (the key schedule is done once).
// Not thread-safe: one per thread.
class AesGcm {
 public:
  static Result<AesGcm> Create(ByteView key);
  AesGcm(AesGcm&&) noexcept;
  AesGcm& operator=(AesGcm&&) noexcept;
  ~AesGcm();
  // Writes plaintext.size() + 16 bytes to `out` (resized).
  Status Seal(ByteView nonce, ByteView plaintext, ByteView aad, Bytes& out);
  Status Open(ByteView nonce, ByteView sealed, ByteView aad, Bytes& out);

 private:
  struct Impl;
  explicit AesGcm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsmil::crypto
