// A writer with stores.buffer_dir keeps appending while Redis is down and
// replays the buffered entries, in order, once Redis is back (spec §4.1: the
// node's SQLite buffer while NODE-C is unreachable).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/streams.h"
#include "streams_test_util.h"

namespace dsmil::store {
namespace {

std::vector<std::string> Payloads(int from, int n) {
  std::vector<std::string> v;
  for (int i = from; i < from + n; ++i) v.push_back("{\"n\":" + std::to_string(i) + "}");
  return v;
}

TEST(StreamsBuffer, AppendsWhileRedisIsDownAreReplayedInOrder) {
  auto redis = testutil::StartTenantRedis();
  ASSERT_NE(redis, nullptr);
  testutil::TempDir buffer;
  StoresConfig config = redis->Config();
  config.buffer_dir = buffer.path();
  TenantScope alpha = *TenantScope::For("ALPHA");

  auto writer = OpenStreams(config, alpha, Access::kWriter);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Append(StreamKind::kL3In, Payloads(0, 10)).ok());

  ASSERT_TRUE(redis->server->Stop().ok());
  for (int i = 10; i < 30; i += 5) {
    auto r = (*writer)->Append(StreamKind::kL3In, Payloads(i, 5));
    ASSERT_TRUE(r.ok()) << "append while Redis is down: " << r.status().ToString();
  }
  ASSERT_TRUE(redis->server->Restart().ok());
  // The first append after Redis is back drains the buffer first (retried until
  // the writer's reconnect interval has passed).
  Status last;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto r = (*writer)->Append(StreamKind::kL3In, Payloads(30 + attempt, 1));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto reader = OpenStreams(redis->Config(), alpha, Access::kReader);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    auto n = (*reader)->Length(StreamKind::kL3In);
    ASSERT_TRUE(n.ok());
    if (*n >= 31) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto reader = OpenStreams(redis->Config(), alpha, Access::kReader);
  ASSERT_TRUE(reader.ok());
  auto all = (*reader)->Range(StreamKind::kL3In, "0", 1000);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_GE(all->size(), 31u);
  // 0..29 in order, none lost or repeated, then what came after Redis was back.
  for (int i = 0; i < 30; ++i) EXPECT_EQ((*all)[size_t(i)].payload, "{\"n\":" + std::to_string(i) + "}") << i;
  int last_n = -1;
  for (const auto& e : *all) {
    int n = std::stoi(e.payload.substr(5));
    EXPECT_GT(n, last_n) << "out of order: " << e.payload;
    last_n = n;
  }
}

TEST(StreamsBuffer, AWrongPasswordIsNotBufferedAway) {
  auto redis = testutil::StartTenantRedis();
  ASSERT_NE(redis, nullptr);
  testutil::TempDir buffer;
  StoresConfig config = redis->Config();
  config.buffer_dir = buffer.path();
  // Another tenant's secrets dir: no password file for ALPHA there.
  testutil::TempDir empty;
  config.secrets_dir = empty.path();
  auto writer = OpenStreams(config, *TenantScope::For("ALPHA"), Access::kWriter);
  EXPECT_FALSE(writer.ok());
}

}  // namespace
}  // namespace dsmil::store
