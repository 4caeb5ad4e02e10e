#include "store/redis_acl.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/coding.h"
#include "crypto/ossl.h"
#include "store/config.h"
#include "store/scope.h"

namespace dsmil::store {

std::string RedisPasswordHash(const std::string& password) {
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
  return ToHex(ByteView(digest, sizeof digest));
}

Result<std::vector<std::string>> RedisAclUsers(std::span<const std::string> tenants) {
  std::vector<std::string> users;
  for (const std::string& t : tenants) {
    DSMIL_ASSIGN_OR_RETURN(TenantScope scope, TenantScope::For(t));
    users.push_back(scope.RedisUser(Access::kWriter));
    users.push_back(scope.RedisUser(Access::kReader));
    users.push_back(scope.RedisUser(Access::kIngest));
  }
  users.push_back(kRedisAdminUser);
  return users;
}

Result<std::string> RenderRedisAcl(std::span<const std::string> tenants,
                                   const std::map<std::string, std::string>& passwords) {
  auto hash_of = [&](const std::string& user) -> Result<std::string> {
    auto it = passwords.find(user);
    if (it == passwords.end() || it->second.empty()) {
      return Status::InvalidArgument("redis acl: no password for user " + user);
    }
    return RedisPasswordHash(it->second);
  };
  // Redis 7.0 refuses comment lines in an ACL file: the text is rules only.
  //
  // The default user is off and has no password, so no connection can act as
  // it. It keeps its permissions nonetheless: Redis 7.0 replays the MULTI/EXEC
  // blocks of its AOF (the XCLAIMs that XREADGROUP and XAUTOCLAIM propagate)
  // as the default user and checks them against its ACL at EXEC, so a default
  // user without permissions silently drops every consumer group's pending
  // list on restart (measured on 7.0.15).
  std::string out = "user default off ~* &* +@all\n";
  for (const std::string& t : tenants) {
    DSMIL_ASSIGN_OR_RETURN(TenantScope scope, TenantScope::For(t));
    std::string pattern = scope.StreamPattern();
    std::string writer = scope.RedisUser(Access::kWriter);
    std::string reader = scope.RedisUser(Access::kReader);
    std::string ingest = scope.RedisUser(Access::kIngest);
    DSMIL_ASSIGN_OR_RETURN(std::string wh, hash_of(writer));
    DSMIL_ASSIGN_OR_RETURN(std::string rh, hash_of(reader));
    DSMIL_ASSIGN_OR_RETURN(std::string ih, hash_of(ingest));
    out.append("user ").append(writer).append(" on #").append(wh);
    out.append(" resetkeys resetchannels ~").append(pattern).append(" -@all +xadd +xtrim +ping +auth +hello\n");
    out.append("user ").append(reader).append(" on #").append(rh);
    out.append(" resetkeys resetchannels %R~").append(pattern);
    out.append(" -@all +xreadgroup +xread +xrange +xrevrange +xlen +xpending +xinfo +ping +auth +hello (~");
    out.append(pattern).append(" +xack +xgroup|create +xautoclaim +xclaim)\n");
    // Ingest: the raw input stream and the dead letters of what it refused,
    // never a stream the pipeline writes (Access::kIngest, MayAppend).
    out.append("user ").append(ingest).append(" on #").append(ih);
    out.append(" resetkeys resetchannels ~").append(scope.Stream(StreamKind::kL3In));
    out.append(" ~").append(scope.Stream(StreamKind::kDeadLetter)).append(" -@all +xadd +ping +auth +hello\n");
  }
  DSMIL_ASSIGN_OR_RETURN(std::string ah, hash_of(kRedisAdminUser));
  out += std::string("user ") + kRedisAdminUser + " on #" + ah + " ~* &* +@all\n";
  return out;
}

namespace {

Status WriteNewSecret(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("cannot create secret file " + path + ": " + std::strerror(errno));
  std::string line = value + "\n";
  ssize_t n = ::write(fd, line.data(), line.size());
  int close_rc = ::close(fd);
  if (n != ssize_t(line.size()) || close_rc != 0) {
    return Status::Unavailable("cannot write secret file " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<std::map<std::string, std::string>> EnsureRedisPasswords(const std::string& secrets_dir,
                                                                std::span<const std::string> tenants,
                                                                std::vector<std::string>* created) {
  if (secrets_dir.empty()) return Status::InvalidArgument("redis acl: the secrets directory is not set");
  DSMIL_ASSIGN_OR_RETURN(std::vector<std::string> users, RedisAclUsers(tenants));
  std::string dir = secrets_dir + "/redis";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Unavailable("cannot create " + dir + ": " + ec.message());
  ::chmod(secrets_dir.c_str(), 0700);
  ::chmod(dir.c_str(), 0700);
  StoresConfig config;
  config.secrets_dir = secrets_dir;
  std::map<std::string, std::string> passwords;
  for (const std::string& user : users) {
    std::string rel = "redis/" + user + ".pass";
    auto existing = ReadSecret(config, rel);
    if (existing.ok()) {
      passwords[user] = *existing;
      continue;
    }
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    uint8_t raw[32];
    DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(raw));
    std::string password = ToHex(ByteView(raw, sizeof raw));
    crypto::SecureWipe(raw, sizeof raw);
    std::string path = secrets_dir;
    path.append("/").append(rel);
    DSMIL_RETURN_IF_ERROR(WriteNewSecret(path, password));
    if (created) created->push_back(path);
    passwords[user] = password;
  }
  return passwords;
}

}  // namespace dsmil::store
