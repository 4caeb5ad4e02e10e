// The red-team report of `dsmilctl redteam run` (spec §9.2 "Red-Team Report
// Format"): date, cluster, tenants, the table of the six drills with ✓ PASS /
// ✗ FAIL and notes, then findings and recommendations computed from what the
// drills saw (never fixed text), and each drill's checks in detail.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dsmil::ctl {

struct DrillCheck {
  bool ok = false;
  std::string what;  // "ALPHA writer XADD BRAVO_SOC_EVENTS refused: NOPERM ..."
};

struct DrillResult {
  int number = 0;
  std::string scenario;  // "Tenant escape via Redis"
  bool pass = false;
  std::string note;  // one line for the table
  std::vector<DrillCheck> checks;
};

// What the run observed beyond pass/fail, for findings and recommendations.
struct RedTeamFacts {
  std::string date;                  // YYYY-MM-DD (UTC)
  std::vector<std::string> nodes;    // NODE-A, NODE-B, NODE-C
  std::vector<std::string> tenants;  // attacker's tenant first
  std::string stores_kind;           // embedded | servers
  bool rate_limited = false;         // the attacker's tenant has an L7 request rate limit
  std::string rate_limit;            // "20 requests/s, burst 40" or why unknown
  bool loki_rule = false;            // a Loki rule alerting on LAYER_DISCREPANCY is in the rules directory
  std::string loki_rules_dir;
  int tamper_flagged = 0, tamper_total = 0;                    // drill 2
  int control_flagged = 0;                                     // drill 2: consistent events flagged (false alarms)
  int sample_blocked = 0, sample_total = 0;                    // drill 3 held-out sample
  std::map<std::string, std::pair<int, int>> sample_by_class;  // class -> (blocked, total)
};

// The whole markdown report.
std::string RenderRedTeamReport(const std::vector<DrillResult>& drills, const RedTeamFacts& facts);

}  // namespace dsmil::ctl
