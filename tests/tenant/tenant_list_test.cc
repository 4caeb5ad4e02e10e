// `dsmilctl tenant list` against real Redis 7 and PostgreSQL 15 with the
// tenants' ACLs and roles: ✓ PASS for ALPHA and BRAVO, then, after granting
// alpha_reader the BRAVO_* keys, ✗ FAIL naming the leaking path.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/x509.h"
#include "postgres_server.h"
#include "redis_server.h"
#include "shell_util.h"
#include "store/archive.h"
#include "store/pg_init.h"
#include "store/redis_acl.h"
#include "store/scope.h"
#include "store/streams.h"

namespace dsmil {
namespace {

namespace fs = std::filesystem;

using testutil::RunResult;
using testutil::RunShell;
using testutil::Write;

TEST(TenantList, PassOnRealServersThenFailNamingACrossTenantRedisGrant) {
  char tmpl[] = "/tmp/dsmil-tenant-list-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string secrets = dir + "/secrets";
  fs::create_directories(secrets);
  ::chmod(secrets.c_str(), 0700);
  std::vector<std::string> tenants = {"ALPHA", "BRAVO"};

  auto passwords = store::EnsureRedisPasswords(secrets, tenants);
  ASSERT_TRUE(passwords.ok()) << passwords.status().ToString();
  auto acl = store::RenderRedisAcl(tenants, *passwords);
  ASSERT_TRUE(acl.ok()) << acl.status().ToString();
  testing::RedisServerOptions ro;
  ro.acl = *acl;
  ro.ping_user = store::kRedisAdminUser;
  ro.ping_password = passwords->at(store::kRedisAdminUser);
  auto redis = testing::RedisServer::Start(ro);
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();

  std::vector<store::TenantScope> scopes = {store::TenantScope::For("ALPHA").value(),
                                            store::TenantScope::For("BRAVO").value()};
  auto sql = store::RenderPgInitSql(scopes, secrets);
  ASSERT_TRUE(sql.ok()) << sql.status().ToString();
  testing::PostgresServerOptions po;
  po.init_sql = *sql;
  auto pg = testing::PostgresServer::Start(po);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();

  auto ca = crypto::CreateCa("Test CA", 10);
  ASSERT_TRUE(ca.ok());
  auto node = crypto::IssueCertificate(*ca, {"node-c", {"localhost"}, {"127.0.0.1"}, crypto::CertUsage::kBoth, 10});
  ASSERT_TRUE(node.ok());
  Write(dir + "/ca.crt", ca->cert_pem, 0644);
  Write(dir + "/node-c.crt", node->cert_pem, 0644);
  Write(dir + "/node-c.key", node->key_pem, 0600);
  fs::create_directories(dir + "/data");
  std::string config = Write(dir + "/node-c.yaml",
                             "node: {name: node-c, role: data, address: 127.0.0.1}\n"
                             "tls: {ca: ca.crt, cert: node-c.crt, key: node-c.key}\n"
                             "tenants:\n"
                             "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC]}\n"
                             "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}\n"
                             "stores:\n"
                             "  kind: servers\n"
                             "  path: data\n"
                             "  secrets_dir: secrets\n"
                             "  redis: {host: 127.0.0.1, port: " +
                                 std::to_string((*redis)->port()) +
                                 "}\n"
                                 "  postgres: {host: 127.0.0.1, port: " +
                                 std::to_string((*pg)->port()) + ", dbname: " + (*pg)->dbname() + "}\n",
                             0644);

  // Some data of each tenant, written with its own credentials.
  store::StoresConfig sc;
  sc.kind = "servers";
  sc.path = dir + "/data";
  sc.secrets_dir = secrets;
  sc.redis.port = (*redis)->port();
  sc.postgres.port = (*pg)->port();
  sc.postgres.dbname = (*pg)->dbname();
  for (const auto& scope : scopes) {
    auto w = store::OpenStreams(sc, scope, store::Access::kWriter);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    std::vector<std::string> payloads(scope.tenant() == "ALPHA" ? 6 : 3, "{\"e\":1}");
    ASSERT_TRUE((*w)->Append(store::StreamKind::kL3In, payloads).ok());
  }

  // Its own (empty) dsmilctl config: the stores are audited here, the entry
  // points of running nodes in tenant_list_entry_test.
  std::string ctl = std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl --config " + dir +
                    "/dsmilctl.yaml tenant list --node-config " + config + " --keys-file " + dir + "/api_keys";
  RunResult pass = RunShell(ctl);
  EXPECT_EQ(pass.exit_code, 0) << pass.out;
  size_t first = pass.out.find("Isolation Status: ✓ PASS");
  ASSERT_NE(first, std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("Isolation Status: ✓ PASS", first + 1), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("ALPHA_L3_IN, ALPHA_L3_OUT"), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("dsmil_alpha (0 events archived)"), std::string::npos) << pass.out;
  EXPECT_NE(pass.out.find("ROE Level: ANALYSIS_ONLY"), std::string::npos) << pass.out;
  EXPECT_EQ(pass.out.find("could not be checked"), std::string::npos) << pass.out;

  RunResult js = RunShell(ctl + " -o json");
  ASSERT_EQ(js.exit_code, 0) << js.out;
  auto j = nlohmann::json::parse(js.out);
  ASSERT_EQ(j["tenants"].size(), 2u);
  for (const auto& t : j["tenants"]) {
    EXPECT_EQ(t["isolation"], "PASS");
    // Redis writer + reader (3 attempts) and PostgreSQL (5) against the other tenant.
    EXPECT_EQ(t["checks"].size(), 8u) << t.dump(2);
    for (const auto& c : t["checks"]) EXPECT_TRUE(c["refused"].get<bool>()) << c.dump();
  }

  // Grant ALPHA's reader BRAVO's keys: the audit must fail and name the path.
  RunResult grant = RunShell("REDISCLI_AUTH=" + passwords->at(store::kRedisAdminUser) + " redis-cli -h 127.0.0.1 -p " +
                             std::to_string((*redis)->port()) + " --user " + store::kRedisAdminUser +
                             " ACL SETUSER alpha_reader '~BRAVO_*'");
  ASSERT_NE(grant.out.find("OK"), std::string::npos) << grant.out;
  RunResult fail = RunShell(ctl);
  EXPECT_EQ(fail.exit_code, 1) << fail.out;
  EXPECT_NE(fail.out.find("Isolation Status: ✗ FAIL"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("redis: alpha_reader XRANGE BRAVO_SOC_EVENTS"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("redis: alpha_reader XLEN BRAVO_L3_IN: read allowed (length 3)"), std::string::npos)
      << fail.out;
  EXPECT_NE(fail.out.find("Isolation Status: ✓ PASS"), std::string::npos) << "BRAVO's own credentials still refused";

  redis->reset();
  pg->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsmil
