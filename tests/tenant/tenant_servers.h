// What the dsmilctl tests against real servers start from: Redis 7 and
// PostgreSQL 15 set up for the tenants ALPHA and BRAVO as a node of stores
// kind `servers` expects them (Redis ACL users, PostgreSQL roles and schemas,
// their passwords under <dir>/secrets, 0700), the node-c certificates
// (<dir>/ca.crt, node-c.crt, node-c.key: `tls: {ca: ca.crt, cert: node-c.crt,
// key: node-c.key}`), an empty <dir>/data, and the StoresConfig reaching them.
//
//   TenantServers env;
//   ASSERT_NO_FATAL_FAILURE(env.Start(dir));
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "postgres_server.h"
#include "redis_server.h"
#include "store/config.h"
#include "store/pg_init.h"
#include "store/redis_acl.h"
#include "store/scope.h"
#include "support/test_pki.h"

namespace dsmil::testutil {

struct TenantServers {
  // Starts both servers; `extra_pg_init_sql` is run after the tenants' SQL.
  void Start(const std::string& directory, const std::string& extra_pg_init_sql = "") {
    dir = directory;
    secrets = dir + "/secrets";
    std::filesystem::create_directories(secrets);
    ::chmod(secrets.c_str(), 0700);

    auto pw = store::EnsureRedisPasswords(secrets, tenants);
    ASSERT_TRUE(pw.ok()) << pw.status().ToString();
    passwords = *pw;
    auto acl = store::RenderRedisAcl(tenants, passwords);
    ASSERT_TRUE(acl.ok()) << acl.status().ToString();
    dsmil::testing::RedisServerOptions ro;
    ro.acl = *acl;
    ro.ping_user = store::kRedisAdminUser;
    ro.ping_password = passwords.at(store::kRedisAdminUser);
    auto r = dsmil::testing::RedisServer::Start(ro);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    redis = std::move(*r);

    for (const auto& t : tenants) scopes.push_back(store::TenantScope::For(t).value());
    auto sql = store::RenderPgInitSql(scopes, secrets);
    ASSERT_TRUE(sql.ok()) << sql.status().ToString();
    dsmil::testing::PostgresServerOptions po;
    po.init_sql = *sql + extra_pg_init_sql;
    auto p = dsmil::testing::PostgresServer::Start(po);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pg = std::move(*p);

    auto pki = dsmil::testing::TestPki::Create(dir, "Test CA", 10);
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    auto node = pki->IssueNode("node-c", "node-c", {"localhost"}, 10);
    ASSERT_TRUE(node.ok()) << node.status().ToString();
    std::filesystem::create_directories(dir + "/data");

    stores.kind = "servers";
    stores.path = dir + "/data";
    stores.secrets_dir = secrets;
    stores.redis.port = redis->port();
    stores.postgres.port = pg->port();
    stores.postgres.dbname = pg->dbname();
  }

  // The `stores:` section of a node config reaching both servers.
  std::string StoresYaml() const {
    return "stores:\n"
           "  kind: servers\n"
           "  path: data\n"
           "  secrets_dir: secrets\n"
           "  redis: {host: 127.0.0.1, port: " +
           std::to_string(redis->port()) +
           "}\n"
           "  postgres: {host: 127.0.0.1, port: " +
           std::to_string(pg->port()) + ", dbname: " + pg->dbname() + "}\n";
  }

  std::string dir, secrets;
  std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
  std::vector<store::TenantScope> scopes;
  std::map<std::string, std::string> passwords;  // Redis users' passwords
  std::unique_ptr<dsmil::testing::RedisServer> redis;
  std::unique_ptr<dsmil::testing::PostgresServer> pg;
  store::StoresConfig stores;
};

}  // namespace dsmil::testutil
