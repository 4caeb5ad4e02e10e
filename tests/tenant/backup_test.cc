// dsmilctl backup / restore against real Redis 7 and PostgreSQL 15 (and the
// embedded vector index): the RDB and the per-tenant pg_dump files are
// written, a deleted schema's rows come back with restore postgres, and a
// removed collection comes back with restore vectors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <memory>
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
#include "store/vectors.h"

namespace dsmil {
namespace {

namespace fs = std::filesystem;

using testutil::RunResult;
using testutil::RunShell;
using testutil::Write;

TEST(Backup, RedisPostgresAndVectorsBackUpAndRestore) {
  char tmpl[] = "/tmp/dsmil-backup-test-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string secrets = dir + "/secrets";
  fs::create_directories(secrets + "/postgres");
  ::chmod(secrets.c_str(), 0700);
  std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
  auto passwords = store::EnsureRedisPasswords(secrets, tenants);
  ASSERT_TRUE(passwords.ok()) << passwords.status().ToString();
  testing::RedisServerOptions ro;
  ro.acl = store::RenderRedisAcl(tenants, *passwords).value();
  ro.ping_user = store::kRedisAdminUser;
  ro.ping_password = passwords->at(store::kRedisAdminUser);
  auto redis = testing::RedisServer::Start(ro);
  ASSERT_TRUE(redis.ok()) << redis.status().ToString();
  std::vector<store::TenantScope> scopes = {store::TenantScope::For("ALPHA").value(),
                                            store::TenantScope::For("BRAVO").value()};
  testing::PostgresServerOptions po;
  po.init_sql = store::RenderPgInitSql(scopes, secrets).value() +
                "CREATE ROLE dsmil_backup LOGIN SUPERUSER PASSWORD 'backup-test-pw';\n";
  auto pg = testing::PostgresServer::Start(po);
  ASSERT_TRUE(pg.ok()) << pg.status().ToString();
  Write(secrets + "/postgres/dsmil_backup.pass", "backup-test-pw\n", 0600);

  auto ca = crypto::CreateCa("Test CA", 10);
  auto node = crypto::IssueCertificate(*ca, {"node-c", {"localhost"}, {"127.0.0.1"}, crypto::CertUsage::kBoth, 10});
  ASSERT_TRUE(node.ok());
  Write(dir + "/ca.crt", ca->cert_pem, 0644);
  Write(dir + "/node-c.crt", node->cert_pem, 0644);
  Write(dir + "/node-c.key", node->key_pem, 0600);
  fs::create_directories(dir + "/data");
  std::string config = Write(dir + "/node-c.yaml",
                             "node: {name: node-c, role: data}\n"
                             "tls: {ca: ca.crt, cert: node-c.crt, key: node-c.key}\n"
                             "tenants: [{id: ALPHA}, {id: BRAVO}]\n"
                             "stores:\n  kind: servers\n  path: data\n  secrets_dir: secrets\n"
                             "  redis: {host: 127.0.0.1, port: " +
                                 std::to_string((*redis)->port()) + "}\n  postgres: {host: 127.0.0.1, port: " +
                                 std::to_string((*pg)->port()) + ", dbname: dsmil}\n",
                             0644);
  store::StoresConfig sc;
  sc.kind = "servers";
  sc.path = dir + "/data";
  sc.secrets_dir = secrets;
  sc.redis.port = (*redis)->port();
  sc.postgres.port = (*pg)->port();

  // Data: stream entries, archived events, a collection.
  auto w = store::OpenStreams(sc, scopes[0], store::Access::kWriter);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<std::string> payloads(4, "{\"e\":1}");
  ASSERT_TRUE((*w)->Append(store::StreamKind::kL3In, payloads).ok());
  auto archive = store::OpenArchive(sc, scopes[0]);
  ASSERT_TRUE(archive.ok()) << archive.status().ToString();
  std::vector<store::ArchivedEvent> events;
  for (int i = 1; i <= 5; ++i) {
    events.push_back({"00000000-0000-4000-8000-00000000000" + std::to_string(i), 1790000000000 + i, "NETWORK", "LOW",
                      "{\"i\":" + std::to_string(i) + "}"});
  }
  ASSERT_TRUE((*archive)->Ingest(events).ok());
  {
    auto v = store::OpenVectors(sc, scopes[0]);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_TRUE((*v)->CreateCollection("events", 4).ok());
    std::vector<store::VectorPoint> pts = {{1, {1, 0, 0, 0}, "{}"}, {2, {0, 1, 0, 0}, "{}"}, {3, {0, 0, 1, 0}, "{}"}};
    ASSERT_TRUE((*v)->Upsert("events", pts).ok());
    ASSERT_TRUE((*v)->Flush().ok());
  }

  std::string ctl = std::string(DSMIL_BINARY_DIR) + "/bin/dsmilctl ";
  std::string out = dir + "/backup";
  RunResult r = RunShell(ctl + "backup redis --node-config " + config + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::ifstream rdb(out + "/redis/dump.rdb", std::ios::binary);
  std::string magic(5, '\0');
  rdb.read(magic.data(), 5);
  EXPECT_EQ(magic, "REDIS") << r.out;
  EXPECT_TRUE(fs::exists(out + "/manifest-redis.json"));

  r = RunShell(ctl + "backup postgres --pg-user dsmil_backup --node-config " + config + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* s : {"dsmil_alpha", "dsmil_bravo", "dsmil_shared"}) {
    EXPECT_GT(fs::file_size(out + "/postgres/" + s + ".dump"), 0u) << s << "\n" << r.out;
  }
  auto deleted = (*pg)->Psql("DELETE FROM dsmil_alpha.events");
  ASSERT_TRUE(deleted.ok()) << deleted.status().ToString();
  ASSERT_EQ(*(*archive)->Count(), 0u);
  archive->reset();
  r = RunShell(ctl + "restore postgres --pg-user dsmil_backup --node-config " + config + " --from " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto again = store::OpenArchive(sc, scopes[0]);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto count = (*again)->Count();
  ASSERT_TRUE(count.ok()) << count.status().ToString() << "\n" << r.out;
  EXPECT_EQ(*count, 5u) << "the tenant's role reads its restored rows";

  r = RunShell(ctl + "backup vectors --node-config " + config + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(fs::is_directory(out + "/vectors/alpha_events")) << r.out;
  fs::remove_all(dir + "/data/vectors/alpha_events");
  r = RunShell(ctl + "restore vectors --node-config " + config + " --from " + out);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto v = store::OpenVectors(sc, scopes[0]);
  ASSERT_TRUE(v.ok());
  auto n = (*v)->Count("events");
  ASSERT_TRUE(n.ok()) << n.status().ToString() << "\n" << r.out;
  EXPECT_EQ(*n, 3u);

  EXPECT_EQ(RunShell(ctl + "backup mongo --node-config " + config + " --out " + out).exit_code, 2);
  again->reset();
  v->reset();
  w->reset();
  redis->reset();
  pg->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsmil
