#include "devices/l7/routing.h"

#include <algorithm>

namespace dsmil::devices::l7 {

RoutingMetrics RoutingMetrics::Register(Registry& registry) {
  RoutingMetrics m;
  m.outstanding = &registry.AddGauge("dsmil_l7_worker_outstanding", "Requests in flight per L7 worker replica",
                                     {"model", "replica"});
  m.up = &registry.AddGauge("dsmil_l7_worker_up", "1 when the L7 worker replica passes its health check",
                            {"model", "replica"});
  return m;
}

WorkerPool::WorkerPool(std::vector<std::unique_ptr<Worker>> workers, RoutingMetrics metrics)
    : workers_(std::move(workers)), metrics_(metrics) {
  for (const auto& w : workers_) {
    labels_.push_back(w->spec().kind == "upstream" ? w->spec().base_url : "device:" + std::to_string(w->spec().device));
  }
}

WorkerPool::~WorkerPool() { StopProbing(); }

bool WorkerPool::AnyHealthy() const {
  for (const auto& w : workers_) {
    if (w->healthy) return true;
  }
  return false;
}

Result<ChatResult> WorkerPool::Chat(const ChatRequest& chat, const WorkerCall& call, const DeltaFn* on_delta) {
  if (workers_.empty()) {
    return Status::Unavailable("no model is configured on this node (l7.workers is empty); no completion is produced");
  }
  std::vector<Worker*> tried;
  Status last = Status::Unavailable("no healthy worker for model '" + chat.model + "'");
  bool known = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    Worker* best = nullptr;
    size_t best_index = 0;
    for (size_t i = 0; i < workers_.size(); ++i) {
      Worker* w = workers_[i].get();
      if (w->spec().model != chat.model) continue;
      known = true;
      if (!w->healthy || std::find(tried.begin(), tried.end(), w) != tried.end()) continue;
      if (w->spec().max_concurrent > 0 && w->outstanding.load() >= w->spec().max_concurrent) continue;
      if (best == nullptr || w->outstanding.load() < best->outstanding.load()) best = w, best_index = i;
    }
    if (!known) return Status::NotFound("The model '" + chat.model + "' does not exist");
    if (best == nullptr) {
      if (tried.empty()) {
        std::string why;
        for (const auto& w : workers_) {
          if (w->spec().model == chat.model && !w->last_error().empty()) why = w->last_error();
        }
        return Status::Unavailable("no healthy worker for model '" + chat.model + "'" +
                                   (why.empty() ? std::string() : ": " + why));
      }
      return last;
    }
    tried.push_back(best);
    best->outstanding++;
    Gauge& g = metrics_.outstanding->Labels({chat.model, labels_[best_index]});
    g.Inc();
    bool any_output = false;
    DeltaFn wrapped;
    const DeltaFn* fn = nullptr;
    if (on_delta != nullptr) {
      wrapped = [&](const ChatDelta& d) {
        any_output = true;
        return (*on_delta)(d);
      };
      fn = &wrapped;
    }
    auto r = best->Chat(chat, call, fn);
    best->outstanding--;
    g.Dec();
    if (r.ok()) {
      best->failures = 0;
      best->served++;
      return r;
    }
    last = r.status();
    // Busy (pool full or the tenant's share in use): another replica may
    // have room; this one is not counted as failing.
    if (r.status().code() == StatusCode::kResourceExhausted && !any_output) continue;
    if (r.status().code() != StatusCode::kUnavailable) return r;
    best->set_last_error(r.status().message());
    if (++best->failures >= 3) best->healthy = false;
    if (any_output) return r;
  }
  return last;
}

Worker* WorkerPool::EmbeddingsWorker(const std::string& model) const {
  Worker* w = nullptr;
  for (const auto& cand : workers_) {
    if (cand->spec().model == model && cand->spec().embeddings && cand->healthy) w = cand.get();
  }
  return w;
}

std::vector<ModelInfo> WorkerPool::Models() const {
  std::vector<ModelInfo> models;
  for (const auto& w : workers_) {
    const WorkerSpec& s = w->spec();
    bool seen = std::any_of(models.begin(), models.end(), [&](const ModelInfo& m) { return m.id == s.model; });
    if (seen) continue;
    models.push_back({s.model, s.kind == "upstream" ? "upstream" : "dsmil-device-" + std::to_string(s.device), 0});
  }
  return models;
}

void WorkerPool::ProbeAll() {
  for (size_t i = 0; i < workers_.size(); ++i) {
    Worker* w = workers_[i].get();
    Status s = w->Probe();
    w->healthy = s.ok();
    if (s.ok()) {
      w->failures = 0;
    } else {
      w->set_last_error(s.message());
    }
    metrics_.up->Labels({w->spec().model, labels_[i]}).Set(s.ok() ? 1 : 0);
  }
}

void WorkerPool::StartProbing(std::chrono::milliseconds interval) {
  prober_ = std::thread([this, interval] {
    while (!WaitOrStop(interval)) ProbeAll();
  });
}

bool WorkerPool::WaitOrStop(std::chrono::milliseconds interval) {
  auto deadline = std::chrono::steady_clock::now() + interval;
  MutexLock l(mu_);
  while (!stopping_) {
    if (!stop_cv_.WaitUntil(mu_, deadline)) break;  // the interval has passed
  }
  return stopping_;
}

void WorkerPool::StopProbing() {
  {
    MutexLock l(mu_);
    stopping_ = true;
  }
  stop_cv_.NotifyAll();
  if (prober_.joinable()) prober_.join();
}

}  // namespace dsmil::devices::l7
