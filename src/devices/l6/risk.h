// The L6 risk model (docs/l5-l6.md §5): an attack graph of the tenant's
// hosts — built from a scenario the caller gives and/or the hosts, L4
// categories and severities and L8 flags of the tenant's archived events —
// and a Monte Carlo over the attack paths through it: each sample draws which
// hosts are entered (the likelihood model), spreads the compromise along the
// graph's edges (independent cascade: each edge tried once, with its
// probability, when its source falls) and sums the impact of the compromised
// hosts. The loss distribution is reported with its mean, standard error,
// p5/p50/p95 and their order-statistic intervals. Deterministic for a seed.
// Pure: the device (risk_device.h) reads the archive and calls these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "devices/soc/event.h"

namespace dsmil::devices::l6 {

inline constexpr int kRiskDeviceId = 37;
// Limits of one assessment (docs/l5-l6.md §5).
inline constexpr size_t kDefaultSamples = 20000;
inline constexpr size_t kMaxSamples = 200000;
inline constexpr size_t kMaxHosts = 2000;
inline constexpr size_t kMaxEdges = 20000;
// samples x (hosts + edges): keeps one assessment inside the 300 ms SLO.
inline constexpr double kMaxWork = 5e7;
inline constexpr int64_t kDefaultWindowHours = 168;
inline constexpr int64_t kMaxWindowHours = 720;
inline constexpr size_t kMaxRiskEvents = 10000;

struct RiskHost {
  std::string host;
  double p_entry = 0;    // probability an attacker enters here directly (< 0 while unknown: 0)
  double impact = 1;     // mean loss when compromised
  double impact_sd = 0;  // 0: fixed; else lognormal with this mean and sd
  std::string basis;     // "scenario", "archive" or "scenario+archive"
  size_t events = 0;     // the host's archived events in the window
  std::vector<std::string> categories, flags;
};

struct RiskEdge {
  size_t from = 0, to = 0;
  double p = 0;  // probability the compromise of `from` spreads to `to`
};

struct RiskGraph {
  std::vector<RiskHost> hosts;
  std::vector<RiskEdge> edges;
  size_t samples = kDefaultSamples;
  uint64_t seed = 1;
  int64_t window_hours = kDefaultWindowHours;
  bool use_archive = true;
  double default_impact = 1;  // of hosts the scenario does not list as assets
};

// The likelihood model: the entry probability that a host's events give it,
// 1 - prod(1 - q_e) with q_e per event from its L4 severity (LOW 0.01,
// MEDIUM 0.03, HIGH 0.10, CRITICAL 0.25, unclassified 0.01) plus 0.10 per
// strong L8 flag and 0.02 per other flag, q_e <= 0.9; at most 0.99.
double EventLikelihood(const soc::SocEvent& e);

// Reads the scenario's options (samples, seed, window_hours, use_archive,
// default_impact) and its hosts and edges (a host named only by an edge gets
// default_impact); InvalidArgument naming the field when one is wrong.
// Scenario:
//   {"assets": [{"host": H, "impact": 100, "impact_sd": 20, "p_entry": 0.05}],
//    "edges": [{"from": H1, "to": H2, "p": 0.4}], "default_impact": 1,
//    "samples": 20000, "seed": 1, "window_hours": 168, "use_archive": true}
Result<RiskGraph> ParseScenario(const nlohmann::json& scenario);

// Adds the archive's evidence: every observed src_host becomes a host (impact
// default_impact unless the scenario lists it); a host's entry probability is
// the likelihood model's unless the scenario gave p_entry.
void AddArchiveEvidence(RiskGraph& graph, const std::vector<soc::SocEvent>& events);

struct RiskResult {
  size_t samples = 0;
  double mean = 0, stderr_mean = 0, sd = 0;
  double p5 = 0, p50 = 0, p95 = 0;
  // 95 % order-statistic intervals of the quantiles.
  double p5_lo = 0, p5_hi = 0, p50_lo = 0, p50_hi = 0, p95_lo = 0, p95_hi = 0;
  double p_any_compromise = 0;
  std::vector<double> p_compromised;  // per host
  std::vector<double> expected_loss;  // per host: mean loss from it
};

// The Monte Carlo (InvalidArgument when the graph is over the limits).
Result<RiskResult> SimulateRisk(const RiskGraph& graph);

// The reply body: the distribution and the hosts ranked by expected loss.
nlohmann::json RiskReport(const RiskGraph& graph, const RiskResult& r);

}  // namespace dsmil::devices::l6
