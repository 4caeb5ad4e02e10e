// L8 enrichment: the rules of devices 51-57 (docs/soc.md, one section per
// rule) as one pass over a parsed SocEvent, plus the SOAR proposals of
// device 58.
//
// Analyze is the hot loop of the L8 stage: no JSON, no allocation in the
// common case (the correlation state of device 52 reuses its slots; an IOC
// match appends to l8.ioc_matches). One L8Analyzer serves one tenant; it is
// NOT thread-safe (one consumer thread owns it). The IocSet is immutable once
// built and may be shared.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "devices/soc/event.h"

namespace dsmil::soc {

// A tenant's indicators of compromise: IPs, domains, file hashes, one per
// line, '#' starts a comment, compared case-insensitively. A domain matches
// itself and its subdomains.
class IocSet {
 public:
  static Result<IocSet> Parse(std::string_view text);
  // NotFound naming the file when it is missing.
  static Result<IocSet> Load(const std::string& path);

  // The indicator that `value` matches ("" = none). For domains, also the
  // parent domains of `value`.
  std::string_view Match(std::string_view value, bool is_domain) const;
  size_t size() const { return set_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_set<std::string, Hash, std::equal_to<>> set_;
};

struct L8Config {
  double discrepancy_threshold = 0.5;                 // 51: |l3.score - l4.confidence| >
  int64_t window_ms = 300000;                         // 52: correlation window
  int campaign_min_events = 5;                        // 52: HIGH+ events from one source within the window
  int multi_vector_min_categories = 3;                // 52: distinct categories from one source within the window
  int64_t egress_bytes = 10 * 1000 * 1000;            // 57: bytes_out above this to a non-web port
  int64_t egress_ratio_bytes = 1000 * 1000;           // 57: ... or above this with out/in > 10
  int64_t scan_ports = 100;                           // 57: distinct_ports >= this
  double biometric_min = 0.3;                         // 55: biometric_score below this
  int workday_start_hour = 6, workday_end_hour = 21;  // 55: login_hour outside [start, end]
  size_t max_sources = 100000;                        // 52: tracked sources before old ones are swept
};

// Per-device counters of one analyzer (events seen, flags raised).
struct L8Counters {
  uint64_t events = 0;
  std::array<uint64_t, kFlagCount> flags{};
  uint64_t proposals = 0;
};

class L8Analyzer {
 public:
  explicit L8Analyzer(L8Config config = {}, std::shared_ptr<const IocSet> iocs = nullptr);

  // Runs the rules of 51..57 on `e` and sets e.l8 (flags, ioc_matches,
  // present = true, ts_ms = now_ms). Returns the flags. Device 52's window
  // advances with event time (e.ts_ms), so replays are deterministic.
  uint32_t Analyze(SocEvent& e, int64_t now_ms);

  const L8Counters& counters() const { return counters_; }
  size_t tracked_sources() const { return sources_.size(); }

 private:
  struct SourceState {
    int64_t last_ms = 0;
    std::array<int64_t, 16> high_ts{};  // ring of recent HIGH+ event times
    uint8_t high_next = 0, high_count = 0;
    std::array<int64_t, kCategoryCount> category_ts{};  // last time of each category
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  uint32_t Correlate(const SocEvent& e);
  void Sweep(int64_t now_ms);

  L8Config config_;
  std::shared_ptr<const IocSet> iocs_;
  std::unordered_map<std::string, SourceState, Hash, std::equal_to<>> sources_;
  L8Counters counters_;
};

// Actions a policy may allow (docs/soc.md): ISOLATE_HOST, BLOCK_DOMAIN,
// BLOCK_IP, DISABLE_ACCOUNT, QUARANTINE_FILE, ALERT_ONLY.
bool IsKnownAction(std::string_view action);

// Device 58: the proposals for an analyzed event, keeping only actions in
// `allowed` (the tenant's policy). Replaces e.proposals; returns how many.
size_t ProposeActions(SocEvent& e, const std::vector<std::string>& allowed);

}  // namespace dsmil::soc
