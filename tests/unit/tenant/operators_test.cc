// The operator registry (tenant/operators.h).
#include "tenant/operators.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "crypto/mldsa.h"

namespace dsmil::tenant {
namespace {

class OperatorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-ops-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    stores_.path = tmpl;
    auto r = OperatorRegistry::Open(OperatorFile(stores_));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reg_ = std::move(*r);
    for (int i = 0; i < 2; ++i) {
      auto kp = crypto::MlDsa87KeyGen();
      ASSERT_TRUE(kp.ok());
      keys_.push_back(kp->public_key);
    }
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(stores_.path, ec);
  }

  store::StoresConfig stores_;
  std::unique_ptr<OperatorRegistry> reg_;
  std::vector<Bytes> keys_;
};

TEST_F(OperatorsTest, RegisterFindListRemove) {
  ASSERT_TRUE(reg_->Register("alice", keys_[0], 100).ok());
  ASSERT_TRUE(reg_->Register("bob@alpha.mil", keys_[1], 101).ok());
  auto reopened = OperatorRegistry::Open(OperatorFile(stores_));
  ASSERT_TRUE(reopened.ok());
  auto alice = (*reopened)->Find("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->public_key, keys_[0]);
  EXPECT_EQ((*reopened)->List()->size(), 2u);
  ASSERT_TRUE(reg_->Remove("alice", 200).ok());
  EXPECT_EQ(reg_->Find("alice").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(reg_->Remove("alice", 201).code(), StatusCode::kNotFound);
  // Removed, the name and key may be registered again.
  EXPECT_TRUE(reg_->Register("alice", keys_[0], 300).ok());
  struct stat st {};
  ASSERT_EQ(::stat(OperatorFile(stores_).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(OperatorsTest, OneNameAndOneKeyPerOperator) {
  ASSERT_TRUE(reg_->Register("alice", keys_[0], 100).ok());
  EXPECT_EQ(reg_->Register("alice", keys_[1], 101).status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(reg_->Register("alice2", keys_[0], 101).status().code(), StatusCode::kAlreadyExists);
}

TEST_F(OperatorsTest, BadNamesAndKeysRefused) {
  EXPECT_EQ(reg_->Register("", keys_[0], 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->Register("al ice", keys_[0], 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->Register(std::string(65, 'a'), keys_[0], 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg_->Register("alice", Bytes(32, 1), 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(reg_->List()->empty());
}

}  // namespace
}  // namespace dsmil::tenant
