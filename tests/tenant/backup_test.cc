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

#include "shell_util.h"
#include "store/archive.h"
#include "store/scope.h"
#include "store/streams.h"
#include "store/vectors.h"
#include "tenant_servers.h"

namespace dsmil {
namespace {

namespace fs = std::filesystem;

using testutil::RunResult;
using testutil::RunShell;
using testutil::TenantServers;
using testutil::Write;

TEST(Backup, RedisPostgresAndVectorsBackUpAndRestore) {
  char tmpl[] = "/tmp/dsmil-backup-test-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  TenantServers env;
  ASSERT_NO_FATAL_FAILURE(env.Start(dir, "CREATE ROLE dsmil_backup LOGIN SUPERUSER PASSWORD 'backup-test-pw';\n"));
  Write(env.secrets + "/postgres/dsmil_backup.pass", "backup-test-pw\n", 0600);
  std::string config = Write(dir + "/node-c.yaml",
                             "node: {name: node-c, role: data}\n"
                             "tls: {ca: ca.crt, cert: node-c.crt, key: node-c.key}\n"
                             "tenants: [{id: ALPHA}, {id: BRAVO}]\n" +
                                 env.StoresYaml(),
                             0644);
  const store::StoresConfig& sc = env.stores;
  const std::vector<store::TenantScope>& scopes = env.scopes;

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
  auto deleted = env.pg->Psql("DELETE FROM dsmil_alpha.events");
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
  env.redis.reset();
  env.pg.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsmil
