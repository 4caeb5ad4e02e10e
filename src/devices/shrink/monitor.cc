#include "devices/shrink/monitor.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/metrics.h"

namespace dsmil::devices::shrink {

namespace {
constexpr std::array<std::string_view, kTextSources> kSourceNames = {"l7_chat", "analyst_note", "operator_log"};
}  // namespace

std::string_view TextSourceName(TextSource s) { return kSourceNames[size_t(s)]; }

Result<TextSource> ParseTextSource(std::string_view name) {
  for (size_t i = 0; i < kTextSources; ++i) {
    if (kSourceNames[i] == name) return TextSource(i);
  }
  return Status::InvalidArgument("source: '" + std::string(name.substr(0, 64)) +
                                 "' is not one of l7_chat, analyst_note, operator_log");
}

std::string TenantRiskToJson(const TenantRisk& r, double half_life_s) {
  auto round = [](double v) { return std::round(v * 10000.0) / 10000.0; };
  nlohmann::json j = {{"tenant_id", r.tenant_id},
                      {"risk_acute_stress", round(r.acute_stress)},
                      {"risk_hyperfocus", round(r.hyperfocus)},
                      {"risk_cognitive_load", round(r.cognitive_load)},
                      {"risk_score", round(r.risk)},
                      {"risk_level", std::string(r.level)},
                      {"texts", r.texts},
                      {"half_life_s", half_life_s}};
  nlohmann::json by = nlohmann::json::object();
  for (size_t i = 0; i < kTextSources; ++i) {
    if (r.texts_by_source[i] > 0) by[std::string(kSourceNames[i])] = r.texts_by_source[i];
  }
  j["texts_by_source"] = std::move(by);
  j["last_text_age_s"] = r.last_text_age_s ? nlohmann::json(round(*r.last_text_age_s)) : nlohmann::json(nullptr);
  return j.dump();
}

ShrinkMonitor::ShrinkMonitor(MonitorOptions options)
    : options_(std::move(options)), clock_(options_.clock ? *options_.clock : DefaultClock()) {
  if (!(options_.half_life_s > 0)) options_.half_life_s = 900;
  MutexLock lock(mu_);
  for (const auto& t : options_.tenants) state_[t];
  if (options_.metrics == nullptr) return;
  Registry& reg = *options_.metrics;
  auto& texts = reg.AddCounter("shrink_texts_total", "Operator texts SHRINK scored, per tenant and source",
                               {"tenant_id", "source"});
  refused_ =
      &reg.AddCounter("shrink_texts_refused_total", "Texts SHRINK refused", {"reason"}).Labels({"unknown_tenant"});
  auto& stress =
      reg.AddGauge("shrink_risk_acute_stress", "SHRINK acute stress of the tenant's operators (0-1)", {"tenant_id"});
  auto& focus =
      reg.AddGauge("shrink_risk_hyperfocus", "SHRINK hyperfocus of the tenant's operators (0-1)", {"tenant_id"});
  auto& load = reg.AddGauge("shrink_risk_cognitive_load", "SHRINK cognitive load of the tenant's operators (0-1)",
                            {"tenant_id"});
  auto& risk =
      reg.AddGauge("shrink_risk_score", "SHRINK combined risk score of the tenant's operators (0-1)", {"tenant_id"});
  for (auto& [tenant, st] : state_) {
    for (size_t i = 0; i < kTextSources; ++i) st.counters[i] = &texts.Labels({tenant, kSourceNames[i]});
    const std::string t = tenant;
    auto value = [this, t](double TenantRisk::*field) {
      auto r = Risk(t);
      return r.ok() ? (*r).*field : 0.0;
    };
    stress.SetCallback({tenant}, [value] { return value(&TenantRisk::acute_stress); });
    focus.SetCallback({tenant}, [value] { return value(&TenantRisk::hyperfocus); });
    load.SetCallback({tenant}, [value] { return value(&TenantRisk::cognitive_load); });
    risk.SetCallback({tenant}, [value] { return value(&TenantRisk::risk); });
  }
}

ShrinkMonitor::~ShrinkMonitor() = default;

bool ShrinkMonitor::HasTenant(std::string_view tenant) const {
  MutexLock lock(mu_);
  return state_.find(tenant) != state_.end();
}

double ShrinkMonitor::Decay(int64_t from_ns, int64_t to_ns) const {
  if (to_ns <= from_ns) return 1.0;
  return std::exp2(-(double(to_ns - from_ns) / 1e9) / options_.half_life_s);
}

Status ShrinkMonitor::Ingest(std::string_view tenant, TextSource source, std::string_view text) {
  TextFeatures f = ExtractFeatures(text);
  int64_t now = clock_.MonotonicNanos();
  MutexLock lock(mu_);
  auto it = state_.find(tenant);
  if (it == state_.end()) {
    if (refused_) refused_->Inc();
    return Status::NotFound("tenant '" + std::string(tenant.substr(0, 64)) + "' is not a tenant of this node");
  }
  TenantState& st = it->second;
  f.topic = TopicOverlap(f.topic_words, st.topic);
  TextScores s = ScoreText(f);
  double d = st.weight > 0 ? Decay(st.updated_ns, now) : 1.0;
  st.sum = {st.sum[0] * d + s.acute_stress, st.sum[1] * d + s.hyperfocus, st.sum[2] * d + s.cognitive_load};
  st.weight = st.weight * d + 1.0;
  st.updated_ns = now;
  st.last_text_ns = now;
  st.texts++;
  st.by_source[size_t(source)]++;
  if (f.words > 0) st.topic = std::move(f.topic_words);
  if (Counter* c = st.counters[size_t(source)]) c->Inc();
  return Status::Ok();
}

TenantRisk ShrinkMonitor::RiskOf(const std::string& tenant, const TenantState& st, int64_t now_ns) const {
  TenantRisk r;
  r.tenant_id = tenant;
  r.texts = st.texts;
  r.texts_by_source = st.by_source;
  if (st.texts == 0) return r;
  double d = Decay(st.updated_ns, now_ns);
  double w = std::max(st.weight * d, 1.0);
  r.acute_stress = st.sum[0] * d / w;
  r.hyperfocus = st.sum[1] * d / w;
  r.cognitive_load = st.sum[2] * d / w;
  r.risk = RiskScore({r.acute_stress, r.hyperfocus, r.cognitive_load});
  r.level = RiskLevel(r.risk);
  r.last_text_age_s = double(std::max<int64_t>(now_ns - st.last_text_ns, 0)) / 1e9;
  return r;
}

Result<TenantRisk> ShrinkMonitor::Risk(std::string_view tenant) const {
  int64_t now = clock_.MonotonicNanos();
  MutexLock lock(mu_);
  auto it = state_.find(tenant);
  if (it == state_.end()) {
    return Status::NotFound("tenant '" + std::string(tenant.substr(0, 64)) + "' is not a tenant of this node");
  }
  return RiskOf(it->first, it->second, now);
}

}  // namespace dsmil::devices::shrink
