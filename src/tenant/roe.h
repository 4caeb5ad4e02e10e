// Rules-of-engagement (ROE) tokens: the cluster's written authorization for a
// tenant to use a restricted scope (today "nc3": device 61, docs/l9.md).
//
// A token is a record {id, tenant, scope, issued_at, exp, issuer} signed with
// the cluster ROE key (ML-DSA-87, context kRoeTokenContext) over its signing
// text (RoeSigningText). The key pair lives under the stores' secrets dir:
//   <secrets_dir>/roe/roe-mldsa87.key (0600) and .pub  (RoeKeyPrefix)
// Tokens are kept in a registry file (default <stores.path>/tenant/roe_tokens,
// mode 0600), one token per line:
//   <id> <TENANT> <scope> <issued_at_s> <exp_s> <revoked_s|0> <signature hex> <issuer>
// Writers take an exclusive flock on "<file>.lock", re-read the file and
// replace it with a fresh file renamed over it (as tenant/keys.h does), so
// dsmilctl and running nodes may issue, revoke and check concurrently. A token
// is valid only while its signature verifies under the ROE public key, it is
// not revoked, now is in [issued_at, exp), and tenant and scope match.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/coding.h"
#include "core/status.h"
#include "store/config.h"
#include "tenant/registry_file.h"

namespace dsmil::tenant {

// ML-DSA-87 context string of ROE token signatures (FIPS 204 ctx).
inline constexpr const char* kRoeTokenContext = "DSMIL-ROE-TOKEN-v1";
// The one scope defined today: device 61 (NC3 Integration).
inline constexpr const char* kRoeScopeNc3 = "nc3";
// Longest lifetime a token may be issued with (24 hours).
inline constexpr int64_t kMaxRoeTokenLifetimeS = 24 * 3600;

struct RoeToken {
  std::string id;      // "roe-" + 16 hex digits
  std::string tenant;  // "ALPHA"
  std::string scope;   // "nc3"
  int64_t issued_at_s = 0;
  int64_t exp_s = 0;
  int64_t revoked_s = 0;  // 0 while not revoked
  std::string issuer;     // issuer's certificate CN or name (printable, no newline)
  Bytes signature;        // ML-DSA-87 over RoeSigningText

  bool revoked() const { return revoked_s != 0; }
};

// The bytes a token's signature covers:
//   "DSMIL-ROE-TOKEN-v1\nid=<id>\ntenant=<T>\nscope=<s>\nissued_at=<n>\nexp=<n>\nissuer=<cn>\n"
std::string RoeSigningText(const RoeToken& t);

// <secrets_dir>/roe/roe-mldsa87 (secrets_dir defaults to <path>/secrets).
std::string RoeKeyPrefix(const store::StoresConfig& stores);
// <stores.path>/tenant/roe_tokens.
std::string RoeTokenFile(const store::StoresConfig& stores);

// Creates the ROE key pair at `prefix` if absent; returns its public key.
Result<Bytes> EnsureRoeKeyPair(const std::string& prefix);

// Checks a token: signature under `roe_public_key`, not revoked, issued_at <=
// now < exp, lifetime within kMaxRoeTokenLifetimeS, tenant and scope equal.
// PermissionDenied naming the first failing check.
Status CheckRoeToken(const RoeToken& t, ByteView roe_public_key, std::string_view tenant, std::string_view scope,
                     int64_t now_s);

class RoeTokenStore {
 public:
  // Opens (creating the directory and an empty file if absent) the registry
  // at `path`. InvalidArgument for an empty path; Internal naming the path.
  static Result<std::unique_ptr<RoeTokenStore>> Open(std::string path);
  ~RoeTokenStore();
  RoeTokenStore(const RoeTokenStore&) = delete;
  RoeTokenStore& operator=(const RoeTokenStore&) = delete;

  const std::string& path() const { return path_; }

  // Issues and stores a token for `tenant` and `scope` valid from `now_s` for
  // `ttl_s` seconds (1..kMaxRoeTokenLifetimeS), signed with the raw ML-DSA-87
  // secret key `roe_secret_key`.
  Result<RoeToken> Issue(std::string_view tenant, std::string_view scope, int64_t ttl_s, std::string_view issuer,
                         ByteView roe_secret_key, int64_t now_s);
  // Tokens of `tenant` ("" = all), revoked and expired ones included, oldest first.
  Result<std::vector<RoeToken>> List(std::string_view tenant = {});
  // The token `id`; NotFound when there is none.
  Result<RoeToken> Find(std::string_view id);
  // Revokes token `id` at `now_s`. NotFound when absent; revoking twice is OK.
  Status Revoke(std::string_view id, int64_t now_s);

 private:
  explicit RoeTokenStore(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace dsmil::tenant
