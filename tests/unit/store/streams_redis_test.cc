// Streams on a real Redis 7: the server's ACLs refuse cross-tenant access
// (red-team drill 1, spec §9.2), through our client and through redis-cli;
// acknowledged entries survive kill -9; the client reconnects once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "store/streams.h"
#include "streams_test_util.h"

namespace dsmil::store {
namespace {

using testutil::RunCommand;

class StreamsRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = testutil::StartTenantRedis();
    ASSERT_NE(redis_, nullptr);
    config_ = redis_->Config();
  }

  std::string Cli(const std::string& user, const std::string& args) {
    std::string cmd = "redis-cli -h 127.0.0.1 -p " + std::to_string(redis_->server->port());
    if (!user.empty()) cmd += " --user " + user + " --pass " + redis_->passwords[user];
    return RunCommand(cmd + " --no-auth-warning " + args);
  }

  std::unique_ptr<testutil::TenantRedis> redis_;
  StoresConfig config_;
  TenantScope alpha_ = *TenantScope::For("ALPHA");
  TenantScope bravo_ = *TenantScope::For("BRAVO");
};

TEST_F(StreamsRedisTest, Drill1AlphaWriterCannotWriteBravoStreamThroughOurClient) {
  auto as_alpha =
      OpenStreamsAsUser(config_, bravo_, Access::kWriter, "alpha_writer", redis_->passwords["alpha_writer"]);
  ASSERT_TRUE(as_alpha.ok()) << as_alpha.status().ToString();
  auto r = (*as_alpha)->Append(StreamKind::kSocEvents, std::vector<std::string>{"{\"event_id\":\"test\"}"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  std::string m = r.status().message();
  EXPECT_NE(m.find("NOPERM"), std::string::npos) << m;
  EXPECT_NE(m.find("alpha_writer"), std::string::npos) << m;
  EXPECT_NE(m.find("127.0.0.1:" + std::to_string(redis_->server->port())), std::string::npos) << m;
  EXPECT_NE(m.find("BRAVO_SOC_EVENTS"), std::string::npos) << m;

  auto bravo = OpenStreams(config_, bravo_, Access::kReader);
  ASSERT_TRUE(bravo.ok());
  EXPECT_EQ(*(*bravo)->Length(StreamKind::kSocEvents), 0u);
}

TEST_F(StreamsRedisTest, Drill1AlphaWriterCannotWriteBravoStreamWithRedisCli) {
  std::string out = Cli("alpha_writer", "XADD BRAVO_SOC_EVENTS '*' data x");
  EXPECT_NE(out.find("NOPERM"), std::string::npos) << out;
  // The same user may write its own tenant's stream.
  std::string own = Cli("alpha_writer", "XADD ALPHA_SOC_EVENTS '*' data x");
  EXPECT_EQ(own.find("NOPERM"), std::string::npos) << own;
  EXPECT_NE(own.find("-"), std::string::npos) << own;  // an id "<ms>-<seq>"
  EXPECT_NE(Cli("bravo_reader", "XLEN BRAVO_SOC_EVENTS").find("0"), std::string::npos);
}

TEST_F(StreamsRedisTest, AlphaReaderCannotReadBravoNorAppendAnything) {
  auto reader_on_bravo =
      OpenStreamsAsUser(config_, bravo_, Access::kReader, "alpha_reader", redis_->passwords["alpha_reader"]);
  ASSERT_TRUE(reader_on_bravo.ok());
  auto& s = *reader_on_bravo;
  EXPECT_EQ(s->Range(StreamKind::kSocEvents, "0", 10).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s->Length(StreamKind::kSocEvents).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s->EnsureGroup(StreamKind::kSocEvents, "g").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s->ReadGroup(StreamKind::kSocEvents, "g", "c", 1, std::chrono::milliseconds(0)).status().code(),
            StatusCode::kPermissionDenied);

  auto own = OpenStreams(config_, alpha_, Access::kReader);
  ASSERT_TRUE(own.ok());
  auto r = (*own)->Append(StreamKind::kL3In, std::vector<std::string>{"x"});
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(r.status().message().find("NOPERM"), std::string::npos) << r.status().message();

  EXPECT_NE(Cli("alpha_reader", "XRANGE BRAVO_SOC_EVENTS - +").find("NOPERM"), std::string::npos);
  EXPECT_NE(Cli("alpha_reader", "XADD ALPHA_L3_IN '*' data x").find("NOPERM"), std::string::npos);
  EXPECT_NE(Cli("alpha_reader", "XTRIM ALPHA_L3_IN MINID 0").find("NOPERM"), std::string::npos);
  EXPECT_NE(Cli("alpha_writer", "XRANGE ALPHA_L3_IN - +").find("NOPERM"), std::string::npos);
  EXPECT_NE(Cli("alpha_writer", "KEYS '*'").find("NOPERM"), std::string::npos);
}

TEST_F(StreamsRedisTest, IngestUserWritesOnlyItsTenantsRawInputAndDeadLetters) {
  std::string own = Cli("alpha_ingest", "XADD ALPHA_L3_IN '*' data x");
  EXPECT_EQ(own.find("NOPERM"), std::string::npos) << own;
  EXPECT_NE(own.find("-"), std::string::npos) << own;  // an id "<ms>-<seq>"
  EXPECT_EQ(Cli("alpha_ingest", "XADD ALPHA_DEAD_LETTER '*' data x").find("NOPERM"), std::string::npos);
  // Never a stream the pipeline writes, nor another tenant's, nor a read or trim.
  for (const char* args :
       {"XADD ALPHA_SOC_EVENTS '*' data x", "XADD ALPHA_L4_IN '*' data x", "XADD ALPHA_L3_OUT '*' data x",
        "XADD BRAVO_L3_IN '*' data x", "XTRIM ALPHA_L3_IN MINID 0", "XRANGE ALPHA_L3_IN - +", "XLEN ALPHA_L3_IN"}) {
    EXPECT_NE(Cli("alpha_ingest", args).find("NOPERM"), std::string::npos) << args;
  }
  auto as_alpha =
      OpenStreamsAsUser(config_, bravo_, Access::kIngest, "alpha_ingest", redis_->passwords["alpha_ingest"]);
  ASSERT_TRUE(as_alpha.ok()) << as_alpha.status().ToString();
  auto r = (*as_alpha)->Append(StreamKind::kL3In, std::vector<std::string>{"{}"});
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied) << r.status().ToString();
  EXPECT_NE(r.status().message().find("BRAVO_L3_IN"), std::string::npos) << r.status().message();
}

TEST_F(StreamsRedisTest, DefaultUserAndWrongPasswordsAreRefused) {
  EXPECT_NE(Cli("", "PING").find("NOAUTH"), std::string::npos);
  EXPECT_NE(Cli("", "XADD ALPHA_L3_IN '*' data x").find("NOAUTH"), std::string::npos);
  std::string as_default = RunCommand("redis-cli -h 127.0.0.1 -p " + std::to_string(redis_->server->port()) +
                                      " --user default --pass '' --no-auth-warning PING");
  EXPECT_EQ(as_default.find("PONG"), std::string::npos) << as_default;

  auto def = OpenStreamsAsUser(config_, alpha_, Access::kWriter, "default", "x");
  EXPECT_EQ(def.status().code(), StatusCode::kUnauthenticated) << def.status().ToString();
  auto wrong = OpenStreamsAsUser(config_, alpha_, Access::kWriter, "alpha_writer", "wrong");
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(wrong.status().message().find("alpha_writer"), std::string::npos) << wrong.status().message();

  StoresConfig no_secrets = config_;
  no_secrets.secrets_dir = "/nonexistent-dsmil-secrets";
  auto missing = OpenStreams(no_secrets, alpha_, Access::kWriter);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("redis/alpha_writer.pass"), std::string::npos)
      << missing.status().message();
}

TEST_F(StreamsRedisTest, AcknowledgedEntriesSurviveKill9) {
  auto w = OpenStreams(config_, alpha_, Access::kWriter);
  ASSERT_TRUE(w.ok());
  constexpr int kBatches = 20, kBatch = 50;
  std::vector<std::string> ids;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<std::string> batch;
    for (int i = 0; i < kBatch; ++i) batch.push_back("{\"n\":" + std::to_string(b * kBatch + i) + "}");
    auto r = (*w)->Append(StreamKind::kSocEvents, batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.insert(ids.end(), r->begin(), r->end());
  }
  ASSERT_TRUE(redis_->server->Kill9().ok());
  ASSERT_TRUE(redis_->server->Restart().ok()) << redis_->server->LogTail();

  auto r = OpenStreams(config_, alpha_, Access::kReader);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*(*r)->Length(StreamKind::kSocEvents), uint64_t(kBatches * kBatch));
  auto all = (*r)->Range(StreamKind::kSocEvents, "0", 10 * kBatches * kBatch);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ((*all)[i].id, ids[i]);
    ASSERT_EQ((*all)[i].payload, "{\"n\":" + std::to_string(i) + "}");
  }

  // The writer opened before the crash reconnects once and goes on.
  auto after = (*w)->Append(StreamKind::kSocEvents, std::vector<std::string>{"after"});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*(*r)->Length(StreamKind::kSocEvents), uint64_t(kBatches * kBatch + 1));
}

TEST_F(StreamsRedisTest, PendingEntriesSurviveARestartAndCanBeClaimed) {
  auto w = OpenStreams(config_, alpha_, Access::kWriter);
  auto r = OpenStreams(config_, alpha_, Access::kReader);
  ASSERT_TRUE(w.ok() && r.ok());
  ASSERT_TRUE((*r)->EnsureGroup(StreamKind::kL4In, "l4").ok());
  ASSERT_TRUE((*w)->Append(StreamKind::kL4In, std::vector<std::string>{"a", "b", "c"}).ok());
  auto batch = (*r)->ReadGroup(StreamKind::kL4In, "l4", "c1", 10, std::chrono::milliseconds(0));
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 3u);
  ASSERT_TRUE(redis_->server->Kill9().ok());
  ASSERT_TRUE(redis_->server->Restart().ok());
  auto pending = (*r)->Pending(StreamKind::kL4In, "l4");
  ASSERT_TRUE(pending.ok()) << pending.status().ToString();
  EXPECT_EQ(*pending, 3u);
  auto claimed = (*r)->Claim(StreamKind::kL4In, "l4", "c2", std::chrono::milliseconds(0), 10);
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(claimed->size(), 3u);
}

TEST_F(StreamsRedisTest, ServerDownIsUnavailableNamingTheAddress) {
  auto w = OpenStreams(config_, alpha_, Access::kWriter);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(redis_->server->Stop().ok());
  auto r = (*w)->Append(StreamKind::kL3In, std::vector<std::string>{"x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(redis_->server->port())), std::string::npos)
      << r.status().message();
  auto open = OpenStreams(config_, alpha_, Access::kWriter);
  EXPECT_EQ(open.status().code(), StatusCode::kUnavailable);
}

TEST_F(StreamsRedisTest, ServerRunsWithAofAndTheRenderedAcl) {
  EXPECT_NE(Cli("dsmil_admin", "CONFIG GET appendonly").find("yes"), std::string::npos);
  std::string users = Cli("dsmil_admin", "ACL USERS");
  EXPECT_NE(users.find("alpha_writer"), std::string::npos) << users;
  EXPECT_NE(users.find("bravo_reader"), std::string::npos) << users;
  EXPECT_NE(users.find("bravo_ingest"), std::string::npos) << users;
  EXPECT_NE(users.find("dsmil_admin"), std::string::npos) << users;
}

}  // namespace
}  // namespace dsmil::store
