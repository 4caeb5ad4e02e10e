// Worker routing and health (docs/l7.md §4, step 5): the configured worker
// replicas of the L7 router, which one serves a request, and their health
// checks.
//
// Choice: among the healthy replicas of the requested model that are below
// their max_concurrent, the one with the fewest outstanding requests. A
// replica that fails with Unavailable before any output is counted as
// failing (three in a row mark it down until its health check passes) and
// the next one is tried; a busy one (ResourceExhausted: its pool or the
// tenant's share in use) is skipped without being counted. At most three
// replicas are tried per request.
//
// Metrics: dsmil_l7_worker_outstanding{model, replica} and
// dsmil_l7_worker_up{model, replica}, where replica is the upstream base URL
// or "device:<id>".
//
// Thread safety: every method may be called concurrently, except
// StartProbing (at most once) and StopProbing (idempotent; also run by the
// destructor), which one thread calls.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "core/mutex.h"
#include "core/status.h"
#include "devices/l7/openai.h"
#include "devices/l7/worker.h"

namespace dsmil::devices::l7 {

struct RoutingMetrics {
  GaugeFamily* outstanding = nullptr;  // dsmil_l7_worker_outstanding
  GaugeFamily* up = nullptr;           // dsmil_l7_worker_up
  // Registers (or finds) both families on `registry`, which must outlive them.
  static RoutingMetrics Register(Registry& registry);
};

class WorkerPool {
 public:
  WorkerPool(std::vector<std::unique_ptr<Worker>> workers, RoutingMetrics metrics);
  ~WorkerPool();  // stops probing
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  bool empty() const { return workers_.empty(); }
  size_t size() const { return workers_.size(); }
  // Whether any replica passed its last health check.
  bool AnyHealthy() const;

  // Runs a chat request on a replica of chat.model (see above). NotFound
  // when no replica serves the model; Unavailable when none is healthy or
  // none is configured; otherwise the worker's result.
  Result<ChatResult> Chat(const ChatRequest& chat, const WorkerCall& call, const DeltaFn* on_delta);

  // A healthy replica of `model` that serves embeddings, or null.
  Worker* EmbeddingsWorker(const std::string& model) const;

  // The configured models, each once, in configuration order; owned_by is
  // "upstream" or "dsmil-device-<id>".
  std::vector<ModelInfo> Models() const;

  // Checks every replica now (Worker::Probe) and records the result.
  void ProbeAll();
  // Probes every `interval` on a thread of its own until StopProbing.
  void StartProbing(std::chrono::milliseconds interval);
  void StopProbing();

 private:
  // Waits `interval` or until StopProbing; true when stopping.
  bool WaitOrStop(std::chrono::milliseconds interval);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::string> labels_;  // the replica label of each worker
  RoutingMetrics metrics_;
  Mutex mu_;
  CondVar stop_cv_;
  bool stopping_ DSMIL_GUARDED_BY(mu_) = false;
  std::thread prober_;
};

}  // namespace dsmil::devices::l7
