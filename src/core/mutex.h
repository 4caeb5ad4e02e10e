// Mutexes the compiler checks: Clang thread-safety attributes on a small
// wrapper around std::mutex / std::shared_mutex.
//
// A member that a mutex protects is declared `DSMIL_GUARDED_BY(mu_)`; a function
// that must be called with the lock held is `DSMIL_REQUIRES(mu_)`. The sanitizer
// build (clang, -Wthread-safety -Werror) then refuses code that reads or writes
// such a member without holding the lock. With g++ the attributes are empty.
//
//   class Counter {
//    public:
//     void Add() { MutexLock l(mu_); ++n_; }
//    private:
//     Mutex mu_;
//     int n_ DSMIL_GUARDED_BY(mu_) = 0;
//   };
//
// Waiting: `CondVar::Wait(mu)` needs `mu` held and holds it again on return;
// write the predicate as a loop in the caller (`while (!ready_) cv_.Wait(mu_);`)
// so the analysis sees the guarded reads under the lock. A timed wait computes
// its deadline once, so that wakeups do not extend it, and re-checks the
// condition after a timeout:
//
//   const auto deadline = std::chrono::steady_clock::now() + timeout;
//   MutexLock lock(mu_);
//   while (!ready_) {
//     if (!cv_.WaitUntil(mu_, deadline)) break;
//   }
//   if (!ready_) return Status::DeadlineExceeded(...);
//
// Where a lock must be let go in the middle of a scope, use an inner scope or
// explicit Lock()/Unlock() (which the analysis follows); keep
// DSMIL_NO_THREAD_SAFETY_ANALYSIS for code it truly cannot follow, with a
// comment saying why.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define DSMIL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DSMIL_THREAD_ANNOTATION(x)
#endif

#define DSMIL_CAPABILITY(x) DSMIL_THREAD_ANNOTATION(capability(x))
#define DSMIL_SCOPED_CAPABILITY DSMIL_THREAD_ANNOTATION(scoped_lockable)
#define DSMIL_GUARDED_BY(x) DSMIL_THREAD_ANNOTATION(guarded_by(x))
#define DSMIL_PT_GUARDED_BY(x) DSMIL_THREAD_ANNOTATION(pt_guarded_by(x))
#define DSMIL_ACQUIRED_AFTER(...) DSMIL_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define DSMIL_REQUIRES(...) DSMIL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define DSMIL_REQUIRES_SHARED(...) DSMIL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define DSMIL_ACQUIRE(...) DSMIL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define DSMIL_ACQUIRE_SHARED(...) DSMIL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define DSMIL_RELEASE(...) DSMIL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define DSMIL_RELEASE_SHARED(...) DSMIL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define DSMIL_RELEASE_GENERIC(...) DSMIL_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define DSMIL_TRY_ACQUIRE(...) DSMIL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define DSMIL_EXCLUDES(...) DSMIL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define DSMIL_ASSERT_HELD(x) DSMIL_THREAD_ANNOTATION(assert_capability(x))
#define DSMIL_RETURN_CAPABILITY(x) DSMIL_THREAD_ANNOTATION(lock_returned(x))
#define DSMIL_NO_THREAD_SAFETY_ANALYSIS DSMIL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace dsmil {

class CondVar;

// An exclusive lock (std::mutex).
class DSMIL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() DSMIL_ACQUIRE() { mu_.lock(); }
  void Unlock() DSMIL_RELEASE() { mu_.unlock(); }
  bool TryLock() DSMIL_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis the lock is held where it cannot see it (a callback
  // documented to run under the lock). Checks nothing at run time.
  void AssertHeld() const DSMIL_ASSERT_HELD(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class DSMIL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) DSMIL_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() DSMIL_RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// A reader/writer lock (std::shared_mutex).
class DSMIL_CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() DSMIL_ACQUIRE() { mu_.lock(); }
  void Unlock() DSMIL_RELEASE() { mu_.unlock(); }
  void LockShared() DSMIL_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() DSMIL_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a SharedMutex exclusively for its scope.
class DSMIL_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) DSMIL_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~WriterLock() DSMIL_RELEASE() { mu_.Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds a SharedMutex shared for its scope.
class DSMIL_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) DSMIL_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.LockShared(); }
  ~ReaderLock() DSMIL_RELEASE() { mu_.UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

// A condition variable over a Mutex. Every wait needs the mutex held and
// returns with it held again (it may have been released meanwhile, so re-check
// the condition: `while (!ready_) cv_.Wait(mu_);`).
class CondVar {
 public:
  void Wait(Mutex& mu) DSMIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Returns false if `timeout` passed without a notification.
  template <class Rep, class Period>
  bool WaitFor(Mutex& mu, std::chrono::duration<Rep, Period> timeout) DSMIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    bool notified = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
    lock.release();
    return notified;
  }
  // Returns false if `deadline` passed without a notification.
  template <class ClockT, class Duration>
  bool WaitUntil(Mutex& mu, std::chrono::time_point<ClockT, Duration> deadline) DSMIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    bool notified = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return notified;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace dsmil
