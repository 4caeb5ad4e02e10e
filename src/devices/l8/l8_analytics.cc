#include "devices/l8/l8_analytics.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "devices/soc/event.h"

namespace dsmil::soc {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  return out;
}

bool HasUpper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

constexpr std::string_view kActions[] = {"ISOLATE_HOST",    "BLOCK_DOMAIN",    "BLOCK_IP",
                                         "DISABLE_ACCOUNT", "QUARANTINE_FILE", "ALERT_ONLY"};

}  // namespace

// ---- IocSet ----

Result<IocSet> IocSet::Parse(std::string_view text) {
  IocSet s;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() > 256) {
      return Status::InvalidArgument("indicators: line " + std::to_string(line_no) + " is longer than 256 bytes");
    }
    for (char c : line) {
      if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20) {
        return Status::InvalidArgument("indicators: line " + std::to_string(line_no) +
                                       " holds more than one indicator or a control character");
      }
    }
    s.set_.insert(Lower(line));
  }
  return s;
}

Result<IocSet> IocSet::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("indicator file " + path + " cannot be opened");
  std::ostringstream ss;
  ss << in.rdbuf();
  auto r = Parse(ss.str());
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

std::string_view IocSet::Match(std::string_view value, bool is_domain) const {
  if (value.empty() || set_.empty()) return {};
  std::string lowered;
  if (HasUpper(value)) {
    lowered = Lower(value);
    value = lowered;
  }
  for (;;) {
    auto it = set_.find(value);
    if (it != set_.end()) return *it;
    if (!is_domain) return {};
    size_t dot = value.find('.');
    if (dot == std::string_view::npos) return {};
    value.remove_prefix(dot + 1);
  }
}

// ---- L8Analyzer ----

L8Analyzer::L8Analyzer(L8Config config, std::shared_ptr<const IocSet> iocs) : config_(config), iocs_(std::move(iocs)) {}

uint32_t L8Analyzer::Correlate(const SocEvent& e) {
  const std::string& key = !e.features.src_host.empty() ? e.features.src_host : e.features.src_ip;
  if (key.empty() || !e.l4.present) return 0;
  if (sources_.size() >= config_.max_sources) Sweep(e.ts_ms);
  auto it = sources_.find(std::string_view(key));
  if (it == sources_.end()) {
    if (sources_.size() >= config_.max_sources) return 0;  // every tracked source is live: skip
    it = sources_.emplace(key, SourceState{}).first;
  }
  SourceState& s = it->second;
  const int64_t t = e.ts_ms, since = t - config_.window_ms;
  s.last_ms = std::max(s.last_ms, t);
  uint32_t flags = 0;
  if (e.l4.severity >= Severity::kHigh) {
    s.high_ts[s.high_next] = t;
    s.high_next = uint8_t((s.high_next + 1) % s.high_ts.size());
    if (s.high_count < s.high_ts.size()) ++s.high_count;
    int in_window = 0;
    for (size_t i = 0; i < s.high_count; ++i) {
      if (s.high_ts[i] > since && s.high_ts[i] <= t) ++in_window;
    }
    if (in_window >= config_.campaign_min_events) flags |= kFlagCampaignSuspected;
  }
  s.category_ts[int(e.l4.category)] = std::max(s.category_ts[int(e.l4.category)], t);
  int categories = 0;
  for (int64_t ts : s.category_ts) {
    if (ts > since && ts != 0) ++categories;
  }
  if (categories >= config_.multi_vector_min_categories) flags |= kFlagMultiVector;
  return flags;
}

void L8Analyzer::Sweep(int64_t now_ms) {
  const int64_t since = now_ms - config_.window_ms;
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (it->second.last_ms <= since) {
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
}

uint32_t L8Analyzer::Analyze(SocEvent& e, int64_t now_ms) {
  const Features& f = e.features;
  uint32_t flags = 0;
  e.l8.ioc_matches.clear();

  // 51 Adversarial ML Defense: the L3 and L4 layers disagree.
  if (e.l3.present && e.l4.present && std::fabs(e.l3.score - e.l4.confidence) > config_.discrepancy_threshold) {
    flags |= kFlagLayerDiscrepancy | kFlagPossibleLogTamper;
  }

  // 52 Security Analytics Fusion: windowed per-source correlation.
  flags |= Correlate(e);

  // 53 Crypto / PQC watcher.
  if (!f.kex.empty() && !IsPostQuantumKex(f.kex)) flags |= kFlagNonPqcChannel;
  if (!f.tls_version.empty() &&
      (f.tls_version == "1.0" || f.tls_version == "1.1" || f.tls_version == "SSLv3" || f.tls_version == "TLSv1" ||
       f.tls_version == "TLSv1.1" || f.tls_version == "TLSv1.0")) {
    flags |= kFlagDeprecatedTls;
  }

  // 54 Threat Intelligence Fusion: the tenant's own indicators.
  if (iocs_ && iocs_->size() > 0) {
    auto check = [&](const std::string& v, bool domain) {
      std::string_view m = iocs_->Match(v, domain);
      if (m.empty()) return;
      flags |= kFlagIocMatch;
      if (e.l8.ioc_matches.size() < kMaxIocMatches &&
          std::find(e.l8.ioc_matches.begin(), e.l8.ioc_matches.end(), m) == e.l8.ioc_matches.end()) {
        e.l8.ioc_matches.emplace_back(m);
      }
    };
    check(f.dst_ip, false);
    check(f.src_ip, false);
    check(f.dst_domain, true);
    check(f.file_hash, false);
  }

  // 55 Behavioral Biometrics.
  if (f.login_hour && (*f.login_hour < config_.workday_start_hour || *f.login_hour > config_.workday_end_hour)) {
    flags |= kFlagOffHoursAccess;
  }
  if (f.biometric_score && *f.biometric_score < config_.biometric_min) flags |= kFlagBiometricMismatch;

  // 56 Secure Enclave Management.
  if (f.enclave_attestation == "failed") flags |= kFlagAttestationFailed;

  // 57 Network Security AI.
  if (f.bytes_out) {
    bool web_port = f.dst_port && (*f.dst_port == 80 || *f.dst_port == 443);
    int64_t in = f.bytes_in.value_or(0);
    bool large = *f.bytes_out > config_.egress_bytes && !web_port;
    bool lopsided = *f.bytes_out > config_.egress_ratio_bytes && *f.bytes_out > 10 * in &&
                    (!f.dst_domain.empty() || !f.dst_ip.empty()) && !web_port;
    bool huge = *f.bytes_out > 10 * config_.egress_bytes;  // very large even to a web port
    if (large || lopsided || huge) flags |= kFlagSuspiciousEgress;
  }
  if (f.distinct_ports && *f.distinct_ports >= config_.scan_ports) flags |= kFlagPortScan;

  e.l8.present = true;
  e.l8.flags = flags;
  e.l8.ts_ms = now_ms;
  ++counters_.events;
  for (int i = 0; i < kFlagCount; ++i) {
    if (flags & (1u << i)) ++counters_.flags[i];
  }
  return flags;
}

// ---- SOAR ----

bool IsKnownAction(std::string_view action) {
  for (auto a : kActions) {
    if (a == action) return true;
  }
  return false;
}

size_t ProposeActions(SocEvent& e, const std::vector<std::string>& allowed) {
  e.proposals.clear();
  auto allows = [&](std::string_view a) {
    for (const auto& x : allowed) {
      if (x == a) return true;
    }
    return false;
  };
  const Features& f = e.features;
  const uint32_t flags = e.l8.flags;
  const bool high = e.l4.present && e.l4.severity >= Severity::kHigh;
  const bool critical = e.l4.present && e.l4.severity == Severity::kCritical;
  auto first_flag = [&](uint32_t mask) -> std::string {
    uint32_t m = flags & mask;
    if (m == 0) return critical ? "SEVERITY_CRITICAL" : "SEVERITY_HIGH";
    return std::string(FlagName(m & (~m + 1)));
  };
  auto add = [&](std::string_view action, const std::string& target, std::string reason) {
    if (!allows(action) || e.proposals.size() >= kMaxProposals) return;
    e.proposals.push_back({std::string(action), target, std::move(reason)});
  };

  const std::string& host = !f.src_host.empty() ? f.src_host : f.src_ip;
  const uint32_t isolate_flags = kFlagCampaignSuspected | kFlagMultiVector | kFlagAttestationFailed;
  if (!host.empty() && ((flags & isolate_flags) || critical)) add("ISOLATE_HOST", host, first_flag(isolate_flags));

  const uint32_t block_flags = kFlagIocMatch | kFlagSuspiciousEgress;
  const bool bad_destination =
      (flags & block_flags) ||
      (high && e.l4.present && (e.l4.category == Category::kNetwork || e.l4.category == Category::kMalware));
  if (!f.dst_domain.empty() && bad_destination) add("BLOCK_DOMAIN", f.dst_domain, first_flag(block_flags));
  if (f.dst_domain.empty() && !f.dst_ip.empty() && bad_destination) add("BLOCK_IP", f.dst_ip, first_flag(block_flags));

  if (!f.user.empty() &&
      ((flags & kFlagBiometricMismatch) || (high && e.l4.present && e.l4.category == Category::kIdentity))) {
    add("DISABLE_ACCOUNT", f.user, first_flag(kFlagBiometricMismatch));
  }

  if (!f.file_hash.empty() && ((flags & kFlagIocMatch) || (high && e.l4.category == Category::kMalware))) {
    add("QUARANTINE_FILE", f.file_hash, first_flag(kFlagIocMatch));
  }

  if (flags != 0 || high) add("ALERT_ONLY", "", first_flag(~0u));
  return e.proposals.size();
}

}  // namespace dsmil::soc
