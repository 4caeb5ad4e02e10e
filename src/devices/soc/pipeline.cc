#include "devices/soc/pipeline.h"

#include <chrono>

#include "core/dsmil_metrics.h"
#include "core/log.h"
#include "dbe/registry.h"
#include "devices/l8/sigma.h"
#include "tenant/policy.h"

namespace dsmil::soc {
namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view MsgLabel(Stage s) {
  switch (s) {
    case Stage::kL3:
      return "0x20";  // L3_EVENT
    case Stage::kL4:
      return "0x23";  // L4_CLASSIFICATION
    case Stage::kL8:
      return "0x50";  // L8_SOC_EVENT_ENRICHMENT
  }
  return "0x00";
}

}  // namespace

std::string_view StageName(Stage s) {
  switch (s) {
    case Stage::kL3:
      return "l3";
    case Stage::kL4:
      return "l4";
    case Stage::kL8:
      return "l8";
  }
  return "?";
}

void ApplyL3(const L3Model& m, int device, int64_t now_ms, SocEvent& e) {
  e.l3.present = true;
  e.l3.score = m.Score(e.features);
  e.l3.decision = std::string(m.Decide(e.l3.score));
  e.l3.device = device;
  e.l3.ts_ms = now_ms;
}

void ApplyL4(const L4Model& m, int device, int64_t now_ms, SocEvent& e) {
  L4Output o = m.Classify(e.features);
  e.l4.present = true;
  e.l4.category = o.category;
  e.l4.severity = o.severity;
  e.l4.confidence = o.confidence;
  e.l4.device = device;
  e.l4.ts_ms = now_ms;
}

size_t ApplyL8(L8Analyzer& a, const std::vector<std::string>& allowed, int64_t now_ms, SocEvent& e) {
  // Flags and proposals are device 51-58 output only: nothing carried in survives.
  e.l8 = L8Enrichment{};
  e.proposals.clear();
  a.Analyze(e, now_ms);
  size_t n = ProposeActions(e, allowed);
  e.enriched = true;
  return n;
}

StageWorker::StageWorker(WorkerOptions options, StageModels models, std::unique_ptr<store::Streams> reader,
                         std::unique_ptr<store::Streams> writer, std::unique_ptr<store::Archive> archive,
                         StandardMetrics* metrics, const Logger* log)
    : options_(std::move(options)),
      models_(models),
      reader_(std::move(reader)),
      writer_(std::move(writer)),
      archive_(std::move(archive)),
      metrics_(metrics),
      log_(log) {
  if (metrics_ != nullptr) soc_metrics_ = std::make_unique<SocMetrics>(metrics_->registry);
  if (!options_.now_ms) options_.now_ms = WallMs;
  if (models_.l8_mu == nullptr) models_.l8_mu = &own_l8_mu_;
  if (options_.consumer.empty()) {
    options_.consumer = std::string(StageName(options_.stage)) + "-" + std::to_string(options_.device);
  }
}

StageWorker::~StageWorker() { Stop(); }

store::StreamKind StageWorker::Input() const {
  switch (options_.stage) {
    case Stage::kL3:
      return store::StreamKind::kL3In;
    case Stage::kL4:
      return store::StreamKind::kL4In;
    case Stage::kL8:
      return store::StreamKind::kSocEvents;
  }
  return store::StreamKind::kL3In;
}

std::string StageWorker::last_error() const {
  MutexLock lock(error_mu_);
  return last_error_;
}

Status StageWorker::Prepare() {
  if (!reader_ || !writer_) {
    return Status::FailedPrecondition("soc " + std::string(StageName(options_.stage)) + ": no streams");
  }
  if (options_.stage == Stage::kL3 && !models_.l3) return Status::FailedPrecondition("soc l3: no L3 model");
  if (options_.stage == Stage::kL4 && !models_.l4) return Status::FailedPrecondition("soc l4: no L4 model");
  if (options_.stage == Stage::kL8 && (!models_.l8 || !archive_)) {
    return Status::FailedPrecondition("soc l8: needs the analyzer and the archive");
  }
  DSMIL_RETURN_IF_ERROR(reader_->EnsureGroup(Input(), std::string(StageName(options_.stage))));
  auto claimed = ClaimBacklog();
  if (!claimed.ok()) return claimed.status();
  return Status::Ok();
}

Result<size_t> StageWorker::ClaimBacklog() {
  last_claim_ = std::chrono::steady_clock::now();
  DSMIL_ASSIGN_OR_RETURN(auto got, reader_->Claim(Input(), std::string(StageName(options_.stage)), options_.consumer,
                                                  options_.claim_min_idle, options_.batch));
  stats_.claimed += got.size();
  for (auto& e : got) backlog_.push_back(std::move(e));
  if (!got.empty() && log_) {
    log_->Info("claimed pending entries of a stopped consumer",
               {{"tenant", options_.tenant}, {"stage", StageName(options_.stage)}, {"count", got.size()}});
  }
  return got.size();
}

Result<size_t> StageWorker::RunOnce(std::chrono::milliseconds block) {
  if (backlog_.empty() && std::chrono::steady_clock::now() - last_claim_ >= options_.claim_every) {
    DSMIL_RETURN_IF_ERROR(ClaimBacklog().status());
  }
  std::vector<store::StreamEntry> entries;
  if (!backlog_.empty()) {
    entries.swap(backlog_);
  } else {
    DSMIL_ASSIGN_OR_RETURN(entries, reader_->ReadGroup(Input(), std::string(StageName(options_.stage)),
                                                       options_.consumer, options_.batch, block));
  }
  if (entries.empty()) return size_t(0);
  return Process(std::move(entries));
}

Result<size_t> StageWorker::Process(std::vector<store::StreamEntry> entries) {
  const std::string& tenant = options_.tenant;
  const int64_t now = options_.now_ms();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> out_a, out_b, dead, ids, discrepancies;
  std::vector<store::ArchivedEvent> archived;
  std::vector<SocEvent> enriched;  // counted in soc_metrics_ once written
  ids.reserve(entries.size());
  uint64_t dead_n = 0, skipped = 0, proposals = 0;

  std::vector<std::string> allowed;
  if (options_.stage == Stage::kL8 && models_.policies) {
    auto p = models_.policies->Get(tenant);
    if (p.ok()) {
      allowed = (*p)->allowed_actions;
    } else if (log_) {
      log_->Warn("no policy in force: SOAR proposes nothing", {{"tenant", tenant}, {"reason", p.status().message()}});
    }
  }

  // What each stage's input may carry (event.h, PipelineField): L3 reads what
  // clients append (ingest's output or a direct XADD), so it refuses every
  // field the pipeline writes, as ingest does, and takes the event in (fills
  // ingest_ts_ms, bounds ts_ms by the clock). L8 also reads its own enriched
  // copies and skips them; the other entries are checked after parsing.
  ParseOptions parse_options;
  switch (options_.stage) {
    case Stage::kL3:
      parse_options.pipeline_fields = kL3InputFields;
      parse_options.now_ms = now;
      parse_options.max_future_ms = kMaxFutureMs;
      break;
    case Stage::kL4:
      parse_options.pipeline_fields = kL4InputFields;
      break;
    case Stage::kL8:
      break;
  }

  for (auto& entry : entries) {
    ids.push_back(entry.id);
    auto parsed = ParseEvent(entry.payload, tenant, parse_options);
    if (parsed.ok() && options_.stage == Stage::kL8 && !parsed->enriched) {
      Status fields = CheckPipelineFields(*parsed, kL8InputFields);
      if (!fields.ok()) parsed = fields;
    }
    if (!parsed.ok()) {
      dead.push_back(DeadLetterJson(parsed.status().message(), StageName(options_.stage), now, entry.payload));
      ++dead_n;
      continue;
    }
    SocEvent& e = *parsed;
    switch (options_.stage) {
      case Stage::kL3: {
        ApplyL3(*models_.l3, options_.device, now, e);
        std::string j = EventToJson(e);
        out_a.push_back(j);
        out_b.push_back(std::move(j));
        break;
      }
      case Stage::kL4: {
        ApplyL4(*models_.l4, options_.device, now, e);
        std::string j = EventToJson(e);
        out_a.push_back(j);
        out_b.push_back(std::move(j));
        break;
      }
      case Stage::kL8: {
        if (e.enriched) {
          ++skipped;
          break;
        }
        if (!e.l4.present) {
          dead.push_back(DeadLetterJson("event: l4: missing (SOC_EVENTS entries are classified by L4 first)", "l8", now,
                                        entry.payload));
          ++dead_n;
          break;
        }
        {
          MutexLock lock(*models_.l8_mu);  // the analyzer is single-threaded
          proposals += ApplyL8(*models_.l8, allowed, now, e);
        }
        if (models_.sigma != nullptr) {
          // The tenant's own Sigma rules (l8/sigma.h); their hits travel
          // as l8_enrichment.sigma with the rules' ATT&CK tags.
          for (SigmaMatch& h : models_.sigma->Match(tenant, e)) {
            if (e.l8.sigma.size() >= kMaxSigmaHits) break;
            e.l8.sigma.push_back(SigmaHit{std::move(h.id), std::move(h.title), std::string(SigmaLevelName(h.level)),
                                          std::move(h.attack_tags)});
          }
        }
        if (e.l8.flags & kFlagLayerDiscrepancy) discrepancies.push_back(e.event_id);
        std::string j = EventToJson(e);
        store::ArchivedEvent a;
        a.event_id = e.event_id;
        a.ts_ms = e.ts_ms;
        a.category = std::string(CategoryName(e.l4.category));
        a.severity = std::string(SeverityName(e.l4.severity));
        a.body = j;
        archived.push_back(std::move(a));
        out_a.push_back(std::move(j));
        if (soc_metrics_) enriched.push_back(std::move(e));
        break;
      }
    }
  }

  // Outputs first, acknowledgement last.
  auto fail = [&](const Status& s) -> Status {
    ++stats_.errors;
    {
      MutexLock lock(error_mu_);
      last_error_ = s.message();
    }
    if (metrics_) metrics_->CountError(tenant, options_.device, "store");
    // Keep the batch for the next iteration (still pending for this consumer).
    backlog_ = std::move(entries);
    return s;
  };
  size_t new_rows = 0;
  if (!archived.empty()) {
    auto r = archive_->Ingest(archived);
    if (!r.ok()) return fail(r.status().WithContext("archive"));
    new_rows = *r;
  }
  auto append = [&](store::StreamKind k, const std::vector<std::string>& v) -> Status {
    if (v.empty()) return Status::Ok();
    auto r = writer_->Append(k, v);
    if (!r.ok()) return r.status();
    if (soc_metrics_) soc_metrics_->CountAppended(tenant, k, v.size());
    return Status::Ok();
  };
  Status s = Status::Ok();
  switch (options_.stage) {
    case Stage::kL3:
      s = append(store::StreamKind::kL3Out, out_a);
      if (s.ok()) s = append(store::StreamKind::kL4In, out_b);
      break;
    case Stage::kL4:
      s = append(store::StreamKind::kL4Out, out_a);
      if (s.ok()) s = append(store::StreamKind::kSocEvents, out_b);
      break;
    case Stage::kL8:
      s = append(store::StreamKind::kSocEvents, out_a);
      break;
  }
  if (s.ok()) s = append(store::StreamKind::kDeadLetter, dead);
  if (!s.ok()) return fail(s);
  auto acked = reader_->Ack(Input(), std::string(StageName(options_.stage)), ids);
  if (!acked.ok()) return fail(acked.status().WithContext("ack"));
  // One line per event device 51 found inconsistent between L3 and L4 (spec
  // §9.2 drill 2): the tenant's log stream carries it to Loki, where
  // deploy/loki/rules/dsmil-advml.yaml alerts on it.
  if (!discrepancies.empty() && log_ != nullptr) {
    Logger l = log_->With(LogLabels{.tenant = tenant, .layer = "L8", .device = 51});
    for (const auto& id : discrepancies) {
      l.Warn("advml flag LAYER_DISCREPANCY", {{"event_id", id}, {"advml_flags", "LAYER_DISCREPANCY"}});
    }
  }

  stats_.processed += ids.size();
  stats_.dead_lettered += dead_n;
  stats_.skipped += skipped;
  stats_.archived += new_rows;
  stats_.proposals += proposals;
  if (metrics_) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string dev = std::to_string(options_.device);
    auto& req = metrics_->requests_total.Labels({tenant, dev, MsgLabel(options_.stage)});
    auto& lat = metrics_->request_latency_seconds.Labels({tenant, dev, MsgLabel(options_.stage)});
    size_t handled = ids.size() - skipped;
    req.Inc(double(handled));
    for (size_t i = 0; i < handled; ++i) lat.Observe(secs);
    if (dead_n) metrics_->errors_total.Labels({tenant, dev, "invalid_event"}).Inc(double(dead_n));
  }
  if (soc_metrics_) {
    for (const SocEvent& e : enriched) soc_metrics_->CountEnriched(tenant, e);
  }
  return ids.size();
}

Status StageWorker::Start() {
  DSMIL_RETURN_IF_ERROR(Prepare());
  stop_ = false;
  running_ = true;
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void StageWorker::Loop() {
  int backoff_ms = 50;
  while (!stop_.load()) {
    auto r = RunOnce(options_.block);
    if (r.ok()) {
      backoff_ms = 50;
      continue;
    }
    if (log_) {
      log_->Warn("soc stage batch failed; retrying",
                 {{"tenant", options_.tenant}, {"stage", StageName(options_.stage)}, {"reason", r.status().message()}});
    }
    for (int waited = 0; waited < backoff_ms && !stop_.load(); waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    backoff_ms = std::min(backoff_ms * 2, 2000);
  }
  running_ = false;
}

void StageWorker::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  running_ = false;
}

}  // namespace dsmil::soc
