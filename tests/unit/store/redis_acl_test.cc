#include "store/redis_acl.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "streams_test_util.h"

namespace dsmil::store {
namespace {

std::map<std::string, std::string> Passwords() {
  return {{"alpha_writer", "pw-aw"}, {"alpha_reader", "pw-ar"}, {"alpha_ingest", "pw-ai"},  {"bravo_writer", "pw-bw"},
          {"bravo_reader", "pw-br"}, {"bravo_ingest", "pw-bi"}, {"dsmil_admin", "pw-admin"}};
}

TEST(RedisAclTest, RendersOneLinePerUser) {
  std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
  auto acl = RenderRedisAcl(tenants, Passwords());
  ASSERT_TRUE(acl.ok()) << acl.status().ToString();
  const std::string& t = *acl;
  EXPECT_EQ(t.rfind("user default off ~* &* +@all\n", 0), 0u) << t;
  EXPECT_NE(t.find("user alpha_writer on #" + RedisPasswordHash("pw-aw") +
                   " resetkeys resetchannels ~ALPHA_* -@all +xadd +xtrim +ping +auth +hello\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("user alpha_reader on #" + RedisPasswordHash("pw-ar") +
                   " resetkeys resetchannels %R~ALPHA_* -@all +xreadgroup +xread +xrange +xrevrange +xlen "
                   "+xpending +xinfo +ping +auth +hello (~ALPHA_* +xack +xgroup|create +xautoclaim +xclaim)\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("user alpha_ingest on #" + RedisPasswordHash("pw-ai") +
                   " resetkeys resetchannels ~ALPHA_L3_IN ~ALPHA_DEAD_LETTER -@all +xadd +ping +auth +hello\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("user bravo_writer on #" + RedisPasswordHash("pw-bw") + " resetkeys resetchannels ~BRAVO_*"),
            std::string::npos);
  EXPECT_NE(t.find("user dsmil_admin on #" + RedisPasswordHash("pw-admin") + " ~* &* +@all\n"), std::string::npos);
  // Clear passwords never appear.
  for (const auto& [user, pw] : Passwords()) EXPECT_EQ(t.find(pw), std::string::npos) << user;
}

TEST(RedisAclTest, HashIsSha256Hex) {
  EXPECT_EQ(RedisPasswordHash("secret"), "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
}

TEST(RedisAclTest, RefusesMissingPasswordsAndBadTenants) {
  auto pw = Passwords();
  pw.erase("bravo_reader");
  std::vector<std::string> tenants = {"ALPHA", "BRAVO"};
  auto r = RenderRedisAcl(tenants, pw);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("bravo_reader"), std::string::npos);
  std::vector<std::string> bad = {"alpha"};
  EXPECT_EQ(RenderRedisAcl(bad, Passwords()).status().code(), StatusCode::kInvalidArgument);
  std::vector<std::string> evil = {"ALPHA ~* +@all"};
  EXPECT_EQ(RenderRedisAcl(evil, Passwords()).status().code(), StatusCode::kInvalidArgument);
}

TEST(RedisAclTest, EnsurePasswordsCreatesMissingFilesOnce) {
  testutil::TempDir dir;
  std::vector<std::string> tenants = {"ALPHA"};
  std::vector<std::string> created;
  auto first = EnsureRedisPasswords(dir.path(), tenants, &created);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(created.size(), 4u);  // alpha_writer, alpha_reader, alpha_ingest, dsmil_admin
  ASSERT_EQ(first->size(), 4u);
  for (const auto& [user, pw] : *first) {
    EXPECT_EQ(pw.size(), 64u) << user;
    struct stat st {};
    ASSERT_EQ(stat((dir.path() + "/redis/" + user + ".pass").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << user;
  }
  EXPECT_NE((*first)["alpha_writer"], (*first)["alpha_reader"]);
  EXPECT_NE((*first)["alpha_writer"], (*first)["alpha_ingest"]);

  std::vector<std::string> more = {"ALPHA", "BRAVO"};
  created.clear();
  auto second = EnsureRedisPasswords(dir.path(), more, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(created.size(), 3u);  // only BRAVO's users are new
  EXPECT_EQ((*second)["alpha_writer"], (*first)["alpha_writer"]);
}

TEST(RedisAclTest, RefusesASecretReadableByOthers) {
  testutil::TempDir dir;
  std::vector<std::string> tenants = {"ALPHA"};
  ASSERT_TRUE(EnsureRedisPasswords(dir.path(), tenants).ok());
  std::string f = dir.path() + "/redis/alpha_writer.pass";
  ASSERT_EQ(chmod(f.c_str(), 0644), 0);
  auto r = EnsureRedisPasswords(dir.path(), tenants);
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
}

TEST(RedisAclTest, TheShippedAclFileLoadsInRedis) {
  // deploy/redis/users.acl is rendered from throw-away passwords; the server must accept it.
  std::ifstream f(DSMIL_SOURCE_DIR "/deploy/redis/users.acl");
  ASSERT_TRUE(f) << "deploy/redis/users.acl is missing";
  std::string acl((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  dsmil::testing::RedisServerOptions o;
  o.acl = acl;
  auto server = dsmil::testing::RedisServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_NE(testutil::RunCommand("redis-cli -p " + std::to_string((*server)->port()) + " PING").find("NOAUTH"),
            std::string::npos);
}

}  // namespace
}  // namespace dsmil::store
