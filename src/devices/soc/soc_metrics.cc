#include "devices/soc/soc_metrics.h"

namespace dsmil::soc {

SocMetrics::SocMetrics(Registry& registry)
    : stream_entries_(registry.AddCounter("dsmil_stream_entries_total",
                                          "Entries appended to a tenant's streams by ingest and the SOC stages",
                                          {"tenant_id", "stream"})),
      soc_events_(registry.AddCounter("dsmil_soc_events_total",
                                      "SOC events enriched by L8 and archived, by L4 severity",
                                      {"tenant_id", "severity"})),
      soar_proposals_(registry.AddCounter("dsmil_soar_proposals_total", "SOAR proposals of device 58, by action",
                                          {"tenant_id", "action"})),
      l8_flags_(registry.AddCounter("dsmil_l8_flags_total", "L8 flags raised on SOC events, by flag",
                                    {"tenant_id", "flag"})) {}

void SocMetrics::CountAppended(std::string_view tenant, store::StreamKind stream, size_t n) {
  if (n == 0) return;
  stream_entries_.Labels({tenant, store::StreamSuffix(stream)}).Inc(double(n));
}

void SocMetrics::CountEnriched(std::string_view tenant, const SocEvent& e) {
  soc_events_.Labels({tenant, SeverityName(e.l4.severity)}).Inc();
  for (const Proposal& p : e.proposals) soar_proposals_.Labels({tenant, p.action}).Inc();
  for (int i = 0; i < kFlagCount; ++i) {
    const uint32_t bit = 1u << i;
    if (e.l8.flags & bit) l8_flags_.Labels({tenant, FlagName(bit)}).Inc();
  }
}

}  // namespace dsmil::soc
