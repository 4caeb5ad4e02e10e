// Fuzz target: the Sigma rule compiler and matcher (docs/sigma.md). The input
// is a rule file, then a NUL byte, then an event (JSON). Any bytes give a
// compiled rule or an InvalidArgument naming the file, never a crash, a hang
// or an exception escaping; a compiled rule is matched against the event
// (or, when the event does not parse, against one whose string fields hold
// the event bytes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "devices/l8/sigma.h"
#include "devices/soc/event.h"

namespace {

const dsmil::soc::SigmaFieldMap& Fields() {
  static const dsmil::soc::SigmaFieldMap* map = [] {
    auto m = dsmil::soc::SigmaFieldMap::Parse(
        "User: features.user\nSourceIp: features.src_ip\nDestinationIp: features.dst_ip\n"
        "SourceHostname: features.src_host\nDestinationHostname: features.dst_domain\n"
        "DestinationPort: features.dst_port\nBytesOut: features.bytes_out\nFailedLogins: features.failed_logins\n"
        "Image: features.process\nTlsVersion: features.tls_version\nAnomalyScore: features.anomaly_score\n"
        "Category: l4.category\nL8Flags: l8_enrichment.flags\nIocMatches: l8_enrichment.ioc_matches\n",
        "fieldmap.yaml");
    if (!m.ok()) std::abort();
    return new dsmil::soc::SigmaFieldMap(std::move(*m));
  }();
  return *map;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  std::string_view rule_text = in.substr(0, nul);
  std::string_view event_text = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);

  (void)dsmil::soc::SigmaFieldMap::Parse(rule_text, "map.yaml");
  dsmil::soc::SigmaError err;
  auto rule = dsmil::soc::ParseSigmaRule(rule_text, "fuzz.yml", Fields(), &err);
  if (!rule.ok()) {
    if (rule.status().code() != dsmil::StatusCode::kInvalidArgument) std::abort();
    if (err.file != "fuzz.yml" || err.reason.empty() || err.line < 0) std::abort();
    return 0;
  }
  if (rule->title.empty() || rule->id.empty()) std::abort();
  auto e = dsmil::soc::ParseEvent(event_text, "ALPHA");
  if (e.ok()) {
    (void)rule->Matches(*e);
    return 0;
  }
  dsmil::soc::SocEvent raw;
  raw.tenant = "ALPHA";
  std::string s(event_text.substr(0, 256));
  raw.features.user = s;
  raw.features.src_ip = s;
  raw.features.dst_domain = s;
  raw.features.process = s;
  raw.features.dst_port = int64_t(size);
  raw.features.extra.emplace_back("note", s);
  raw.l4.present = !s.empty();
  raw.l8.present = true;
  raw.l8.flags = uint32_t(size);
  raw.l8.ioc_matches.push_back(s);
  (void)rule->Matches(raw);
  return 0;
}
