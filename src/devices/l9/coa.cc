#include "devices/l9/coa.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <utility>

#include "core/coding.h"
#include "core/log.h"
#include "crypto/sha3.h"
#include "devices/l9/admission.h"
#include "store/archive.h"
#include "store/audit_sink.h"
#include "store/file_mode.h"
#include "store/scope.h"
#include "tenant/policy.h"
#include "tenant/roe.h"

namespace dsmil::devices::l9 {
namespace {

using json = nlohmann::json;

constexpr const char* kEntry = "dbe:device59";
constexpr const char* kContain = "CONTAIN";
constexpr const char* kInvestigate = "INVESTIGATE";
constexpr const char* kEscalate = "ESCALATE";

int SeverityWeight(const soc::SocEvent& e) {
  if (!e.l4.present) return 1;
  switch (e.l4.severity) {
    case soc::Severity::kLow:
      return 1;
    case soc::Severity::kMedium:
      return 2;
    case soc::Severity::kHigh:
      return 4;
    case soc::Severity::kCritical:
      return 8;
  }
  return 1;
}

constexpr uint32_t kStrongFlags = soc::kFlagCampaignSuspected | soc::kFlagMultiVector | soc::kFlagIocMatch |
                                  soc::kFlagAttestationFailed | soc::kFlagPossibleLogTamper;

int EventWeight(const soc::SocEvent& e) {
  int w = SeverityWeight(e);
  for (int b = 0; b < soc::kFlagCount; ++b) {
    uint32_t bit = 1u << b;
    if (e.l8.flags & bit) w += (kStrongFlags & bit) ? 3 : 1;
  }
  return w;
}

// Operational cost of one action (docs/l9.md).
int ActionCost(const std::string& action) {
  if (action == "ISOLATE_HOST") return 12;
  if (action == "DISABLE_ACCOUNT") return 10;
  if (action == "BLOCK_IP") return 6;
  if (action == "BLOCK_DOMAIN") return 5;
  if (action == "QUARANTINE_FILE") return 4;
  return 0;  // ALERT_ONLY
}

struct Candidate {
  std::string action, target, reason;
  int64_t weight = 0;
};

std::string FirstFlagName(uint32_t flags) {
  for (int b = 0; b < soc::kFlagCount; ++b) {
    if (flags & (1u << b)) return std::string(soc::FlagName(1u << b));
  }
  return "";
}

std::string EventReason(const soc::SocEvent& e, uint32_t mask) {
  std::string f = FirstFlagName(e.l8.flags & mask);
  if (!f.empty()) return f;
  if (e.l4.present) {
    return std::string(soc::CategoryName(e.l4.category)) + "/" + std::string(soc::SeverityName(e.l4.severity));
  }
  return "scenario event";
}

std::string RiskLevel(int score) { return score < 34 ? "low" : score < 67 ? "medium" : "high"; }

std::string Join(const std::vector<std::string>& v, size_t max = 4) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += " and " + std::to_string(v.size() - max) + " more";
  return s;
}

}  // namespace

Result<CoaSet> GenerateCoas(const std::string& tenant, std::vector<soc::SocEvent> events,
                            const std::vector<std::string>& allowed_actions, const std::string& tenant_roe_level) {
  if (events.empty()) return Status::InvalidArgument("the scenario holds no events: no course of action is derived");
  if (events.size() > kMaxScenarioEvents) {
    return Status::InvalidArgument("the scenario holds " + std::to_string(events.size()) + " events; the limit is " +
                                   std::to_string(kMaxScenarioEvents));
  }
  std::sort(events.begin(), events.end(), [](const soc::SocEvent& a, const soc::SocEvent& b) {
    return std::tie(a.ts_ms, a.event_id) < std::tie(b.ts_ms, b.event_id);
  });
  auto allowed = [&](const std::string& a) {
    return std::find(allowed_actions.begin(), allowed_actions.end(), a) != allowed_actions.end();
  };

  CoaSet out;
  ScenarioSummary& sum = out.scenario;
  sum.events = events.size();
  std::string canon;
  std::map<std::pair<std::string, std::string>, Candidate> cands;
  std::map<std::string, int64_t> host_weight;
  int64_t total = 0;
  for (const soc::SocEvent& e : events) {
    canon += soc::EventToJson(e);
    canon += '\n';
    const int w = EventWeight(e);
    total += w;
    if (e.l4.present) {
      ++sum.categories[std::string(soc::CategoryName(e.l4.category))];
      ++sum.severities[std::string(soc::SeverityName(e.l4.severity))];
    }
    for (int b = 0; b < soc::kFlagCount; ++b) {
      if (e.l8.flags & (1u << b)) ++sum.flags[std::string(soc::FlagName(1u << b))];
    }
    const soc::Features& f = e.features;
    if (!f.src_host.empty()) host_weight[f.src_host] += w;
    std::set<std::pair<std::string, std::string>> seen;  // one count per event and candidate
    auto add = [&](const std::string& action, const std::string& target, const std::string& reason) {
      if (target.empty() || !seen.emplace(action, target).second) return;
      Candidate& c = cands[{action, target}];
      if (c.action.empty()) {
        c.action = action;
        c.target = target;
        c.reason = reason;
      }
      c.weight += w;
    };
    for (const soc::Proposal& p : e.proposals) {
      if (p.action != "ALERT_ONLY") add(p.action, p.target, p.reason.empty() ? "SOAR proposal" : p.reason);
    }
    const bool severe = e.l4.present && e.l4.severity >= soc::Severity::kHigh;
    const soc::Category cat = e.l4.category;
    const uint32_t fl = e.l8.flags;
    constexpr uint32_t kHostFlags = kStrongFlags | soc::kFlagSuspiciousEgress;
    if (severe || (fl & kHostFlags) || (e.l4.present && cat == soc::Category::kMalware)) {
      add("ISOLATE_HOST", f.src_host, EventReason(e, kHostFlags));
    }
    constexpr uint32_t kDomainFlags = soc::kFlagIocMatch | soc::kFlagSuspiciousEgress;
    if (fl & kDomainFlags) add("BLOCK_DOMAIN", f.dst_domain, EventReason(e, kDomainFlags));
    constexpr uint32_t kIpFlags = soc::kFlagIocMatch | soc::kFlagSuspiciousEgress | soc::kFlagPortScan;
    if (fl & kIpFlags) add("BLOCK_IP", f.dst_ip, EventReason(e, kIpFlags));
    constexpr uint32_t kUserFlags = soc::kFlagBiometricMismatch | soc::kFlagOffHoursAccess;
    if ((fl & kUserFlags) || (severe && (cat == soc::Category::kIdentity || cat == soc::Category::kInsider))) {
      add("DISABLE_ACCOUNT", f.user, EventReason(e, kUserFlags));
    }
    if ((e.l4.present && cat == soc::Category::kMalware) || (fl & soc::kFlagIocMatch)) {
      add("QUARANTINE_FILE", f.file_hash, EventReason(e, soc::kFlagIocMatch));
    }
  }
  auto digest = crypto::Sha3_256(AsBytes(canon));
  sum.digest = ToHex(ByteView(digest.data(), digest.size()));
  sum.threat_score = int((100 * total) / (total + 25));
  for (const auto& [h, w] : host_weight) sum.hosts.push_back(h);

  int64_t cand_total = 0;
  std::vector<Candidate> ranked;
  for (auto& [k, c] : cands) {
    cand_total += c.weight;
    if (allowed(c.action)) ranked.push_back(c);
  }
  std::sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    return std::tie(a.action, a.target) < std::tie(b.action, b.target);
  });
  std::vector<std::pair<std::string, int64_t>> hosts(host_weight.begin(), host_weight.end());
  std::stable_sort(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const bool alert_ok = allowed("ALERT_ONLY");
  const int threat = sum.threat_score;

  auto finish = [&](Coa c) {
    int64_t covered = 0;
    int cost = 0;
    for (const CoaAction& a : c.actions) {
      cost += ActionCost(a.action);
      if (a.action != "ALERT_ONLY") {
        auto it = cands.find({a.action, a.target});
        if (it != cands.end()) covered += it->second.weight;
      }
    }
    c.coverage_pct = cand_total > 0 ? int((100 * covered) / cand_total) : 0;
    c.disruption = std::min(100, cost);
    const int residual = threat * (100 - c.coverage_pct) / 100;
    c.risk_score = (c.disruption + residual + 1) / 2;
    c.risk_level = RiskLevel(c.risk_score);
    c.score = threat * c.coverage_pct / 100 - c.disruption / 2;
    bool changes = cost > 0;
    c.roe_level = changes ? "SOC_ASSIST" : "ANALYSIS_ONLY";
    c.within_roe = !changes || tenant_roe_level == "SOC_ASSIST";
    std::string text = tenant + "\n" + sum.digest + "\n" + c.kind + "\n";
    for (const CoaAction& a : c.actions) text += a.action + " " + a.target + "\n";
    auto h = crypto::Sha3_256(AsBytes(text));
    c.id = "coa-" + ToHex(ByteView(h.data(), 8));
    std::string residual_text = " Estimated residual threat " + std::to_string(residual) + "/100 (scenario " +
                                std::to_string(threat) + "/100).";
    c.expected_effect += residual_text;
    return c;
  };

  // 1. Contain: every allowed containment action, strongest first.
  Coa contain;
  contain.kind = kContain;
  for (const Candidate& c : ranked) {
    if (contain.actions.size() == kMaxCoaActions) break;
    contain.actions.push_back({c.action, c.target, c.reason});
  }
  if (!contain.actions.empty()) {
    std::vector<std::string> t;
    for (const CoaAction& a : contain.actions) t.push_back(a.action + " " + a.target);
    contain.title = "Contain: " + std::to_string(contain.actions.size()) + " containment action(s) allowed by policy";
    contain.expected_effect = "Cuts the attack paths the scenario shows (" + Join(t) +
                              "); affected users and services lose access until the actions are lifted.";
  } else {
    contain.title = "Contain: not possible under the policy bundle; alert on the most affected hosts";
    for (size_t i = 0; i < hosts.size() && i < kMaxCoaActions && alert_ok; ++i) {
      contain.actions.push_back({"ALERT_ONLY", hosts[i].first, "containment actions are not in the policy bundle"});
    }
    if (contain.actions.empty() && alert_ok) contain.actions.push_back({"ALERT_ONLY", "", "no host in the scenario"});
    contain.expected_effect =
        "No containment action is allowed for this tenant: analysts are alerted on the affected hosts; the threat is "
        "not reduced by the platform.";
  }
  // 2. Investigate: the single strongest allowed action, then monitor.
  Coa investigate;
  investigate.kind = kInvestigate;
  if (!ranked.empty()) investigate.actions.push_back({ranked[0].action, ranked[0].target, ranked[0].reason});
  if (alert_ok && !hosts.empty()) {
    investigate.actions.push_back({"ALERT_ONLY", hosts[0].first, "monitor the most affected host"});
  }
  if (investigate.actions.empty() && alert_ok) {
    investigate.actions.push_back({"ALERT_ONLY", "", "monitor the scenario"});
  }
  investigate.title = ranked.empty() ? "Investigate: monitor the most affected host, no change made"
                                     : "Investigate: " + ranked[0].action + " " + ranked[0].target + " and monitor";
  investigate.expected_effect =
      ranked.empty() ? "Analysts watch the most affected host while the scenario is investigated; nothing is changed."
                     : "Removes the strongest single finding and keeps the rest under watch while analysts "
                       "investigate; less disruption than containment, less coverage.";
  // 3. Escalate: hand the decision to a human, no automated change.
  Coa escalate;
  escalate.kind = kEscalate;
  escalate.title = "Escalate to a human analyst: no automated change";
  if (alert_ok) escalate.actions.push_back({"ALERT_ONLY", "", "escalate the scenario for a human decision"});
  escalate.expected_effect = alert_ok ? "One alert for the scenario; the threat continues until a human decides."
                                      : "No action is proposed (the policy bundle allows none); the scenario is "
                                        "handed to a human as is.";

  out.coas = {finish(std::move(contain)), finish(std::move(investigate)), finish(std::move(escalate))};
  std::stable_sort(out.coas.begin(), out.coas.end(), [](const Coa& a, const Coa& b) { return a.score > b.score; });
  for (size_t i = 0; i < out.coas.size(); ++i) out.coas[i].rank = int(i) + 1;
  return out;
}

std::string_view ThreatLevelName(int threat_score) {
  if (threat_score < 25) return "LOW";
  if (threat_score < 50) return "MEDIUM";
  if (threat_score < 75) return "HIGH";
  return "CRITICAL";
}

json CoaToJson(const Coa& c) {
  json actions = json::array();
  for (const CoaAction& a : c.actions) {
    actions.push_back({{"action", a.action}, {"target", a.target}, {"reason", a.reason}});
  }
  return {{"id", c.id},
          {"rank", c.rank},
          {"kind", c.kind},
          {"title", c.title},
          {"actions", actions},
          {"expected_effect", c.expected_effect},
          {"coverage_pct", c.coverage_pct},
          {"disruption", c.disruption},
          {"risk", {{"level", c.risk_level}, {"score", c.risk_score}}},
          {"score", c.score},
          {"roe_level", c.roe_level},
          {"within_roe", c.within_roe}};
}

// ---- CoaStore ----

namespace {

json StoredToJson(const StoredCoa& s) {
  return {{"id", s.id},       {"tenant", s.tenant},         {"created_ms", s.created_ms}, {"request_id", s.request_id},
          {"state", s.state}, {"decided_by", s.decided_by}, {"decided_ms", s.decided_ms}, {"coa", s.coa}};
}

Result<std::vector<StoredCoa>> ReadStored(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, tenant::internal::ReadWholeFile(path, "coa store"));
  std::vector<StoredCoa> out;
  if (text.empty()) return out;
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("coas") || !doc["coas"].is_array()) {
    return Status::Internal("coa store " + path + ": not a COA file (want {\"coas\": [...]})");
  }
  for (const json& j : doc["coas"]) {
    StoredCoa s;
    s.id = j.value("id", "");
    s.tenant = j.value("tenant", "");
    s.created_ms = j.value("created_ms", int64_t(0));
    s.request_id = j.value("request_id", "");
    s.state = j.value("state", "pending");
    s.decided_by = j.value("decided_by", "");
    s.decided_ms = j.value("decided_ms", int64_t(0));
    s.coa = j.value("coa", json::object());
    out.push_back(std::move(s));
  }
  return out;
}

Status WriteStored(const std::string& path, const std::vector<StoredCoa>& all) {
  json arr = json::array();
  for (const StoredCoa& s : all) arr.push_back(StoredToJson(s));
  return tenant::internal::ReplaceFile(path, json{{"coas", arr}}.dump(1) + "\n", "coa store");
}

}  // namespace

std::string CoaFile(const store::StoresConfig& stores, const std::string& tenant) {
  return stores.path + "/l9/coa/" + tenant + ".json";
}

Result<CoaStore> CoaStore::Open(const store::StoresConfig& stores, const std::string& tenant) {
  if (stores.path.empty()) return Status::InvalidArgument("coa store: stores.path is not set");
  DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
  (void)scope;
  return CoaStore(tenant, CoaFile(stores, tenant));
}

Result<std::vector<StoredCoa>> CoaStore::Add(const std::vector<Coa>& coas, const std::string& request_id,
                                             int64_t now_ms) {
  DSMIL_RETURN_IF_ERROR(store::MakePrivateDirs(path_.substr(0, path_.rfind('/'))));
  DSMIL_ASSIGN_OR_RETURN(tenant::internal::FileLock lock, tenant::internal::FileLock::Take(path_, "coa store"));
  DSMIL_ASSIGN_OR_RETURN(std::vector<StoredCoa> all, ReadStored(path_));
  std::vector<StoredCoa> out;
  bool changed = false;
  for (const Coa& c : coas) {
    auto it = std::find_if(all.begin(), all.end(), [&](const StoredCoa& s) { return s.id == c.id; });
    if (it != all.end()) {
      if (it->state == "pending") {
        it->coa = CoaToJson(c);  // same id, same content; rank may differ
        changed = true;
      }
      out.push_back(*it);
      continue;
    }
    StoredCoa s;
    s.id = c.id;
    s.tenant = tenant_;
    s.created_ms = now_ms;
    s.request_id = request_id;
    s.coa = CoaToJson(c);
    all.push_back(s);
    out.push_back(std::move(s));
    changed = true;
  }
  if (all.size() > kMaxStoredCoas) all.erase(all.begin(), all.begin() + int64_t(all.size() - kMaxStoredCoas));
  if (changed) DSMIL_RETURN_IF_ERROR(WriteStored(path_, all));
  return out;
}

Result<std::vector<StoredCoa>> CoaStore::List(const std::string& state) const {
  DSMIL_ASSIGN_OR_RETURN(std::vector<StoredCoa> all, ReadStored(path_));
  if (state.empty()) return all;
  std::vector<StoredCoa> out;
  for (auto& s : all) {
    if (s.state == state) out.push_back(std::move(s));
  }
  return out;
}

Result<size_t> CoaStore::Pending() const {
  DSMIL_ASSIGN_OR_RETURN(std::vector<StoredCoa> p, List("pending"));
  return p.size();
}

Result<StoredCoa> CoaStore::Decide(const std::string& id, bool accept, const std::string& who, int64_t now_ms) {
  DSMIL_ASSIGN_OR_RETURN(tenant::internal::FileLock lock, tenant::internal::FileLock::Take(path_, "coa store"));
  DSMIL_ASSIGN_OR_RETURN(std::vector<StoredCoa> all, ReadStored(path_));
  auto it = std::find_if(all.begin(), all.end(), [&](const StoredCoa& s) { return s.id == id; });
  if (it == all.end()) return Status::NotFound("no COA " + id + " for tenant " + tenant_);
  if (it->state != "pending") {
    return Status::FailedPrecondition("COA " + id + " was " + it->state + " by " + it->decided_by + " already");
  }
  it->state = accept ? "accepted" : "rejected";
  it->decided_by = who;
  it->decided_ms = now_ms;
  DSMIL_RETURN_IF_ERROR(WriteStored(path_, all));
  return *it;
}

// ---- the device ----

CoaDevice::CoaDevice(DeviceContext ctx, CoaOptions options) : L9Device(std::move(ctx), std::move(options)) {
  if (const auto* p = ctx_.Section<PoliciesConfig>("policies")) {
    policies_ = std::make_unique<tenant::PolicyStore>(p->dir, std::chrono::seconds(1), ctx_.log);
  } else {
    policy_error_ = "the node config has no policies section (policies.dir)";
  }
  if (ctx_.metrics) {
    generated_ = &ctx_.metrics->AddCounter("dsmil_coa_generated_total", "Courses of action generated by device 59",
                                           {"tenant_id"});
    refused_ = &ctx_.metrics->AddCounter("dsmil_coa_refusals_total", "COA requests refused by device 59, by reason",
                                         {"tenant_id", "reason"});
    scenarios_ = &ctx_.metrics->AddCounter("dsmil_coa_scenarios_total",
                                           "Scenarios device 59 answered, by source (soc, analyst) and threat level",
                                           {"tenant_id", "source", "threat_level"});
    latency_ =
        &ctx_.metrics
             ->AddHistogram("dsmil_coa_latency_seconds", "Time device 59 takes to answer an accepted COA request", {},
                            {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10})
             .Labels(std::vector<std::string>{});
    for (const TenantInfo& t : ctx_.tenants) WatchPending(t.id);
  }
}

CoaDevice::~CoaDevice() = default;

DeviceHealth CoaDevice::Health() const {
  return StoresHealth("device 59 reads the tenant's archive and keeps its COAs there", "COA request");
}

std::string CoaDevice::StatusDetail() const {
  if (ctx_.stores.path.empty()) return "";
  size_t pending = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(ctx_.stores.path + "/l9/coa", ec)) {
    const std::filesystem::path& p = entry.path();
    if (p.extension() != ".json" || !entry.is_regular_file(ec)) continue;
    auto s = CoaStore::Open(ctx_.stores, p.stem().string());
    if (!s.ok()) continue;
    auto n = s->Pending();
    if (n.ok()) pending += *n;
  }
  return "COAs: " + std::to_string(pending) + " pending";
}

void CoaDevice::WatchPending(const std::string& tenant) {
  if (!ctx_.metrics || ctx_.stores.path.empty() || !store::TenantScope::For(tenant).ok()) return;
  {
    MutexLock lock(mu_);
    if (!watched_.insert(tenant).second) return;
  }
  store::StoresConfig stores = ctx_.stores;
  ctx_.metrics->AddGauge("dsmil_coa_pending", "COAs of device 59 awaiting an operator decision", {"tenant_id"})
      .SetCallback({tenant}, [stores, tenant] {
        auto s = CoaStore::Open(stores, tenant);
        if (!s.ok()) return 0.0;
        auto n = s->Pending();
        return n.ok() ? double(*n) : 0.0;
      });
}

dbe::Message CoaDevice::Refuse(const dbe::Message& request, const std::string& tenant, StatusCode code,
                               const char* reason, const std::string& detail) {
  if (refused_) refused_->Labels({TenantLabel(ctx_, tenant), reason}).Inc();
  if (ctx_.audit) {
    std::string actor = "unknown";
    if (auto user = request.GetString(dbe::TlvType::kUserId); user.ok()) actor = "user:" + std::string(*user);
    json d = {{"device", kCoaDeviceId}, {"msg_type", std::string(dbe::MsgTypeName(request.type()))}, {"why", detail}};
    if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) d["request_id"] = std::string(*rid);
    Status s = ctx_.audit->Record(
        store::Refusal{tenant, kEntry, code == StatusCode::kPermissionDenied ? "POLICY_DENIED" : "BAD_REQUEST", reason,
                       actor, d.dump(-1, ' ', false, json::error_handler_t::replace)});
    if (!s.ok() && ctx_.log) ctx_.log->Warn("coa refusal not audited", {{"tenant", tenant}, {"error", s.message()}});
  }
  if (ctx_.log) ctx_.log->Warn("coa request refused", {{"tenant", tenant}, {"reason", reason}, {"why", detail}});
  return dbe::MakeErrorReply(request, code, reason, detail.substr(0, 1024));
}

Result<std::vector<soc::SocEvent>> CoaDevice::ArchiveScenario(const std::string& tenant, int64_t window_minutes,
                                                              size_t* skipped) {
  DSMIL_ASSIGN_OR_RETURN(store::TenantScope scope, store::TenantScope::For(tenant));
  DSMIL_ASSIGN_OR_RETURN(std::unique_ptr<store::Archive> archive, store::OpenArchive(ctx_.stores, scope));
  DSMIL_ASSIGN_OR_RETURN(std::vector<store::ArchivedEvent> rows,
                         archive->Recent(kMaxScenarioEvents, NowMs() - window_minutes * 60000));
  std::vector<soc::SocEvent> events;
  for (const store::ArchivedEvent& r : rows) {
    auto e = soc::ParseEvent(r.body, tenant);
    if (e.ok()) {
      events.push_back(std::move(*e));
    } else {
      ++*skipped;
    }
  }
  return events;
}

Result<dbe::Message> CoaDevice::Handle(const dbe::Message& request) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string tenant(request.tenant_id());
  if (stopped()) return Status::Unavailable("device 59 is stopped");
  if (auto refused = AdmitL9Request(ctx_, kCoaDeviceId, dbe::MsgType::kL9CoaReq, request, refused_)) {
    return std::move(*refused);
  }
  if (!ctx_.tenant.empty() && tenant != ctx_.tenant) {
    return Refuse(request, tenant, StatusCode::kPermissionDenied, "TENANT_MISMATCH",
                  "this instance of device 59 serves tenant " + ctx_.tenant);
  }

  // The policy bundle (allowed actions) and the tenant's ROE level.
  std::shared_ptr<const tenant::PolicyBundle> bundle;
  std::string bundle_error = policy_error_;
  if (policies_) {
    auto b = policies_->Get(tenant);
    if (b.ok()) {
      bundle = *b;
    } else {
      bundle_error = b.status().message();
    }
  }
  std::string tenant_roe;
  for (const TenantInfo& t : ctx_.tenants) {
    if (t.id == tenant) tenant_roe = t.roe_level;
  }
  if (tenant_roe.empty() && bundle) tenant_roe = bundle->roe_level;
  auto roe = request.GetString(dbe::TlvType::kRoeLevel);
  if (tenant_roe.empty()) {
    return Refuse(request, tenant, StatusCode::kPermissionDenied, "ROE_MISMATCH",
                  "tenant " + tenant + " has no ROE level configured (tenants: or its policy bundle)");
  }
  if (!roe.ok() || std::string(*roe) != tenant_roe) {
    return Refuse(request, tenant, StatusCode::kPermissionDenied, "ROE_MISMATCH",
                  "ROE_LEVEL " + (roe.ok() ? std::string(*roe) : std::string("absent")) + " does not match tenant " +
                      tenant + "'s ROE level " + tenant_roe);
  }
  if (!bundle) {
    return Refuse(request, tenant, StatusCode::kFailedPrecondition, "NO_POLICY_BUNDLE",
                  "no policy bundle for tenant " + tenant + ": " + bundle_error +
                      " (COAs use only the actions the bundle allows)");
  }
  if (ctx_.stores.path.empty()) {
    return Refuse(request, tenant, StatusCode::kFailedPrecondition, "NOT_CONFIGURED",
                  "stores.path is not set: device 59 keeps its COAs there");
  }

  // The scenario.
  auto payload = request.GetBytes(dbe::TlvType::kPayload);
  if (!payload.ok()) {
    return Refuse(
        request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO",
        "no PAYLOAD: want {\"source\":\"soc\",\"window_minutes\":N} or {\"source\":\"analyst\",\"events\":[...]}");
  }
  json doc = json::parse(AsString(*payload), nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("source") || !doc["source"].is_string()) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO",
                  "PAYLOAD: want a JSON object with \"source\": \"soc\" or \"analyst\"");
  }
  const std::string source = doc["source"].get<std::string>();
  std::vector<soc::SocEvent> events;
  size_t skipped = 0;
  if (source == "soc") {
    const json& w = doc.contains("window_minutes") ? doc["window_minutes"] : json();
    if (!w.is_number_integer() || w.get<int64_t>() < 1 || w.get<int64_t>() > kMaxWindowMinutes) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO",
                    "window_minutes: want an integer in 1.." + std::to_string(kMaxWindowMinutes));
    }
    auto ev = ArchiveScenario(tenant, w.get<int64_t>(), &skipped);
    if (!ev.ok()) {
      return Refuse(request, tenant, StatusCode::kUnavailable, "ARCHIVE_UNAVAILABLE",
                    "the tenant's archive could not be read: " + ev.status().message());
    }
    events = std::move(*ev);
  } else if (source == "analyst") {
    if (!doc.contains("events") || !doc["events"].is_array()) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO", "events: want an array of events");
    }
    const json& arr = doc["events"];
    if (arr.size() > kMaxScenarioEvents) {
      return Refuse(request, tenant, StatusCode::kInvalidArgument, "SCENARIO_TOO_LARGE",
                    "the scenario holds " + std::to_string(arr.size()) + " events; the limit is " +
                        std::to_string(kMaxScenarioEvents) + " events per request");
    }
    for (size_t i = 0; i < arr.size(); ++i) {
      auto e = soc::ParseEvent(arr[i].dump(-1, ' ', false, json::error_handler_t::replace), tenant);
      if (!e.ok()) {
        return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO",
                      "events[" + std::to_string(i) + "]: " + e.status().message());
      }
      events.push_back(std::move(*e));
    }
  } else {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO",
                  "source: want \"soc\" or \"analyst\", got \"" + source.substr(0, 64) + "\"");
  }
  if (events.empty()) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "EMPTY_SCENARIO",
                  source == "soc" ? "no SOC event of tenant " + tenant + " in the last " +
                                        std::to_string(doc["window_minutes"].get<int64_t>()) + " minutes"
                                  : "events is empty");
  }

  auto set = GenerateCoas(tenant, std::move(events), bundle->allowed_actions, tenant_roe);
  if (!set.ok()) return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_SCENARIO", set.status().message());
  std::string request_id = "";
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) request_id = std::string(*rid);
  auto store = CoaStore::Open(ctx_.stores, tenant);
  if (!store.ok()) {
    return Refuse(request, tenant, StatusCode::kInvalidArgument, "BAD_REQUEST", store.status().message());
  }
  auto stored = store->Add(set->coas, request_id, NowMs());
  if (!stored.ok()) {
    return Refuse(request, tenant, StatusCode::kUnavailable, "COA_STORE_UNAVAILABLE",
                  "the COAs could not be stored: " + stored.status().message());
  }
  WatchPending(tenant);

  const ScenarioSummary& s = set->scenario;
  json coas = json::array();
  for (size_t i = 0; i < set->coas.size(); ++i) {
    json c = CoaToJson(set->coas[i]);
    c["state"] = (*stored)[i].state;
    if (!(*stored)[i].decided_by.empty()) c["decided_by"] = (*stored)[i].decided_by;
    coas.push_back(std::move(c));
  }
  json body = {
      {"tenant", tenant},
      {"request_id", request_id},
      {"roe_level", tenant_roe},
      {"policy",
       {{"source", bundle->source}, {"version", bundle->version}, {"allowed_actions", bundle->allowed_actions}}},
      {"scenario",
       {{"source", source},
        {"events", s.events},
        {"skipped_events", skipped},
        {"digest", s.digest},
        {"threat_score", s.threat_score},
        {"categories", s.categories},
        {"severities", s.severities},
        {"flags", s.flags},
        {"hosts", s.hosts}}},
      {"coas", coas},
      {"note",
       "Courses of action are recommendations. Accepting one (dsmilctl coa accept) records the "
       "decision; nothing is executed."}};
  if (generated_) generated_->Labels({TenantLabel(ctx_, tenant)}).Inc(double(set->coas.size()));
  if (scenarios_) scenarios_->Labels({TenantLabel(ctx_, tenant), source, ThreatLevelName(s.threat_score)}).Inc();
  if (latency_) latency_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (ctx_.log) ctx_.log->Info("coas generated", {{"tenant", tenant}, {"events", std::to_string(s.events)}});
  dbe::Message reply(dbe::MsgType::kL9CoaResp);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, tenant);
  if (!request_id.empty()) reply.SetString(dbe::TlvType::kRequestId, request_id);
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, body.dump(-1, ' ', false, json::error_handler_t::replace));
  return reply;
}

Result<std::unique_ptr<Device>> CreateCoaDevice(const DeviceContext& ctx) {
  return std::unique_ptr<Device>(new CoaDevice(ctx));
}

}  // namespace dsmil::devices::l9
