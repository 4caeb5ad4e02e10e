// Per-tenant policy bundles (spec §4.4): the SOAR actions a tenant allows,
// its ROE level and its compartments, one YAML file per tenant
// (deploy/policies/alpha.yaml):
//
//   tenant: ALPHA
//   version: 1
//   roe_level: SOC_ASSIST               # ANALYSIS_ONLY, SOC_ASSIST, TRAINING, ...
//   compartments: [SOC, SIGNALS]        # names of the DBE compartment bits
//   allowed_actions: [ISOLATE_HOST, BLOCK_DOMAIN]
//   injection_threshold: 0.5            # optional; device 51's prompt-injection
//                                       # threshold for the tenant (0 < t <= 1;
//                                       # default: the model's, docs/injection.md)
//
// PolicyStore loads <dir>/<tenant lower>.yaml on first use and re-reads it
// when its modification time or size changes (checked at most once per
// poll interval), so an edited policy takes effect without a restart. A file
// that fails validation keeps the last good bundle in force and the reason is
// logged (and returned by LastError).
//
// Thread safety: PolicyBundle is immutable once built; PolicyStore may be
// used from any number of threads.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"

namespace dsmil {
class Logger;
}

namespace dsmil::tenant {

struct PolicyBundle {
  std::string tenant;
  int64_t version = 0;
  std::string roe_level;
  std::vector<std::string> compartments;
  std::vector<std::string> allowed_actions;
  std::optional<double> injection_threshold;  // nullopt = the detector's default
  std::string source;                         // the file it was read from

  bool Allows(std::string_view action) const;
};

// The SOAR actions a bundle may name (docs/soc.md).
bool IsPolicyAction(std::string_view action);

// Parses and validates a bundle. `source` names the file in errors:
// "alpha.yaml: allowed_actions[1]: unknown action 'NUKE'". When
// `expected_tenant` is non-empty the file's tenant must equal it.
Result<PolicyBundle> ParsePolicyBundle(std::string_view yaml_text, std::string_view source,
                                       std::string_view expected_tenant = {});
Result<PolicyBundle> LoadPolicyBundle(const std::string& path, std::string_view expected_tenant = {});

// The policy directory from the node config's `policies:` section (JSON text
// of {dir: ...}); a relative dir is resolved against `config_dir`.
// InvalidArgument naming "policies.dir".
Result<std::string> PolicyDirFromSection(const std::string& section_json, const std::string& config_dir);

class PolicyStore {
 public:
  // `log` (may be null) receives reload and rejection messages; it must
  // outlive the store.
  explicit PolicyStore(std::string dir, std::chrono::milliseconds poll_interval = std::chrono::seconds(1),
                       const Logger* log = nullptr);

  // The tenant's bundle in force: reloaded first when the file changed and
  // the poll interval has passed. NotFound / InvalidArgument when no good
  // bundle was ever loaded for the tenant.
  Result<std::shared_ptr<const PolicyBundle>> Get(const std::string& tenant);

  // Why the last reload of the tenant's file was refused ("" if it was not).
  std::string LastError(const std::string& tenant) const;
  const std::string& dir() const { return dir_; }
  std::string PathFor(const std::string& tenant) const;

 private:
  struct Entry {
    std::shared_ptr<const PolicyBundle> good;
    int64_t mtime_ns = -1;
    int64_t size = -1;
    std::chrono::steady_clock::time_point checked{};
    std::string error;
  };
  std::string dir_;
  std::chrono::milliseconds poll_;
  const Logger* log_;
  mutable Mutex mu_;
  std::map<std::string, Entry> entries_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace dsmil::tenant
