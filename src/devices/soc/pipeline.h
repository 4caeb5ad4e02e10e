// The SOC pipeline stages (docs/soc.md, "Pipeline"): consumer loops over one
// tenant's streams.
//
//   L3  reads {T}_L3_IN   (group l3) -> writes {T}_L3_OUT and {T}_L4_IN      -> acks
//   L4  reads {T}_L4_IN   (group l4) -> writes {T}_L4_OUT and {T}_SOC_EVENTS -> acks
//   L8  reads {T}_SOC_EVENTS (group l8) -> L8 rules + SOAR proposals -> archive
//       (idempotent on event_id) -> appends the event, marked enriched, to
//       {T}_SOC_EVENTS -> acks. Enriched events are acknowledged untouched.
//
// An entry that is not a valid event goes to {T}_DEAD_LETTER with the reason
// and is acknowledged: never dropped silently. So does an entry carrying a
// field that its stage or a later one writes (event.h, PipelineField): L3
// takes only raw events (what ingest accepts, plus ingest_ts_ms), so l3, l4,
// l8_enrichment, soar or enriched appended to {T}_L3_IN by a client never
// reach L4, L8 or the archive. Entries are acknowledged only
// after every output of their batch is written; a failed write leaves them
// pending, and Claim (min_idle) takes them over later, including the pending
// entries of a consumer that died (checked at start and periodically).
//
// Thread safety: a StageWorker owns its streams and runs its own thread
// (Start/Stop); RunOnce is for tests and benchmarks and must not be called
// while the thread runs.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "devices/l3/l3_model.h"
#include "devices/l4/l4_model.h"
#include "devices/l8/l8_analytics.h"
#include "devices/soc/event.h"
#include "devices/soc/soc_metrics.h"
#include "store/archive.h"
#include "store/streams.h"

namespace dsmil {
class Logger;
class Registry;
struct StandardMetrics;
namespace tenant {
class PolicyStore;
}
}  // namespace dsmil

namespace dsmil::soc {

class SigmaRuleStore;

enum class Stage { kL3, kL4, kL8 };
std::string_view StageName(Stage s);  // "l3", "l4", "l8" (also the consumer group)

// What the stages compute with. Pointers are borrowed and must outlive the
// worker; only the ones of the worker's stage are needed.
struct StageModels {
  const L3Model* l3 = nullptr;
  const L4Model* l4 = nullptr;
  L8Analyzer* l8 = nullptr;                 // owned by the one L8 worker of the tenant
  tenant::PolicyStore* policies = nullptr;  // L8: allowed SOAR actions
  SigmaRuleStore* sigma = nullptr;          // L8: the tenant's Sigma rules (null: none)
  // L8: held around each use of `l8` when others use the analyzer too (the
  // device's DBE requests); null: the worker is its only user.
  Mutex* l8_mu = nullptr;
};

struct WorkerOptions {
  Stage stage = Stage::kL3;
  std::string tenant;
  int device = 0;        // the device that runs it (l3.device, metrics labels)
  std::string consumer;  // consumer name within the group
  size_t batch = 256;
  std::chrono::milliseconds block{200};
  std::chrono::milliseconds claim_min_idle{30000};
  std::chrono::milliseconds claim_every{5000};
  std::function<int64_t()> now_ms;  // default: the wall clock
};

// Per-worker figures (atomic: readable while the worker runs).
struct WorkerStats {
  std::atomic<uint64_t> processed{0};  // entries handled and acknowledged
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> skipped{0};    // L8: already-enriched entries
  std::atomic<uint64_t> archived{0};   // L8: new archive rows
  std::atomic<uint64_t> proposals{0};  // L8
  std::atomic<uint64_t> errors{0};     // failed batches (retried)
  std::atomic<uint64_t> claimed{0};
};

class StageWorker {
 public:
  // `reader` reads, creates the group and acknowledges; `writer` appends (the
  // two may be one object for backends without access control). `archive` is
  // needed by the L8 stage only. `metrics` and `log` may be null.
  StageWorker(WorkerOptions options, StageModels models, std::unique_ptr<store::Streams> reader,
              std::unique_ptr<store::Streams> writer, std::unique_ptr<store::Archive> archive,
              StandardMetrics* metrics = nullptr, const Logger* log = nullptr);
  ~StageWorker();
  StageWorker(const StageWorker&) = delete;
  StageWorker& operator=(const StageWorker&) = delete;

  // Creates the group and claims entries left pending by dead consumers
  // (idle longer than claim_min_idle). Called by Start; callable once
  // before RunOnce in tests.
  Status Prepare();
  // Prepare, then runs the loop on a thread until Stop.
  Status Start();
  // Stops the loop after the batch in flight; idempotent.
  void Stop();

  // One iteration: the claimed backlog first, else up to `batch` new
  // entries (waiting up to `block`); processes, writes, acknowledges.
  // Returns how many entries were acknowledged.
  Result<size_t> RunOnce(std::chrono::milliseconds block);

  const WorkerStats& stats() const { return stats_; }
  const WorkerOptions& options() const { return options_; }
  bool running() const { return running_.load(); }
  std::string last_error() const;

 private:
  store::StreamKind Input() const;
  Result<size_t> Process(std::vector<store::StreamEntry> entries);
  Result<size_t> ClaimBacklog();
  void Loop();

  WorkerOptions options_;
  StageModels models_;
  std::unique_ptr<store::Streams> reader_, writer_;
  std::unique_ptr<store::Archive> archive_;
  StandardMetrics* metrics_;
  std::unique_ptr<SocMetrics> soc_metrics_;  // when metrics_ is set
  const Logger* log_;
  WorkerStats stats_;
  std::vector<store::StreamEntry> backlog_;
  std::chrono::steady_clock::time_point last_claim_{};
  std::atomic<bool> running_{false}, stop_{false};
  std::thread thread_;
  mutable Mutex error_mu_;
  std::string last_error_ DSMIL_GUARDED_BY(error_mu_);
  Mutex own_l8_mu_;  // models_.l8_mu when none was given
};

// The stage's transformation of one valid event (exposed for benchmarks and
// tests): L3 sets e.l3, L4 sets e.l4, L8 replaces l8_enrichment and the SOAR
// proposals with its own (allowed = the tenant's allowed actions) and marks it
// enriched.
void ApplyL3(const L3Model& m, int device, int64_t now_ms, SocEvent& e);
void ApplyL4(const L4Model& m, int device, int64_t now_ms, SocEvent& e);
size_t ApplyL8(L8Analyzer& a, const std::vector<std::string>& allowed, int64_t now_ms, SocEvent& e);

}  // namespace dsmil::soc
