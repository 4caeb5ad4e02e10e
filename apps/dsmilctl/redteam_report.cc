#include "redteam_report.h"

#include <sstream>

namespace dsmil::ctl {
namespace {

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// Table cells may not hold '|' or newlines.
std::string Cell(std::string s) {
  for (char& c : s) {
    if (c == '|') c = '/';
    if (c == '\n') c = ' ';
  }
  return s;
}

const DrillResult* Find(const std::vector<DrillResult>& drills, int n) {
  for (const auto& d : drills) {
    if (d.number == n) return &d;
  }
  return nullptr;
}

std::vector<std::string> Findings(const std::vector<DrillResult>& drills, const RedTeamFacts& f) {
  std::vector<std::string> out;
  int failed = 0;
  for (const auto& d : drills) {
    if (d.pass) continue;
    ++failed;
    std::string first;
    for (const auto& c : d.checks) {
      if (!c.ok) {
        first = c.what;
        break;
      }
    }
    out.push_back("**Drill " + std::to_string(d.number) + " failed (" + d.scenario +
                  ")**: " + (first.empty() ? d.note : first));
  }
  const DrillResult* d1 = Find(drills, 1);
  const DrillResult* d4 = Find(drills, 4);
  if (d1 && d4 && d1->pass && d4->pass) {
    out.push_back("No cross-tenant path found: stream writes (" + f.stores_kind +
                  " stores) and knowledge-base reads of another tenant were refused at every entry point tried");
  }
  if (f.tamper_total > 0) {
    out.push_back("L8 Adversarial ML Defense (device 51) flagged " + std::to_string(f.tamper_flagged) + "/" +
                  std::to_string(f.tamper_total) + " tampering attempts" +
                  (f.control_flagged
                       ? " and raised " + std::to_string(f.control_flagged) + " false alarm(s) on consistent events"
                       : ", and no consistent event"));
  }
  if (f.sample_total > 0) {
    std::string missed;
    for (const auto& [cls, bt] : f.sample_by_class) {
      if (bt.first < bt.second) {
        missed += (missed.empty() ? "" : ", ") + cls + " " + std::to_string(bt.second - bt.first) + "/" +
                  std::to_string(bt.second);
      }
    }
    out.push_back("The L7 router blocked " + std::to_string(f.sample_blocked) + "/" + std::to_string(f.sample_total) +
                  " sampled held-out injection attacks before inference" +
                  (missed.empty() ? "" : " (missed by class: " + missed + ")"));
  }
  const DrillResult* d5 = Find(drills, 5);
  const DrillResult* d6 = Find(drills, 6);
  if (d5 && d6) {
    if (d5->pass && d6->pass) {
      out.push_back(
          "ROE and two-person enforcement (device 61) refused every NC3 query without a valid token or two signatures");
    } else {
      out.push_back("NC3 access control (device 61) did not hold in every case: see drills 5 and 6");
    }
  }
  if (failed == 0) out.insert(out.begin(), "No critical vulnerabilities found in the six drills");
  return out;
}

std::vector<std::string> Recommendations(const std::vector<DrillResult>& drills, const RedTeamFacts& f) {
  std::vector<std::string> out;
  for (const auto& d : drills) {
    if (!d.pass) {
      out.push_back("Close the hole drill " + std::to_string(d.number) +
                    " found before deployment, then rerun `dsmilctl redteam run`");
    }
  }
  if (!f.rate_limited) {
    out.push_back(
        "Implement per-tenant rate limiting on the L7 router (`l7.limits`) to slow brute-force prompt injection (" +
        f.rate_limit + ")");
  }
  if (!f.loki_rule) {
    out.push_back("Add a Loki alerting rule for `advml_flags: LAYER_DISCREPANCY` events (none found in " +
                  f.loki_rules_dir + ")");
  }
  if (f.control_flagged > 0) {
    out.push_back(
        "Investigate device 51's false LAYER_DISCREPANCY alarms on consistent events before alerting on them");
  }
  if (f.sample_total > 0 && f.sample_blocked < f.sample_total) {
    out.push_back(
        "Broaden the injection detector's training corpus for the classes that got through, without tuning on the "
        "held-out set");
  }
  out.push_back(
      "Schedule quarterly red-team drills with updated attack scenarios (a freshly written held-out attack set each "
      "time)");
  return out;
}

}  // namespace

std::string RenderRedTeamReport(const std::vector<DrillResult>& drills, const RedTeamFacts& f) {
  std::ostringstream os;
  os << "# DSMIL Phase 5 Red-Team Report\n";
  os << "**Date:** " << f.date << "\n";
  os << "**Cluster:** " << f.nodes.size() << "-node " << (f.nodes.size() > 1 ? "distributed" : "single node") << " ("
     << Join(f.nodes, ", ") << "), " << f.stores_kind << " stores\n";
  os << "**Tenants Tested:** " << Join(f.tenants, ", ") << "\n\n";
  os << "## Test Results\n\n";
  os << "| Test # | Scenario | Result | Notes |\n";
  os << "|--------|----------|--------|-------|\n";
  for (const auto& d : drills) {
    os << "| " << d.number << " | " << Cell(d.scenario) << " | " << (d.pass ? "✓ PASS" : "✗ FAIL") << " | "
       << Cell(d.note) << " |\n";
  }
  os << "\n## Findings\n";
  for (const auto& s : Findings(drills, f)) os << "* " << s << "\n";
  os << "\n## Recommendations\n";
  for (const auto& s : Recommendations(drills, f)) os << "* " << s << "\n";
  os << "\n## Details\n";
  for (const auto& d : drills) {
    os << "\n### " << d.number << ". " << d.scenario << " — " << (d.pass ? "PASS" : "FAIL") << "\n";
    for (const auto& c : d.checks) os << "* " << (c.ok ? "✓ " : "✗ ") << c.what << "\n";
  }
  return os.str();
}

}  // namespace dsmil::ctl
