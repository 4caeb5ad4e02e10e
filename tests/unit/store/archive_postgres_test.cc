// PostgreSQL-only behaviour: the database itself keeps tenants apart (schema
// rights, row-level security tied to the role), ingest survives a server
// restart without losing or doubling events, and audit appenders are
// serialised by the advisory lock.
#include <atomic>
#include <set>
#include <thread>

#include "archive_test_env.h"
#include "store/audit.h"
#include "store/audit_checkpoint.h"

namespace dsmil::store {
namespace {

using testenv::Batch;
using testenv::PgEnvironment;
using testenv::Scope;

PgEnvironment* const kEnv = PgEnvironment::Get();

class ArchivePostgres : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(kEnv->server(), nullptr) << "PostgreSQL did not start"; }
  testing::PostgresServer& pg() { return *kEnv->server(); }

  // Runs SQL as a tenant role over TCP with its password (as the archive does).
  Result<std::string> AsRole(const std::string& role, const std::string& sql) {
    auto pass = ReadSecret(kEnv->Servers(), "postgres/" + role + ".pass");
    if (!pass.ok()) return pass.status();
    std::string pgpass = kEnv->dir() + "/pgpass-" + role;
    FILE* f = fopen(pgpass.c_str(), "w");
    if (!f) return Status::Unavailable("pgpass");
    fprintf(f, "127.0.0.1:%u:dsmil:%s:%s\n", unsigned(pg().port()), role.c_str(), pass->c_str());
    fclose(f);
    chmod(pgpass.c_str(), 0600);
    std::string cmd = "PGPASSFILE=" + pgpass + " " + pg().Binary("psql") +
                      " -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p " + std::to_string(pg().port()) + " -U " + role +
                      " -d dsmil -c \"" + sql + "\" 2>&1";
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return Status::Unavailable("popen");
    char buf[512];
    while (fgets(buf, sizeof(buf), p)) out += buf;
    int rc = pclose(p);
    if (rc != 0) return Status::PermissionDenied(out);
    return out;
  }
};

TEST_F(ArchivePostgres, AlphaCannotReadBravoSchema) {
  auto r = AsRole("alpha_app", "SELECT * FROM dsmil_bravo.events");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("permission denied for schema dsmil_bravo"), std::string::npos)
      << r.status().message();
  r = AsRole("alpha_app", "SELECT * FROM dsmil_bravo.audit_log");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("permission denied"), std::string::npos);
  // Its own schema works.
  r = AsRole("alpha_app", "SELECT count(*) FROM dsmil_alpha.events");
  EXPECT_TRUE(r.ok()) << r.status().message();
  // And it cannot create objects in public.
  r = AsRole("alpha_app", "CREATE TABLE public.x (a int)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("permission denied for schema public"), std::string::npos)
      << r.status().message();
}

TEST_F(ArchivePostgres, SettingTheTenantVariableDoesNotRevealOtherRows) {
  ASSERT_TRUE(pg().Psql("DELETE FROM dsmil_shared.events; INSERT INTO dsmil_shared.events "
                        "(tenant_id, event_id, ts, body) VALUES "
                        "('ALPHA','a1',now(),'{}'),('ALPHA','a2',now(),'{}'),('BRAVO','b1',now(),'{}')")
                  .ok());
  auto r = AsRole("alpha_app",
                  "SET dsmil.tenant_id = 'BRAVO'; SELECT tenant_id || ':' || event_id FROM dsmil_shared.events "
                  "ORDER BY event_id");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "ALPHA:a1\nALPHA:a2\n");
  r = AsRole("alpha_app",
             "SET dsmil.tenant_id = 'BRAVO'; SELECT count(*) FROM dsmil_shared.events "
             "WHERE tenant_id = 'BRAVO'");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "0\n");
  // Writing a BRAVO row into the shared table is refused by the policy.
  r = AsRole("alpha_app",
             "INSERT INTO dsmil_shared.events (tenant_id, event_id, ts, body) "
             "VALUES ('BRAVO','x',now(),'{}')");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("row-level security"), std::string::npos) << r.status().message();
  // BRAVO sees only its row.
  r = AsRole("bravo_app", "SELECT event_id FROM dsmil_shared.events");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, "b1\n");
}

TEST_F(ArchivePostgres, AppRoleCannotRewriteTheAuditLogOrBypassRls) {
  auto r = AsRole("alpha_app", "UPDATE dsmil_alpha.audit_log SET detail = 'x'");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("permission denied for table audit_log"), std::string::npos)
      << r.status().message();
  r = AsRole("alpha_app", "DELETE FROM dsmil_alpha.events");
  ASSERT_FALSE(r.ok());
  r = AsRole("alpha_app", "SET ROLE bravo_app");
  ASSERT_FALSE(r.ok());
  r = AsRole("alpha_app",
             "INSERT INTO dsmil_alpha.events (event_id, tenant_id, ts, body) "
             "VALUES ('e', 'BRAVO', now(), '{}')");
  ASSERT_FALSE(r.ok());  // CHECK and RLS both refuse a foreign tenant id
  r = AsRole("alpha_app", "SELECT rolbypassrls::text || rolsuper::text FROM pg_roles WHERE rolname = current_user");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "falsefalse\n");
}

TEST_F(ArchivePostgres, InitSqlIsIdempotent) {
  std::vector<TenantScope> tenants = {Scope("ALPHA"), Scope("BRAVO")};
  auto sql = RenderPgInitSql(tenants, kEnv->Servers().secrets_dir);
  ASSERT_TRUE(sql.ok());
  EXPECT_EQ(sql->find(*ReadSecret(kEnv->Servers(), "postgres/alpha_app.pass")), std::string::npos)
      << "the init SQL must not hold a plain password";
  std::string path = pg().dir() + "/init-again.sql";  // readable by the server user
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs(sql->c_str(), f);
  fclose(f);
  chmod(path.c_str(), 0644);
  auto r = pg().PsqlFile(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // The roles still log in with the password files.
  auto a = OpenArchive(kEnv->Servers(), Scope("ALPHA"));
  EXPECT_TRUE(a.ok()) << a.status().ToString();
}

TEST_F(ArchivePostgres, WrongPasswordIsAClearError) {
  StoresConfig c = kEnv->Servers();
  std::string dir = testenv::MakeTempDir("dsmil-badsecrets");
  mkdir((dir + "/postgres").c_str(), 0700);
  std::string p = dir + "/postgres/alpha_app.pass";
  FILE* f = fopen(p.c_str(), "w");
  fputs("not-the-password\n", f);
  fclose(f);
  chmod(p.c_str(), 0600);
  c.secrets_dir = dir;
  auto a = OpenArchive(c, Scope("ALPHA"));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(a.status().message().find("as alpha_app"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("password authentication failed"), std::string::npos) << a.status().message();
  std::filesystem::remove_all(dir);
}

TEST_F(ArchivePostgres, RestartDuringIngestLosesAndDoublesNothing) {
  ASSERT_TRUE(pg().Psql("TRUNCATE dsmil_alpha.events").ok());
  auto a = OpenArchive(kEnv->Servers(), Scope("ALPHA"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  constexpr int kBatches = 60, kPerBatch = 200;
  std::atomic<int> done{0};
  std::atomic<bool> stop{false};
  std::thread restarter([&] {
    // Restart twice while batches flow: once cleanly, once by SIGKILL.
    while (done.load() < 10 && !stop) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(pg().Restart().ok());
    while (done.load() < 30 && !stop) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE(pg().Kill9().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto s = pg().Restart();
    EXPECT_TRUE(s.ok()) << s.ToString();
  });
  int failures = 0;
  for (int b = 0; b < kBatches; ++b) {
    auto batch = Batch("evt", b * kPerBatch, kPerBatch);
    // At-least-once caller: a batch that still failed is sent again.
    for (int attempt = 0;; ++attempt) {
      auto r = (*a)->Ingest(batch);
      if (r.ok()) break;
      ++failures;
      ASSERT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
      ASSERT_LT(attempt, 5) << r.status().ToString();
    }
    // Every third batch is sent twice, as a redelivered stream entry would be.
    if (b % 3 == 0) {
      ASSERT_TRUE((*a)->Ingest(batch).ok());
    }
    done = b + 1;
  }
  stop = true;
  restarter.join();
  auto n = (*a)->Count();
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, uint64_t(kBatches) * kPerBatch);
  auto distinct = pg().Psql("SELECT count(DISTINCT event_id) FROM dsmil_alpha.events");
  ASSERT_TRUE(distinct.ok());
  EXPECT_EQ(*distinct, std::to_string(kBatches * kPerBatch) + "\n");
  // Spot checks.
  for (int id : {0, 2345, kBatches * kPerBatch - 1}) {
    auto g = (*a)->Get("evt-" + std::to_string(id));
    ASSERT_TRUE(g.ok());
    EXPECT_TRUE(g->has_value()) << id;
  }
  RecordProperty("caller_retries", failures);
}

TEST_F(ArchivePostgres, ConcurrentAuditAppendersKeepOneChain) {
  ASSERT_TRUE(pg().Psql("TRUNCATE dsmil_alpha.audit_log").ok());
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> ts;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      auto a = OpenArchive(kEnv->Servers(), Scope("ALPHA"));  // one connection per appender
      if (!a.ok()) {
        ++errors;
        return;
      }
      for (int i = 0; i < kEach; ++i) {
        if (!(*a)->AppendAudit(i, "AUTH_FAILED", "thread-" + std::to_string(t), "{}").ok()) ++errors;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  auto a = OpenArchive(kEnv->Servers(), Scope("ALPHA"));
  ASSERT_TRUE(a.ok());
  auto rows = (*a)->ReadAudit();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), size_t(kThreads * kEach));
  auto key = LoadOrCreateLogKey(kEnv->Servers());
  ASSERT_TRUE(key.ok());
  auto v = VerifyAuditChain(*rows, *key);
  EXPECT_TRUE(v.ok) << (v.problems.empty() ? "" : v.problems[0]);
}

// The database owner deletes the newest audit rows (a superuser, out of the
// tenant role's reach): the chain still verifies, the signed checkpoint kept
// outside the database does not, and the checkpointer refuses to sign the
// shorter head. Also checks the one-query head and row reads.
TEST_F(ArchivePostgres, CheckpointDetectsTruncatedAuditLog) {
  ASSERT_TRUE(pg().Psql("TRUNCATE dsmil_alpha.audit_log").ok());
  auto a = OpenArchive(kEnv->Servers(), Scope("ALPHA"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto empty = (*a)->ReadAuditHead();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->rows, 0u);
  EXPECT_FALSE(empty->last.has_value());
  for (int i = 0; i < 12; ++i) ASSERT_TRUE((*a)->AppendAudit(1000 + i, "AUTH_FAILED", "cn=op", "{}").ok());
  auto head = (*a)->ReadAuditHead();
  ASSERT_TRUE(head.ok()) << head.status().ToString();
  EXPECT_EQ(head->rows, 12u);
  ASSERT_TRUE(head->last.has_value());
  EXPECT_EQ(head->last->seq, 12);
  EXPECT_EQ(head->last->ts_ms, 1011);
  auto row = (*a)->ReadAuditRow(7);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->seq, 7);
  auto missing = (*a)->ReadAuditRow(99);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  AuditCheckpointerOptions o;
  o.stores = kEnv->Servers();
  o.tenants = {"ALPHA"};
  o.dir = kEnv->dir() + "/audit-checkpoints/node-c";
  o.node = "node-c";
  auto ckpt = AuditCheckpointer::Create(o);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  auto c = (*ckpt)->Checkpoint("ALPHA");
  ASSERT_TRUE(c.ok() && c->has_value()) << c.status().ToString();
  EXPECT_EQ((*c)->seq, 12);

  ASSERT_TRUE(pg().Psql("DELETE FROM dsmil_alpha.audit_log WHERE seq > 9").ok());
  auto rows = (*a)->ReadAudit();
  ASSERT_TRUE(rows.ok());
  auto key = LoadOrCreateLogKey(kEnv->Servers());
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(VerifyAuditChain(*rows, *key).ok);
  auto log = ReadAuditCheckpointLog(o.dir, "ALPHA", (*ckpt)->public_key());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto v = VerifyAuditWithCheckpoints(*rows, *key, *log);
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_EQ(v.problems[0].rfind("truncated: the chain ends at seq 9 but checkpoint #1 (signed ", 0), 0u)
      << v.problems[0];
  EXPECT_NE(v.problems[0].find(" by node-c) saw seq 12 (12 rows)"), std::string::npos) << v.problems[0];
  auto refused = (*ckpt)->Checkpoint("ALPHA");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(pg().Psql("TRUNCATE dsmil_alpha.audit_log").ok());
}

// deploy/postgres/postgresql.conf and pg_hba.conf as this PostgreSQL reads
// them (pg_file_settings and pg_hba_file_rules parse the files on disk
// without applying them).
TEST_F(ArchivePostgres, DeployConfigFilesParse) {
  const std::string data = pg().dir() + "/data";
  const std::string deploy = std::string(DSMIL_SOURCE_DIR) + "/deploy/postgres";
  std::filesystem::copy_file(deploy + "/postgresql.conf", data + "/dsmil.conf",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(data + "/postgresql.conf", data + "/postgresql.conf.orig",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(data + "/pg_hba.conf", data + "/pg_hba.conf.orig",
                             std::filesystem::copy_options::overwrite_existing);
  {
    FILE* f = fopen((data + "/postgresql.conf").c_str(), "a");
    ASSERT_NE(f, nullptr);
    fputs("\ninclude 'dsmil.conf'\n", f);
    fclose(f);
  }
  std::filesystem::copy_file(deploy + "/pg_hba.conf", data + "/pg_hba.conf",
                             std::filesystem::copy_options::overwrite_existing);
  // "setting could not be applied" only means a restart is needed to apply it.
  auto errors = pg().Psql(
      "SELECT count(*) FROM pg_file_settings WHERE error IS NOT NULL AND error <> 'setting could not be applied'");
  auto settings = pg().Psql(
      "SELECT name || '=' || setting FROM pg_file_settings WHERE sourcefile LIKE '%dsmil.conf' AND name IN "
      "('wal_level', 'archive_mode', 'password_encryption') ORDER BY name");
  auto hba_errors = pg().Psql("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL");
  auto hba_rules = pg().Psql("SELECT count(*) FROM pg_hba_file_rules");
  // Put the test server's own files back before checking anything.
  std::filesystem::rename(data + "/postgresql.conf.orig", data + "/postgresql.conf");
  std::filesystem::rename(data + "/pg_hba.conf.orig", data + "/pg_hba.conf");
  ASSERT_TRUE(errors.ok()) << errors.status().ToString();
  EXPECT_EQ(*errors, "0\n");
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ(*settings, "archive_mode=on\npassword_encryption=scram-sha-256\nwal_level=replica\n");
  ASSERT_TRUE(hba_errors.ok()) << hba_errors.status().ToString();
  EXPECT_EQ(*hba_errors, "0\n");
  EXPECT_EQ(*hba_rules, "5\n");
}

}  // namespace
}  // namespace dsmil::store
