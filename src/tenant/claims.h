// L7 claim tokens (spec §4.2): the OpenAI front signs, per API key or
// session, a statement {"tenant_id","user_id","issued_at","exp"} with the
// tenant's ML-DSA-87 key; it travels as the L7_CLAIM_TOKEN TLV and the L7
// router (device 43) verifies it before anything else, refusing forged,
// expired and other-tenant tokens.
//
// Token bytes (all integers big-endian):
//   "DCT1" | u32 claim_length | claim JSON (claim_length bytes) | ML-DSA-87 signature (4627)
// The signature covers "DCT1" | u32 claim_length | claim JSON, with the
// ML-DSA context string kClaimSignatureContext. The claim JSON is
//   {"tenant_id":"ALPHA","user_id":"key:3f9a1c2b","issued_at":1764245000,"exp":1764248600}
// (seconds since the Unix epoch).
//
// Keys: one ML-DSA-87 pair per tenant under <dir>/<tenant lower>.{key,pub}
// (crypto/keyfile.h formats; dir defaults to <secrets_dir>/claims).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/coding.h"
#include "core/mutex.h"
#include "core/status.h"
#include "crypto/ossl.h"

namespace dsmil::tenant {

inline constexpr char kClaimSignatureContext[] = "DSMIL-L7-CLAIM-v1";
inline constexpr size_t kMaxClaimJsonBytes = 1024;
// Longest lifetime (exp - issued_at) a claim may have: signed or verified
// claims above it are refused, so a leaked token cannot live for years.
inline constexpr int64_t kMaxClaimLifetimeS = 24 * 3600;

struct Claim {
  std::string tenant_id;
  std::string user_id;    // 1..128 printable ASCII
  int64_t issued_at = 0;  // s
  int64_t exp = 0;        // s; exp > issued_at
};

// Signs `claim` with the tenant's ML-DSA-87 secret key. InvalidArgument for
// an invalid tenant/user id or exp <= issued_at.
Result<Bytes> SignClaim(const Claim& claim, ByteView secret_key);

// Parses the token and checks its signature with `public_key`, then that it
// has not expired at `now_s` (and was not issued more than 60 s in the
// future). Unauthenticated with the reason: "claim token: malformed ...",
// "claim token: signature does not verify", "claim token: expired at ...".
Result<Claim> VerifyClaim(ByteView token, ByteView public_key, int64_t now_s);

// The claim part of a token without checking the signature (for logs).
Result<Claim> PeekClaim(ByteView token);

// Per-tenant claim keys in one directory.
class ClaimKeyring {
 public:
  explicit ClaimKeyring(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  // The tenant's secret key, creating the pair (mode 0600/0644) if absent.
  Result<crypto::SecretBytes> SigningKey(const std::string& tenant);
  // The tenant's public key (cached after the first read). NotFound when the
  // tenant has no key pair.
  Result<Bytes> PublicKey(const std::string& tenant);

 private:
  std::string dir_;
  Mutex mu_;
  std::map<std::string, Bytes> public_keys_ DSMIL_GUARDED_BY(mu_);
};

// Verifies tokens, caching the verified ones (compared byte for byte; until
// they expire; at most `capacity` entries, least recently used
// evicted), so a token reused for a session costs one hash, not an ML-DSA
// verification. Thread-safe.
class ClaimVerifier {
 public:
  using KeyLookup = std::function<Result<Bytes>(const std::string& tenant)>;
  ClaimVerifier(KeyLookup public_key, size_t capacity = 4096)
      : public_key_(std::move(public_key)), capacity_(capacity) {}

  // The verified claim, which must name `expected_tenant` (PermissionDenied
  // "claim token is for tenant BRAVO, request is for ALPHA" otherwise).
  Result<Claim> Verify(ByteView token, const std::string& expected_tenant, int64_t now_s);

  uint64_t cache_hits() const;
  uint64_t verifications() const;

 private:
  KeyLookup public_key_;
  size_t capacity_;
  mutable Mutex mu_;
  std::list<std::string> lru_ DSMIL_GUARDED_BY(mu_);  // most recent first
  struct Entry {
    Claim claim;
    Bytes token;  // the verified token, compared whole on a hit
    std::list<std::string>::iterator pos;
  };
  std::unordered_map<std::string, Entry> cache_ DSMIL_GUARDED_BY(mu_);
  uint64_t hits_ DSMIL_GUARDED_BY(mu_) = 0;
  uint64_t verifications_ DSMIL_GUARDED_BY(mu_) = 0;
};

// Issues tokens, reusing one per (tenant, user) until `lifetime` minus a
// margin of a tenth of it has passed. Thread-safe.
class ClaimIssuer {
 public:
  ClaimIssuer(ClaimKeyring* keyring, std::chrono::seconds lifetime = std::chrono::minutes(15))
      : keyring_(keyring), lifetime_(lifetime) {}
  Result<Bytes> TokenFor(const std::string& tenant, const std::string& user_id, int64_t now_s);

 private:
  ClaimKeyring* keyring_;
  std::chrono::seconds lifetime_;
  Mutex mu_;
  struct Issued {
    Bytes token;
    int64_t renew_at = 0;
  };
  std::map<std::pair<std::string, std::string>, Issued> issued_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace dsmil::tenant
