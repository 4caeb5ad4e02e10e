#include "core/mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace dsmil {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// A counter in the style the header documents.
class Counter {
 public:
  void Add() {
    MutexLock lock(mu_);
    ++n_;
  }
  int Get() const {
    MutexLock lock(mu_);
    return n_;
  }

 private:
  mutable Mutex mu_;
  int n_ DSMIL_GUARDED_BY(mu_) = 0;
};

TEST(Mutex, MutexLockExcludesOtherThreads) {
  Counter c;
  constexpr int kThreads = 8, kAdds = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < kAdds; ++i) c.Add();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Get(), kThreads * kAdds);
}

TEST(Mutex, TryLockFailsWhileHeldElsewhere) {
  Mutex mu;
  std::atomic<bool> held{false}, release{false};
  std::thread holder([&] {
    MutexLock lock(mu);
    held = true;
    while (!release) std::this_thread::sleep_for(milliseconds(1));
  });
  while (!held) std::this_thread::sleep_for(milliseconds(1));
  if (mu.TryLock()) {
    ADD_FAILURE() << "TryLock took a mutex held by another thread";
    mu.Unlock();
  }
  release = true;
  holder.join();
  if (mu.TryLock()) {
    mu.Unlock();
  } else {
    ADD_FAILURE() << "TryLock failed on a free mutex";
  }
}

TEST(CondVar, WaitForTimesOutWithoutNotification) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(mu);
  // A spurious wakeup also returns true: allow a few, but one wait must time out.
  const auto start = SteadyClock::now();
  bool timed_out = false;
  for (int i = 0; i < 10 && !timed_out; ++i) timed_out = !cv.WaitFor(mu, milliseconds(30));
  EXPECT_TRUE(timed_out);
  EXPECT_GE(SteadyClock::now() - start, milliseconds(30));
}

TEST(CondVar, WaitUntilTimesOutAtTheDeadline) {
  Mutex mu;
  CondVar cv;
  bool ready = false;  // never set
  MutexLock lock(mu);
  const auto deadline = SteadyClock::now() + milliseconds(40);
  while (!ready) {
    if (!cv.WaitUntil(mu, deadline)) break;
  }
  EXPECT_FALSE(ready);
  EXPECT_GE(SteadyClock::now(), deadline);
}

// A flag set by one thread and awaited by others.
class Latch {
 public:
  void Open() {
    {
      MutexLock lock(mu_);
      open_ = true;
    }
    cv_.NotifyAll();
  }
  void Wait() {
    MutexLock lock(mu_);
    while (!open_) cv_.Wait(mu_);
  }
  // False if `timeout` passed with the latch still closed.
  bool WaitFor(milliseconds timeout) {
    MutexLock lock(mu_);
    const auto deadline = SteadyClock::now() + timeout;
    while (!open_) {
      if (!cv_.WaitUntil(mu_, deadline)) break;
    }
    return open_;
  }
  bool WaitForOnce(milliseconds timeout) {
    MutexLock lock(mu_);
    while (!open_) {
      if (!cv_.WaitFor(mu_, timeout)) return open_;
    }
    return true;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  bool open_ DSMIL_GUARDED_BY(mu_) = false;
};

TEST(CondVar, NotifyWakesAWaiterBeforeItsTimeout) {
  Latch latch;
  const auto start = SteadyClock::now();
  std::thread opener([&] {
    std::this_thread::sleep_for(milliseconds(20));
    latch.Open();
  });
  EXPECT_TRUE(latch.WaitForOnce(std::chrono::seconds(30)));
  EXPECT_LT(SteadyClock::now() - start, std::chrono::seconds(10));
  opener.join();
}

TEST(CondVar, NotifyAllWakesEveryWaiter) {
  Latch latch;
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&] {
      latch.Wait();
      ++woken;
    });
  }
  std::this_thread::sleep_for(milliseconds(20));
  latch.Open();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(woken.load(), 4);
  EXPECT_TRUE(latch.WaitFor(milliseconds(0)));  // stays open
}

TEST(SharedMutex, ReadersHoldItTogether) {
  SharedMutex mu;
  Latch both_in;
  std::atomic<int> inside{0};
  auto reader = [&] {
    ReaderLock lock(mu);
    if (++inside == 2) both_in.Open();
    // Only returns true if the other reader got in while this one holds the lock.
    EXPECT_TRUE(both_in.WaitFor(std::chrono::seconds(10)));
  };
  std::thread a(reader), b(reader);
  a.join();
  b.join();
  EXPECT_EQ(inside.load(), 2);
}

TEST(SharedMutex, WriterWaitsForReaders) {
  struct {
    SharedMutex mu;
    int value DSMIL_GUARDED_BY(mu) = 0;
  } s;
  std::atomic<bool> reader_in{false}, writer_done{false};
  Latch release_reader;
  std::thread reader([&] {
    ReaderLock lock(s.mu);
    reader_in = true;
    release_reader.Wait();
  });
  while (!reader_in) std::this_thread::sleep_for(milliseconds(1));
  std::thread writer([&] {
    WriterLock lock(s.mu);
    s.value = 1;
    writer_done = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(writer_done.load());  // a reader holds it
  release_reader.Open();
  writer.join();
  reader.join();
  EXPECT_TRUE(writer_done.load());
  ReaderLock lock(s.mu);
  EXPECT_EQ(s.value, 1);
}

}  // namespace
}  // namespace dsmil
