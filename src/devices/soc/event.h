// The SOC event: what flows through {T}_L3_IN -> L3 -> L4 -> SOC_EVENTS -> L8
// -> archive (docs/events.md is the schema; this header is its C++ form).
//
// Events travel as JSON text; they are parsed once per stage into SocEvent, a
// plain struct the analytics read without touching JSON, and written back
// with EventToJson. Parsing never trusts its input: every field is checked
// for type, range and size, and the error names the field
// ("event: features.dst_port: must be an integer in 0..65535, got 70000").
//
// Thread safety: free functions are thread-safe; SocEvent is a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace dsmil::soc {

// Limits (docs/events.md).
inline constexpr size_t kMaxEventBytes = 64 * 1024;
inline constexpr size_t kMaxStringBytes = 256;
inline constexpr size_t kMaxExtraFeatures = 32;
inline constexpr size_t kMaxProposals = 16;
inline constexpr size_t kMaxIocMatches = 16;
// l8_enrichment.sigma: at most this many rule hits, each with at most
// kMaxSigmaHitTags ATT&CK tags.
inline constexpr size_t kMaxSigmaHits = 32;
inline constexpr size_t kMaxSigmaHitTags = 16;

enum class Category : uint8_t { kNetwork, kCrypto, kSoc, kIdentity, kMalware, kInsider };
inline constexpr int kCategoryCount = 6;
enum class Severity : uint8_t { kLow, kMedium, kHigh, kCritical };
inline constexpr int kSeverityCount = 4;

std::string_view CategoryName(Category c);  // "NETWORK", ...
std::string_view SeverityName(Severity s);  // "LOW", ...
std::optional<Category> ParseCategory(std::string_view name);
std::optional<Severity> ParseSeverity(std::string_view name);

// L8 flags: one bit each, grouped by the device that raises them.
enum L8Flag : uint32_t {
  kFlagLayerDiscrepancy = 1u << 0,   // 51 advml_flags
  kFlagPossibleLogTamper = 1u << 1,  // 51
  kFlagCampaignSuspected = 1u << 2,  // 52 analytics_flags
  kFlagMultiVector = 1u << 3,        // 52
  kFlagNonPqcChannel = 1u << 4,      // 53 crypto_flags
  kFlagDeprecatedTls = 1u << 5,      // 53
  kFlagIocMatch = 1u << 6,           // 54 threat_intel_flags
  kFlagOffHoursAccess = 1u << 7,     // 55 biometrics_flags
  kFlagBiometricMismatch = 1u << 8,  // 55
  kFlagAttestationFailed = 1u << 9,  // 56 enclave_flags
  kFlagSuspiciousEgress = 1u << 10,  // 57 netsec_flags
  kFlagPortScan = 1u << 11,          // 57
};
inline constexpr int kFlagCount = 12;
// "LAYER_DISCREPANCY", ... for one bit; "" for an unknown bit.
std::string_view FlagName(uint32_t bit);
// The bit for a name, or 0.
uint32_t ParseFlag(std::string_view name);
// The device (51..57) that raises `bit`, and its l8_enrichment group key
// ("advml_flags", ...).
int FlagDevice(uint32_t bit);
std::string_view FlagGroup(uint32_t bit);
// "CAMPAIGN_SUSPECTED, MULTI_VECTOR" in bit order; "" for 0.
std::string FlagsString(uint32_t flags);

// The optional, typed sensor features (docs/events.md lists each one).
struct Features {
  std::string src_ip, dst_ip, src_host, dst_domain, user, process, protocol;
  std::string tls_version, kex, file_hash, enclave_attestation, signature;
  std::optional<int64_t> dst_port, bytes_in, bytes_out, conn_count, failed_logins, distinct_ports, login_hour;
  std::optional<double> biometric_score, anomaly_score;
  // Other keys, kept verbatim: (key, JSON value text).
  std::vector<std::pair<std::string, std::string>> extra;
};

struct L3Result {
  bool present = false;
  double score = 0;      // [0,1]
  std::string decision;  // PRIORITY, STANDARD, ROUTINE
  int device = 0;
  int64_t ts_ms = 0;
};

struct L4Result {
  bool present = false;
  Category category = Category::kSoc;
  Severity severity = Severity::kLow;
  double confidence = 0;  // [0,1]
  int device = 0;
  int64_t ts_ms = 0;
};

// A Sigma rule of the tenant that matched the event (l8/sigma.h;
// l8_enrichment.sigma in the event JSON).
struct SigmaHit {
  std::string id;                   // the rule's id
  std::string title;                // its title
  std::string level;                // informational, low, medium, high, critical
  std::vector<std::string> attack;  // its ATT&CK tags: "attack.t1110", "attack.credential_access"
};

struct L8Enrichment {
  bool present = false;
  uint32_t flags = 0;                    // L8Flag bits
  std::vector<std::string> ioc_matches;  // indicators that matched (device 54)
  std::vector<SigmaHit> sigma;           // the tenant's Sigma rules that matched
  int64_t ts_ms = 0;
};

struct Proposal {
  std::string action;  // ISOLATE_HOST, BLOCK_DOMAIN, ALERT_ONLY, ...
  std::string target;  // host, domain, ip, or "" for ALERT_ONLY
  std::string reason;  // the flag or severity that led to it
};

struct SocEvent {
  std::string event_id;  // UUID
  std::string tenant;
  int64_t ts_ms = 0;         // event time
  int64_t ingest_ts_ms = 0;  // when the platform took it in (0 = unknown)
  std::string source;
  Features features;
  L3Result l3;
  L4Result l4;
  L8Enrichment l8;
  std::vector<Proposal> proposals;  // soar.proposals
  bool enriched = false;            // L8 has run on it (never re-enriched)
};

// Event time (ts_ms) bounds: before 2000-01-01 is refused everywhere (a time
// in seconds lands in 1970, and the message says so); ingest and the L3 stage
// also refuse more than kMaxFutureMs after their clock.
inline constexpr int64_t kMinEventTsMs = 946684800000;   // 2000-01-01T00:00:00Z
inline constexpr int64_t kMaxEventTsMs = 4102444800000;  // 2100-01-01T00:00:00Z
inline constexpr int64_t kMaxFutureMs = 24 * 3600 * 1000;

// Fields the platform writes, never a client (docs/events.md, "Fields the
// pipeline writes"). ParseOptions::pipeline_fields says which of them an
// event may carry where it is read.
enum PipelineField : uint32_t {
  kFieldIngestTs = 1u << 0,  // ingest_ts_ms: ingest (POST /v1/events) or the L3 stage
  kFieldL3 = 1u << 1,        // l3: L3, devices 14-22
  kFieldL4 = 1u << 2,        // l4: L4, devices 23-32
  kFieldL8 = 1u << 3,        // l8_enrichment: L8, devices 51-57
  kFieldSoar = 1u << 4,      // soar: device 58
  kFieldEnriched = 1u << 5,  // enriched: device 58
};
inline constexpr uint32_t kAllPipelineFields = 0x3f;
// What each reader accepts: a client sends raw events only; {T}_L3_IN holds
// ingest's output (raw + ingest_ts_ms), {T}_L4_IN L3's, and {T}_SOC_EVENTS
// L4's (plus L8's own enriched copies, which the L8 stage skips).
inline constexpr uint32_t kClientFields = 0;
inline constexpr uint32_t kL3InputFields = kFieldIngestTs;
inline constexpr uint32_t kL4InputFields = kFieldIngestTs | kFieldL3;
inline constexpr uint32_t kL8InputFields = kFieldIngestTs | kFieldL3 | kFieldL4;

// "soar" / "device 58" for one PipelineField bit ("" for an unknown bit).
std::string_view PipelineFieldKey(uint32_t field);
std::string_view PipelineFieldWriter(uint32_t field);

struct ParseOptions {
  // Assign a fresh UUID when event_id is absent (ingest); otherwise absent is an error.
  bool assign_missing_id = false;
  // Fills ingest_ts_ms when absent and > 0.
  int64_t now_ms = 0;
  // The pipeline-written fields (PipelineField bits) the event may carry;
  // any other one present is PermissionDenied: "event: field 'soar' is
  // written by the pipeline (device 58) and cannot be supplied by a client".
  uint32_t pipeline_fields = kAllPipelineFields;
  // When > 0 and now_ms > 0: ts_ms later than now_ms + max_future_ms is refused.
  int64_t max_future_ms = 0;
};

// Parses and validates one event of `tenant` (authoritative: a "tenant"
// field that names another tenant is refused; an absent one is filled in).
// InvalidArgument naming the field for anything out of schema.
Result<SocEvent> ParseEvent(std::string_view json, std::string_view tenant, const ParseOptions& options = {});

// Validates a struct built in code (same rules as ParseEvent).
Status ValidateEvent(const SocEvent& e);

// The struct form of ParseOptions::pipeline_fields, for an event already
// parsed: PermissionDenied naming the first pipeline-written part present
// (ingest_ts_ms > 0, l3, l4, l8_enrichment, a SOAR proposal, enriched) that
// `allowed` does not include.
Status CheckPipelineFields(const SocEvent& e, uint32_t allowed);

// Canonical JSON (docs/events.md); absent parts are omitted.
std::string EventToJson(const SocEvent& e);

// A dead-letter entry: {"reason":..., "stage":..., "ts_ms":..., "payload":...}
// (payload cut to kMaxEventBytes; invalid UTF-8 replaced).
std::string DeadLetterJson(std::string_view reason, std::string_view stage, int64_t ts_ms, std::string_view payload);

// Whether a key-exchange name (features.kex) is post-quantum or hybrid
// (contains MLKEM, ML-KEM, KYBER, SNTRUP, FRODO or HQC, any case); read by
// the L3 model's classical_kex feature and the L8 crypto flags.
bool IsPostQuantumKex(std::string_view kex);

// A random (version 4) UUID, lower-case.
std::string NewUuid();
// Whether `s` is a UUID in 8-4-4-4-12 hex form.
bool IsUuid(std::string_view s);

}  // namespace dsmil::soc
