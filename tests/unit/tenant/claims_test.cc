#include "tenant/claims.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "crypto/mldsa.h"

namespace dsmil::tenant {
namespace {

class ClaimsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-claims-XXXXXX";
    dir_ = mkdtemp(tmpl);
    keyring_ = std::make_unique<ClaimKeyring>(dir_ + "/claims");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::unique_ptr<ClaimKeyring> keyring_;
};

constexpr int64_t kNow = 1764245000;

TEST_F(ClaimsTest, SignedTokenVerifiesAndCarriesTheClaim) {
  auto sk = keyring_->SigningKey("ALPHA");
  ASSERT_TRUE(sk.ok()) << sk.status().ToString();
  auto token = SignClaim({"ALPHA", "key:1234abcd", kNow, kNow + 600}, *sk);
  ASSERT_TRUE(token.ok());
  auto pk = keyring_->PublicKey("ALPHA");
  ASSERT_TRUE(pk.ok());
  auto c = VerifyClaim(*token, *pk, kNow + 1);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->tenant_id, "ALPHA");
  EXPECT_EQ(c->user_id, "key:1234abcd");
  EXPECT_EQ(c->exp, kNow + 600);
}

TEST_F(ClaimsTest, ForgedExpiredAndOtherTenantTokensAreRefused) {
  auto alpha_sk = keyring_->SigningKey("ALPHA");
  auto bravo_sk = keyring_->SigningKey("BRAVO");
  ASSERT_TRUE(alpha_sk.ok() && bravo_sk.ok());
  ClaimVerifier verifier([&](const std::string& t) { return keyring_->PublicKey(t); });

  auto good = SignClaim({"ALPHA", "u1", kNow, kNow + 600}, *alpha_sk);
  ASSERT_TRUE(good.ok());
  // Flipped byte in the claim: the signature no longer verifies.
  Bytes forged = *good;
  forged[20] ^= 0x01;
  auto r = verifier.Verify(forged, "ALPHA", kNow);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated) << r.status().ToString();
  // A claim for ALPHA signed with BRAVO's key.
  auto wrong_key = SignClaim({"ALPHA", "u1", kNow, kNow + 600}, *bravo_sk);
  ASSERT_TRUE(wrong_key.ok());
  EXPECT_EQ(verifier.Verify(*wrong_key, "ALPHA", kNow).status().code(), StatusCode::kUnauthenticated);
  // Expired.
  auto expired = verifier.Verify(*good, "ALPHA", kNow + 600);
  EXPECT_EQ(expired.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(expired.status().message().find("expired"), std::string::npos);
  // A valid BRAVO token presented for an ALPHA request.
  auto bravo = SignClaim({"BRAVO", "u2", kNow, kNow + 600}, *bravo_sk);
  ASSERT_TRUE(bravo.ok());
  auto other = verifier.Verify(*bravo, "ALPHA", kNow);
  EXPECT_EQ(other.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(other.status().message().find("BRAVO"), std::string::npos);
  // Garbage.
  Bytes junk(100, 0x41);
  EXPECT_EQ(verifier.Verify(junk, "ALPHA", kNow).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier.Verify({}, "ALPHA", kNow).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(ClaimsTest, VerifiedTokensAreCachedByHashUntilExpiry) {
  auto sk = keyring_->SigningKey("ALPHA");
  ASSERT_TRUE(sk.ok());
  ClaimVerifier verifier([&](const std::string& t) { return keyring_->PublicKey(t); });
  auto token = SignClaim({"ALPHA", "u1", kNow, kNow + 100}, *sk);
  ASSERT_TRUE(token.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(verifier.Verify(*token, "ALPHA", kNow + i).ok());
  EXPECT_EQ(verifier.verifications(), 1u);
  EXPECT_EQ(verifier.cache_hits(), 4u);
  // The cached token still names its tenant: refused for BRAVO.
  EXPECT_EQ(verifier.Verify(*token, "BRAVO", kNow).status().code(), StatusCode::kPermissionDenied);
  // Past exp the cache does not answer.
  EXPECT_FALSE(verifier.Verify(*token, "ALPHA", kNow + 100).ok());
}

TEST_F(ClaimsTest, IssuerReusesATokenUntilItNearsExpiry) {
  ClaimIssuer issuer(keyring_.get(), std::chrono::seconds(100));
  auto t1 = issuer.TokenFor("ALPHA", "key:1", kNow);
  auto t2 = issuer.TokenFor("ALPHA", "key:1", kNow + 50);
  auto t3 = issuer.TokenFor("ALPHA", "key:1", kNow + 95);
  auto t4 = issuer.TokenFor("ALPHA", "key:2", kNow);
  ASSERT_TRUE(t1.ok() && t2.ok() && t3.ok() && t4.ok());
  EXPECT_EQ(*t1, *t2);
  EXPECT_NE(*t1, *t3);
  EXPECT_NE(*t1, *t4);
  auto c = PeekClaim(*t3);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->issued_at, kNow + 95);
}

}  // namespace
}  // namespace dsmil::tenant
