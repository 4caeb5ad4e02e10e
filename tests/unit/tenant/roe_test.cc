// ROE tokens (tenant/roe.h): issue, find, list, revoke, the registry file and
// every check of CheckRoeToken.
#include "tenant/roe.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"

namespace dsmil::tenant {
namespace {

constexpr int64_t kNow = 1764245000;

class RoeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-roe-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    stores_.path = tmpl;
    auto pub = EnsureRoeKeyPair(RoeKeyPrefix(stores_));
    ASSERT_TRUE(pub.ok()) << pub.status().ToString();
    pub_ = *pub;
    auto key = crypto::ReadPrivateKey(RoeKeyPrefix(stores_) + ".key", crypto::KeyAlg::kMlDsa87);
    ASSERT_TRUE(key.ok());
    secret_.assign(key->key.begin(), key->key.end());
    auto s = RoeTokenStore::Open(RoeTokenFile(stores_));
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(stores_.path, ec);
  }

  store::StoresConfig stores_;
  Bytes pub_, secret_;
  std::unique_ptr<RoeTokenStore> store_;
};

TEST_F(RoeTest, KeyAndRegistryLiveUnderTheStores) {
  EXPECT_EQ(RoeKeyPrefix(stores_), stores_.path + "/secrets/roe/roe-mldsa87");
  EXPECT_EQ(RoeTokenFile(stores_), stores_.path + "/tenant/roe_tokens");
  struct stat st {};
  ASSERT_EQ(::stat(RoeTokenFile(stores_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((RoeKeyPrefix(stores_) + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A second EnsureRoeKeyPair keeps the key.
  auto again = EnsureRoeKeyPair(RoeKeyPrefix(stores_));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, pub_);
  store::StoresConfig custom = stores_;
  custom.secrets_dir = "/etc/dsmil/secrets";
  EXPECT_EQ(RoeKeyPrefix(custom), "/etc/dsmil/secrets/roe/roe-mldsa87");
}

TEST_F(RoeTest, IssuedTokenVerifiesAndSurvivesReopen) {
  auto t = store_->Issue("ALPHA", "nc3", 900, "CN=roe-officer", secret_, kNow);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->id.rfind("roe-", 0), 0u);
  EXPECT_EQ(t->exp_s, kNow + 900);
  auto reopened = RoeTokenStore::Open(RoeTokenFile(stores_));
  ASSERT_TRUE(reopened.ok());
  auto found = (*reopened)->Find(t->id);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->issuer, "CN=roe-officer");
  EXPECT_TRUE(CheckRoeToken(*found, pub_, "ALPHA", "nc3", kNow + 10).ok());
  EXPECT_EQ((*reopened)->List("ALPHA")->size(), 1u);
  EXPECT_EQ((*reopened)->List("BRAVO")->size(), 0u);
  EXPECT_EQ(store_->Find("roe-nope").status().code(), StatusCode::kNotFound);
}

TEST_F(RoeTest, EveryCheckRefusesWithItsReason) {
  auto t = store_->Issue("ALPHA", "nc3", 900, "CN=roe-officer", secret_, kNow);
  ASSERT_TRUE(t.ok());
  auto msg = [&](const RoeToken& tok, std::string_view tenant, std::string_view scope, int64_t now) {
    Status s = CheckRoeToken(tok, pub_, tenant, scope, now);
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
    return s.message();
  };
  EXPECT_NE(msg(*t, "ALPHA", "nc3", kNow + 900).find("expired"), std::string::npos);
  EXPECT_NE(msg(*t, "ALPHA", "nc3", kNow - 1).find("not valid yet"), std::string::npos);
  EXPECT_NE(msg(*t, "BRAVO", "nc3", kNow).find("tenant ALPHA"), std::string::npos);
  EXPECT_NE(msg(*t, "ALPHA", "coa", kNow).find("scope"), std::string::npos);
  RoeToken edited = *t;
  edited.exp_s += 3600;  // the file edited by hand
  EXPECT_NE(msg(edited, "ALPHA", "nc3", kNow).find("signature"), std::string::npos);
  ASSERT_TRUE(store_->Revoke(t->id, kNow + 1).ok());
  ASSERT_TRUE(store_->Revoke(t->id, kNow + 2).ok());
  auto revoked = store_->Find(t->id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked->revoked_s, kNow + 1);
  EXPECT_NE(msg(*revoked, "ALPHA", "nc3", kNow + 5).find("revoked"), std::string::npos);
  EXPECT_EQ(store_->Revoke("roe-nope", kNow).code(), StatusCode::kNotFound);
}

TEST_F(RoeTest, IssueRefusesBadInput) {
  EXPECT_FALSE(store_->Issue("alpha", "nc3", 900, "x", secret_, kNow).ok());
  EXPECT_FALSE(store_->Issue("ALPHA", "NC3 scope", 900, "x", secret_, kNow).ok());
  EXPECT_FALSE(store_->Issue("ALPHA", "nc3", 0, "x", secret_, kNow).ok());
  EXPECT_FALSE(store_->Issue("ALPHA", "nc3", kMaxRoeTokenLifetimeS + 1, "x", secret_, kNow).ok());
  EXPECT_FALSE(store_->Issue("ALPHA", "nc3", 900, "line\nbreak", secret_, kNow).ok());
  EXPECT_EQ(store_->List()->size(), 0u);
}

TEST_F(RoeTest, MalformedRegistryIsDataLoss) {
  std::ofstream(RoeTokenFile(stores_), std::ios::app) << "roe-1 ALPHA nc3 notanumber\n";
  EXPECT_EQ(store_->List().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace dsmil::tenant
