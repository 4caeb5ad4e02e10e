#include "devices/soc/event.h"

#include <cmath>
#include <cstdio>
#include <random>

#include <nlohmann/json.hpp>

#include "core/log.h"

namespace dsmil::soc {
namespace {

using json = nlohmann::json;

constexpr std::string_view kCategoryNames[kCategoryCount] = {"NETWORK",  "CRYPTO",  "SOC",
                                                             "IDENTITY", "MALWARE", "INSIDER"};
constexpr std::string_view kSeverityNames[kSeverityCount] = {"LOW", "MEDIUM", "HIGH", "CRITICAL"};

struct FlagInfo {
  std::string_view name;
  int device;
  std::string_view group;
};
constexpr FlagInfo kFlags[kFlagCount] = {
    {"LAYER_DISCREPANCY", 51, "advml_flags"},       {"POSSIBLE_LOG_TAMPER", 51, "advml_flags"},
    {"CAMPAIGN_SUSPECTED", 52, "analytics_flags"},  {"MULTI_VECTOR", 52, "analytics_flags"},
    {"NON_PQC_CHANNEL", 53, "crypto_flags"},        {"DEPRECATED_TLS", 53, "crypto_flags"},
    {"IOC_MATCH", 54, "threat_intel_flags"},        {"OFF_HOURS_ACCESS", 55, "biometrics_flags"},
    {"BIOMETRIC_MISMATCH", 55, "biometrics_flags"}, {"ATTESTATION_FAILED", 56, "enclave_flags"},
    {"SUSPICIOUS_EGRESS", 57, "netsec_flags"},      {"PORT_SCAN", 57, "netsec_flags"},
};
constexpr std::string_view kGroups[] = {"advml_flags",      "analytics_flags", "crypto_flags", "threat_intel_flags",
                                        "biometrics_flags", "enclave_flags",   "netsec_flags"};

int BitIndex(uint32_t bit) {
  if (bit == 0 || (bit & (bit - 1)) != 0) return -1;
  int i = __builtin_ctz(bit);
  return i < kFlagCount ? i : -1;
}

Status Bad(std::string_view field, std::string_view what) {
  return Status::InvalidArgument("event: " + std::string(field) + ": " + std::string(what));
}

std::string TypeName(const json& v) { return v.type_name(); }

// Printable, no control characters, bounded.
Status CheckString(std::string_view field, const std::string& s, size_t min_len, size_t max_len) {
  if (s.size() < min_len) return Bad(field, "must not be empty");
  if (s.size() > max_len) {
    return Bad(field, "is " + std::to_string(s.size()) + " bytes, at most " + std::to_string(max_len) + " allowed");
  }
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return Bad(field, "contains a control character");
  }
  return Status::Ok();
}

Result<std::string> GetString(const json& v, std::string_view field, size_t min_len = 1,
                              size_t max_len = kMaxStringBytes) {
  if (!v.is_string()) return Bad(field, "must be a string, got " + TypeName(v));
  std::string s = v.get<std::string>();
  DSMIL_RETURN_IF_ERROR(CheckString(field, s, min_len, max_len));
  return s;
}

Result<int64_t> GetInt(const json& v, std::string_view field, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) {
      return Bad(field,
                 "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + v.dump());
    }
    x = v.get<int64_t>();
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) {
      return Bad(field, "must be an integer, got " + v.dump());
    }
    x = int64_t(d);
  } else {
    return Bad(field, "must be an integer, got " + TypeName(v));
  }
  if (x < lo || x > hi) {
    return Bad(field, "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " +
                          std::to_string(x));
  }
  return x;
}

Result<double> GetUnit(const json& v, std::string_view field) {
  if (!v.is_number()) return Bad(field, "must be a number in [0,1], got " + TypeName(v));
  double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || d > 1) return Bad(field, "must be a number in [0,1], got " + v.dump());
  return d;
}

constexpr int64_t kMaxTsMs = kMaxEventTsMs;
constexpr int64_t kMaxCount = int64_t(1) << 50;

struct PipelineFieldInfo {
  uint32_t bit;
  std::string_view key;
  std::string_view writer;
};
// In the order a refusal names them: the most consequential first.
constexpr PipelineFieldInfo kPipelineFields[] = {
    {kFieldSoar, "soar", "device 58"},
    {kFieldEnriched, "enriched", "device 58"},
    {kFieldL8, "l8_enrichment", "L8, devices 51-57"},
    {kFieldL4, "l4", "L4, devices 23-32"},
    {kFieldL3, "l3", "L3, devices 14-22"},
    {kFieldIngestTs, "ingest_ts_ms", "ingest"},
};

Status PipelineOnly(const PipelineFieldInfo& f) {
  return Status::PermissionDenied("event: field '" + std::string(f.key) + "' is written by the pipeline (" +
                                  std::string(f.writer) + ") and cannot be supplied by a client");
}

// ts_ms within [2000-01-01, 2100-01-01) and, with a clock, not too far ahead
// of it. A value that reads as a date in seconds or microseconds is named so.
Status CheckEventTime(int64_t ts, const ParseOptions& o) {
  const std::string got = std::to_string(ts);
  if (ts < kMinEventTsMs) {
    if (ts >= kMinEventTsMs / 1000 && ts < kMaxEventTsMs / 1000) {
      return Bad("ts_ms", got +
                              " is before 2000-01-01: it looks like seconds since the Unix epoch; send milliseconds (" +
                              got + "000)");
    }
    return Bad("ts_ms", "must be milliseconds since the Unix epoch from 2000-01-01 (" + std::to_string(kMinEventTsMs) +
                            ") on, got " + got);
  }
  if (ts >= kMaxEventTsMs) {
    if (ts / 1000 >= kMinEventTsMs && ts / 1000 < kMaxEventTsMs) {
      return Bad("ts_ms",
                 got + " is after 2100-01-01: it looks like microseconds since the Unix epoch; send milliseconds (" +
                     std::to_string(ts / 1000) + ")");
    }
    return Bad("ts_ms", "must be milliseconds since the Unix epoch before 2100-01-01 (" +
                            std::to_string(kMaxEventTsMs) + "), got " + got);
  }
  if (o.max_future_ms > 0 && o.now_ms > 0 && ts > o.now_ms + o.max_future_ms) {
    return Bad("ts_ms", got + " is " + std::to_string((ts - o.now_ms) / 60000) + " minutes in the future; at most " +
                            std::to_string(o.max_future_ms / 3600000) + " h ahead of the platform clock (" +
                            std::to_string(o.now_ms) + ") is accepted");
  }
  return Status::Ok();
}

Status ParseFeatures(const json& f, Features& out) {
  if (!f.is_object()) return Bad("features", "must be an object, got " + TypeName(f));
  struct StrField {
    const char* name;
    std::string Features::*member;
  };
  static const StrField kStr[] = {
      {"src_ip", &Features::src_ip},
      {"dst_ip", &Features::dst_ip},
      {"src_host", &Features::src_host},
      {"dst_domain", &Features::dst_domain},
      {"user", &Features::user},
      {"process", &Features::process},
      {"protocol", &Features::protocol},
      {"tls_version", &Features::tls_version},
      {"kex", &Features::kex},
      {"file_hash", &Features::file_hash},
      {"enclave_attestation", &Features::enclave_attestation},
      {"signature", &Features::signature},
  };
  struct IntField {
    const char* name;
    std::optional<int64_t> Features::*member;
    int64_t lo, hi;
  };
  static const IntField kInt[] = {
      {"dst_port", &Features::dst_port, 0, 65535},
      {"bytes_in", &Features::bytes_in, 0, kMaxCount},
      {"bytes_out", &Features::bytes_out, 0, kMaxCount},
      {"conn_count", &Features::conn_count, 0, kMaxCount},
      {"failed_logins", &Features::failed_logins, 0, kMaxCount},
      {"distinct_ports", &Features::distinct_ports, 0, 65536},
      {"login_hour", &Features::login_hour, 0, 23},
  };
  for (auto it = f.begin(); it != f.end(); ++it) {
    const std::string& key = it.key();
    std::string field = "features." + key;
    bool known = false;
    for (const auto& s : kStr) {
      if (key == s.name) {
        DSMIL_ASSIGN_OR_RETURN(std::string v, GetString(*it, field));
        out.*(s.member) = std::move(v);
        known = true;
        break;
      }
    }
    if (known) continue;
    for (const auto& s : kInt) {
      if (key == s.name) {
        DSMIL_ASSIGN_OR_RETURN(int64_t v, GetInt(*it, field, s.lo, s.hi));
        out.*(s.member) = v;
        known = true;
        break;
      }
    }
    if (known) continue;
    if (key == "biometric_score") {
      DSMIL_ASSIGN_OR_RETURN(out.biometric_score, GetUnit(*it, field));
      continue;
    }
    if (key == "anomaly_score") {
      DSMIL_ASSIGN_OR_RETURN(out.anomaly_score, GetUnit(*it, field));
      continue;
    }
    DSMIL_RETURN_IF_ERROR(CheckString("features key", key, 1, 64));
    if (out.extra.size() >= kMaxExtraFeatures) {
      return Bad("features", "more than " + std::to_string(kMaxExtraFeatures) + " unknown keys");
    }
    std::string text = it->dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > 4096) return Bad(field, "value is larger than 4096 bytes");
    out.extra.emplace_back(key, std::move(text));
  }
  if (!out.enclave_attestation.empty() && out.enclave_attestation != "ok" && out.enclave_attestation != "failed" &&
      out.enclave_attestation != "unknown") {
    return Bad("features.enclave_attestation", "must be ok, failed or unknown, got '" + out.enclave_attestation + "'");
  }
  return Status::Ok();
}

Status ParseL3(const json& v, L3Result& out) {
  if (!v.is_object()) return Bad("l3", "must be an object, got " + TypeName(v));
  if (!v.contains("score")) return Bad("l3.score", "is required");
  DSMIL_ASSIGN_OR_RETURN(out.score, GetUnit(v["score"], "l3.score"));
  if (v.contains("decision")) {
    DSMIL_ASSIGN_OR_RETURN(out.decision, GetString(v["decision"], "l3.decision", 1, 32));
  }
  if (v.contains("device")) {
    DSMIL_ASSIGN_OR_RETURN(int64_t d, GetInt(v["device"], "l3.device", 0, 103));
    out.device = int(d);
  }
  if (v.contains("ts_ms")) {
    DSMIL_ASSIGN_OR_RETURN(out.ts_ms, GetInt(v["ts_ms"], "l3.ts_ms", 0, kMaxTsMs));
  }
  out.present = true;
  return Status::Ok();
}

Status ParseL4(const json& v, L4Result& out) {
  if (!v.is_object()) return Bad("l4", "must be an object, got " + TypeName(v));
  if (v.contains("category")) {
    DSMIL_ASSIGN_OR_RETURN(std::string c, GetString(v["category"], "l4.category", 1, 32));
    auto cat = ParseCategory(c);
    if (!cat) return Bad("l4.category", "unknown category '" + c + "'");
    out.category = *cat;
  } else {
    return Bad("l4.category", "is required");
  }
  if (v.contains("severity")) {
    DSMIL_ASSIGN_OR_RETURN(std::string s, GetString(v["severity"], "l4.severity", 1, 32));
    auto sev = ParseSeverity(s);
    if (!sev) return Bad("l4.severity", "unknown severity '" + s + "' (LOW, MEDIUM, HIGH, CRITICAL)");
    out.severity = *sev;
  } else {
    return Bad("l4.severity", "is required");
  }
  if (!v.contains("confidence")) return Bad("l4.confidence", "is required");
  DSMIL_ASSIGN_OR_RETURN(out.confidence, GetUnit(v["confidence"], "l4.confidence"));
  if (v.contains("device")) {
    DSMIL_ASSIGN_OR_RETURN(int64_t d, GetInt(v["device"], "l4.device", 0, 103));
    out.device = int(d);
  }
  if (v.contains("ts_ms")) {
    DSMIL_ASSIGN_OR_RETURN(out.ts_ms, GetInt(v["ts_ms"], "l4.ts_ms", 0, kMaxTsMs));
  }
  out.present = true;
  return Status::Ok();
}

Status ParseL8(const json& v, L8Enrichment& out) {
  if (!v.is_object()) return Bad("l8_enrichment", "must be an object, got " + TypeName(v));
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& key = it.key();
    std::string field = "l8_enrichment." + key;
    if (key == "ts_ms") {
      DSMIL_ASSIGN_OR_RETURN(out.ts_ms, GetInt(*it, field, 0, kMaxTsMs));
      continue;
    }
    if (key == "sigma") {
      if (!it->is_array()) return Bad(field, "must be an array of rule hits");
      if (it->size() > kMaxSigmaHits) return Bad(field, "has more than " + std::to_string(kMaxSigmaHits) + " items");
      for (size_t i = 0; i < it->size(); ++i) {
        const json& h = (*it)[i];
        std::string at = field + "[" + std::to_string(i) + "]";
        if (!h.is_object()) return Bad(at, "must be an object {id, title, level, attack}");
        SigmaHit hit;
        for (auto f = h.begin(); f != h.end(); ++f) {
          std::string fk = at + "." + f.key();
          if (f.key() == "id") {
            DSMIL_ASSIGN_OR_RETURN(hit.id, GetString(*f, fk, 1, 128));
          } else if (f.key() == "title") {
            DSMIL_ASSIGN_OR_RETURN(hit.title, GetString(*f, fk, 0, 256));
          } else if (f.key() == "level") {
            DSMIL_ASSIGN_OR_RETURN(hit.level, GetString(*f, fk, 0, 16));
          } else if (f.key() == "attack") {
            if (!f->is_array() || f->size() > kMaxSigmaHitTags) {
              return Bad(fk, "must be an array of at most " + std::to_string(kMaxSigmaHitTags) + " tags");
            }
            for (const auto& t : *f) {
              DSMIL_ASSIGN_OR_RETURN(std::string tag, GetString(t, fk, 1, 128));
              hit.attack.push_back(std::move(tag));
            }
          } else {
            return Bad(fk, "unknown key");
          }
        }
        if (hit.id.empty()) return Bad(at + ".id", "missing");
        out.sigma.push_back(std::move(hit));
      }
      continue;
    }
    if (key == "ioc_matches") {
      if (!it->is_array()) return Bad(field, "must be an array");
      if (it->size() > kMaxIocMatches) return Bad(field, "has more than " + std::to_string(kMaxIocMatches) + " items");
      for (const auto& m : *it) {
        DSMIL_ASSIGN_OR_RETURN(std::string s, GetString(m, field));
        out.ioc_matches.push_back(std::move(s));
      }
      continue;
    }
    bool group = false;
    for (auto g : kGroups) group = group || key == g;
    if (!group) return Bad(field, "unknown key");
    if (!it->is_array()) return Bad(field, "must be an array of flag names");
    if (it->size() > size_t(kFlagCount)) return Bad(field, "has too many flags");
    for (const auto& f : *it) {
      DSMIL_ASSIGN_OR_RETURN(std::string name, GetString(f, field, 1, 64));
      uint32_t bit = ParseFlag(name);
      if (bit == 0) return Bad(field, "unknown flag '" + name + "'");
      if (FlagGroup(bit) != key) return Bad(field, "flag " + name + " belongs to " + std::string(FlagGroup(bit)));
      out.flags |= bit;
    }
  }
  out.present = true;
  return Status::Ok();
}

Status ParseSoar(const json& v, std::vector<Proposal>& out) {
  if (!v.is_object()) return Bad("soar", "must be an object, got " + TypeName(v));
  if (!v.contains("proposals")) return Status::Ok();
  const json& p = v["proposals"];
  if (!p.is_array()) return Bad("soar.proposals", "must be an array");
  if (p.size() > kMaxProposals) {
    return Bad("soar.proposals", "has more than " + std::to_string(kMaxProposals) + " items");
  }
  for (size_t i = 0; i < p.size(); ++i) {
    std::string f = "soar.proposals[" + std::to_string(i) + "]";
    if (!p[i].is_object()) return Bad(f, "must be an object");
    Proposal pr;
    if (!p[i].contains("action")) return Bad(f + ".action", "is required");
    DSMIL_ASSIGN_OR_RETURN(pr.action, GetString(p[i]["action"], f + ".action", 1, 32));
    if (p[i].contains("target")) {
      DSMIL_ASSIGN_OR_RETURN(pr.target, GetString(p[i]["target"], f + ".target", 0));
    }
    if (p[i].contains("reason")) {
      DSMIL_ASSIGN_OR_RETURN(pr.reason, GetString(p[i]["reason"], f + ".reason", 0));
    }
    out.push_back(std::move(pr));
  }
  return Status::Ok();
}

bool ValidTenantName(std::string_view t) {
  if (t.empty() || t.size() > 32 || t[0] < 'A' || t[0] > 'Z') return false;
  for (char c : t) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void AppendNumber(std::string& out, double d) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.6g", d);
  out.append(buf, size_t(n));
}

void AppendKey(std::string& out, bool& first, std::string_view key) {
  if (!first) out.push_back(',');
  first = false;
  AppendJsonString(out, key);
  out.push_back(':');
}

bool ContainsIgnoreCase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t j = 0;
    for (; j < needle.size(); ++j) {
      char a = hay[i + j];
      if (a >= 'a' && a <= 'z') a = char(a - 'a' + 'A');
      if (a != needle[j]) break;
    }
    if (j == needle.size()) return true;
  }
  return false;
}

}  // namespace

std::string_view PipelineFieldKey(uint32_t field) {
  for (const auto& f : kPipelineFields) {
    if (f.bit == field) return f.key;
  }
  return {};
}
std::string_view PipelineFieldWriter(uint32_t field) {
  for (const auto& f : kPipelineFields) {
    if (f.bit == field) return f.writer;
  }
  return {};
}

std::string_view CategoryName(Category c) { return kCategoryNames[int(c)]; }
std::string_view SeverityName(Severity s) { return kSeverityNames[int(s)]; }
std::optional<Category> ParseCategory(std::string_view name) {
  for (int i = 0; i < kCategoryCount; ++i) {
    if (kCategoryNames[i] == name) return Category(i);
  }
  return std::nullopt;
}
std::optional<Severity> ParseSeverity(std::string_view name) {
  for (int i = 0; i < kSeverityCount; ++i) {
    if (kSeverityNames[i] == name) return Severity(i);
  }
  return std::nullopt;
}

std::string_view FlagName(uint32_t bit) {
  int i = BitIndex(bit);
  return i < 0 ? std::string_view() : kFlags[i].name;
}
uint32_t ParseFlag(std::string_view name) {
  for (int i = 0; i < kFlagCount; ++i) {
    if (kFlags[i].name == name) return 1u << i;
  }
  return 0;
}
int FlagDevice(uint32_t bit) {
  int i = BitIndex(bit);
  return i < 0 ? 0 : kFlags[i].device;
}
std::string_view FlagGroup(uint32_t bit) {
  int i = BitIndex(bit);
  return i < 0 ? std::string_view() : kFlags[i].group;
}
std::string FlagsString(uint32_t flags) {
  std::string out;
  for (int i = 0; i < kFlagCount; ++i) {
    if (!(flags & (1u << i))) continue;
    if (!out.empty()) out += ", ";
    out += kFlags[i].name;
  }
  return out;
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32)};
  uint64_t a = rng(), b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", unsigned(a >> 32), unsigned((a >> 16) & 0xFFFF),
                unsigned(a & 0xFFFF), unsigned(b >> 48), static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFull));
  return buf;
}

Result<SocEvent> ParseEvent(std::string_view text, std::string_view tenant, const ParseOptions& options) {
  if (text.size() > kMaxEventBytes) {
    return Status::InvalidArgument("event: " + std::to_string(text.size()) + " bytes, at most " +
                                   std::to_string(kMaxEventBytes) + " allowed");
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("event: not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("event: must be a JSON object, got " + TypeName(j));
  if (!ValidTenantName(tenant)) return Status::InvalidArgument("event: invalid tenant '" + std::string(tenant) + "'");
  if (options.pipeline_fields != kAllPipelineFields) {
    for (const auto& f : kPipelineFields) {
      if ((options.pipeline_fields & f.bit) == 0 && j.contains(std::string(f.key))) return PipelineOnly(f);
    }
  }
  SocEvent e;
  bool has_ts = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (key == "event_id") {
      DSMIL_ASSIGN_OR_RETURN(e.event_id, GetString(*it, "event_id", 1, 64));
      if (!IsUuid(e.event_id)) return Bad("event_id", "must be a UUID (8-4-4-4-12 hex), got '" + e.event_id + "'");
    } else if (key == "tenant") {
      DSMIL_ASSIGN_OR_RETURN(e.tenant, GetString(*it, "tenant", 1, 32));
      if (e.tenant != tenant) {
        return Bad("tenant", "'" + e.tenant + "' does not match the stream's tenant '" + std::string(tenant) + "'");
      }
    } else if (key == "ts_ms") {
      DSMIL_ASSIGN_OR_RETURN(e.ts_ms, GetInt(*it, "ts_ms", INT64_MIN, INT64_MAX));
      DSMIL_RETURN_IF_ERROR(CheckEventTime(e.ts_ms, options));
      has_ts = true;
    } else if (key == "ingest_ts_ms") {
      DSMIL_ASSIGN_OR_RETURN(e.ingest_ts_ms, GetInt(*it, "ingest_ts_ms", 0, kMaxTsMs));
    } else if (key == "source") {
      DSMIL_ASSIGN_OR_RETURN(e.source, GetString(*it, "source", 1, 128));
    } else if (key == "features") {
      DSMIL_RETURN_IF_ERROR(ParseFeatures(*it, e.features));
    } else if (key == "l3") {
      DSMIL_RETURN_IF_ERROR(ParseL3(*it, e.l3));
    } else if (key == "l4") {
      DSMIL_RETURN_IF_ERROR(ParseL4(*it, e.l4));
    } else if (key == "l8_enrichment") {
      DSMIL_RETURN_IF_ERROR(ParseL8(*it, e.l8));
    } else if (key == "soar") {
      DSMIL_RETURN_IF_ERROR(ParseSoar(*it, e.proposals));
    } else if (key == "enriched") {
      if (!it->is_boolean()) return Bad("enriched", "must be true or false, got " + TypeName(*it));
      e.enriched = it->get<bool>();
    } else {
      return Bad(key, "unknown field (see docs/events.md)");
    }
  }
  if (e.event_id.empty()) {
    if (!options.assign_missing_id) return Bad("event_id", "is required");
    e.event_id = NewUuid();
  }
  if (e.tenant.empty()) e.tenant = std::string(tenant);
  if (!has_ts) return Bad("ts_ms", "is required (event time, ms since the Unix epoch)");
  if (e.source.empty()) return Bad("source", "is required");
  if (e.ingest_ts_ms == 0 && options.now_ms > 0) e.ingest_ts_ms = options.now_ms;
  return e;
}

Status ValidateEvent(const SocEvent& e) {
  if (!IsUuid(e.event_id)) return Bad("event_id", "must be a UUID, got '" + e.event_id + "'");
  if (!ValidTenantName(e.tenant)) return Bad("tenant", "invalid tenant '" + e.tenant + "'");
  DSMIL_RETURN_IF_ERROR(CheckEventTime(e.ts_ms, ParseOptions{}));
  DSMIL_RETURN_IF_ERROR(CheckString("source", e.source, 1, 128));
  if (e.l3.present && !(e.l3.score >= 0 && e.l3.score <= 1)) return Bad("l3.score", "must be in [0,1]");
  if (e.l4.present && !(e.l4.confidence >= 0 && e.l4.confidence <= 1)) return Bad("l4.confidence", "must be in [0,1]");
  if (e.proposals.size() > kMaxProposals) return Bad("soar.proposals", "too many");
  return Status::Ok();
}

Status CheckPipelineFields(const SocEvent& e, uint32_t allowed) {
  for (const auto& f : kPipelineFields) {
    if ((allowed & f.bit) != 0) continue;
    bool present = false;
    switch (f.bit) {
      case kFieldIngestTs:
        present = e.ingest_ts_ms > 0;
        break;
      case kFieldL3:
        present = e.l3.present;
        break;
      case kFieldL4:
        present = e.l4.present;
        break;
      case kFieldL8:
        present = e.l8.present;
        break;
      case kFieldSoar:
        present = !e.proposals.empty();
        break;
      case kFieldEnriched:
        present = e.enriched;
        break;
    }
    if (present) return PipelineOnly(f);
  }
  return Status::Ok();
}

std::string EventToJson(const SocEvent& e) {
  std::string out;
  out.reserve(512);
  out.push_back('{');
  bool first = true;
  AppendKey(out, first, "event_id");
  AppendJsonString(out, e.event_id);
  AppendKey(out, first, "tenant");
  AppendJsonString(out, e.tenant);
  AppendKey(out, first, "ts_ms");
  out += std::to_string(e.ts_ms);
  if (e.ingest_ts_ms > 0) {
    AppendKey(out, first, "ingest_ts_ms");
    out += std::to_string(e.ingest_ts_ms);
  }
  AppendKey(out, first, "source");
  AppendJsonString(out, e.source);

  AppendKey(out, first, "features");
  out.push_back('{');
  {
    const Features& f = e.features;
    bool ff = true;
    auto str = [&](std::string_view k, const std::string& v) {
      if (v.empty()) return;
      AppendKey(out, ff, k);
      AppendJsonString(out, v);
    };
    auto num = [&](std::string_view k, const std::optional<int64_t>& v) {
      if (!v) return;
      AppendKey(out, ff, k);
      out += std::to_string(*v);
    };
    auto dbl = [&](std::string_view k, const std::optional<double>& v) {
      if (!v) return;
      AppendKey(out, ff, k);
      AppendNumber(out, *v);
    };
    str("src_ip", f.src_ip);
    str("dst_ip", f.dst_ip);
    str("src_host", f.src_host);
    str("dst_domain", f.dst_domain);
    str("user", f.user);
    str("process", f.process);
    str("protocol", f.protocol);
    str("tls_version", f.tls_version);
    str("kex", f.kex);
    str("file_hash", f.file_hash);
    str("enclave_attestation", f.enclave_attestation);
    str("signature", f.signature);
    num("dst_port", f.dst_port);
    num("bytes_in", f.bytes_in);
    num("bytes_out", f.bytes_out);
    num("conn_count", f.conn_count);
    num("failed_logins", f.failed_logins);
    num("distinct_ports", f.distinct_ports);
    num("login_hour", f.login_hour);
    dbl("biometric_score", f.biometric_score);
    dbl("anomaly_score", f.anomaly_score);
    for (const auto& [k, v] : f.extra) {
      AppendKey(out, ff, k);
      out += v;
    }
  }
  out.push_back('}');

  if (e.l3.present) {
    AppendKey(out, first, "l3");
    out += "{\"score\":";
    AppendNumber(out, e.l3.score);
    if (!e.l3.decision.empty()) {
      out += ",\"decision\":";
      AppendJsonString(out, e.l3.decision);
    }
    if (e.l3.device) out += ",\"device\":" + std::to_string(e.l3.device);
    if (e.l3.ts_ms) out += ",\"ts_ms\":" + std::to_string(e.l3.ts_ms);
    out.push_back('}');
  }
  if (e.l4.present) {
    AppendKey(out, first, "l4");
    out += "{\"category\":\"";
    out += CategoryName(e.l4.category);
    out += "\",\"severity\":\"";
    out += SeverityName(e.l4.severity);
    out += "\",\"confidence\":";
    AppendNumber(out, e.l4.confidence);
    if (e.l4.device) out += ",\"device\":" + std::to_string(e.l4.device);
    if (e.l4.ts_ms) out += ",\"ts_ms\":" + std::to_string(e.l4.ts_ms);
    out.push_back('}');
  }
  if (e.l8.present) {
    AppendKey(out, first, "l8_enrichment");
    out.push_back('{');
    bool lf = true;
    for (auto g : kGroups) {
      AppendKey(out, lf, g);
      out.push_back('[');
      bool gf = true;
      for (int i = 0; i < kFlagCount; ++i) {
        if (!(e.l8.flags & (1u << i)) || kFlags[i].group != g) continue;
        if (!gf) out.push_back(',');
        gf = false;
        AppendJsonString(out, kFlags[i].name);
      }
      out.push_back(']');
    }
    AppendKey(out, lf, "ioc_matches");
    out.push_back('[');
    for (size_t i = 0; i < e.l8.ioc_matches.size(); ++i) {
      if (i) out.push_back(',');
      AppendJsonString(out, e.l8.ioc_matches[i]);
    }
    out.push_back(']');
    if (!e.l8.sigma.empty()) {
      AppendKey(out, lf, "sigma");
      out.push_back('[');
      for (size_t i = 0; i < e.l8.sigma.size(); ++i) {
        const SigmaHit& h = e.l8.sigma[i];
        if (i) out.push_back(',');
        out += "{\"id\":";
        AppendJsonString(out, h.id);
        out += ",\"title\":";
        AppendJsonString(out, h.title);
        out += ",\"level\":";
        AppendJsonString(out, h.level);
        out += ",\"attack\":[";
        for (size_t j = 0; j < h.attack.size(); ++j) {
          if (j) out.push_back(',');
          AppendJsonString(out, h.attack[j]);
        }
        out += "]}";
      }
      out.push_back(']');
    }
    if (e.l8.ts_ms) {
      AppendKey(out, lf, "ts_ms");
      out += std::to_string(e.l8.ts_ms);
    }
    out.push_back('}');
  }
  if (e.l8.present || !e.proposals.empty()) {
    AppendKey(out, first, "soar");
    out += "{\"proposals\":[";
    for (size_t i = 0; i < e.proposals.size(); ++i) {
      if (i) out.push_back(',');
      out += "{\"action\":";
      AppendJsonString(out, e.proposals[i].action);
      out += ",\"target\":";
      AppendJsonString(out, e.proposals[i].target);
      out += ",\"reason\":";
      AppendJsonString(out, e.proposals[i].reason);
      out.push_back('}');
    }
    out += "]}";
  }
  if (e.enriched) {
    AppendKey(out, first, "enriched");
    out += "true";
  }
  out.push_back('}');
  return out;
}

std::string DeadLetterJson(std::string_view reason, std::string_view stage, int64_t ts_ms, std::string_view payload) {
  if (payload.size() > kMaxEventBytes) payload = payload.substr(0, kMaxEventBytes);
  std::string out = "{\"reason\":";
  AppendJsonString(out, reason);
  out += ",\"stage\":";
  AppendJsonString(out, stage);
  out += ",\"ts_ms\":" + std::to_string(ts_ms) + ",\"payload\":";
  AppendJsonString(out, payload);
  out.push_back('}');
  return out;
}

bool IsPostQuantumKex(std::string_view kex) {
  return ContainsIgnoreCase(kex, "MLKEM") || ContainsIgnoreCase(kex, "ML-KEM") || ContainsIgnoreCase(kex, "KYBER") ||
         ContainsIgnoreCase(kex, "SNTRUP") || ContainsIgnoreCase(kex, "FRODO") || ContainsIgnoreCase(kex, "HQC");
}

}  // namespace dsmil::soc
