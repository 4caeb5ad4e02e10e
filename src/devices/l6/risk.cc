#include "devices/l6/risk.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace dsmil::devices::l6 {
namespace {

using json = nlohmann::json;

constexpr uint32_t kStrongFlags = soc::kFlagCampaignSuspected | soc::kFlagMultiVector | soc::kFlagIocMatch |
                                  soc::kFlagAttestationFailed | soc::kFlagPossibleLogTamper;

// Uniform in [0, 1) from the top 53 bits: the same sequence on every platform
// for a seed (std::uniform_real_distribution is not specified bit for bit).
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double U01() { return double(g_() >> 11) * 0x1.0p-53; }
  double Normal() {
    double u1 = U01(), u2 = U01();
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::mt19937_64 g_;
};

Result<double> Prob(const json& o, const char* name, const std::string& where, double def) {
  if (!o.contains(name)) return def;
  const json& v = o[name];
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1) {
    return Status::InvalidArgument(where + "." + name + ": want a probability in 0..1");
  }
  return v.get<double>();
}

Result<double> NonNegative(const json& o, const char* name, const std::string& where, double def) {
  if (!o.contains(name)) return def;
  const json& v = o[name];
  if (!v.is_number() || v.get<double>() < 0 || !std::isfinite(v.get<double>())) {
    return Status::InvalidArgument(where + "." + name + ": want a number >= 0");
  }
  return v.get<double>();
}

size_t HostIndex(RiskGraph& g, std::map<std::string, size_t>& index, const std::string& host) {
  auto [it, fresh] = index.try_emplace(host, g.hosts.size());
  if (fresh) {
    RiskHost h;
    h.host = host;
    h.impact = g.default_impact;
    h.p_entry = -1;  // not given: the archive's likelihood, else 0
    h.basis = "scenario";
    g.hosts.push_back(std::move(h));
  }
  return it->second;
}

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * double(sorted.size() - 1);
  auto lo = size_t(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

// The 95 % distribution-free interval of the q-quantile: order statistics
// at n q -/+ 1.96 sqrt(n q (1 - q)).
std::pair<double, double> QuantileInterval(const std::vector<double>& sorted, double q) {
  double n = double(sorted.size());
  double half = 1.96 * std::sqrt(n * q * (1 - q));
  auto at = [&](double k) { return sorted[size_t(std::clamp(k, 0.0, n - 1))]; };
  return {at(std::floor(n * q - half)), at(std::ceil(n * q + half))};
}

double Round4(double v) { return std::round(v * 1e4) / 1e4; }

}  // namespace

double EventLikelihood(const soc::SocEvent& e) {
  double q = 0.01;
  if (e.l4.present) {
    switch (e.l4.severity) {
      case soc::Severity::kLow:
        q = 0.01;
        break;
      case soc::Severity::kMedium:
        q = 0.03;
        break;
      case soc::Severity::kHigh:
        q = 0.10;
        break;
      case soc::Severity::kCritical:
        q = 0.25;
        break;
    }
  }
  for (int b = 0; b < soc::kFlagCount; ++b) {
    uint32_t bit = 1u << b;
    if (e.l8.flags & bit) q += (kStrongFlags & bit) ? 0.10 : 0.02;
  }
  return std::min(q, 0.9);
}

Result<RiskGraph> ParseScenario(const json& s) {
  if (!s.is_object()) return Status::InvalidArgument("scenario: want a JSON object");
  RiskGraph g;
  if (s.contains("samples")) {
    const json& v = s["samples"];
    if (!v.is_number_integer() || v.get<int64_t>() < 100 || v.get<int64_t>() > int64_t(kMaxSamples)) {
      return Status::InvalidArgument("samples: want an integer in 100.." + std::to_string(kMaxSamples));
    }
    g.samples = v.get<size_t>();
  }
  if (s.contains("seed")) {
    const json& v = s["seed"];
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
      return Status::InvalidArgument("seed: want an integer >= 0");
    }
    g.seed = v.get<uint64_t>();
  }
  if (s.contains("window_hours")) {
    const json& v = s["window_hours"];
    if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kMaxWindowHours) {
      return Status::InvalidArgument("window_hours: want an integer in 1.." + std::to_string(kMaxWindowHours));
    }
    g.window_hours = v.get<int64_t>();
  }
  if (s.contains("use_archive")) {
    if (!s["use_archive"].is_boolean()) return Status::InvalidArgument("use_archive: want true or false");
    g.use_archive = s["use_archive"].get<bool>();
  }
  DSMIL_ASSIGN_OR_RETURN(g.default_impact, NonNegative(s, "default_impact", "scenario", 1.0));
  std::map<std::string, size_t> index;
  if (s.contains("assets")) {
    if (!s["assets"].is_array()) return Status::InvalidArgument("assets: want an array");
    for (size_t i = 0; i < s["assets"].size(); ++i) {
      const json& a = s["assets"][i];
      std::string where = "assets[" + std::to_string(i) + "]";
      if (!a.is_object() || !a.contains("host") || !a["host"].is_string() || a["host"].get<std::string>().empty()) {
        return Status::InvalidArgument(where + ".host: want a host name");
      }
      std::string host = a["host"].get<std::string>();
      if (index.count(host) != 0) {
        std::string what = where;
        what += ": host ";
        what += host;
        what += " is listed twice";
        return Status::InvalidArgument(what);
      }
      size_t k = HostIndex(g, index, host);
      DSMIL_ASSIGN_OR_RETURN(double impact, NonNegative(a, "impact", where, 1.0));
      DSMIL_ASSIGN_OR_RETURN(double sd, NonNegative(a, "impact_sd", where, 0.0));
      DSMIL_ASSIGN_OR_RETURN(double p, Prob(a, "p_entry", where, -1.0));
      g.hosts[k].impact = impact;
      g.hosts[k].impact_sd = impact > 0 ? sd : 0;
      g.hosts[k].p_entry = p;  // -1: not given (the archive, else 0)
    }
  }
  if (s.contains("edges")) {
    if (!s["edges"].is_array()) return Status::InvalidArgument("edges: want an array");
    for (size_t i = 0; i < s["edges"].size(); ++i) {
      const json& e = s["edges"][i];
      std::string where = "edges[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("from") || !e["from"].is_string() || !e.contains("to") ||
          !e["to"].is_string()) {
        return Status::InvalidArgument(where + ": want {\"from\": HOST, \"to\": HOST, \"p\": 0..1}");
      }
      DSMIL_ASSIGN_OR_RETURN(double p, Prob(e, "p", where, -1.0));
      if (p < 0) return Status::InvalidArgument(where + ".p: want a probability in 0..1");
      size_t from = HostIndex(g, index, e["from"].get<std::string>());
      size_t to = HostIndex(g, index, e["to"].get<std::string>());
      if (from == to) return Status::InvalidArgument(where + ": an edge from a host to itself");
      g.edges.push_back({from, to, p});
    }
  }
  if (g.hosts.size() > kMaxHosts || g.edges.size() > kMaxEdges) {
    return Status::InvalidArgument("scenario: at most " + std::to_string(kMaxHosts) + " hosts and " +
                                   std::to_string(kMaxEdges) + " edges");
  }
  return g;
}

std::vector<HostEvidence> ComputeEvidence(const std::vector<soc::SocEvent>& events) {
  std::map<std::string, size_t> index;
  std::vector<HostEvidence> out;
  std::vector<double> stay;  // prod (1 - q_e)
  std::vector<std::set<std::string>> cats, flags;
  for (const soc::SocEvent& e : events) {
    if (e.features.src_host.empty()) continue;
    auto [it, fresh] = index.try_emplace(e.features.src_host, out.size());
    if (fresh) {
      if (out.size() >= kMaxHosts) {  // the scenario's limit holds for observed hosts too
        index.erase(it);
        continue;
      }
      out.push_back({e.features.src_host, 0, 0, {}, {}});
      stay.push_back(1.0);
      cats.emplace_back();
      flags.emplace_back();
    }
    size_t k = it->second;
    ++out[k].events;
    stay[k] *= 1.0 - EventLikelihood(e);
    if (e.l4.present) cats[k].insert(std::string(soc::CategoryName(e.l4.category)));
    for (int b = 0; b < soc::kFlagCount; ++b) {
      if (e.l8.flags & (1u << b)) flags[k].insert(std::string(soc::FlagName(1u << b)));
    }
  }
  for (size_t k = 0; k < out.size(); ++k) {
    out[k].likelihood = std::min(1.0 - stay[k], 0.99);
    out[k].categories.assign(cats[k].begin(), cats[k].end());
    out[k].flags.assign(flags[k].begin(), flags[k].end());
  }
  return out;
}

void ApplyEvidence(RiskGraph& g, const std::vector<HostEvidence>& evidence) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < g.hosts.size(); ++i) index[g.hosts[i].host] = i;
  for (const HostEvidence& ev : evidence) {
    auto it = index.find(ev.host);
    size_t k;
    if (it == index.end()) {
      if (g.hosts.size() >= kMaxHosts) continue;
      k = g.hosts.size();
      index[ev.host] = k;
      RiskHost h;
      h.host = ev.host;
      h.impact = g.default_impact;
      h.p_entry = -1;
      h.basis = "archive";
      g.hosts.push_back(std::move(h));
    } else {
      k = it->second;
      g.hosts[k].basis = "scenario+archive";
    }
    RiskHost& h = g.hosts[k];
    h.events = ev.events;
    if (h.p_entry < 0 && ev.events > 0) h.p_entry = ev.likelihood;
    h.categories = ev.categories;
    h.flags = ev.flags;
  }
}

void AddArchiveEvidence(RiskGraph& g, const std::vector<soc::SocEvent>& events) {
  ApplyEvidence(g, ComputeEvidence(events));
}

json EvidenceToJson(const std::vector<HostEvidence>& evidence) {
  json hosts = json::array();
  for (const HostEvidence& e : evidence) {
    hosts.push_back({{"host", e.host},
                     {"events", e.events},
                     {"likelihood", e.likelihood},
                     {"categories", e.categories},
                     {"flags", e.flags}});
  }
  return hosts;
}

Result<std::vector<HostEvidence>> EvidenceFromJson(const json& j) {
  if (!j.is_array() || j.size() > kMaxHosts) {
    return Status::InvalidArgument("evidence: want an array of at most " + std::to_string(kMaxHosts) + " hosts");
  }
  std::vector<HostEvidence> out;
  out.reserve(j.size());
  auto strings = [](const json& a, std::vector<std::string>* v) {
    if (!a.is_array()) return false;
    for (const json& x : a) {
      if (!x.is_string()) return false;
      v->push_back(x.get<std::string>());
    }
    return true;
  };
  for (size_t i = 0; i < j.size(); ++i) {
    const json& h = j[i];
    HostEvidence e;
    if (!h.is_object() || !h.contains("host") || !h["host"].is_string() || !h.contains("events") ||
        !h["events"].is_number_unsigned() || !h.contains("likelihood") || !h["likelihood"].is_number() ||
        h["likelihood"].get<double>() < 0 || h["likelihood"].get<double>() > 1 || !h.contains("categories") ||
        !strings(h["categories"], &e.categories) || !h.contains("flags") || !strings(h["flags"], &e.flags)) {
      return Status::InvalidArgument("evidence[" + std::to_string(i) +
                                     "]: want {host, events, likelihood 0..1, categories, flags}");
    }
    e.host = h["host"].get<std::string>();
    e.events = h["events"].get<size_t>();
    e.likelihood = h["likelihood"].get<double>();
    out.push_back(std::move(e));
  }
  return out;
}

size_t ShardSamples(size_t samples, size_t shard) {
  return samples / kRiskShards + (shard < samples % kRiskShards ? 1 : 0);
}

uint64_t ShardSeed(uint64_t seed, size_t shard) {
  // SplitMix64 of the seed and the shard: unrelated streams per shard.
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (uint64_t(shard) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Status CheckRiskLimits(const RiskGraph& g, size_t samples) {
  if (g.hosts.size() > kMaxHosts || g.edges.size() > kMaxEdges) {
    return Status::InvalidArgument("at most " + std::to_string(kMaxHosts) + " hosts and " + std::to_string(kMaxEdges) +
                                   " edges");
  }
  if (double(samples) * double(g.hosts.size() + g.edges.size()) > kMaxWork) {
    return Status::InvalidArgument("samples x (hosts + edges) = " +
                                   std::to_string(uint64_t(double(samples) * double(g.hosts.size() + g.edges.size()))) +
                                   " is over " + std::to_string(uint64_t(kMaxWork)) +
                                   " (the 300 ms budget): give fewer samples");
  }
  return Status::Ok();
}

Result<RiskPartial> SimulateShard(const RiskGraph& g, size_t samples, uint64_t seed) {
  DSMIL_RETURN_IF_ERROR(CheckRiskLimits(g, samples));
  const size_t n = g.hosts.size();
  // Out-edges per host, in scenario order.
  std::vector<size_t> first(n + 1, 0);
  for (const RiskEdge& e : g.edges) {
    if (e.from >= n || e.to >= n) return Status::InvalidArgument("an edge names a host the graph does not have");
    ++first[e.from + 1];
  }
  std::partial_sum(first.begin(), first.end(), first.begin());
  std::vector<const RiskEdge*> out(g.edges.size());
  std::vector<size_t> fill(first.begin(), first.end() - 1);
  for (const RiskEdge& e : g.edges) out[fill[e.from]++] = &e;
  // Lognormal parameters per host.
  std::vector<double> mu(n, 0), sigma(n, 0);
  for (size_t k = 0; k < n; ++k) {
    const RiskHost& h = g.hosts[k];
    if (h.impact > 0 && h.impact_sd > 0) {
      double s2 = std::log(1 + (h.impact_sd * h.impact_sd) / (h.impact * h.impact));
      sigma[k] = std::sqrt(s2);
      mu[k] = std::log(h.impact) - s2 / 2;
    }
  }
  RiskPartial r;
  r.losses.assign(samples, 0);
  r.compromised.assign(n, 0);
  r.loss_sum.assign(n, 0);
  std::vector<uint8_t> down(n);
  std::vector<size_t> queue;
  queue.reserve(n);
  Rng rng(seed);
  for (size_t s = 0; s < samples; ++s) {
    std::fill(down.begin(), down.end(), uint8_t(0));
    queue.clear();
    for (size_t k = 0; k < n; ++k) {
      if (g.hosts[k].p_entry > 0 && rng.U01() < g.hosts[k].p_entry) {
        down[k] = 1;
        queue.push_back(k);
      }
    }
    for (size_t q = 0; q < queue.size(); ++q) {
      size_t k = queue[q];
      for (size_t j = first[k]; j < first[k + 1]; ++j) {
        const RiskEdge& e = *out[j];
        if (down[e.to] == 0 && rng.U01() < e.p) {
          down[e.to] = 1;
          queue.push_back(e.to);
        }
      }
    }
    double total = 0;
    for (size_t k : queue) {
      double impact = sigma[k] > 0 ? std::exp(mu[k] + sigma[k] * rng.Normal()) : g.hosts[k].impact;
      total += impact;
      r.compromised[k] += 1;
      r.loss_sum[k] += impact;
    }
    if (!queue.empty()) ++r.any;
    r.losses[s] = total;
  }
  return r;
}

RiskResult MergeShards(const std::vector<RiskPartial>& shards, size_t n) {
  RiskResult r;
  r.p_compromised.assign(n, 0);
  r.expected_loss.assign(n, 0);
  std::vector<double> loss;
  size_t any = 0;
  for (const RiskPartial& p : shards) {
    loss.insert(loss.end(), p.losses.begin(), p.losses.end());
    for (size_t k = 0; k < n && k < p.compromised.size() && k < p.loss_sum.size(); ++k) {
      r.p_compromised[k] += p.compromised[k];
      r.expected_loss[k] += p.loss_sum[k];
    }
    any += p.any;
  }
  r.samples = loss.size();
  if (loss.empty()) return r;
  const double ns = double(loss.size());
  for (size_t k = 0; k < n; ++k) {
    r.p_compromised[k] /= ns;
    r.expected_loss[k] /= ns;
  }
  r.p_any_compromise = double(any) / ns;
  double sum = std::accumulate(loss.begin(), loss.end(), 0.0);
  r.mean = sum / ns;
  double ss = 0;
  for (double v : loss) ss += (v - r.mean) * (v - r.mean);
  r.sd = loss.size() > 1 ? std::sqrt(ss / (ns - 1)) : 0;
  r.stderr_mean = r.sd / std::sqrt(ns);
  std::sort(loss.begin(), loss.end());
  r.p5 = Quantile(loss, 0.05);
  r.p50 = Quantile(loss, 0.50);
  r.p95 = Quantile(loss, 0.95);
  std::tie(r.p5_lo, r.p5_hi) = QuantileInterval(loss, 0.05);
  std::tie(r.p50_lo, r.p50_hi) = QuantileInterval(loss, 0.50);
  std::tie(r.p95_lo, r.p95_hi) = QuantileInterval(loss, 0.95);
  return r;
}

Result<RiskResult> SimulateRisk(const RiskGraph& g) {
  DSMIL_RETURN_IF_ERROR(CheckRiskLimits(g, g.samples));
  std::vector<RiskPartial> shards;
  for (size_t i = 0; i < kRiskShards; ++i) {
    DSMIL_ASSIGN_OR_RETURN(RiskPartial p, SimulateShard(g, ShardSamples(g.samples, i), ShardSeed(g.seed, i)));
    shards.push_back(std::move(p));
  }
  return MergeShards(shards, g.hosts.size());
}

json GraphToScenario(const RiskGraph& g) {
  json assets = json::array();
  for (const RiskHost& h : g.hosts) {
    assets.push_back(
        {{"host", h.host}, {"impact", h.impact}, {"impact_sd", h.impact_sd}, {"p_entry", std::max(h.p_entry, 0.0)}});
  }
  json edges = json::array();
  for (const RiskEdge& e : g.edges) {
    edges.push_back({{"from", g.hosts[e.from].host}, {"to", g.hosts[e.to].host}, {"p", e.p}});
  }
  return {{"assets", std::move(assets)},
          {"edges", std::move(edges)},
          {"default_impact", g.default_impact},
          {"samples", g.samples},
          {"seed", g.seed},
          {"use_archive", false}};
}

json PartialToJson(const RiskPartial& p) {
  return {{"losses", p.losses}, {"compromised", p.compromised}, {"loss_sum", p.loss_sum}, {"any", p.any}};
}

Result<RiskPartial> PartialFromJson(const json& j, size_t hosts) {
  RiskPartial p;
  auto numbers = [](const json& a, size_t max, std::vector<double>* v) {
    if (!a.is_array() || a.size() > max) return false;
    v->reserve(a.size());
    for (const json& x : a) {
      if (!x.is_number() || !std::isfinite(x.get<double>()) || x.get<double>() < 0) return false;
      v->push_back(x.get<double>());
    }
    return true;
  };
  if (!j.is_object() || !j.contains("losses") || !numbers(j["losses"], kMaxSamples, &p.losses) ||
      !j.contains("compromised") || !numbers(j["compromised"], hosts, &p.compromised) ||
      p.compromised.size() != hosts || !j.contains("loss_sum") || !numbers(j["loss_sum"], hosts, &p.loss_sum) ||
      p.loss_sum.size() != hosts || !j.contains("any") || !j["any"].is_number_unsigned() ||
      j["any"].get<size_t>() > p.losses.size()) {
    return Status::InvalidArgument("shard result: want {losses, compromised and loss_sum per host (" +
                                   std::to_string(hosts) + "), any}");
  }
  p.any = j["any"].get<size_t>();
  return p;
}

json RiskReport(const RiskGraph& g, const RiskResult& r) {
  std::vector<size_t> order(g.hosts.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return r.expected_loss[a] > r.expected_loss[b]; });
  json hosts = json::array();
  for (size_t i = 0; i < order.size() && i < 50; ++i) {
    const RiskHost& h = g.hosts[order[i]];
    hosts.push_back({{"host", h.host},
                     {"p_entry", Round4(std::max(h.p_entry, 0.0))},
                     {"p_compromised", Round4(r.p_compromised[order[i]])},
                     {"impact", h.impact},
                     {"expected_loss", Round4(r.expected_loss[order[i]])},
                     {"basis", h.basis},
                     {"events", h.events},
                     {"categories", h.categories},
                     {"flags", h.flags}});
  }
  return {{"samples", r.samples},
          {"seed", g.seed},
          {"hosts_total", g.hosts.size()},
          {"edges_total", g.edges.size()},
          {"loss",
           {{"mean", Round4(r.mean)},
            {"stderr", Round4(r.stderr_mean)},
            {"sd", Round4(r.sd)},
            {"p5", Round4(r.p5)},
            {"p50", Round4(r.p50)},
            {"p95", Round4(r.p95)},
            {"p5_ci95", {Round4(r.p5_lo), Round4(r.p5_hi)}},
            {"p50_ci95", {Round4(r.p50_lo), Round4(r.p50_hi)}},
            {"p95_ci95", {Round4(r.p95_lo), Round4(r.p95_hi)}}}},
          {"p_any_compromise", Round4(r.p_any_compromise)},
          {"hosts", std::move(hosts)}};
}

}  // namespace dsmil::devices::l6
