// A persistent pool of worker threads for the LLM kernels.
//
// The threads are created once (constructor) and live until the pool is
// destroyed; ParallelFor hands them work without creating threads. Between
// jobs a worker spins briefly (a decode step issues hundreds of matmuls a few
// microseconds apart) and then sleeps on a futex until the next job, so an
// idle pool costs no CPU.
//
// Thread safety: ParallelFor may be called from any thread; calls from
// several threads at once are serialised (one job runs at a time). Do not call
// ParallelFor from inside a task of the same pool (it would deadlock).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "core/mutex.h"

namespace dsmil::llm {

class ThreadPool {
 public:
  // A pool of `num_threads` threads in all: the calling thread of ParallelFor
  // plus num_threads - 1 workers started here. num_threads < 1 is taken as 1.
  explicit ThreadPool(int num_threads);
  // Stops and joins the workers.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task) once for every task in [0, num_tasks), spread over all
  // threads of the pool (the caller takes tasks too; tasks are handed out in
  // order from a shared counter), and returns when every call has returned.
  // `fn` must not throw.
  void ParallelFor(int64_t num_tasks, const std::function<void(int64_t task)>& fn);

 private:
  void WorkerLoop();
  void RunTasks();

  std::vector<std::thread> workers_;
  Mutex run_mu_;  // serialises ParallelFor callers
  // Job description, written by the caller (holding run_mu_) before
  // generation_ is bumped; the workers read it without the lock, ordered by
  // generation_ (so it is not DSMIL_GUARDED_BY).
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t num_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<uint32_t> generation_{0};  // bumped once per job; workers wait on it
  std::atomic<uint32_t> busy_{0};        // workers still inside the current job
  std::atomic<bool> stop_{false};
};

}  // namespace dsmil::llm
