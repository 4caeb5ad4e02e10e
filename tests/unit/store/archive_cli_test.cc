// `dsmilctl audit verify` and `dsmilctl tenant render-sql` end to end, on the
// embedded archive of a node config written here. Needs the dsmilctl binary
// (<build>/bin/dsmilctl); fails naming it when it is missing.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ctl_test_env.h"
#include "store/archive.h"

namespace dsmil::store {
namespace {

class ArchiveCli : public testenv::CtlArchiveTest {
 protected:
  ArchiveCli() : CtlArchiveTest("dsmil-archive-cli") {}
};

TEST_F(ArchiveCli, AuditVerifyIntactThenBroken) {
  ASSERT_NO_FATAL_FAILURE(AppendAlphaAudit(6));
  auto ok = Ctl({"audit", "verify", "--tenant", "ALPHA", "--node-config", config_path_});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("audit log of ALPHA: 6 rows checked"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("chain intact, last seq 6"), std::string::npos) << ok.output;

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((stores_.path + "/archive/ALPHA.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE audit_log SET actor = 'nobody' WHERE seq = 2; DELETE FROM audit_log WHERE seq = 4",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto broken = Ctl({"audit", "verify", "--tenant", "ALPHA", "--node-config", config_path_});
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  EXPECT_NE(broken.output.find("row seq 2: hash does not match its fields (edited)"), std::string::npos)
      << broken.output;
  EXPECT_NE(broken.output.find("row seq 4: missing (deleted)"), std::string::npos) << broken.output;
  EXPECT_NE(broken.output.find("chain BROKEN: 2 problems"), std::string::npos) << broken.output;
}

TEST_F(ArchiveCli, AuditVerifyRefusesBadInput) {
  auto r = Ctl({"audit", "verify", "--tenant", "alpha", "--node-config", config_path_});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("dsmilctl: audit verify: --tenant"), std::string::npos) << r.output;
  // No log key yet: verify must not invent one.
  r = Ctl({"audit", "verify", "--tenant", "ALPHA", "--node-config", config_path_});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("node log key"), std::string::npos) << r.output;
  struct stat st {};
  EXPECT_NE(stat((stores_.path + "/secrets/audit.key").c_str(), &st), 0);
  r = Ctl({"audit", "verify", "--tenant", "ALPHA", "--node-config", dir_ + "/missing.yaml"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST_F(ArchiveCli, RenderSqlFromTheNodeConfig) {
  std::string out = dir_ + "/init.sql";
  auto r = Ctl({"tenant", "render-sql", "--node-config", config_path_, "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream f(out);
  std::string sql((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(sql.find("CREATE SCHEMA IF NOT EXISTS dsmil_alpha;"), std::string::npos);
  EXPECT_EQ(sql.find("dsmil_bravo"), std::string::npos);
  EXPECT_NE(sql.find("PASSWORD 'SCRAM-SHA-256$4096:"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat((stores_.path + "/secrets/postgres/alpha_app.pass").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

}  // namespace
}  // namespace dsmil::store
