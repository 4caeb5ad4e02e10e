// The configuration of the L7 router (device 43): the `l7:` section of the
// node config, typed (docs/l7.md §1). Every key, its range and its default:
//
//   listen              "host:port"; default 127.0.0.1:8001 ("[::1]:8001" for
//                       IPv6; port 0 = any free port, used by tests)
//   threads             HTTP threads, 1..256; default 16 (a streaming request
//                       holds one)
//   max_body_bytes      1024..64 MiB; default 1 MiB; larger bodies get 413
//   request_timeout_ms  100..3600000; default 120000; the timeout of a worker
//                       that sets none
//   keys_file           tenant API keys (tenant/keys.h); default
//                       <stores.path>/tenant/api_keys
//   claims_dir          per-tenant ML-DSA-87 claim keys (tenant/claims.h);
//                       default <secrets_dir>/claims, where secrets_dir
//                       defaults to <stores.path>/secrets
//   ratelimit_file      the counters shared by router replicas
//                       (tenant/ratelimit.h); default
//                       <stores.path>/tenant/ratelimit.bin
//   claim_lifetime_s    10..86400; default 900; a claim token is reused per
//                       API key until 90 % of it has passed
//   default_max_tokens  1..kMaxTokensLimit; default 256; reserved from the
//                       token budget when a request gives no max_tokens
//   health_interval_ms  100..600000; default 5000; worker health checks
//   limits              map of tenant id (or `default`) to
//                       {requests_per_second, burst, max_concurrent,
//                       tokens_per_day}, each a number >= 0
//                       (tenant::TenantLimits; 0 = no limit of that kind).
//                       Without `limits.default` every tenant gets
//                       kDefaultTenantLimits; `default: {}` turns them off
//   detector            {device: 0..103, timeout_ms: 1..600000}; default
//                       {51, 2000}: the prompt-injection check (fail closed)
//   rag                 same shape; default {50, 5000}: the RAG engine
//   enrichment          same shape; default {0, 500}; device 0 = no L8
//                       enrichment
//   workers             list of WorkerSpec maps: model (required), exactly
//                       one of upstream (http(s) base URL) or device
//                       (1..103), upstream_model, api_key_file (read here,
//                       0600), max_concurrent (>= 0), timeout_ms (>= 0,
//                       raised to at least 100), embeddings (bool). Absent =
//                       the built-in profiles llm-7b-amx (device 47) and
//                       llm-1b-npu (device 44).
// Relative paths are resolved against the directory of the node config.
// Errors name the key: "l7.workers[1].upstream: ...",
// "l7.limits.ALPHA.burst: must be a number >= 0".
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "tenant/ratelimit.h"

namespace dsmil::devices {
struct DeviceContext;
}  // namespace dsmil::devices

namespace dsmil::devices::l7 {

// One worker replica (worker.h): where a model's requests go.
struct WorkerSpec {
  std::string model;           // the id clients ask for ("llm-7b-amx")
  std::string kind;            // "upstream" | "device"
  std::string base_url;        // upstream: "http://127.0.0.1:9000/v1"
  std::string upstream_model;  // model name sent upstream ("" = model)
  std::string api_key;         // upstream bearer token ("" = none), read from api_key_file
  int device = 0;              // device: 47, 44, ...
  int max_concurrent = 0;      // per replica; 0 = no cap
  int timeout_ms = 120000;     // whole request
  bool embeddings = false;     // serves POST /v1/embeddings too
};

// Another device the router asks (`detector`, `rag`, `enrichment`).
struct DeviceCallConfig {
  int device = 0;  // 0 = none (enrichment only)
  int timeout_ms = 0;
};

// Every tenant is limited unless the config says otherwise (docs/l7.md §3):
// 20 requests/s in bursts of 40, 8 in flight, 2,000,000 tokens a day.
inline constexpr tenant::TenantLimits kDefaultTenantLimits{20, 40, 8, 2000000};

struct L7Config {
  // False when the node config has no `l7:` section: the API is off on this
  // node (L7ConfigFrom only; every other field then keeps its default).
  bool enabled = false;
  std::string host = "127.0.0.1";
  uint16_t port = 8001;
  int threads = 16;
  size_t max_body_bytes = 1 << 20;
  int request_timeout_ms = 120000;
  // Resolved paths. ParseL7Config leaves a key that is not set empty;
  // L7ConfigFrom fills in the defaults under the node's stores.
  std::string keys_file;
  std::string claims_dir;
  std::string ratelimit_file;
  int claim_lifetime_s = 900;
  uint32_t default_max_tokens = 256;
  int health_interval_ms = 5000;
  std::map<std::string, tenant::TenantLimits> limits;          // by tenant id
  tenant::TenantLimits default_limits = kDefaultTenantLimits;  // `limits.default`
  DeviceCallConfig detector{51, 2000};
  DeviceCallConfig rag{50, 5000};
  DeviceCallConfig enrichment{0, 500};
  std::vector<WorkerSpec> workers;
  // The policy bundle directory of the node's `policies:` section
  // (tenant/policy.h), "" when there is none: the tenants' ROE levels and
  // compartments then come from `tenants:`. Filled by L7ConfigFrom.
  std::string policies_dir;
};

// Parses the `l7:` section. `config_dir` resolves relative paths. Errors are
// InvalidArgument naming the key ("l7.threads: must be an integer 1..256").
Result<L7Config> ParseL7Config(const nlohmann::json& section, const std::string& config_dir);

// The router's configuration from the node config: the `l7:` section (absent
// = enabled false), the defaults under `stores:` and the `policies:`
// directory. The one place the router reads the node config's sections.
Result<L7Config> L7ConfigFrom(const DeviceContext& ctx);
// ParseL7Config from the section's JSON text: the parser registered for the
// `l7` section (devices/config_section.h), run once when the node loads its
// config.
Result<L7Config> ParseL7Section(const std::string& section_json, const std::string& config_dir);

}  // namespace dsmil::devices::l7
