#include "tenant/ratelimit.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "core/clock.h"

namespace dsmil::tenant {
namespace {

class RateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dsmil-rl-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/ratelimit.bin";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_, path_;
  FakeClock clock_;  // time moves only when a test says so
};

TEST_F(RateLimitTest, RequestRateIsABucket) {
  TenantLimits lim;
  lim.requests_per_second = 2;
  lim.burst = 3;
  auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(rl.ok()) << rl.status().ToString();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*rl)->Acquire("ALPHA").ok());
  auto r = (*rl)->Acquire("ALPHA");
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("rate limit of 2 requests/s"), std::string::npos) << r.status().message();
  // BRAVO has no limit.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE((*rl)->Acquire("BRAVO").ok());
}

TEST_F(RateLimitTest, BucketRefillsWithTheClock) {
  TenantLimits lim;
  lim.requests_per_second = 2;
  lim.burst = 3;
  auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(rl.ok()) << rl.status().ToString();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*rl)->Acquire("ALPHA").ok());
  EXPECT_FALSE((*rl)->Acquire("ALPHA").ok());
  // 0.25 s at 2/s is half a request: still refused.
  clock_.Advance(std::chrono::milliseconds(250));
  EXPECT_FALSE((*rl)->Acquire("ALPHA").ok());
  // 0.25 s more tops it up to one request (the refused attempt kept its half).
  clock_.Advance(std::chrono::milliseconds(250));
  EXPECT_TRUE((*rl)->Acquire("ALPHA").ok());
  EXPECT_FALSE((*rl)->Acquire("ALPHA").ok());
  // A long pause refills no more than the burst.
  clock_.Advance(std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE((*rl)->Acquire("ALPHA").ok()) << i;
  EXPECT_FALSE((*rl)->Acquire("ALPHA").ok());
}

TEST_F(RateLimitTest, BucketIsSharedByReplicas) {
  TenantLimits lim;
  lim.requests_per_second = 1;
  lim.burst = 2;
  auto a = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  auto b = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE((*a)->Acquire("ALPHA").ok());
  EXPECT_TRUE((*b)->Acquire("ALPHA").ok());
  EXPECT_FALSE((*a)->Acquire("ALPHA").ok());
  EXPECT_FALSE((*b)->Acquire("ALPHA").ok());
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_TRUE((*b)->Acquire("ALPHA").ok());
  EXPECT_FALSE((*a)->Acquire("ALPHA").ok());
}

TEST_F(RateLimitTest, TokenBudgetStartsAfreshEachUtcDay) {
  TenantLimits lim;
  lim.tokens_per_day = 100;
  // 23:59:59 UTC on the fake clock's day.
  constexpr int64_t kDayNs = 86400LL * 1000000000LL;
  clock_.SetUnixNanos((FakeClock::kDefaultUnixNanos / kDayNs + 1) * kDayNs - 1000000000LL);
  auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(rl.ok());
  {
    auto l = (*rl)->Acquire("ALPHA", 100);
    ASSERT_TRUE(l.ok());
  }
  auto refused = (*rl)->Acquire("ALPHA", 1);
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("daily token budget of 100 exhausted (used 100"), std::string::npos)
      << refused.status().message();
  clock_.Advance(std::chrono::seconds(1));  // midnight UTC
  auto l = (*rl)->Acquire("ALPHA", 100);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto u = (*rl)->UsageOf("ALPHA");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->tokens_used_today, 0u);
  EXPECT_EQ(u->tokens_reserved, 100u);
}

TEST_F(RateLimitTest, ConcurrencyCapHoldsAcrossReplicas) {
  TenantLimits lim;
  lim.max_concurrent = 2;
  auto a = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  auto b = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(a.ok() && b.ok());
  auto l1 = (*a)->Acquire("ALPHA");
  auto l2 = (*b)->Acquire("ALPHA");
  ASSERT_TRUE(l1.ok() && l2.ok());
  auto l3 = (*a)->Acquire("ALPHA");
  EXPECT_EQ(l3.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(l3.status().message().find("limit 2"), std::string::npos);
  l2->Release();
  EXPECT_TRUE((*a)->Acquire("ALPHA").ok());
}

TEST_F(RateLimitTest, ConcurrentRequestsCannotOverspendTheBudget) {
  TenantLimits lim;
  lim.tokens_per_day = 1000;
  auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(rl.ok());
  // 16 threads each try 10 times to reserve 100 tokens and use all of it.
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  threads.reserve(16);
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto lease = (*rl)->Acquire("ALPHA", 100);
        if (lease.ok()) {
          ++admitted;
          lease->Settle(100);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 10);
  auto u = (*rl)->UsageOf("ALPHA");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->tokens_used_today, 1000u);
  EXPECT_EQ(u->tokens_reserved, 0u);
}

TEST_F(RateLimitTest, UnusedReservationGoesBack) {
  TenantLimits lim;
  lim.tokens_per_day = 300;
  auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(rl.ok());
  {
    auto l = (*rl)->Acquire("ALPHA", 200);
    ASSERT_TRUE(l.ok());
    EXPECT_FALSE((*rl)->Acquire("ALPHA", 200).ok()) << "200 reserved + 200 asked > 300";
    l->Settle(20);
  }
  auto u = (*rl)->UsageOf("ALPHA");
  EXPECT_EQ(u->tokens_used_today, 20u);
  EXPECT_TRUE((*rl)->Acquire("ALPHA", 200).ok());
}

TEST_F(RateLimitTest, LeasesOfADeadProcessAreReclaimed) {
  TenantLimits lim;
  lim.max_concurrent = 1;
  ASSERT_TRUE(RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_).ok());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
    auto l = (*rl)->Acquire("ALPHA");
    if (!l.ok()) _exit(1);
    _exit(0);  // dies holding the lease (no destructors run)
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto rl = RateLimiter::Open(path_, {{"ALPHA", lim}}, {}, clock_);
  ASSERT_TRUE(rl.ok());
  EXPECT_TRUE((*rl)->Acquire("ALPHA").ok());
}

}  // namespace
}  // namespace dsmil::tenant
