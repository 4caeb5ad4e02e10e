// Test helpers of the streams tests: a real Redis server whose ACL file is
// rendered for a set of tenants, with their passwords under a temporary
// secrets directory, and temporary directories that clean up after themselves.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.h"
#include "store/config.h"
#include "store/redis_acl.h"

namespace dsmil::store::testutil {

// A directory under /tmp removed when destroyed.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsmil-streams-test-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Tenants the servers know: ALPHA, BRAVO and T1..T40 (one fresh tenant per
// test case keeps cases on one server apart).
inline std::vector<std::string> TestTenants() {
  std::vector<std::string> t = {"ALPHA", "BRAVO"};
  for (int i = 1; i <= 40; ++i) t.push_back("T" + std::to_string(i));
  return t;
}

struct TenantRedis {
  TempDir secrets;
  std::map<std::string, std::string> passwords;  // user -> password
  std::unique_ptr<dsmil::testing::RedisServer> server;

  // stores: kind servers, pointing at this server and the secrets.
  StoresConfig Config() const {
    StoresConfig c;
    c.kind = "servers";
    c.path = secrets.path();
    c.secrets_dir = secrets.path();
    c.redis.host = server->host();
    c.redis.port = server->port();
    return c;
  }
};

// Starts Redis with the ACL of TestTenants(). Fails the calling test (fatal)
// when the server cannot start; the message names what is missing.
inline std::unique_ptr<TenantRedis> StartTenantRedis() {
  auto r = std::make_unique<TenantRedis>();
  std::vector<std::string> tenants = TestTenants();
  auto passwords = EnsureRedisPasswords(r->secrets.path(), tenants);
  EXPECT_TRUE(passwords.ok()) << passwords.status().ToString();
  if (!passwords.ok()) return nullptr;
  r->passwords = *passwords;
  auto acl = RenderRedisAcl(tenants, r->passwords);
  EXPECT_TRUE(acl.ok()) << acl.status().ToString();
  if (!acl.ok()) return nullptr;
  dsmil::testing::RedisServerOptions o;
  o.acl = *acl;
  o.ping_user = kRedisAdminUser;
  o.ping_password = r->passwords[kRedisAdminUser];
  auto server = dsmil::testing::RedisServer::Start(o);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return nullptr;
  r->server = std::move(server).value();
  return r;
}

// Runs a shell command; returns its stdout and stderr together.
inline std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return "popen failed";
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

}  // namespace dsmil::store::testutil
