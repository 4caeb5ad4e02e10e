// `dsmilctl audit verify` with signed checkpoints, end to end on the embedded
// archive of a node config written here: the checkpoints the node writes by
// default are found and trusted, truncation after a checkpoint fails the
// command, and a node config that puts the checkpoints inside the stores is
// refused. Needs the dsmilctl binary (<build>/bin/dsmilctl).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "ctl_test_env.h"
#include "store/archive.h"
#include "store/audit_checkpoint.h"

namespace dsmil::store {
namespace {

class AuditCli : public testenv::CtlArchiveTest {
 protected:
  AuditCli() : CtlArchiveTest("dsmil-audit-cli") {}
};

TEST_F(AuditCli, VerifyTrustsTheNodesCheckpointAndFailsOnTruncation) {
  ASSERT_NO_FATAL_FAILURE(AppendAlphaAudit(6));
  const std::vector<std::string> verify = {"audit", "verify", "--tenant", "ALPHA", "--node-config", config_path_};
  auto none = Ctl(verify);
  EXPECT_EQ(none.exit_code, 0) << none.output;
  EXPECT_NE(none.output.find("no checkpoint: truncation cannot be detected"), std::string::npos) << none.output;
  EXPECT_NE(none.output.find("chain intact, last seq 6"), std::string::npos) << none.output;

  // What the node writes with no `audit:` section: <config dir>/audit-checkpoints/<node>.
  AuditCheckpointerOptions o;
  o.stores = stores_;
  o.tenants = {"ALPHA"};
  o.dir = dir_ + "/audit-checkpoints/node-c";
  o.node = "node-c";
  auto ckpt = AuditCheckpointer::Create(o);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  auto c = (*ckpt)->Checkpoint("ALPHA");
  ASSERT_TRUE(c.ok() && c->has_value()) << c.status().ToString();

  auto ok = Ctl(verify);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("audit log of ALPHA: 6 rows checked"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("trusted checkpoint #1 (signed "), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find(" by node-c): seq 6, 6 rows, head " + (*c)->head), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("chain intact, last seq 6"), std::string::npos) << ok.output;
  EXPECT_EQ(ok.output.find("no checkpoint"), std::string::npos) << ok.output;

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((stores_.path + "/archive/ALPHA.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM audit_log WHERE seq > 3", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto cut = Ctl(verify);
  EXPECT_EQ(cut.exit_code, 1) << cut.output;
  EXPECT_NE(cut.output.find("truncated: the chain ends at seq 3 but checkpoint #1 (signed "), std::string::npos)
      << cut.output;
  EXPECT_NE(cut.output.find("trusted checkpoint #1"), std::string::npos) << cut.output;
  EXPECT_NE(cut.output.find("chain BROKEN: 1 problem"), std::string::npos) << cut.output;

  // --public-key: a key that did not sign the checkpoints rejects them.
  auto other = crypto::MlDsa87KeyGen();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(crypto::WritePublicFile(dir_ + "/other.pub", other->public_key).ok());
  auto args = verify;
  args.insert(args.end(), {"--public-key", dir_ + "/other.pub"});
  auto wrong = Ctl(args);
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("line 1: signature does not verify"), std::string::npos) << wrong.output;
  EXPECT_NE(wrong.output.find("no checkpoint: truncation cannot be detected"), std::string::npos) << wrong.output;
  args = verify;
  args.insert(args.end(), {"--public-key", dir_ + "/missing.pub"});
  EXPECT_EQ(Ctl(args).exit_code, 2);

  // --checkpoint-dir: a copy kept elsewhere, with its public key.
  std::filesystem::copy(o.dir, dir_ + "/copy");
  args = verify;
  args.insert(args.end(), {"--checkpoint-dir", dir_ + "/copy"});
  auto copy = Ctl(args);
  EXPECT_EQ(copy.exit_code, 1) << copy.output;
  EXPECT_NE(copy.output.find("truncated: the chain ends at seq 3"), std::string::npos) << copy.output;

  // The archive file removed altogether.
  std::filesystem::remove(stores_.path + "/archive/ALPHA.db");
  auto gone = Ctl(verify);
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
  EXPECT_NE(gone.output.find("truncated: the log is empty but checkpoint #1"), std::string::npos) << gone.output;
}

TEST_F(AuditCli, CheckpointsInsideTheStoresAreRefused) {
  std::string bad = WriteConfig("bad.yaml", "audit: {checkpoint_dir: data/checkpoints}\n");
  auto r = Ctl({"audit", "verify", "--tenant", "ALPHA", "--node-config", bad});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(
      r.output.find("audit.checkpoint_dir: " + dir_ + "/data/checkpoints is inside stores.path " + dir_ + "/data"),
      std::string::npos)
      << r.output;
  std::string interval = WriteConfig("interval.yaml", "audit: {interval_s: 0}\n");
  r = Ctl({"audit", "verify", "--tenant", "ALPHA", "--node-config", interval});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("audit.interval_s: 0 out of range 1..86400"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace dsmil::store
