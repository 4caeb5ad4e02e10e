// Key files: format, modes, refusal of readable private files, round trips.
#include "crypto/keyfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "crypto/mldsa.h"
#include "crypto/mlkem.h"

namespace dsmil::crypto {
namespace {

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "keyfile_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static mode_t Mode(const std::string& p) {
    struct stat st;
    EXPECT_EQ(stat(p.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  std::string dir_;
};

TEST_F(KeyFileTest, PrivateFileIsWritten0600AndReadBack) {
  std::string p = dir_ + "/secret.pem";
  Bytes data = {1, 2, 3, 4};
  ASSERT_TRUE(WritePrivateFile(p, data).ok());
  EXPECT_EQ(Mode(p), 0600u);
  auto r = ReadPrivateFile(p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, data);
  // Overwrite replaces the content and keeps 0600 even over a 0644 file.
  ASSERT_EQ(chmod(p.c_str(), 0644), 0);
  ASSERT_TRUE(WritePrivateFile(p, Bytes{9}).ok());
  EXPECT_EQ(Mode(p), 0600u);
  EXPECT_EQ(*ReadPrivateFile(p), Bytes{9});
  // No temporary files left behind.
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 1);
}

TEST_F(KeyFileTest, GroupOrWorldReadablePrivateFileIsRefused) {
  std::string p = dir_ + "/k.key";
  ASSERT_TRUE(WritePrivateFile(p, Bytes{1}).ok());
  for (mode_t m : {0640u, 0604u, 0644u, 0660u}) {
    ASSERT_EQ(chmod(p.c_str(), m), 0);
    auto r = ReadPrivateFile(p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().ToString();
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", m);
    EXPECT_NE(r.status().message().find(std::string("mode ") + mode), std::string::npos) << r.status().ToString();
  }
  ASSERT_EQ(chmod(p.c_str(), 0400), 0);
  EXPECT_TRUE(ReadPrivateFile(p).ok());
  EXPECT_EQ(ReadPrivateFile(dir_ + "/missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadPrivateFile(dir_).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(KeyFileTest, MlKemKeyPairRoundTrip) {
  auto kp = MlKem1024KeyGen();
  ASSERT_TRUE(kp.ok());
  std::string prefix = dir_ + "/node";
  ASSERT_TRUE(WriteKeyPair(prefix, KeyAlg::kMlKem1024, kp->ek, kp->dk).ok());
  EXPECT_EQ(Mode(prefix + ".key"), 0600u);
  EXPECT_EQ(Mode(prefix + ".pub"), 0644u);
  // .pub is the raw FIPS 203 encapsulation key.
  auto pub_raw = ReadPublicFile(prefix + ".pub");
  ASSERT_TRUE(pub_raw.ok());
  EXPECT_EQ(*pub_raw, kp->ek);
  auto pub = ReadPublicKey(prefix + ".pub", KeyAlg::kMlKem1024);
  ASSERT_TRUE(pub.ok());
  auto key = ReadPrivateKey(prefix + ".key", KeyAlg::kMlKem1024);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->key, kp->dk);
  // The container: 16-byte header then the raw dk.
  auto file = ReadPrivateFile(prefix + ".key");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->size(), 16 + kMlKem1024DecapsKeyBytes);
  EXPECT_EQ(std::string(file->begin(), file->begin() + 8), "DSMILKEY");
  EXPECT_EQ((*file)[8], 1);
  EXPECT_EQ((*file)[9], 2);
  EXPECT_EQ(GetU32BE(file->data() + 12), kMlKem1024DecapsKeyBytes);
  EXPECT_TRUE(std::equal(kp->dk.begin(), kp->dk.end(), file->begin() + 16));
  // Wrong algorithm expected.
  auto wrong = ReadPrivateKey(prefix + ".key", KeyAlg::kMlDsa87);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("expected ml-dsa-87"), std::string::npos);
  EXPECT_FALSE(ReadPublicKey(prefix + ".pub", KeyAlg::kMlDsa87).ok());
}

TEST_F(KeyFileTest, MlDsaKeyPairRoundTrip) {
  auto kp = MlDsa87KeyGen();
  ASSERT_TRUE(kp.ok());
  std::string prefix = dir_ + "/signer";
  ASSERT_TRUE(WriteKeyPair(prefix, KeyAlg::kMlDsa87, kp->public_key, kp->secret_key).ok());
  auto key = ReadPrivateKey(prefix + ".key");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->alg, KeyAlg::kMlDsa87);
  EXPECT_TRUE(std::equal(key->key.begin(), key->key.end(), kp->secret_key.begin(), kp->secret_key.end()));
  auto pub = ReadPublicKey(prefix + ".pub", KeyAlg::kMlDsa87);
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(*pub, kp->public_key);
}

TEST_F(KeyFileTest, CorruptContainersAreRefused) {
  auto kp = MlKem1024KeyGenInternal(Bytes(32, 5), Bytes(32, 6));
  ASSERT_TRUE(kp.ok());
  auto enc = EncodePrivateKeyFile(KeyAlg::kMlKem1024, kp->dk);
  ASSERT_TRUE(enc.ok());
  Bytes good(enc->begin(), enc->end());
  EXPECT_TRUE(DecodePrivateKeyFile(good).ok());
  auto expect_code = [](Bytes b, StatusCode code, const char* needle) {
    auto r = DecodePrivateKeyFile(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().ToString();
  };
  Bytes b = good;
  b[0] = 'X';
  expect_code(b, StatusCode::kDataLoss, "magic");
  b = good;
  b[8] = 2;
  expect_code(b, StatusCode::kDataLoss, "version 2");
  b = good;
  b[9] = 7;
  expect_code(b, StatusCode::kInvalidArgument, "algorithm id 7");
  b = good;
  b.pop_back();
  expect_code(b, StatusCode::kDataLoss, "expected 3168");
  expect_code(Bytes(5), StatusCode::kDataLoss, "16-byte header");
  b = good;
  b[16 + 1536 + 3] ^= 1;  // embedded ek no longer matches H(ek)
  expect_code(b, StatusCode::kInvalidArgument, "hash check");
  EXPECT_FALSE(EncodePrivateKeyFile(KeyAlg::kMlKem1024, Bytes(10)).ok());
}

TEST(KeyAlgTest, Names) {
  EXPECT_EQ(*ParseKeyAlg("ml-kem-1024"), KeyAlg::kMlKem1024);
  EXPECT_EQ(*ParseKeyAlg("ML-DSA-87"), KeyAlg::kMlDsa87);
  auto r = ParseKeyAlg("rsa");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ml-dsa-87 or ml-kem-1024"), std::string::npos);
  EXPECT_EQ(KeyAlgName(KeyAlg::kMlKem1024), "ml-kem-1024");
}

}  // namespace
}  // namespace dsmil::crypto
