// Tenant API keys for the OpenAI-compatible API (spec §4.2):
// `Authorization: Bearer sk-alpha-...` resolves to tenant ALPHA.
//
// A key looks like "sk-<tenant lower-case>-<id>-<secret>": id is 8 hex digits
// (shown by `list`, used by `revoke`), secret 48 hex digits (192 random bits).
// The plain key is returned once, by Create; the store keeps only its
// SHA3-256 hash, so a stolen key file does not give working keys.
//
// Storage: one text file (default <stores.path>/tenant/api_keys, mode 0600),
// one key per line:
//   <id> <TENANT> <sha3-256 hex of the key> <created_ms> <revoked_ms|0> <label>
// Writers take an exclusive flock on "<file>.lock", re-read the file, and
// replace it with a fresh file renamed over it, so several processes (dsmild
// replicas, dsmilctl) may create, revoke and resolve concurrently; readers
// reload the file when its inode, size or mtime changes.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dsmil::tenant {

struct ApiKeyInfo {
  std::string id;      // 8 hex digits
  std::string tenant;  // "ALPHA"
  std::string hash;    // SHA3-256 of the whole key, hex
  int64_t created_ms = 0;
  int64_t revoked_ms = 0;  // 0 while valid
  std::string label;       // free text without newlines ("" if none)

  bool revoked() const { return revoked_ms != 0; }
};

struct CreatedApiKey {
  std::string key;  // the plain key: shown once, never stored
  ApiKeyInfo info;
};

class ApiKeyStore {
 public:
  // Opens (creating the directory and an empty file if absent) the key file at
  // `path`. InvalidArgument for an empty path; Internal for I/O errors naming
  // the path.
  static Result<std::unique_ptr<ApiKeyStore>> Open(std::string path);

  ~ApiKeyStore();
  ApiKeyStore(const ApiKeyStore&) = delete;
  ApiKeyStore& operator=(const ApiKeyStore&) = delete;

  const std::string& path() const { return path_; }

  // Creates a key for `tenant` ([A-Z][A-Z0-9_]{0,31}). `label` may not hold
  // newlines. Returns the plain key (only here) and its record.
  Result<CreatedApiKey> Create(std::string_view tenant, std::string_view label = {});
  // Adds a key whose plain text is given (provisioning fixed keys in tests and
  // deployments). The key must start with "sk-<tenant lower>-" and be 20..200
  // printable characters. AlreadyExists if that key is stored.
  Result<ApiKeyInfo> Import(std::string_view tenant, std::string_view key, std::string_view label = {});
  // The keys of `tenant` ("" = every tenant), revoked ones included, oldest first.
  Result<std::vector<ApiKeyInfo>> List(std::string_view tenant = {});
  // Revokes key `id` of `tenant`. NotFound when the tenant has no such key;
  // revoking a revoked key is OK.
  Status Revoke(std::string_view tenant, std::string_view id);

  // The record of a presented key. Unauthenticated ("invalid API key") for
  // an unknown key or a malformed one, and ("API key <id> was revoked") for a
  // revoked one. Costs one stat() when the file is unchanged.
  Result<ApiKeyInfo> Resolve(std::string_view key);

 private:
  struct State;
  explicit ApiKeyStore(std::string path);
  std::string path_;
  std::unique_ptr<State> state_;
};

// SHA3-256 of `key` as 64 lower-case hex digits.
std::string HashApiKey(std::string_view key);

// Whether `tenant` is a valid tenant id ([A-Z][A-Z0-9_]{0,31}).
bool IsTenantId(std::string_view tenant);

}  // namespace dsmil::tenant
