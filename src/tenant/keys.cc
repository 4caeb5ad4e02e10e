#include "tenant/keys.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/coding.h"
#include "core/mutex.h"
#include "crypto/ossl.h"
#include "crypto/sha3.h"
#include "tenant/registry_file.h"

namespace dsmil::tenant {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

struct FileId {
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = -1;
  bool operator==(const FileId&) const = default;
};

FileId StatFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileId{st.st_ino, st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

Result<std::vector<ApiKeyInfo>> ParseFile(const std::string& path) {
  std::ifstream in(path);
  std::vector<ApiKeyInfo> out;
  if (!in) return out;  // absent: no keys
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    ApiKeyInfo k;
    if (!(ls >> k.id >> k.tenant >> k.hash >> k.created_ms >> k.revoked_ms)) {
      return Status::DataLoss("api keys: " + path + ": line " + std::to_string(n) + " is malformed");
    }
    std::getline(ls, k.label);
    if (!k.label.empty() && k.label[0] == ' ') k.label.erase(0, 1);
    out.push_back(std::move(k));
  }
  return out;
}

Status WriteFile(const std::string& path, const std::vector<ApiKeyInfo>& keys) {
  std::string text = "# id tenant sha3-256(key) created_ms revoked_ms label\n";
  for (const ApiKeyInfo& k : keys) {
    text += k.id + " " + k.tenant + " " + k.hash + " " + std::to_string(k.created_ms) + " " +
            std::to_string(k.revoked_ms) + " " + k.label + "\n";
  }
  return internal::ReplaceFile(path, text, "api keys");
}

Result<std::string> RandomHex(size_t bytes) {
  Bytes b(bytes);
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(b));
  return ToHex(b);
}

bool ValidLabel(std::string_view label) {
  for (char c : label) {
    if (c == '\n' || c == '\r' || c == '\0') return false;
  }
  return label.size() <= 200;
}

}  // namespace

bool IsTenantId(std::string_view t) {
  if (t.empty() || t.size() > 32 || !(t[0] >= 'A' && t[0] <= 'Z')) return false;
  for (char c : t) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string HashApiKey(std::string_view key) { return ToHex(crypto::Sha3_256(AsBytes(key))); }

struct ApiKeyStore::State {
  Mutex mu;
  FileId loaded DSMIL_GUARDED_BY(mu);
  std::vector<ApiKeyInfo> keys DSMIL_GUARDED_BY(mu);
  std::unordered_map<std::string, size_t> by_hash DSMIL_GUARDED_BY(mu);

  // Re-reads the file when it changed.
  Status RefreshLocked(const std::string& path) DSMIL_REQUIRES(mu) {
    FileId now = StatFile(path);
    if (now == loaded && now.size >= 0) return Status::Ok();
    DSMIL_ASSIGN_OR_RETURN(std::vector<ApiKeyInfo> parsed, ParseFile(path));
    keys = std::move(parsed);
    by_hash.clear();
    for (size_t i = 0; i < keys.size(); ++i) by_hash[keys[i].hash] = i;
    loaded = now;
    return Status::Ok();
  }
};

ApiKeyStore::ApiKeyStore(std::string path) : path_(std::move(path)), state_(std::make_unique<State>()) {}
ApiKeyStore::~ApiKeyStore() = default;

Result<std::unique_ptr<ApiKeyStore>> ApiKeyStore::Open(std::string path) {
  if (path.empty()) return Status::InvalidArgument("api keys: empty key file path");
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Internal("api keys: create directory " + dir.string() + ": " + ec.message());
  {
    DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path, "api keys"));
    if (StatFile(path).size < 0) DSMIL_RETURN_IF_ERROR(WriteFile(path, {}));
  }
  std::unique_ptr<ApiKeyStore> store(new ApiKeyStore(std::move(path)));
  MutexLock g(store->state_->mu);
  DSMIL_RETURN_IF_ERROR(store->state_->RefreshLocked(store->path_));
  return store;
}

Result<CreatedApiKey> ApiKeyStore::Create(std::string_view tenant, std::string_view label) {
  if (!IsTenantId(tenant)) return Status::InvalidArgument("api keys: invalid tenant id '" + std::string(tenant) + "'");
  DSMIL_ASSIGN_OR_RETURN(std::string id, RandomHex(4));
  DSMIL_ASSIGN_OR_RETURN(std::string secret, RandomHex(24));
  std::string key = "sk-" + Lower(tenant) + "-" + id + "-" + secret;
  DSMIL_ASSIGN_OR_RETURN(ApiKeyInfo info, Import(tenant, key, label));
  return CreatedApiKey{std::move(key), std::move(info)};
}

Result<ApiKeyInfo> ApiKeyStore::Import(std::string_view tenant, std::string_view key, std::string_view label) {
  if (!IsTenantId(tenant)) return Status::InvalidArgument("api keys: invalid tenant id '" + std::string(tenant) + "'");
  if (!ValidLabel(label)) return Status::InvalidArgument("api keys: label must be one line of at most 200 bytes");
  std::string prefix = "sk-" + Lower(tenant) + "-";
  if (key.size() < 20 || key.size() > 200 || key.substr(0, prefix.size()) != prefix) {
    return Status::InvalidArgument("api keys: a key of tenant " + std::string(tenant) + " starts with '" + prefix +
                                   "' and has 20..200 characters");
  }
  for (char c : key) {
    if (c <= 0x20 || c >= 0x7F) return Status::InvalidArgument("api keys: key holds a non-printable character");
  }
  ApiKeyInfo info;
  info.tenant = std::string(tenant);
  info.hash = HashApiKey(key);
  info.created_ms = NowMs();
  info.label = std::string(label);
  DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path_, "api keys"));
  DSMIL_ASSIGN_OR_RETURN(std::vector<ApiKeyInfo> keys, ParseFile(path_));
  for (const ApiKeyInfo& k : keys) {
    if (k.hash == info.hash) return Status::AlreadyExists("api keys: this key is already stored (id " + k.id + ")");
  }
  // The id: from the key when it has the "sk-<t>-<8 hex>-" form, else random.
  std::string_view rest = key.substr(prefix.size());
  bool hex_id = rest.size() > 9 && rest[8] == '-';
  for (size_t i = 0; hex_id && i < 8; ++i) hex_id = std::isxdigit(static_cast<unsigned char>(rest[i])) != 0;
  if (hex_id) {
    info.id = Lower(rest.substr(0, 8));
  } else {
    DSMIL_ASSIGN_OR_RETURN(info.id, RandomHex(4));
  }
  for (const ApiKeyInfo& k : keys) {
    if (k.id == info.id) {
      DSMIL_ASSIGN_OR_RETURN(info.id, RandomHex(4));
      break;
    }
  }
  keys.push_back(info);
  DSMIL_RETURN_IF_ERROR(WriteFile(path_, keys));
  return info;
}

Result<std::vector<ApiKeyInfo>> ApiKeyStore::List(std::string_view tenant) {
  MutexLock g(state_->mu);
  DSMIL_RETURN_IF_ERROR(state_->RefreshLocked(path_));
  std::vector<ApiKeyInfo> out;
  for (const ApiKeyInfo& k : state_->keys) {
    if (tenant.empty() || k.tenant == tenant) out.push_back(k);
  }
  return out;
}

Status ApiKeyStore::Revoke(std::string_view tenant, std::string_view id) {
  DSMIL_ASSIGN_OR_RETURN(internal::FileLock lock, internal::FileLock::Take(path_, "api keys"));
  DSMIL_ASSIGN_OR_RETURN(std::vector<ApiKeyInfo> keys, ParseFile(path_));
  for (ApiKeyInfo& k : keys) {
    if (k.tenant == tenant && k.id == id) {
      if (k.revoked_ms != 0) return Status::Ok();
      k.revoked_ms = NowMs();
      return WriteFile(path_, keys);
    }
  }
  return Status::NotFound("api keys: tenant " + std::string(tenant) + " has no key with id '" + std::string(id) + "'");
}

Result<ApiKeyInfo> ApiKeyStore::Resolve(std::string_view key) {
  if (key.size() < 20 || key.size() > 200 || key.substr(0, 3) != "sk-") {
    return Status::Unauthenticated("invalid API key");
  }
  std::string hash = HashApiKey(key);
  MutexLock g(state_->mu);
  DSMIL_RETURN_IF_ERROR(state_->RefreshLocked(path_));
  auto it = state_->by_hash.find(hash);
  if (it == state_->by_hash.end()) return Status::Unauthenticated("invalid API key");
  const ApiKeyInfo& k = state_->keys[it->second];
  if (k.revoked()) return Status::Unauthenticated("API key " + k.id + " was revoked");
  return k;
}

}  // namespace dsmil::tenant
