#include "tenant/keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace dsmil::tenant {
namespace {

std::string TempDir() {
  char tmpl[] = "/tmp/dsmil-keys-XXXXXX";
  return std::string(mkdtemp(tmpl));
}

TEST(ApiKeys, CreateShowsOnceAndStoresOnlyTheHash) {
  std::string dir = TempDir();
  auto store = ApiKeyStore::Open(dir + "/tenant/api_keys");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto created = (*store)->Create("ALPHA", "ci");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->key.rfind("sk-alpha-", 0), 0u);
  EXPECT_EQ(created->info.tenant, "ALPHA");
  EXPECT_EQ(created->info.hash, HashApiKey(created->key));
  std::ifstream in(dir + "/tenant/api_keys");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.find(created->key), std::string::npos) << "the plain key must not be stored";
  EXPECT_NE(text.find(created->info.hash), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/tenant/api_keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);

  auto resolved = (*store)->Resolve(created->key);
  ASSERT_TRUE(resolved.ok());
  EXPECT_EQ(resolved->tenant, "ALPHA");
  EXPECT_EQ(resolved->id, created->info.id);
  std::filesystem::remove_all(dir);
}

TEST(ApiKeys, UnknownRevokedAndMalformedKeysAreRefused) {
  std::string dir = TempDir();
  auto store = ApiKeyStore::Open(dir + "/api_keys");
  ASSERT_TRUE(store.ok());
  auto a = (*store)->Create("ALPHA");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*store)->Resolve("sk-alpha-00000000-deadbeefdeadbeefdeadbeef").status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Resolve("").status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ((*store)->Resolve("Bearer x").status().code(), StatusCode::kUnauthenticated);
  ASSERT_TRUE((*store)->Revoke("ALPHA", a->info.id).ok());
  auto r = (*store)->Resolve(a->key);
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("revoked"), std::string::npos);
  // Another tenant cannot revoke it; an unknown id is NotFound.
  EXPECT_EQ((*store)->Revoke("BRAVO", a->info.id).code(), StatusCode::kNotFound);
  EXPECT_EQ((*store)->Revoke("ALPHA", "ffffffff").code(), StatusCode::kNotFound);
  EXPECT_EQ((*store)->Create("alpha").status().code(), StatusCode::kInvalidArgument);
  std::filesystem::remove_all(dir);
}

TEST(ApiKeys, ListFiltersByTenantAndImportChecksThePrefix) {
  std::string dir = TempDir();
  auto store = ApiKeyStore::Open(dir + "/api_keys");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Create("ALPHA").ok());
  ASSERT_TRUE((*store)->Create("BRAVO").ok());
  ASSERT_TRUE((*store)->Import("ALPHA", "sk-alpha-test-0123456789abcdef", "fixed").ok());
  EXPECT_EQ((*store)->Import("ALPHA", "sk-alpha-test-0123456789abcdef").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*store)->Import("BRAVO", "sk-alpha-test-0123456789abcdeg").status().code(), StatusCode::kInvalidArgument);
  auto alpha = (*store)->List("ALPHA");
  ASSERT_TRUE(alpha.ok());
  EXPECT_EQ(alpha->size(), 2u);
  for (const auto& k : *alpha) EXPECT_EQ(k.tenant, "ALPHA");
  EXPECT_EQ((*store)->List()->size(), 3u);
  auto r = (*store)->Resolve("sk-alpha-test-0123456789abcdef");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->label, "fixed");
  std::filesystem::remove_all(dir);
}

TEST(ApiKeys, ConcurrentProcessesDoNotLoseKeys) {
  std::string dir = TempDir();
  std::string path = dir + "/api_keys";
  ASSERT_TRUE(ApiKeyStore::Open(path).ok());
  constexpr int kProcs = 4, kEach = 10;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = ApiKeyStore::Open(path);
      if (!s.ok()) _exit(1);
      for (int i = 0; i < kEach; ++i) {
        if (!(*s)->Create("ALPHA").ok()) _exit(2);
      }
      _exit(0);
    }
  }
  for (int p = 0; p < kProcs; ++p) {
    int status = 0;
    wait(&status);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto store = ApiKeyStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto all = (*store)->List("ALPHA");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), size_t(kProcs * kEach));
  std::set<std::string> ids;
  for (const auto& k : *all) ids.insert(k.id);
  EXPECT_EQ(ids.size(), all->size());
  std::filesystem::remove_all(dir);
}

TEST(ApiKeys, AnotherProcessRevocationIsSeen) {
  std::string dir = TempDir();
  auto a = ApiKeyStore::Open(dir + "/api_keys");
  auto b = ApiKeyStore::Open(dir + "/api_keys");
  ASSERT_TRUE(a.ok() && b.ok());
  auto k = (*a)->Create("ALPHA");
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE((*b)->Resolve(k->key).ok());
  ASSERT_TRUE((*a)->Revoke("ALPHA", k->info.id).ok());
  EXPECT_FALSE((*b)->Resolve(k->key).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsmil::tenant
