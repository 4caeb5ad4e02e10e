#include "tenant/claims.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "crypto/sha3.h"
#include "tenant/keys.h"

namespace dsmil::tenant {
namespace {

constexpr char kMagic[] = "DCT1";
constexpr size_t kPrefix = 8;  // magic + u32 length

bool ValidUser(std::string_view u) {
  if (u.empty() || u.size() > 128) return false;
  for (char c : u) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
  }
  return out;
}

Result<Claim> ParseClaim(ByteView token, size_t* signed_len) {
  auto bad = [](const std::string& why) { return Status::Unauthenticated("claim token: malformed (" + why + ")"); };
  if (token.size() < kPrefix + crypto::kMlDsa87SignatureBytes) return bad("too short");
  if (std::memcmp(token.data(), kMagic, 4) != 0) return bad("bad magic");
  uint32_t len = GetU32BE(token.data() + 4);
  if (len == 0 || len > kMaxClaimJsonBytes) return bad("claim length " + std::to_string(len));
  if (token.size() != kPrefix + len + crypto::kMlDsa87SignatureBytes) return bad("length mismatch");
  std::string_view json_text(reinterpret_cast<const char*>(token.data() + kPrefix), len);
  nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("claim is not a JSON object");
  Claim c;
  auto str = [&](const char* k, std::string* out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  auto num = [&](const char* k, int64_t* out) {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_integer()) return false;
    *out = it->get<int64_t>();
    return true;
  };
  if (!str("tenant_id", &c.tenant_id) || !IsTenantId(c.tenant_id)) return bad("tenant_id");
  if (!str("user_id", &c.user_id) || !ValidUser(c.user_id)) return bad("user_id");
  if (!num("issued_at", &c.issued_at)) return bad("issued_at");
  if (!num("exp", &c.exp) || c.exp <= c.issued_at) return bad("exp");
  *signed_len = kPrefix + len;
  return c;
}

}  // namespace

Result<Bytes> SignClaim(const Claim& claim, ByteView secret_key) {
  if (!IsTenantId(claim.tenant_id))
    return Status::InvalidArgument("claim: invalid tenant_id '" + claim.tenant_id + "'");
  if (!ValidUser(claim.user_id)) return Status::InvalidArgument("claim: user_id must be 1..128 printable characters");
  if (claim.exp <= claim.issued_at) return Status::InvalidArgument("claim: exp must be after issued_at");
  if (claim.exp - claim.issued_at > kMaxClaimLifetimeS) {
    return Status::InvalidArgument("claim: lifetime of " + std::to_string(claim.exp - claim.issued_at) +
                                   " s is over the maximum of " + std::to_string(kMaxClaimLifetimeS) + " s");
  }
  nlohmann::json j = {
      {"tenant_id", claim.tenant_id}, {"user_id", claim.user_id}, {"issued_at", claim.issued_at}, {"exp", claim.exp}};
  std::string text = j.dump();
  if (text.size() > kMaxClaimJsonBytes) return Status::InvalidArgument("claim: too long");
  Bytes token(kMagic, kMagic + 4);
  AppendU32BE(token, uint32_t(text.size()));
  token.insert(token.end(), text.begin(), text.end());
  DSMIL_ASSIGN_OR_RETURN(Bytes sig, crypto::MlDsa87Sign(secret_key, token, AsBytes(kClaimSignatureContext)));
  token.insert(token.end(), sig.begin(), sig.end());
  return token;
}

Result<Claim> PeekClaim(ByteView token) {
  size_t signed_len = 0;
  return ParseClaim(token, &signed_len);
}

Result<Claim> VerifyClaim(ByteView token, ByteView public_key, int64_t now_s) {
  size_t signed_len = 0;
  DSMIL_ASSIGN_OR_RETURN(Claim c, ParseClaim(token, &signed_len));
  Status s = crypto::MlDsa87Verify(public_key, token.subspan(0, signed_len), AsBytes(kClaimSignatureContext),
                                   token.subspan(signed_len));
  if (!s.ok()) return Status::Unauthenticated("claim token: signature does not verify");
  if (now_s >= c.exp) return Status::Unauthenticated("claim token: expired at " + std::to_string(c.exp));
  if (c.issued_at > now_s + 60) return Status::Unauthenticated("claim token: issued in the future");
  if (c.exp - c.issued_at > kMaxClaimLifetimeS) {
    return Status::Unauthenticated("claim token: lifetime of " + std::to_string(c.exp - c.issued_at) +
                                   " s is over the maximum of " + std::to_string(kMaxClaimLifetimeS) + " s");
  }
  return c;
}

Result<crypto::SecretBytes> ClaimKeyring::SigningKey(const std::string& tenant) {
  if (!IsTenantId(tenant)) return Status::InvalidArgument("claim keys: invalid tenant id '" + tenant + "'");
  MutexLock g(mu_);
  std::string prefix = dir_ + "/" + Lower(tenant);
  std::error_code ec;
  if (!std::filesystem::exists(prefix + ".key", ec)) {
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::Internal("claim keys: create " + dir_ + ": " + ec.message());
    DSMIL_ASSIGN_OR_RETURN(crypto::MlDsa87KeyPair kp, crypto::MlDsa87KeyGen());
    DSMIL_RETURN_IF_ERROR(crypto::WriteKeyPair(prefix, crypto::KeyAlg::kMlDsa87, kp.public_key, kp.secret_key));
    public_keys_[tenant] = kp.public_key;
    return std::move(kp.secret_key);
  }
  DSMIL_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::ReadPrivateKey(prefix + ".key", crypto::KeyAlg::kMlDsa87));
  return std::move(key.key);
}

Result<Bytes> ClaimKeyring::PublicKey(const std::string& tenant) {
  if (!IsTenantId(tenant)) return Status::InvalidArgument("claim keys: invalid tenant id '" + tenant + "'");
  MutexLock g(mu_);
  auto it = public_keys_.find(tenant);
  if (it != public_keys_.end()) return it->second;
  std::string path = dir_ + "/" + Lower(tenant) + ".pub";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status::NotFound("claim keys: tenant " + tenant + " has no key (" + path + ")");
  DSMIL_ASSIGN_OR_RETURN(Bytes pk, crypto::ReadPublicKey(path, crypto::KeyAlg::kMlDsa87));
  public_keys_[tenant] = pk;
  return pk;
}

Result<Claim> ClaimVerifier::Verify(ByteView token, const std::string& expected_tenant, int64_t now_s) {
  // Cache key: the last 32 bytes of the token (the end of the ML-DSA-87
  // signature); a hit counts only when the whole token is byte-for-byte the
  // one that was verified. Cheaper than hashing the 4.7 kB token, and a
  // crafted token sharing the tail is simply a miss.
  std::string key(reinterpret_cast<const char*>(token.data() + (token.size() > 32 ? token.size() - 32 : 0)),
                  std::min<size_t>(token.size(), 32));
  {
    MutexLock g(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() &&
        !std::equal(token.begin(), token.end(), it->second.token.begin(), it->second.token.end())) {
      it = cache_.end();  // same tail, other token: verify it
    }
    if (it != cache_.end()) {
      if (now_s < it->second.claim.exp) {
        lru_.splice(lru_.begin(), lru_, it->second.pos);
        ++hits_;
        Claim c = it->second.claim;
        if (c.tenant_id != expected_tenant) {
          return Status::PermissionDenied("claim token is for tenant " + c.tenant_id + ", request is for " +
                                          expected_tenant);
        }
        return c;
      }
      lru_.erase(it->second.pos);
      cache_.erase(it);
    }
  }
  DSMIL_ASSIGN_OR_RETURN(Claim peek, PeekClaim(token));
  if (peek.tenant_id != expected_tenant) {
    return Status::PermissionDenied("claim token is for tenant " + peek.tenant_id + ", request is for " +
                                    expected_tenant);
  }
  auto pk = public_key_(peek.tenant_id);
  if (!pk.ok()) return Status::Unauthenticated("claim token: no key for tenant " + peek.tenant_id);
  DSMIL_ASSIGN_OR_RETURN(Claim c, VerifyClaim(token, *pk, now_s));
  MutexLock g(mu_);
  ++verifications_;
  if (auto old = cache_.find(key); old != cache_.end()) {
    lru_.erase(old->second.pos);
    cache_.erase(old);
  }
  if (capacity_ > 0) {
    while (cache_.size() >= capacity_) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    cache_.emplace(key, Entry{c, Bytes(token.begin(), token.end()), lru_.begin()});
  }
  return c;
}

uint64_t ClaimVerifier::cache_hits() const {
  MutexLock g(mu_);
  return hits_;
}

uint64_t ClaimVerifier::verifications() const {
  MutexLock g(mu_);
  return verifications_;
}

Result<Bytes> ClaimIssuer::TokenFor(const std::string& tenant, const std::string& user_id, int64_t now_s) {
  {
    MutexLock g(mu_);
    auto it = issued_.find({tenant, user_id});
    if (it != issued_.end() && now_s < it->second.renew_at) return it->second.token;
  }
  DSMIL_ASSIGN_OR_RETURN(crypto::SecretBytes sk, keyring_->SigningKey(tenant));
  Claim c{tenant, user_id, now_s, now_s + lifetime_.count()};
  DSMIL_ASSIGN_OR_RETURN(Bytes token, SignClaim(c, sk));
  MutexLock g(mu_);
  issued_[{tenant, user_id}] = Issued{token, now_s + lifetime_.count() - lifetime_.count() / 10};
  return token;
}

}  // namespace dsmil::tenant
