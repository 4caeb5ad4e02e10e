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

// What the archive says of one observed host (device 36's answer).
struct HostEvidence {
  std::string host;
  size_t events = 0;
  double likelihood = 0;  // the likelihood model over its events, <= 0.99
  std::vector<std::string> categories, flags;
};

// The hosts of `events` (their src_host) in order of first appearance, at
// most kMaxHosts of them, with the likelihood model's entry probability.
std::vector<HostEvidence> ComputeEvidence(const std::vector<soc::SocEvent>& events);
// Adds evidence to a graph: every observed host becomes a host (impact
// default_impact unless the scenario lists it) while the graph is under
// kMaxHosts; a host's entry probability is the evidence's likelihood unless
// the scenario gave p_entry.
void ApplyEvidence(RiskGraph& graph, const std::vector<HostEvidence>& evidence);
// ApplyEvidence(graph, ComputeEvidence(events)).
void AddArchiveEvidence(RiskGraph& graph, const std::vector<soc::SocEvent>& events);
nlohmann::json EvidenceToJson(const std::vector<HostEvidence>& evidence);
// InvalidArgument naming the field when `j` is not EvidenceToJson's shape.
Result<std::vector<HostEvidence>> EvidenceFromJson(const nlohmann::json& j);

// The Monte Carlo is cut into kRiskShards shards, one per sampler device
// (38..42): shard i runs ShardSamples(n, i) samples from ShardSeed(seed, i).
// The merged result depends only on the graph, samples and seed, wherever the
// shards ran.
inline constexpr int kEvidenceDeviceId = 36;
inline constexpr int kFirstSamplerDeviceId = 38;
inline constexpr size_t kRiskShards = 5;
size_t ShardSamples(size_t samples, size_t shard);
uint64_t ShardSeed(uint64_t seed, size_t shard);

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

// One shard's samples: the loss of each sample, and per host how many
// samples compromised it and the loss it caused in them.
struct RiskPartial {
  std::vector<double> losses;
  std::vector<double> compromised;  // per host: samples in which it fell
  std::vector<double> loss_sum;     // per host: summed loss
  size_t any = 0;                   // samples with at least one host down
};
// InvalidArgument when the graph, or `samples` samples of it, is over the
// limits (kMaxHosts, kMaxEdges, kMaxWork).
Status CheckRiskLimits(const RiskGraph& graph, size_t samples);
// InvalidArgument when the graph is over the limits.
Result<RiskPartial> SimulateShard(const RiskGraph& graph, size_t samples, uint64_t seed);
// The distribution over the shards' samples (taken in shard order).
RiskResult MergeShards(const std::vector<RiskPartial>& shards, size_t hosts);
// The graph as a scenario that ParseScenario reads back to the same graph
// (p_entry resolved, use_archive false): what device 37 sends the samplers.
nlohmann::json GraphToScenario(const RiskGraph& graph);
nlohmann::json PartialToJson(const RiskPartial& p);
// InvalidArgument when `j` is not PartialToJson's shape for `hosts` hosts.
Result<RiskPartial> PartialFromJson(const nlohmann::json& j, size_t hosts);

// The Monte Carlo, every shard in this thread (InvalidArgument when the
// graph is over the limits): the answer the sampler devices give together.
Result<RiskResult> SimulateRisk(const RiskGraph& graph);

// The reply body: the distribution and the hosts ranked by expected loss.
nlohmann::json RiskReport(const RiskGraph& graph, const RiskResult& r);

}  // namespace dsmil::devices::l6
