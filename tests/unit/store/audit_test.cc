// The audit chain on its own: sealing, the HMAC against OpenSSL, and the
// verifier naming each kind of tampering.
#include "store/audit.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "core/coding.h"

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
  std::string pre = rows[1].prev_hash + "\n2\n" + std::to_string(rows[1].ts_ms) + "\nAUTH_FAILED\nkey:sk-alpha-2\n" +
                    rows[1].detail;
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

}  // namespace
}  // namespace dsmil::store
