// Sigma rules for SOC events (docs/sigma.md is the reference: the supported
// subset, the field map, the limits and every error message).
//
// A Sigma rule is one YAML document: title, id, status, level, tags,
// logsource and detection (named selections and a condition). ParseSigmaRule
// compiles it once against a SigmaFieldMap (Sigma field name -> event field,
// deploy/sigma/fieldmap.yaml): fields are resolved to event accessors,
// values lower-cased, wildcards split, regexes compiled and CIDRs parsed, so
// matching an event reads the SocEvent in place and allocates nothing unless
// a rule fires.
//
// SigmaRuleStore holds one rule set per tenant, read from
// <dir>/<tenant lower>/*.yml|*.yaml and re-read when a file is added,
// removed or changed (checked at most once per poll interval). A file that
// fails to parse is reported (file, line, reason) and does not stop the
// others; when a file that loaded before is broken by an edit, its last good
// rule stays in force until it is fixed or removed.
//
// Thread safety: SigmaFieldMap, SigmaRule and SigmaRuleSet are immutable once
// built and may be shared; SigmaRuleStore may be used from any number of
// threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "devices/soc/event.h"

namespace dsmil {
class Logger;
}

namespace dsmil::soc {

// Limits (docs/sigma.md, "Limits"). A rule over one is refused.
inline constexpr size_t kSigmaMaxRuleFileBytes = 64 * 1024;
inline constexpr size_t kSigmaMaxRuleFiles = 1000;     // per tenant directory; the rest are not loaded
inline constexpr size_t kSigmaMaxSelections = 32;      // named selections of one rule
inline constexpr size_t kSigmaMaxFields = 32;          // fields of one selection map
inline constexpr size_t kSigmaMaxAlternatives = 32;    // maps in a list-of-maps selection
inline constexpr size_t kSigmaMaxValues = 64;          // values of one field (or keywords of one selection)
inline constexpr size_t kSigmaMaxRuleValues = 512;     // values of one rule, all selections together
inline constexpr size_t kSigmaMaxValueBytes = 1024;    // one value
inline constexpr size_t kSigmaMaxRegexBytes = 256;     // one `re` pattern
inline constexpr size_t kSigmaMaxRegexSubject = 1024;  // longer event values never match a `re`
inline constexpr size_t kSigmaMaxConditionBytes = 1024;
inline constexpr int kSigmaMaxConditionDepth = 32;  // nested parentheses / `not`
inline constexpr size_t kSigmaMaxTags = 32;
inline constexpr size_t kSigmaMaxFieldMapEntries = 256;

// Why a rule (or field-map) file was refused. `line` is 1-based; 0 when the
// reason concerns the whole file (unreadable, too large).
struct SigmaError {
  std::string file;
  int line = 0;
  std::string reason;

  // "alpha/brute.yml:12: detection.selection: unknown modifier 'containz'".
  std::string ToString() const;
};

// Sigma field names -> event fields. Event paths are those of docs/events.md:
// event_id, tenant, source, ts_ms, ingest_ts_ms, features.<key> (a known key
// or any other key, read from features' extra keys), l3.score, l3.decision,
// l3.device, l4.category, l4.severity, l4.confidence, l4.device,
// l8_enrichment.flags, l8_enrichment.ioc_matches (lists: a value matches when
// any element does).
class SigmaFieldMap {
 public:
  // The map from YAML text ({SigmaName: event.path, ...}). InvalidArgument
  // "file:line: reason" for an unknown path, a bad name or too many entries.
  static Result<SigmaFieldMap> Parse(std::string_view yaml_text, std::string_view file);
  static Result<SigmaFieldMap> Load(const std::string& path);

  // The event path for a Sigma field name: the map's entry, else the name
  // itself when it is an event path; "" when neither.
  std::string Resolve(std::string_view name) const;
  size_t size() const { return map_.size(); }
  const std::map<std::string, std::string, std::less<>>& entries() const { return map_; }

  // Whether `path` names an event field (see above).
  static bool IsEventPath(std::string_view path);

 private:
  std::map<std::string, std::string, std::less<>> map_;
};

enum class SigmaLevel : uint8_t { kInformational, kLow, kMedium, kHigh, kCritical };
std::string_view SigmaLevelName(SigmaLevel level);  // "informational", ...

namespace sigma_internal {
struct Detection;  // the compiled selections and condition (sigma.cc)
}  // namespace sigma_internal

class SigmaRule;

// Compiles one rule file (one YAML document). `file` names it in errors. On
// failure returns InvalidArgument with "file:line: reason" and, when `error`
// is non-null, fills it with the same parts.
Result<SigmaRule> ParseSigmaRule(std::string_view yaml_text, std::string_view file, const SigmaFieldMap& fields,
                                 SigmaError* error = nullptr);

// One compiled rule. Immutable; Matches is thread-safe.
class SigmaRule {
 public:
  SigmaRule();
  ~SigmaRule();
  SigmaRule(SigmaRule&&) noexcept;
  SigmaRule& operator=(SigmaRule&&) noexcept;
  SigmaRule(const SigmaRule&) = delete;
  SigmaRule& operator=(const SigmaRule&) = delete;

  std::string id;  // the rule's id; the file name without extension when absent
  std::string title;
  std::string status;  // stable, test, experimental, deprecated, unsupported or ""
  std::string description;
  SigmaLevel level = SigmaLevel::kMedium;
  std::vector<std::string> tags;   // as written, lower-cased ("attack.t1110")
  std::string logsource_category;  // lower-cased; "" = any event
  std::string logsource_product;
  std::string logsource_service;
  std::string file;  // where it was read from
  int line = 1;      // line of the rule's first key

  // The tags in the attack namespace ("attack.t1110", "attack.credential_access").
  std::vector<std::string> AttackTags() const;
  // Whether the rule's logsource admits `e` and its condition holds.
  bool Matches(const SocEvent& e) const;

 private:
  friend Result<SigmaRule> ParseSigmaRule(std::string_view, std::string_view, const SigmaFieldMap&, SigmaError*);
  std::unique_ptr<const sigma_internal::Detection> detection_;
};

// A rule that fired: what the L8 stage and an analyst need.
struct SigmaMatch {
  std::string id;
  std::string title;
  SigmaLevel level = SigmaLevel::kMedium;
  std::vector<std::string> attack_tags;  // "attack.t1110", "attack.credential_access", ...
  std::string file;
};

// The rules of one tenant. Immutable once built.
class SigmaRuleSet {
 public:
  SigmaRuleSet() = default;
  SigmaRuleSet(std::vector<std::shared_ptr<const SigmaRule>> rules, std::vector<SigmaError> errors);

  // Appends a SigmaMatch for every rule that matches `e`, in file-name order.
  void MatchInto(const SocEvent& e, std::vector<SigmaMatch>& out) const;
  std::vector<SigmaMatch> Match(const SocEvent& e) const;

  const std::vector<std::shared_ptr<const SigmaRule>>& rules() const { return rules_; }
  // The files refused at the load that built this set.
  const std::vector<SigmaError>& errors() const { return errors_; }
  size_t size() const { return rules_.size(); }

 private:
  std::vector<std::shared_ptr<const SigmaRule>> rules_;
  std::vector<SigmaError> errors_;
};

// Loads every *.yml / *.yaml file of `dir` (not recursive, hidden files
// skipped), in name order, at most kSigmaMaxRuleFiles. A missing directory is
// an empty set; unreadable or invalid files and duplicate ids are reported
// in the set's errors().
SigmaRuleSet LoadSigmaDirectory(const std::string& dir, const SigmaFieldMap& fields);

class SigmaRuleStore {
 public:
  // `dir` holds one sub-directory per tenant (lower-case id). `log` (may be
  // null) receives reload and refusal messages; it must outlive the store.
  SigmaRuleStore(std::string dir, SigmaFieldMap fields,
                 std::chrono::milliseconds poll_interval = std::chrono::seconds(1), const Logger* log = nullptr);

  // The tenant's rules in force, re-read first when the poll interval has
  // passed and a file changed. Never null: an invalid tenant id or a missing
  // directory gives an empty set.
  std::shared_ptr<const SigmaRuleSet> Rules(const std::string& tenant);

  // The tenant's rules that match `e`. Only `tenant`'s own rules are ever
  // consulted, and an event that names another tenant matches nothing.
  std::vector<SigmaMatch> Match(const std::string& tenant, const SocEvent& e);
  // The same for an event as JSON text (ParseEvent's checks; its error when
  // the event is invalid).
  Result<std::vector<SigmaMatch>> MatchJson(const std::string& tenant, std::string_view event_json);

  // The files refused at the tenant's last load (empty when all loaded).
  std::vector<SigmaError> Errors(const std::string& tenant);
  // <dir>/<tenant lower>; "" for an invalid tenant id.
  std::string DirFor(const std::string& tenant) const;
  const std::string& dir() const { return dir_; }

 private:
  struct FileState {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    std::shared_ptr<const SigmaRule> good;  // last version that compiled
    std::string error;                      // why the current version is refused ("" if it is not)
    SigmaError detail;
  };
  struct Entry {
    std::shared_ptr<const SigmaRuleSet> set;
    std::map<std::string, FileState> files;  // by file name
    std::chrono::steady_clock::time_point checked{};
  };
  void Reload(const std::string& tenant, Entry& entry) DSMIL_REQUIRES(mu_);

  std::string dir_;
  SigmaFieldMap fields_;
  std::chrono::milliseconds poll_;
  const Logger* log_;
  Mutex mu_;
  std::map<std::string, Entry> entries_ DSMIL_GUARDED_BY(mu_);
};

}  // namespace dsmil::soc
