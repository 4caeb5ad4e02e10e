// The SOC pipeline's own metric families (docs/observability.md), beside the
// standard set of core/dsmil_metrics.h. Registered on the node's Registry by
// ingest (node/routes_soc.cc) and by each stage worker (soc/pipeline.h):
//
//   dsmil_stream_entries_total{tenant_id,stream}  counter: entries appended to
//       the tenant's streams (stream L3_IN, L3_OUT, L4_IN, L4_OUT, SOC_EVENTS,
//       DEAD_LETTER) by ingest and the stages, counted once written
//   dsmil_soc_events_total{tenant_id,severity}    counter: events the L8
//       stage enriched and archived, by their L4 severity (LOW..CRITICAL)
//   dsmil_soar_proposals_total{tenant_id,action}  counter: SOAR proposals of
//       device 58, by action (ISOLATE_HOST, ...)
//   dsmil_l8_flags_total{tenant_id,flag}          counter: L8 flags raised
//       (LAYER_DISCREPANCY, ...), one per flagged event and flag
//
// Label values come from closed sets (the tenant list, the six streams, four
// severities, the known actions, twelve flags): no event ids as labels.
// Thread safety: as the Registry.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/metrics.h"
#include "devices/soc/event.h"
#include "store/scope.h"

namespace dsmil::soc {

class SocMetrics {
 public:
  // Registers (or finds) the families on `registry`, which must outlive this.
  explicit SocMetrics(Registry& registry);

  // Adds `n` to dsmil_stream_entries_total{tenant,stream}.
  void CountAppended(std::string_view tenant, store::StreamKind stream, size_t n);
  // Counts one enriched event: its severity, its proposals' actions and its flags.
  void CountEnriched(std::string_view tenant, const SocEvent& e);

 private:
  CounterFamily& stream_entries_;
  CounterFamily& soc_events_;
  CounterFamily& soar_proposals_;
  CounterFamily& l8_flags_;
};

}  // namespace dsmil::soc
