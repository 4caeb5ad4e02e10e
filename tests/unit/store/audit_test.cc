// The audit chain on its own: sealing, the HMAC against OpenSSL, and the
// verifier naming each kind of tampering; then signed checkpoints of the
// chain head on the embedded SQLite archive: truncation, deletion of every
// row, rollback to an older copy, tampered checkpoints.
#include "store/audit.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "core/coding.h"
#include "crypto/mldsa.h"
#include "store/archive.h"
#include "store/audit_checkpoint.h"

namespace dsmil::store {
namespace {

const std::string kKey(32, '\x42');

std::vector<AuditRow> Chain(int n, const std::string& key = kKey) {
  std::vector<AuditRow> rows;
  for (int i = 1; i <= n; ++i) {
    AuditRow r;
    r.seq = i;
    r.ts_ms = 1732377600000 + i;
    r.event_type = i % 2 ? "TENANT_ESCAPE_ATTEMPT" : "AUTH_FAILED";
    r.actor = "key:sk-alpha-" + std::to_string(i);
    r.detail = R"({"i":)" + std::to_string(i) + "}";
    SealAuditRow(rows.empty() ? nullptr : &rows.back(), key, r);
    rows.push_back(r);
  }
  return rows;
}

std::string Problems(const AuditVerdict& v) {
  std::string s;
  for (const auto& p : v.problems) s += p + "\n";
  return s;
}

TEST(Audit, SealLinksRowsAndMacsWithHmacSha3) {
  auto rows = Chain(3);
  EXPECT_EQ(rows[0].prev_hash, kAuditGenesisHash);
  EXPECT_EQ(rows[1].prev_hash, rows[0].hash);
  EXPECT_EQ(rows[2].prev_hash, rows[1].hash);
  // mac = HMAC-SHA3-256(key, hash_hex), checked against OpenSSL.
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ASSERT_NE(HMAC(EVP_sha3_256(), kKey.data(), int(kKey.size()),
                 reinterpret_cast<const unsigned char*>(rows[1].hash.data()), rows[1].hash.size(), mac, &len),
            nullptr);
  EXPECT_EQ(rows[1].mac, ToHex(ByteView(mac, len)));
  // hash = SHA3-256 of the documented preimage, checked against OpenSSL.
  std::string pre =
      rows[1].prev_hash + "\n2\n" + std::to_string(rows[1].ts_ms) + "\nAUTH_FAILED\nkey:sk-alpha-2\n" + rows[1].detail;
  unsigned char md[32];
  unsigned int mdlen = 0;
  ASSERT_EQ(EVP_Digest(pre.data(), pre.size(), md, &mdlen, EVP_sha3_256(), nullptr), 1);
  EXPECT_EQ(rows[1].hash, ToHex(ByteView(md, mdlen)));
  // A key longer than the HMAC block is hashed first, as RFC 2104 says.
  std::string long_key(200, 'k');
  auto lrows = Chain(1, long_key);
  ASSERT_NE(HMAC(EVP_sha3_256(), long_key.data(), int(long_key.size()),
                 reinterpret_cast<const unsigned char*>(lrows[0].hash.data()), lrows[0].hash.size(), mac, &len),
            nullptr);
  EXPECT_EQ(lrows[0].mac, ToHex(ByteView(mac, len)));
}

TEST(Audit, IntactChainVerifies) {
  auto rows = Chain(20);
  auto v = VerifyAuditChain(rows, kKey);
  EXPECT_TRUE(v.ok) << Problems(v);
  EXPECT_EQ(v.rows, 20u);
  auto empty = VerifyAuditChain({}, kKey);
  EXPECT_TRUE(empty.ok);
  EXPECT_EQ(empty.rows, 0u);
}

TEST(Audit, EditedRowIsNamed) {
  auto rows = Chain(10);
  rows[4].actor = "someone-else";
  auto v = VerifyAuditChain(rows, kKey);
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0], "row seq 5: hash does not match its fields (edited)");
}

TEST(Audit, EditedAndRehashedRowFailsItsMacAndBreaksTheNextLink) {
  auto rows = Chain(10);
  rows[4].detail = "{}";
  SealAuditRow(&rows[3], "wrong key", rows[4]);  // attacker without the log key
  auto v = VerifyAuditChain(rows, kKey);
  EXPECT_FALSE(v.ok);
  std::string all = Problems(v);
  EXPECT_NE(all.find("row seq 5: MAC does not verify"), std::string::npos) << all;
  EXPECT_NE(all.find("row seq 6: does not link to row seq 5"), std::string::npos) << all;
}

TEST(Audit, DeletedRowsAreNamed) {
  auto rows = Chain(10);
  rows.erase(rows.begin() + 3, rows.begin() + 5);  // seq 4 and 5
  auto v = VerifyAuditChain(rows, kKey);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0], "rows seq 4 to 5: missing (deleted)");
  auto head = Chain(5);
  head.erase(head.begin());
  v = VerifyAuditChain(head, kKey);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0], "row seq 1: missing (deleted)");
}

TEST(Audit, ReorderedRowsAreNamed) {
  auto rows = Chain(10);
  std::swap(rows[2], rows[6]);  // the rows sealed as 3 and 7 swap places
  std::swap(rows[2].seq, rows[6].seq);
  auto v = VerifyAuditChain(rows, kKey);
  std::string all = Problems(v);
  EXPECT_NE(all.find("row seq 3: holds the row sealed as seq 7 (reordered)"), std::string::npos) << all;
  EXPECT_NE(all.find("row seq 7: holds the row sealed as seq 3 (reordered)"), std::string::npos) << all;
  EXPECT_EQ(v.problems.size(), 2u) << all;
}

TEST(Audit, InsertedRowsAreNamed) {
  // A forged row appended by someone without the key.
  auto rows = Chain(5);
  AuditRow forged;
  forged.seq = 6;
  forged.ts_ms = 1;
  forged.event_type = "NOTHING_HAPPENED";
  SealAuditRow(&rows.back(), "guessed key", forged);
  rows.push_back(forged);
  auto v = VerifyAuditChain(rows, kKey);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0].rfind("row seq 6: MAC does not verify", 0), 0u) << v.problems[0];

  // A forged row between two genuine ones (seq 4 taken, the rest shifted
  // without re-sealing): the next genuine row links past it.
  auto mid = Chain(6);
  AuditRow extra;
  extra.seq = 4;
  extra.ts_ms = 2;
  extra.event_type = "NOTHING_HAPPENED";
  SealAuditRow(&mid[2], "guessed key", extra);
  std::vector<AuditRow> with = {mid[0], mid[1], mid[2], extra, mid[3], mid[4], mid[5]};
  for (size_t i = 4; i < with.size(); ++i) with[i].seq += 1;
  v = VerifyAuditChain(with, kKey);
  std::string all = Problems(v);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(all.find("row seq 4: MAC does not verify"), std::string::npos) << all;
}

TEST(Audit, WrongKeyFailsEveryMac) {
  auto rows = Chain(4);
  auto v = VerifyAuditChain(rows, std::string(32, '\x43'));
  EXPECT_EQ(v.problems.size(), 4u) << Problems(v);
}

TEST(Audit, LogKeyIsCreatedOnceWithMode0600) {
  char tmpl[] = "/tmp/dsmil-auditkey-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  StoresConfig c;
  c.path = tmpl;
  auto k1 = LoadOrCreateLogKey(c);
  ASSERT_TRUE(k1.ok()) << k1.status().ToString();
  EXPECT_EQ(k1->size(), 32u);
  struct stat st {};
  ASSERT_EQ(stat((std::string(tmpl) + "/secrets/audit.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto k2 = LoadOrCreateLogKey(c);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(*k1, *k2);
  chmod((std::string(tmpl) + "/secrets/audit.key").c_str(), 0644);
  auto k3 = LoadOrCreateLogKey(c);
  ASSERT_FALSE(k3.ok());
  EXPECT_NE(k3.status().message().find("readable by group or others"), std::string::npos);
  std::filesystem::remove_all(tmpl);
}

TEST(Audit, ConcurrentFirstUseAgreesOnOneLogKey) {
  char tmpl[] = "/tmp/dsmil-auditkey-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  StoresConfig c;
  c.path = std::string(tmpl) + "/node";  // not there yet: created on first use
  constexpr int kThreads = 8;
  std::vector<std::string> keys(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      auto k = LoadOrCreateLogKey(c);
      if (k.ok()) {
        keys[size_t(i)] = *k;
      } else {
        errors[size_t(i)] = k.status().ToString();
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_EQ(errors[size_t(i)], "");
    EXPECT_EQ(keys[size_t(i)], keys[0]);
  }
  EXPECT_EQ(keys[0].size(), 32u);
  std::filesystem::remove_all(tmpl);
}

// --- Checkpoints: the verifier on its own ---------------------------------

AuditCheckpoint CheckpointOf(const std::vector<AuditRow>& rows, int64_t counter) {
  AuditCheckpoint c;
  c.tenant = "ALPHA";
  c.counter = counter;
  c.seq = rows.empty() ? 0 : rows.back().seq;
  c.rows = int64_t(rows.size());
  c.head = rows.empty() ? std::string(kAuditGenesisHash) : rows.back().hash;
  c.ts_ms = 1796659200000;  // 2026-12-07T16:00:00Z
  c.node = "node-a";
  return c;
}

TEST(AuditCheckpoints, TruncationAfterACheckpointIsNamed) {
  auto rows = Chain(57);
  AuditCheckpoint cp = CheckpointOf(rows, 12);
  EXPECT_EQ(DescribeCheckpoint(cp), "checkpoint #12 (signed 2026-12-07T16:00:00Z by node-a)");
  auto intact = VerifyAuditAgainstCheckpoint(rows, kKey, cp);
  EXPECT_TRUE(intact.ok) << Problems(intact);
  ASSERT_TRUE(intact.trusted.has_value());
  EXPECT_EQ(intact.trusted->counter, 12);
  EXPECT_TRUE(intact.notes.empty());

  // The chain alone sees nothing wrong with a shorter log...
  std::vector<AuditRow> cut(rows.begin(), rows.begin() + 40);
  EXPECT_TRUE(VerifyAuditChain(cut, kKey).ok);
  // ...the checkpoint does.
  auto v = VerifyAuditAgainstCheckpoint(cut, kKey, cp);
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0],
            "truncated: the chain ends at seq 40 but checkpoint #12 (signed 2026-12-07T16:00:00Z by node-a) saw seq 57 "
            "(57 rows) (newest rows deleted, or an older copy restored)");

  auto empty = VerifyAuditAgainstCheckpoint({}, kKey, cp);
  ASSERT_EQ(empty.problems.size(), 1u) << Problems(empty);
  EXPECT_EQ(empty.problems[0].rfind("truncated: the log is empty but checkpoint #12", 0), 0u) << empty.problems[0];

  // Another log of the same length (an older copy that went on growing).
  auto other = Chain(60);
  other[56].actor = "someone";
  SealAuditRow(&other[55], kKey, other[56]);
  for (size_t i = 57; i < other.size(); ++i) SealAuditRow(&other[i - 1], kKey, other[i]);
  EXPECT_TRUE(VerifyAuditChain(other, kKey).ok);
  auto rolled = VerifyAuditAgainstCheckpoint(other, kKey, cp);
  ASSERT_EQ(rolled.problems.size(), 1u) << Problems(rolled);
  EXPECT_EQ(rolled.problems[0].rfind("rolled back: row seq 57 is not the row checkpoint #12", 0), 0u)
      << rolled.problems[0];

  auto none = VerifyAuditAgainstCheckpoint(cut, kKey, std::nullopt);
  EXPECT_TRUE(none.ok);
  EXPECT_FALSE(none.trusted.has_value());
  ASSERT_EQ(none.notes.size(), 1u);
  EXPECT_EQ(none.notes[0], "no checkpoint: truncation cannot be detected");
}

TEST(AuditCheckpoints, LinesAreSignedWithTheContextString) {
  auto kp = crypto::MlDsa87KeyGen();
  ASSERT_TRUE(kp.ok());
  auto cp = CheckpointOf(Chain(3), 1);
  auto line = SignAuditCheckpoint(cp, kp->secret_key);
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  ASSERT_EQ(line->back(), '\n');
  std::string body = line->substr(0, line->size() - 1);
  EXPECT_EQ(body.rfind(AuditCheckpointPayload(cp) + " sig=", 0), 0u);
  auto parsed = ParseAuditCheckpoint(body, kp->public_key);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->seq, 3);
  EXPECT_EQ(parsed->head, cp.head);
  EXPECT_EQ(parsed->node, "node-a");
  // The signature is a plain FIPS 204 one over the payload, with the context.
  auto sig = FromHex(body.substr(body.find(" sig=") + 5));
  ASSERT_TRUE(sig.ok());
  std::string payload = AuditCheckpointPayload(cp);
  EXPECT_TRUE(crypto::MlDsa87Verify(kp->public_key, AsBytes(payload), AsBytes("DSMIL-AUDIT-CHECKPOINT-v1"), *sig).ok());
  EXPECT_FALSE(crypto::MlDsa87Verify(kp->public_key, AsBytes(payload), AsBytes(""), *sig).ok());
  // Any edited field fails the signature.
  std::string edited = body;
  edited.replace(edited.find("seq=3"), 5, "seq=9");
  EXPECT_EQ(ParseAuditCheckpoint(edited, kp->public_key).status().code(), StatusCode::kUnauthenticated);
  auto other = crypto::MlDsa87KeyGen();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(ParseAuditCheckpoint(body, other->public_key).status().code(), StatusCode::kUnauthenticated);
}

// --- Checkpoints on the embedded SQLite archive ----------------------------

class AuditCheckpointArchive : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-auditckpt-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    stores_.kind = "embedded";
    stores_.path = dir_ + "/data";
    ckpt_dir_ = dir_ + "/audit-checkpoints/node-a";
    db_ = stores_.path + "/archive/ALPHA.db";
    auto c = MakeCheckpointer(ckpt_dir_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ckpt_ = std::move(*c);
  }
  void TearDown() override {
    ckpt_.reset();
    std::filesystem::remove_all(dir_);
  }

  Result<std::unique_ptr<AuditCheckpointer>> MakeCheckpointer(
      const std::string& dir, std::chrono::milliseconds interval = std::chrono::seconds(60)) {
    AuditCheckpointerOptions o;
    o.stores = stores_;
    o.tenants = {"ALPHA"};
    o.dir = dir;
    o.node = "node-a";
    o.interval = interval;
    o.clock = &clock_;
    return AuditCheckpointer::Create(o);
  }

  void Append(int n, const std::string& actor = "cn=op") {
    auto a = OpenArchive(stores_, TenantScope::For("ALPHA").value());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(
          (*a)->AppendAudit(1796659200000 + i, "AUTH_FAILED", actor, R"({"i":)" + std::to_string(i) + "}").ok());
    }
  }

  AuditCheckpoint CheckpointNow() {
    auto c = ckpt_->Checkpoint("ALPHA");
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_TRUE(c.ok() && c->has_value()) << "no checkpoint written";
    clock_.Advance(std::chrono::minutes(1));
    return c.ok() && c->has_value() ? **c : AuditCheckpoint{};
  }

  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << sql << ": " << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  // What `dsmilctl audit verify` computes: the rows read afresh, checked
  // against the checkpoint file with the public key only.
  AuditVerdict Verify() {
    auto a = OpenArchive(stores_, TenantScope::For("ALPHA").value());
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    if (!a.ok()) return {};
    auto rows = (*a)->ReadAudit();
    EXPECT_TRUE(rows.ok());
    auto key = LoadOrCreateLogKey(stores_);
    EXPECT_TRUE(key.ok());
    auto pub = ReadAuditCheckpointPublicKey(DefaultAuditCheckpointKeyPrefix(ckpt_dir_) + ".pub");
    EXPECT_TRUE(pub.ok()) << pub.status().ToString();
    if (!pub.ok() || !rows.ok() || !key.ok()) return {};
    auto log = ReadAuditCheckpointLog(ckpt_dir_, "ALPHA", *pub);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    if (!log.ok()) return {};
    return VerifyAuditWithCheckpoints(*rows, *key, *log);
  }

  std::string CheckpointText() {
    std::ifstream in(AuditCheckpointFile(ckpt_dir_, "ALPHA"), std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  void WriteCheckpointText(const std::string& text) {
    std::ofstream(AuditCheckpointFile(ckpt_dir_, "ALPHA"), std::ios::binary | std::ios::trunc) << text;
  }
  size_t CheckpointLines() {
    std::string t = CheckpointText();
    return size_t(std::count(t.begin(), t.end(), '\n'));
  }

  FakeClock clock_{1796659200LL * 1000000000LL};  // 2026-12-07T16:00:00Z
  std::string dir_, ckpt_dir_, db_;
  StoresConfig stores_;
  std::unique_ptr<AuditCheckpointer> ckpt_;
};

TEST_F(AuditCheckpointArchive, UnchangedHeadIsNotCheckpointedTwice) {
  // No rows yet: nothing to vouch for, and no archive file is created.
  auto none = ckpt_->Checkpoint("ALPHA");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
  struct stat st {};
  EXPECT_NE(stat(db_.c_str(), &st), 0);
  Append(5);
  AuditCheckpoint c1 = CheckpointNow();
  EXPECT_EQ(c1.counter, 1);
  EXPECT_EQ(c1.seq, 5);
  EXPECT_EQ(c1.rows, 5);
  EXPECT_EQ(c1.node, "node-a");
  auto again = ckpt_->Checkpoint("ALPHA");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  Append(2);
  AuditCheckpoint c2 = CheckpointNow();
  EXPECT_EQ(c2.counter, 2);
  EXPECT_EQ(c2.seq, 7);
  EXPECT_EQ(CheckpointLines(), 2u);
  // A new checkpointer (node restart) continues the counter from the file.
  ckpt_.reset();
  auto c = MakeCheckpointer(ckpt_dir_);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ckpt_ = std::move(*c);
  auto same = ckpt_->Checkpoint("ALPHA");
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->has_value());
  Append(1);
  EXPECT_EQ(CheckpointNow().counter, 3);
  auto v = Verify();
  EXPECT_TRUE(v.ok) << Problems(v);
  ASSERT_TRUE(v.trusted.has_value());
  EXPECT_EQ(v.trusted->counter, 3);
  EXPECT_EQ(v.trusted->seq, 8);
}

// (a) the newest rows deleted in the database file itself.
TEST_F(AuditCheckpointArchive, DeletedNewestRowsAreReportedAsTruncation) {
  Append(10);
  CheckpointNow();
  Sql("DELETE FROM audit_log WHERE seq > 7");
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0],
            "truncated: the chain ends at seq 7 but checkpoint #1 (signed 2026-12-07T16:00:00Z by node-a) saw seq 10 "
            "(10 rows) (newest rows deleted, or an older copy restored)");
  ASSERT_TRUE(v.trusted.has_value());
  EXPECT_EQ(v.trusted->counter, 1);
  // The checkpointer does not sign the shorter head (that would hide the cut).
  auto c = ckpt_->Checkpoint("ALPHA");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(c.status().message().find("truncated: the chain ends at seq 7 but checkpoint #1"), std::string::npos)
      << c.status().message();
  // Nor a head that grew again past the cut.
  Append(5, "cn=later");
  c = ckpt_->Checkpoint("ALPHA");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rolled back: row seq 10 is not the row checkpoint #1"), std::string::npos)
      << c.status().message();
  EXPECT_EQ(CheckpointLines(), 1u);
}

// (b) every row deleted, then the whole file.
TEST_F(AuditCheckpointArchive, DeletingEveryRowIsReported) {
  Append(6);
  CheckpointNow();
  Sql("DELETE FROM audit_log");
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0],
            "truncated: the log is empty but checkpoint #1 (signed 2026-12-07T16:00:00Z by node-a) saw seq 6 (6 rows) "
            "(every row deleted, or an older copy restored)");
  EXPECT_FALSE(ckpt_->Checkpoint("ALPHA").ok());

  std::filesystem::remove(db_);
  auto c = ckpt_->Checkpoint("ALPHA");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("is gone but checkpoint #1"), std::string::npos) << c.status().message();
  auto gone = Verify();
  EXPECT_FALSE(gone.ok);
  ASSERT_EQ(gone.problems.size(), 1u) << Problems(gone);
  EXPECT_EQ(gone.problems[0].rfind("truncated: the log is empty but checkpoint #1", 0), 0u);
}

// (c) the database put back to an older copy.
TEST_F(AuditCheckpointArchive, RollbackToAnOlderCopyIsReported) {
  Append(10);
  CheckpointNow();
  const std::string old_copy = dir_ + "/ALPHA.db.old";
  std::filesystem::copy_file(db_, old_copy);  // no handle is open: the WAL is folded in
  Append(5);
  AuditCheckpoint c2 = CheckpointNow();
  EXPECT_EQ(c2.seq, 15);
  EXPECT_TRUE(Verify().ok);
  std::filesystem::copy_file(old_copy, db_, std::filesystem::copy_options::overwrite_existing);
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0],
            "truncated: the chain ends at seq 10 but checkpoint #2 (signed 2026-12-07T16:01:00Z by node-a) saw seq 15 "
            "(15 rows) (newest rows deleted, or an older copy restored)");
  EXPECT_EQ(ckpt_->Checkpoint("ALPHA").status().code(), StatusCode::kDataLoss);
  // The restored copy goes on growing past the checkpoint's seq: the row at
  // seq 15 is not the one that was signed.
  Append(7, "cn=after-restore");
  v = Verify();
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.problems.size(), 1u) << Problems(v);
  EXPECT_EQ(v.problems[0].rfind("rolled back: row seq 15 is not the row checkpoint #2 (signed "
                                "2026-12-07T16:01:00Z by node-a) saw",
                                0),
            0u)
      << v.problems[0];
  auto c = ckpt_->Checkpoint("ALPHA");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("rolled back"), std::string::npos) << c.status().message();
}

// (d) a checkpoint file with one byte changed.
TEST_F(AuditCheckpointArchive, TamperedCheckpointIsRejectedAndReported) {
  Append(4);
  CheckpointNow();
  Append(4);
  CheckpointNow();
  const std::string good = CheckpointText();
  size_t second = good.find('\n') + 1;
  ASSERT_LT(second, good.size());
  // Flip one byte of the second checkpoint's signature.
  std::string text = good;
  size_t sig = text.find(" sig=", second) + 5 + 100;
  text[sig] = text[sig] == '0' ? '1' : '0';
  WriteCheckpointText(text);
  auto v = Verify();
  EXPECT_FALSE(v.ok);
  std::string all = Problems(v);
  EXPECT_NE(all.find("line 2: signature does not verify (altered, or signed by another key); checkpoint rejected"),
            std::string::npos)
      << all;
  ASSERT_TRUE(v.trusted.has_value());
  EXPECT_EQ(v.trusted->counter, 1);  // the one that still verifies
  EXPECT_EQ(v.problems.size(), 1u) << all;

  // One byte of the signed payload (seq 8 -> seq 9) on the only checkpoint left.
  text = good.substr(second);
  text.replace(text.find(" seq=8 "), 7, " seq=9 ");
  WriteCheckpointText(text);
  v = Verify();
  EXPECT_FALSE(v.ok);
  all = Problems(v);
  EXPECT_NE(all.find("line 1: signature does not verify"), std::string::npos) << all;
  EXPECT_FALSE(v.trusted.has_value());
  bool none = false;
  for (const auto& n : v.notes) none |= n == "no checkpoint: truncation cannot be detected";
  EXPECT_TRUE(none);

  // A checkpoint of another tenant copied in is rejected too.
  WriteCheckpointText(good);
  std::string bravo = good;
  for (size_t p = 0; (p = bravo.find("tenant=ALPHA", p)) != std::string::npos;) bravo.replace(p, 12, "tenant=BRAVO");
  WriteCheckpointText(bravo);
  v = Verify();
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.problems.size(), 2u) << Problems(v);  // re-labelled lines no longer verify
}

// (e) no checkpoint at all.
TEST_F(AuditCheckpointArchive, WithoutACheckpointTheChainIsStillVerified) {
  Append(5);
  auto v = Verify();
  EXPECT_TRUE(v.ok) << Problems(v);
  EXPECT_EQ(v.rows, 5u);
  EXPECT_FALSE(v.trusted.has_value());
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_EQ(v.notes[0], "no checkpoint: truncation cannot be detected");
  Sql("DELETE FROM audit_log WHERE seq > 2");
  EXPECT_TRUE(Verify().ok);  // exactly what checkpoints are for
}

// (f) the checkpoints live outside the stores; the signing key is 0600.
TEST_F(AuditCheckpointArchive, CheckpointsLiveOutsideTheStores) {
  Append(3);
  CheckpointNow();
  struct stat st {};
  ASSERT_EQ(stat((DefaultAuditCheckpointKeyPrefix(ckpt_dir_) + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(ckpt_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
  EXPECT_FALSE(PathIsInside(ckpt_dir_, stores_.path));
  for (const auto& e : std::filesystem::recursive_directory_iterator(stores_.path)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".ckpt"), std::string::npos) << e.path();
    EXPECT_EQ(name.find("checkpoint"), std::string::npos) << e.path();
  }
  // A checkpoint directory the archive's writer could reach is refused.
  for (const std::string& inside :
       {stores_.path + "/checkpoints", stores_.path, stores_.path + "/secrets/ckpt", dir_ + "/data/../data/x"}) {
    auto c = MakeCheckpointer(inside);
    ASSERT_FALSE(c.ok()) << inside;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(c.status().message().find("is inside stores."), std::string::npos) << c.status().message();
  }
  std::filesystem::create_directories(dir_ + "/elsewhere");
  std::filesystem::create_symlink(stores_.path, dir_ + "/elsewhere/link");
  EXPECT_FALSE(MakeCheckpointer(dir_ + "/elsewhere/link/ckpt").ok());
  EXPECT_TRUE(PathIsInside(dir_ + "/data/archive", dir_ + "/data/"));
  EXPECT_FALSE(PathIsInside(dir_ + "/database", dir_ + "/data"));
  // A public key whose private half is gone is not silently replaced.
  std::filesystem::remove(DefaultAuditCheckpointKeyPrefix(ckpt_dir_) + ".key");
  auto again = MakeCheckpointer(ckpt_dir_);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find("exists without"), std::string::npos) << again.status().message();
}

TEST_F(AuditCheckpointArchive, BackgroundThreadAndStopCheckpoint) {
  ckpt_.reset();
  auto c = MakeCheckpointer(ckpt_dir_, std::chrono::milliseconds(20));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ckpt_ = std::move(*c);
  ASSERT_TRUE(ckpt_->Start().ok());
  Append(3);
  for (int i = 0; i < 500 && CheckpointLines() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(CheckpointLines(), 1u);
  Append(2);
  ckpt_->Stop();  // the final head is checkpointed on the way out
  auto v = Verify();
  EXPECT_TRUE(v.ok) << Problems(v);
  ASSERT_TRUE(v.trusted.has_value());
  EXPECT_EQ(v.trusted->seq, 5);
  ckpt_->Stop();  // idempotent
}

TEST_F(AuditCheckpointArchive, IncompleteLastLineIsDroppedBeforeTheNextAppend) {
  Append(2);
  CheckpointNow();
  std::string text = CheckpointText();
  WriteCheckpointText(text + text.substr(0, 300));  // a crash mid-write
  auto v = Verify();
  EXPECT_TRUE(v.ok) << Problems(v);
  ASSERT_EQ(v.notes.size(), 1u);
  EXPECT_NE(v.notes[0].find("line 2: incomplete"), std::string::npos) << v.notes[0];
  Append(1);
  EXPECT_EQ(CheckpointNow().counter, 2);
  v = Verify();
  EXPECT_TRUE(v.ok) << Problems(v);
  EXPECT_TRUE(v.notes.empty());
  EXPECT_EQ(CheckpointLines(), 2u);
}

}  // namespace
}  // namespace dsmil::store
