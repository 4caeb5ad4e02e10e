#include "devices/soc/soc_device.h"

#include <sys/stat.h>

#include <cstdlib>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/dsmil_metrics.h"
#include "core/log.h"
#include "core/mutex.h"
#include "devices/device.h"
#include "devices/l8/injection_check.h"
#include "devices/l8/sigma.h"
#include "devices/soc/pipeline.h"
#include "store/scope.h"
#include "tenant/policy.h"

namespace dsmil::soc {
// The shipped models (generated from models/*.json by src/devices/embed_models.cmake).
extern const char kShippedL3ModelJson[];
extern const char kShippedL4ModelJson[];
}  // namespace dsmil::soc

namespace dsmil::soc {
namespace {

using json = nlohmann::json;
using devices::DeviceContext;
using devices::DeviceHealth;
using devices::DeviceState;

bool FileExists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string Resolve(const std::string& path, const std::string& dir) {
  if (path.empty() || path[0] == '/' || dir.empty()) return path;
  return dir + "/" + path;
}

enum class Kind { kL3, kL4, kL8 };
Kind KindOf(int id) { return id <= 22 ? Kind::kL3 : id <= 32 ? Kind::kL4 : Kind::kL8; }

Result<std::vector<int>> IntList(const json& v, const std::string& key) {
  if (!v.is_array()) return Status::InvalidArgument(key + ": must be a list of device ids");
  std::vector<int> out;
  for (const auto& x : v) {
    if (!x.is_number_integer()) return Status::InvalidArgument(key + ": must be a list of device ids");
    out.push_back(x.get<int>());
  }
  return out;
}

Result<int64_t> PosInt(const json& j, const char* key, int64_t lo, int64_t hi) {
  const json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return Status::InvalidArgument(std::string("soc.") + key + ": must be an integer in " + std::to_string(lo) + ".." +
                                   std::to_string(hi));
  }
  return v.get<int64_t>();
}

class SocDevice final : public devices::Device {
 public:
  explicit SocDevice(DeviceContext ctx) : ctx_(std::move(ctx)), kind_(KindOf(ctx_.id)) {}
  ~SocDevice() override { Stop(); }

  int id() const override { return ctx_.id; }
  const std::string& tenant() const override { return ctx_.tenant; }

  Status Start() override {
    // Parsed once at config load (RegisterSocDeviceFactories registers the parser).
    const SocConfig* section = ctx_.Section<SocConfig>("soc");
    config_ = section ? *section : SocConfig{};
    if (ctx_.metrics) metrics_ = std::make_unique<StandardMetrics>(*ctx_.metrics);
    // Models.
    if (kind_ == Kind::kL3) {
      if (config_.l3_model.empty()) {
        l3_ = L3Model::Default();
      } else {
        DSMIL_ASSIGN_OR_RETURN(l3_, L3Model::Load(config_.l3_model));
      }
    }
    if (kind_ == Kind::kL4) {
      std::string path = config_.l4_model;
      if (path.empty()) {
        std::vector<std::string> candidates;
        if (const char* env = std::getenv("DSMIL_MODELS_DIR"); env && *env) {
          candidates.push_back(std::string(env) + "/l4_classifier.json");
        }
        candidates.push_back(Resolve("models/l4_classifier.json", ctx_.config_dir));
        candidates.push_back(Resolve("../models/l4_classifier.json", ctx_.config_dir));
        for (const auto& c : candidates) {
          if (FileExists(c)) {
            path = c;
            break;
          }
        }
      }
      if (path.empty()) {
        // No model file configured or found: the model shipped in
        // models/l4_classifier.json, built into the binary.
        DSMIL_ASSIGN_OR_RETURN(L4Model m, L4Model::Parse(kShippedL4ModelJson));
        l4_ = std::make_unique<L4Model>(std::move(m));
      } else {
        DSMIL_ASSIGN_OR_RETURN(L4Model m, L4Model::Load(path));
        l4_ = std::make_unique<L4Model>(std::move(m));
      }
    }
    if (kind_ == Kind::kL8) {
      if (const auto* pol = ctx_.Section<devices::PoliciesConfig>("policies")) {
        policies_ = std::make_unique<tenant::PolicyStore>(pol->dir, config_.policy_poll, ctx_.log);
      }
      if (!config_.sigma_rules.empty()) {
        // The field map is read once; the rule files are re-read when they change.
        DSMIL_ASSIGN_OR_RETURN(SigmaFieldMap fields, SigmaFieldMap::Load(config_.sigma_fieldmap));
        sigma_ =
            std::make_unique<SigmaRuleStore>(config_.sigma_rules, std::move(fields), config_.policy_poll, ctx_.log);
      }
    }
    // Pipeline workers.
    bool has_stores = !ctx_.stores.path.empty() || ctx_.stores.kind == "servers";
    const std::vector<int>& workers = kind_ == Kind::kL3   ? config_.l3_workers
                                      : kind_ == Kind::kL4 ? config_.l4_workers
                                                           : config_.l8_workers;
    bool runs = config_.present && config_.pipeline && has_stores &&
                std::find(workers.begin(), workers.end(), ctx_.id) != workers.end();
    if (runs) {
      if (kind_ == Kind::kL4 && !l4_) {
        return Status::FailedPrecondition("soc: no L4 model for the pipeline (soc.l4_model)");
      }
      std::vector<std::string> tenants;
      if (!ctx_.tenant.empty()) {
        tenants.push_back(ctx_.tenant);
      } else {
        for (const auto& t : ctx_.tenants) tenants.push_back(t.id);
      }
      for (const auto& t : tenants) {
        Status s = StartWorker(t);
        if (!s.ok()) {
          Stop();
          return s.WithContext("soc " + t);
        }
      }
    }
    std::string role = RoleDetail(workers, runs, has_stores);
    MutexLock lock(mu_);
    role_ = std::move(role);
    if (health_.state == DeviceState::kStarting) health_ = {DeviceState::kHealthy, ""};
    return Status::Ok();
  }

  void Stop() override {
    // Health() reads workers_ meanwhile: they are taken out under the lock and
    // stopped (joined) outside it.
    std::vector<std::unique_ptr<StageWorker>> workers;
    {
      MutexLock lock(mu_);
      workers.swap(workers_);
    }
    for (auto& w : workers) w->Stop();
    workers.clear();
    MutexLock lock(mu_);
    if (health_.state != DeviceState::kStarting) health_ = {DeviceState::kStopped, ""};
  }

  DeviceHealth Health() const override {
    MutexLock lock(mu_);
    DeviceHealth h = health_;
    if (h.state == DeviceState::kHealthy) {
      for (const auto& w : workers_) {
        if (!w->running()) return {DeviceState::kFailed, "soc " + w->options().tenant + " worker stopped"};
        std::string err = w->last_error();
        if (w->stats().errors.load() > 0 && !err.empty() && w->stats().processed.load() == 0) {
          return {DeviceState::kDegraded, "soc " + w->options().tenant + ": " + err};
        }
      }
    }
    return h;
  }

  // What this id does, for `dsmilctl status` (set by Start): which L3/L4 ids
  // consume the tenants' stream and which only answer DBE requests as a
  // replica of the consumer; which L8 id runs the L8 stage (51-57 are the
  // analytics it runs, docs/soc.md).
  std::string StatusDetail() const override {
    MutexLock lock(mu_);
    return role_;
  }

  uint64_t MemoryUsedBytes() const override { return l4_ ? l4_->dim() * (kCategoryCount + kSeverityCount) * 4 : 0; }

  Result<dbe::Message> Handle(const dbe::Message& req) override {
    std::string t(req.tenant_id());
    std::optional<LatencyTimer> timer;
    if (metrics_) timer.emplace(metrics_->TimeRequest(t, ctx_.id, MsgTypeLabel(uint8_t(req.type()))));
    auto reply = HandleInner(req, t);
    if (metrics_ && reply.ok() && reply->type() == dbe::MsgType::kError) metrics_->CountError(t, ctx_.id, "refused");
    return reply;
  }

 private:
  // A tenant's L8 analyzer. It is single-threaded: the tenant's pipeline
  // worker and the device's DBE requests take turns through `mu`.
  struct Analyzer {
    Analyzer(L8Config config, std::shared_ptr<const IocSet> iocs) : analyzer(config, std::move(iocs)) {}
    Mutex mu;
    L8Analyzer analyzer DSMIL_GUARDED_BY(mu);
  };

  Status StartWorker(const std::string& tenant) {
    DSMIL_ASSIGN_OR_RETURN(auto scope, store::TenantScope::For(tenant));
    DSMIL_ASSIGN_OR_RETURN(auto reader, store::OpenStreams(ctx_.stores, scope, store::Access::kReader));
    DSMIL_ASSIGN_OR_RETURN(auto writer, store::OpenStreams(ctx_.stores, scope, store::Access::kWriter));
    std::unique_ptr<store::Archive> archive;
    WorkerOptions o;
    o.tenant = tenant;
    o.device = ctx_.id;
    o.consumer = (ctx_.node.empty() ? std::string("node") : ctx_.node) + "-" + std::to_string(ctx_.id);
    o.batch = config_.batch;
    o.block = config_.block;
    o.claim_min_idle = config_.claim_min_idle;
    StageModels m;
    if (kind_ == Kind::kL3) {
      o.stage = Stage::kL3;
      m.l3 = &l3_;
    } else if (kind_ == Kind::kL4) {
      o.stage = Stage::kL4;
      m.l4 = l4_.get();
    } else {
      o.stage = Stage::kL8;
      DSMIL_ASSIGN_OR_RETURN(archive, store::OpenArchive(ctx_.stores, scope));
      Analyzer* a = AnalyzerFor(tenant);
      m.l8 = &a->analyzer;
      m.l8_mu = &a->mu;
      m.policies = policies_.get();
      m.sigma = sigma_.get();
    }
    auto w = std::make_unique<StageWorker>(o, m, std::move(reader), std::move(writer), std::move(archive),
                                           metrics_.get(), ctx_.log);
    DSMIL_RETURN_IF_ERROR(w->Start());
    MutexLock lock(mu_);
    workers_.push_back(std::move(w));
    return Status::Ok();
  }

  std::string RoleDetail(const std::vector<int>& workers, bool runs, bool has_stores) const {
    if (kind_ == Kind::kL8) return runs ? std::to_string(ctx_.id) + " runs the L8 stage and SOAR" : "";
    const char* stream = kind_ == Kind::kL3 ? "L3_IN" : "L4_IN";
    if (runs) return std::to_string(ctx_.id) + " consumes " + stream;
    if (!config_.present || !config_.pipeline || !has_stores) {
      return std::string("no pipeline here (") +
             (!config_.present    ? "no soc section"
              : !config_.pipeline ? "soc.pipeline false"
                                  : "no stores") +
             "): answers DBE requests only";
    }
    return "replica of " + (workers.empty() ? std::string("none") : std::to_string(workers.front())) +
           ", no share of " + stream;
  }

  // The tenant's analyzer (created on first use with its indicator file).
  Analyzer* AnalyzerFor(const std::string& tenant) {
    MutexLock lock(analyzers_mu_);
    auto it = analyzers_.find(tenant);
    if (it != analyzers_.end()) return it->second.get();
    std::shared_ptr<const IocSet> iocs;
    if (!config_.indicators_dir.empty()) {
      std::string lower = tenant;
      for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
      auto set = IocSet::Load(config_.indicators_dir + "/" + lower + ".txt");
      if (set.ok()) {
        iocs = std::make_shared<const IocSet>(std::move(*set));
      } else if (ctx_.log) {
        ctx_.log->Warn("no indicators for tenant", {{"tenant", tenant}, {"reason", set.status().message()}});
      }
    }
    L8Config c;
    c.window_ms = config_.window_ms;
    auto a = std::make_unique<Analyzer>(c, std::move(iocs));
    Analyzer* p = a.get();
    analyzers_.emplace(tenant, std::move(a));
    return p;
  }

  dbe::Message Reply(const dbe::Message& req, dbe::MsgType type, const std::string& payload) {
    dbe::Message r(type);
    r.header().src_device = uint16_t(ctx_.id);
    r.header().dst_device = req.header().src_device;
    r.SetString(dbe::TlvType::kTenantId, req.tenant_id());
    if (auto id = req.GetString(dbe::TlvType::kRequestId); id.ok()) r.SetString(dbe::TlvType::kRequestId, *id);
    if (auto ev = req.GetString(dbe::TlvType::kEventId); ev.ok()) r.SetString(dbe::TlvType::kEventId, *ev);
    r.SetBytes(dbe::TlvType::kPayload, AsBytes(payload));
    return r;
  }

  Result<dbe::Message> HandleInner(const dbe::Message& req, const std::string& t) {
    if (t.empty()) return dbe::MakeErrorReply(req, StatusCode::kInvalidArgument, "MISSING_TENANT_ID");
    if (!ctx_.tenant.empty() && t != ctx_.tenant) {
      return dbe::MakeErrorReply(req, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                                 "device " + std::to_string(ctx_.id) + " serves tenant " + ctx_.tenant);
    }
    if (req.type() == dbe::MsgType::kHealthPing) {
      dbe::Message r(dbe::MsgType::kHealthPong);
      r.header().src_device = uint16_t(ctx_.id);
      r.header().dst_device = req.header().src_device;
      r.SetString(dbe::TlvType::kTenantId, t);
      return r;
    }
    if (ctx_.id == 51 && req.type() == dbe::MsgType::kL8PromptCheck) {
      // Device 51 screens L7 prompts with the tenant's injection_threshold
      // when its policy bundle sets one (devices/l8/injection_check.h).
      return devices::AnswerPromptCheck(req, policies_.get(), ctx_.id);
    }
    dbe::MsgType want = kind_ == Kind::kL3   ? dbe::MsgType::kL3Event
                        : kind_ == Kind::kL4 ? dbe::MsgType::kL3Decision
                                             : dbe::MsgType::kL8SocEventEnrichment;
    if (req.type() != want) {
      return dbe::MakeErrorReply(
          req, StatusCode::kInvalidArgument, "UNSUPPORTED_MESSAGE",
          "device " + std::to_string(ctx_.id) + " answers " + std::string(dbe::MsgTypeName(want)));
    }
    auto payload = req.GetBytes(dbe::TlvType::kPayload);
    if (!payload.ok()) {
      return dbe::MakeErrorReply(req, StatusCode::kInvalidArgument, "MISSING_PAYLOAD", "PAYLOAD: the event JSON");
    }
    auto ev = ParseEvent(AsString(*payload), t, ParseOptions{.assign_missing_id = true, .now_ms = NowMs()});
    if (!ev.ok()) return dbe::MakeErrorReply(req, StatusCode::kInvalidArgument, "INVALID_EVENT", ev.status().message());
    SocEvent& e = *ev;
    switch (kind_) {
      case Kind::kL3:
        ApplyL3(l3_, ctx_.id, NowMs(), e);
        return Reply(req, dbe::MsgType::kL3Decision, EventToJson(e));
      case Kind::kL4:
        if (!l4_) return dbe::MakeErrorReply(req, StatusCode::kUnavailable, "NO_MODEL", "no L4 model loaded");
        ApplyL4(*l4_, ctx_.id, NowMs(), e);
        return Reply(req, dbe::MsgType::kL4Classification, EventToJson(e));
      case Kind::kL8: {
        std::vector<std::string> allowed;
        if (policies_) {
          auto p = policies_->Get(t);
          if (p.ok()) allowed = (*p)->allowed_actions;
        }
        Analyzer* a = AnalyzerFor(t);
        MutexLock lock(a->mu);
        if (!e.l4.present) {
          // Classify-less enrichment: analytics that need L4 are skipped.
        }
        ApplyL8(a->analyzer, allowed, NowMs(), e);
        return Reply(req, dbe::MsgType::kL8Proposal, EventToJson(e));
      }
    }
    return Status::Internal("unreachable");
  }

  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  DeviceContext ctx_;
  Kind kind_;
  SocConfig config_;
  std::unique_ptr<StandardMetrics> metrics_;
  L3Model l3_ = L3Model::Default();
  std::unique_ptr<L4Model> l4_;
  std::unique_ptr<tenant::PolicyStore> policies_;
  std::unique_ptr<SigmaRuleStore> sigma_;   // L8: the tenants' Sigma rules (soc.sigma_rules)
  std::string role_ DSMIL_GUARDED_BY(mu_);  // StatusDetail
  Mutex analyzers_mu_;
  std::map<std::string, std::unique_ptr<Analyzer>> analyzers_ DSMIL_GUARDED_BY(analyzers_mu_);
  mutable Mutex mu_;
  std::vector<std::unique_ptr<StageWorker>> workers_ DSMIL_GUARDED_BY(mu_);
  DeviceHealth health_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace

Result<SocConfig> ParseSocConfig(const std::string& section_json, const std::string& config_dir) {
  SocConfig c;
  if (section_json.empty()) return c;
  json j = json::parse(section_json, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("soc: not valid JSON");
  if (j.is_null()) {
    c.present = true;
    return c;
  }
  if (!j.is_object()) return Status::InvalidArgument("soc: must be a mapping");
  c.present = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "pipeline") {
      if (!it->is_boolean()) return Status::InvalidArgument("soc.pipeline: must be true or false");
      c.pipeline = it->get<bool>();
    } else if (k == "l3_model" || k == "l4_model" || k == "indicators_dir" || k == "sigma_rules" ||
               k == "sigma_fieldmap") {
      if (!it->is_string() || it->get<std::string>().empty()) {
        return Status::InvalidArgument("soc." + k + ": must be a path");
      }
      std::string p = Resolve(it->get<std::string>(), config_dir);
      if (k == "l3_model") {
        c.l3_model = p;
      } else if (k == "l4_model") {
        c.l4_model = p;
      } else if (k == "indicators_dir") {
        c.indicators_dir = p;
      } else if (k == "sigma_rules") {
        c.sigma_rules = p;
      } else {
        c.sigma_fieldmap = p;
      }
    } else if (k == "workers") {
      if (!it->is_object()) return Status::InvalidArgument("soc.workers: must be a mapping {l3, l4, l8}");
      for (auto w = it->begin(); w != it->end(); ++w) {
        std::string key = "soc.workers." + w.key();
        DSMIL_ASSIGN_OR_RETURN(auto ids, IntList(*w, key));
        int lo = w.key() == "l3" ? 14 : w.key() == "l4" ? 23 : 51;
        int hi = w.key() == "l3" ? 22 : w.key() == "l4" ? 32 : 58;
        if (w.key() != "l3" && w.key() != "l4" && w.key() != "l8") {
          return Status::InvalidArgument(key + ": unknown stage (l3, l4, l8)");
        }
        for (int id : ids) {
          if (id < lo || id > hi) {
            return Status::InvalidArgument(key + ": device " + std::to_string(id) + " is not in " + std::to_string(lo) +
                                           ".." + std::to_string(hi));
          }
        }
        (w.key() == "l3" ? c.l3_workers : w.key() == "l4" ? c.l4_workers : c.l8_workers) = ids;
      }
    } else if (k == "batch") {
      DSMIL_ASSIGN_OR_RETURN(int64_t v, PosInt(j, "batch", 1, 10000));
      c.batch = size_t(v);
    } else if (k == "block_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t v, PosInt(j, "block_ms", 1, 60000));
      c.block = std::chrono::milliseconds(v);
    } else if (k == "claim_min_idle_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t v, PosInt(j, "claim_min_idle_ms", 1, 86400000));
      c.claim_min_idle = std::chrono::milliseconds(v);
    } else if (k == "policy_poll_ms") {
      DSMIL_ASSIGN_OR_RETURN(int64_t v, PosInt(j, "policy_poll_ms", 0, 3600000));
      c.policy_poll = std::chrono::milliseconds(v);
    } else if (k == "window_ms") {
      DSMIL_ASSIGN_OR_RETURN(c.window_ms, PosInt(j, "window_ms", 1000, 86400000));
    } else {
      return Status::InvalidArgument("soc." + k + ": unknown key");
    }
  }
  if (!c.sigma_rules.empty() && c.sigma_fieldmap.empty()) {
    return Status::InvalidArgument("soc.sigma_fieldmap: required with soc.sigma_rules (deploy/sigma/fieldmap.yaml)");
  }
  if (c.sigma_rules.empty() && !c.sigma_fieldmap.empty()) {
    return Status::InvalidArgument("soc.sigma_rules: required with soc.sigma_fieldmap");
  }
  return c;
}

void RegisterSocDeviceFactories() {
  auto factory = [](const DeviceContext& ctx) -> Result<std::unique_ptr<devices::Device>> {
    return std::unique_ptr<devices::Device>(new SocDevice(ctx));
  };
  devices::RegisterConfigSection<SocConfig>("soc", ParseSocConfig);
  const std::vector<std::string> sections = {"soc", "policies"};
  for (int id = 14; id <= 32; ++id) devices::RegisterDeviceFactory(id, factory, sections);
  for (int id = 51; id <= 58; ++id) devices::RegisterDeviceFactory(id, factory, sections);
}

}  // namespace dsmil::soc
