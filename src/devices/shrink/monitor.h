// SHRINK's per-tenant state (docs/shrink.md §2.4-2.5, §4): every tenant of the
// node has its own decayed scores, its own topic memory and its own counters;
// nothing of one tenant is read or written for another. Texts for a tenant
// that is not one of the node's are refused, so metric labels stay bounded.
//
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/mutex.h"
#include "core/status.h"
#include "devices/shrink/lexicon.h"

namespace dsmil {
class Registry;
class Counter;
}  // namespace dsmil

namespace dsmil::devices::shrink {

// Where a text came from (the `source` label of shrink_texts_total).
enum class TextSource { kL7Chat, kAnalystNote, kOperatorLog };
inline constexpr size_t kTextSources = 3;
// "l7_chat", "analyst_note", "operator_log".
std::string_view TextSourceName(TextSource s);
// The source named `name`; InvalidArgument otherwise.
Result<TextSource> ParseTextSource(std::string_view name);

// A tenant's scores at one moment.
struct TenantRisk {
  std::string tenant_id;
  double acute_stress = 0;
  double hyperfocus = 0;
  double cognitive_load = 0;
  double risk = 0;
  std::string_view level = "NOMINAL";
  uint64_t texts = 0;
  std::array<uint64_t, kTextSources> texts_by_source{};
  std::optional<double> last_text_age_s;  // none before the first text
};

// The JSON of GET /risk (docs/shrink.md §3).
std::string TenantRiskToJson(const TenantRisk& r, double half_life_s);

struct MonitorOptions {
  std::vector<std::string> tenants;  // the node's tenants
  double half_life_s = 900;
  const Clock* clock = nullptr;  // null: DefaultClock()
  // When set: the shrink_* metrics of docs/shrink.md §4 are registered here.
  Registry* metrics = nullptr;
};

class ShrinkMonitor {
 public:
  explicit ShrinkMonitor(MonitorOptions options);
  ShrinkMonitor(const ShrinkMonitor&) = delete;
  ShrinkMonitor& operator=(const ShrinkMonitor&) = delete;
  ~ShrinkMonitor();

  // Scores `text` into `tenant`'s state. NotFound when `tenant` is not a
  // tenant of the node (counted in shrink_texts_refused_total).
  Status Ingest(std::string_view tenant, TextSource source, std::string_view text);

  // `tenant`'s scores now (decayed to this moment); NotFound as above.
  Result<TenantRisk> Risk(std::string_view tenant) const;

  bool HasTenant(std::string_view tenant) const;
  const std::vector<std::string>& tenants() const { return options_.tenants; }
  double half_life_s() const { return options_.half_life_s; }

 private:
  struct TenantState {
    std::array<double, 3> sum{};  // acute_stress, hyperfocus, cognitive_load
    double weight = 0;
    int64_t updated_ns = 0;
    int64_t last_text_ns = 0;
    uint64_t texts = 0;
    std::array<uint64_t, kTextSources> by_source{};
    std::vector<uint64_t> topic;  // previous text's topic words
    std::array<Counter*, kTextSources> counters{};
  };

  TenantRisk RiskOf(const std::string& tenant, const TenantState& st, int64_t now_ns) const DSMIL_REQUIRES(mu_);
  double Decay(int64_t from_ns, int64_t to_ns) const;

  MonitorOptions options_;
  const Clock& clock_;
  Counter* refused_ = nullptr;
  mutable Mutex mu_;
  std::map<std::string, TenantState, std::less<>> state_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace dsmil::devices::shrink
