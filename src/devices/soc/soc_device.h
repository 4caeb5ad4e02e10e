// The SOC devices: L3 Adaptive Router (14-22), L4 Reactive Classifier
// (23-32) and the L8 devices 51-58, as hosted by a node (docs/soc.md).
//
// Each instance is bound to one tenant (`devices: [{id: 18, tenant: ALPHA}]`)
// or, unbound, serves every tenant of the node. It answers DBE requests:
//   L3 (14-22)  L3_EVENT (0x20, PAYLOAD = event JSON)       -> L3_DECISION (0x21, PAYLOAD = scored event)
//   L4 (23-32)  L3_DECISION (0x21, PAYLOAD = event JSON)    -> L4_CLASSIFICATION (0x23, PAYLOAD = classified event)
//   L8 (51-58)  L8_SOC_EVENT_ENRICHMENT (0x50, PAYLOAD)     -> L8_PROPOSAL (0x51, PAYLOAD = enriched event
//                                                              with soar.proposals)
//   51          L8_PROMPT_CHECK (0x52, PAYLOAD = prompt or messages JSON) -> L8_PROMPT_VERDICT (0x53;
//   devices/l8/injection_check.h) all         HEALTH_PING -> HEALTH_PONG
// and, when the node config has a `soc:` section and stores, the device
// named in soc.workers runs the stage's consumer loop for each of its
// tenants (pipeline.h). A request whose TENANT_ID is not the device's tenant
// is refused with ERROR TENANT_MISMATCH.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsmil::soc {

// The node config's `soc:` section (all keys optional).
struct SocConfig {
  bool present = false;        // the section exists
  bool pipeline = true;        // soc.pipeline: run the consumer loops
  std::string l3_model;        // soc.l3_model: path ("" = the built-in default parameters)
  std::string l4_model;        // soc.l4_model: path ("" = models/l4_classifier.json searched)
  std::string indicators_dir;  // soc.indicators_dir: <dir>/<tenant lower>.txt per tenant
  std::string sigma_rules;     // soc.sigma_rules: <dir>/<tenant lower>/*.yml ("" = no Sigma rules)
  std::string sigma_fieldmap;  // soc.sigma_fieldmap: Sigma field names -> event fields (required with sigma_rules)
  std::vector<int> l3_workers{18}, l4_workers{25}, l8_workers{58};  // soc.workers.{l3,l4,l8}
  size_t batch = 256;                                               // soc.batch
  std::chrono::milliseconds block{200};                             // soc.block_ms
  std::chrono::milliseconds claim_min_idle{30000};                  // soc.claim_min_idle_ms
  std::chrono::milliseconds policy_poll{1000};                      // soc.policy_poll_ms
  int64_t window_ms = 300000;                                       // soc.window_ms (device 52)
};

// Parses the section's JSON text ("" = absent: the defaults). Relative paths
// are resolved against `config_dir`. Errors name the key ("soc.batch: ...").
// Registered as the parser of config section "soc" (devices/config_section.h):
// the node runs it once at config load; the devices read the result with
// ctx.Section<SocConfig>("soc").
Result<SocConfig> ParseSocConfig(const std::string& section_json, const std::string& config_dir);

// Registers the "soc" config section and the factories of devices 14-32 and
// 51-58, which read sections "soc" and "policies" (called by
// devices::RegisterSocDevices).
void RegisterSocDeviceFactories();

}  // namespace dsmil::soc
