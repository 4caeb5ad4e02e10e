#include "net/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "crypto/keyfile.h"
#include "crypto/mldsa.h"
#include "test_util.h"

namespace dsmil::net {
namespace {

using testing::TempDir;

TEST(IdentityTest, NodeNamesAndSpiffeIds) {
  EXPECT_TRUE(IsValidNodeName("node-a"));
  EXPECT_FALSE(IsValidNodeName("Node-A"));
  EXPECT_FALSE(IsValidNodeName(""));
  EXPECT_FALSE(IsValidNodeName("node/a"));
  EXPECT_EQ(SpiffeIdForNode("node-a"), "spiffe://dsmil.local/node/node-a");
  EXPECT_FALSE(GenerateNodeIdentity("../x").ok());
}

TEST(IdentityTest, WriteLoadRoundTripAndSigns) {
  TempDir dir;
  auto id = GenerateNodeIdentity("node-a");
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WriteNodeIdentity(dir.path(), *id).ok());
  struct stat st {};
  ASSERT_EQ(stat((dir.path() + "/node-a-mldsa87.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = LoadNodeIdentity(dir.path(), "node-a");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->spiffe_id, "spiffe://dsmil.local/node/node-a");
  EXPECT_EQ(loaded->cert_cn, "node-a");
  EXPECT_EQ(loaded->public_key, id->public_key);
  auto sig = crypto::MlDsa87Sign(loaded->secret_key, AsBytes("m"), {});
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(crypto::MlDsa87Verify(loaded->public_key, AsBytes("m"), {}, *sig).ok());
}

TEST(IdentityTest, GroupReadableKeyRefused) {
  TempDir dir;
  auto id = GenerateNodeIdentity("node-a");
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(WriteNodeIdentity(dir.path(), *id).ok());
  chmod((dir.path() + "/node-a-mldsa87.key").c_str(), 0644);
  auto loaded = LoadNodeIdentity(dir.path(), "node-a");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find("0644"), std::string::npos) << loaded.status().message();
}

TEST(IdentityTest, MismatchedPublicKeyRefused) {
  TempDir dir;
  auto a = GenerateNodeIdentity("node-a");
  auto b = GenerateNodeIdentity("node-a");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(WriteNodeIdentity(dir.path(), *a).ok());
  ASSERT_TRUE(crypto::WritePublicFile(dir.path() + "/node-a-mldsa87.pub", b->public_key).ok());
  auto loaded = LoadNodeIdentity(dir.path(), "node-a");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kDataLoss);
}

TEST(IdentityTest, EncryptedIdentity) {
  TempDir dir;
  auto id = GenerateNodeIdentity("node-b");
  ASSERT_TRUE(id.ok());
  PassphraseParams fast{.log2_n = 10, .r = 8, .p = 1};
  ASSERT_TRUE(WriteNodeIdentity(dir.path(), *id, "correct horse", fast).ok());
  auto good = LoadNodeIdentity(dir.path(), "node-b", "correct horse");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->public_key, id->public_key);

  auto wrong = LoadNodeIdentity(dir.path(), "node-b", "battery staple");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(wrong.status().message().find("wrong passphrase"), std::string::npos);

  auto none = LoadNodeIdentity(dir.path(), "node-b");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
}

TEST(IdentityTest, EncryptedFileTamperRefused) {
  Bytes container(100, 7);
  PassphraseParams fast{.log2_n = 10, .r = 8, .p = 1};
  auto enc = EncryptKeyFile(container, "pw", fast);
  ASSERT_TRUE(enc.ok());
  auto dec = DecryptKeyFile(*enc, "pw");
  ASSERT_TRUE(dec.ok());
  EXPECT_TRUE(std::equal(dec->begin(), dec->end(), container.begin(), container.end()));
  for (size_t i : {size_t{10}, size_t{20}, size_t{40}, enc->size() - 1}) {
    Bytes bad = *enc;
    bad[i] ^= 1;
    EXPECT_FALSE(DecryptKeyFile(bad, "pw").ok()) << i;
  }
  EXPECT_FALSE(DecryptKeyFile(ByteView(enc->data(), 30), "pw").ok());
}

TEST(IdentityTest, PinnedPeers) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/peer_keys");
  auto b = GenerateNodeIdentity("node-b");
  auto b2 = GenerateNodeIdentity("node-b");
  auto c = GenerateNodeIdentity("node-c");
  ASSERT_TRUE(b.ok() && b2.ok() && c.ok());
  const std::string pk = dir.path() + "/peer_keys/";
  ASSERT_TRUE(crypto::WritePublicFile(pk + "node-b-mldsa87.pub", b->public_key).ok());
  ASSERT_TRUE(crypto::WritePublicFile(pk + "node-b-mldsa87.2.pub", b2->public_key).ok());
  ASSERT_TRUE(crypto::WritePublicFile(pk + "node-c-mldsa87.pub", c->public_key).ok());
  dir.Write("peer_keys/README", "ignored");
  auto peers = LoadPinnedPeers(pk);
  ASSERT_TRUE(peers.ok()) << peers.status().ToString();
  EXPECT_EQ(peers->size(), 2u);
  EXPECT_TRUE(peers->Matches("node-b", b->public_key));
  EXPECT_TRUE(peers->Matches("node-b", b2->public_key));
  EXPECT_FALSE(peers->Matches("node-b", c->public_key));
  EXPECT_FALSE(peers->Contains("node-a"));
  dir.Write("peer_keys/node-d-mldsa87.pub", "short", 0644);
  EXPECT_EQ(LoadPinnedPeers(pk).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(LoadPinnedPeers(dir.path() + "/nope").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dsmil::net
