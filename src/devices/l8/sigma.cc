#include "devices/l8/sigma.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <regex>
#include <utility>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "store/scope.h"

namespace dsmil::soc {
namespace sigma_internal {

// Every event field a rule can read (docs/events.md).
enum class FieldId : uint8_t {
  kEventId,
  kTenant,
  kSource,
  kTsMs,
  kIngestTsMs,
  kSrcIp,
  kDstIp,
  kSrcHost,
  kDstDomain,
  kUser,
  kProcess,
  kProtocol,
  kTlsVersion,
  kKex,
  kFileHash,
  kEnclaveAttestation,
  kSignature,
  kDstPort,
  kBytesIn,
  kBytesOut,
  kConnCount,
  kFailedLogins,
  kDistinctPorts,
  kLoginHour,
  kBiometricScore,
  kAnomalyScore,
  kL3Score,
  kL3Decision,
  kL3Device,
  kL4Category,
  kL4Severity,
  kL4Confidence,
  kL4Device,
  kL8Flags,
  kL8IocMatches,
  kExtra,  // features.<key> not in the schema: Features::extra
};

struct PathInfo {
  std::string_view path;
  FieldId id;
};

constexpr PathInfo kPaths[] = {
    {"event_id", FieldId::kEventId},
    {"tenant", FieldId::kTenant},
    {"source", FieldId::kSource},
    {"ts_ms", FieldId::kTsMs},
    {"ingest_ts_ms", FieldId::kIngestTsMs},
    {"features.src_ip", FieldId::kSrcIp},
    {"features.dst_ip", FieldId::kDstIp},
    {"features.src_host", FieldId::kSrcHost},
    {"features.dst_domain", FieldId::kDstDomain},
    {"features.user", FieldId::kUser},
    {"features.process", FieldId::kProcess},
    {"features.protocol", FieldId::kProtocol},
    {"features.tls_version", FieldId::kTlsVersion},
    {"features.kex", FieldId::kKex},
    {"features.file_hash", FieldId::kFileHash},
    {"features.enclave_attestation", FieldId::kEnclaveAttestation},
    {"features.signature", FieldId::kSignature},
    {"features.dst_port", FieldId::kDstPort},
    {"features.bytes_in", FieldId::kBytesIn},
    {"features.bytes_out", FieldId::kBytesOut},
    {"features.conn_count", FieldId::kConnCount},
    {"features.failed_logins", FieldId::kFailedLogins},
    {"features.distinct_ports", FieldId::kDistinctPorts},
    {"features.login_hour", FieldId::kLoginHour},
    {"features.biometric_score", FieldId::kBiometricScore},
    {"features.anomaly_score", FieldId::kAnomalyScore},
    {"l3.score", FieldId::kL3Score},
    {"l3.decision", FieldId::kL3Decision},
    {"l3.device", FieldId::kL3Device},
    {"l4.category", FieldId::kL4Category},
    {"l4.severity", FieldId::kL4Severity},
    {"l4.confidence", FieldId::kL4Confidence},
    {"l4.device", FieldId::kL4Device},
    {"l8_enrichment.flags", FieldId::kL8Flags},
    {"l8_enrichment.ioc_matches", FieldId::kL8IocMatches},
};

// One value of an event field as the matchers see it. Absent fields (an
// empty string, an unset number, a part the pipeline has not written) are
// kNone.
struct Value {
  enum Type : uint8_t { kNone, kStr, kInt, kReal };
  Type type = kNone;
  std::string_view s;
  int64_t i = 0;
  double d = 0;

  static Value Str(std::string_view v) { return v.empty() ? Value{} : Value{kStr, v, 0, 0}; }
  static Value Int(const std::optional<int64_t>& v) { return v ? Value{kInt, {}, *v, 0} : Value{}; }
  static Value Real(const std::optional<double>& v) { return v ? Value{kReal, {}, 0, *v} : Value{}; }
};

// Calls f on the JSON text of an unknown feature key, decoded to a Value.
template <class F>
bool VisitExtra(std::string_view text, F&& f) {
  if (text.empty() || text == "null") return f(Value{});
  if (text.front() == '"') {
    if (text.size() >= 2 && text.back() == '"' && text.find('\\') == std::string_view::npos) {
      return f(Value::Str(text.substr(1, text.size() - 2)));
    }
    nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_string()) {
      const std::string decoded = j.get<std::string>();
      return f(Value::Str(decoded));
    }
    return f(Value::Str(text));
  }
  int64_t i = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec == std::errc() && p == text.data() + text.size()) return f(Value{Value::kInt, {}, i, 0});
  double d = 0;
  auto [q, ec2] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec2 == std::errc() && q == text.data() + text.size()) return f(Value{Value::kReal, {}, 0, d});
  return f(Value::Str(text));  // true, false, arrays, objects: their JSON text
}

// Calls f on each value of the field (one, or each element of a list field;
// kNone once when absent) until f returns true; returns whether it did.
template <class F>
bool AnyValue(const SocEvent& e, FieldId id, std::string_view extra_key, F&& f) {
  const Features& x = e.features;
  switch (id) {
    case FieldId::kEventId:
      return f(Value::Str(e.event_id));
    case FieldId::kTenant:
      return f(Value::Str(e.tenant));
    case FieldId::kSource:
      return f(Value::Str(e.source));
    case FieldId::kTsMs:
      return f(Value{Value::kInt, {}, e.ts_ms, 0});
    case FieldId::kIngestTsMs:
      return f(e.ingest_ts_ms > 0 ? Value{Value::kInt, {}, e.ingest_ts_ms, 0} : Value{});
    case FieldId::kSrcIp:
      return f(Value::Str(x.src_ip));
    case FieldId::kDstIp:
      return f(Value::Str(x.dst_ip));
    case FieldId::kSrcHost:
      return f(Value::Str(x.src_host));
    case FieldId::kDstDomain:
      return f(Value::Str(x.dst_domain));
    case FieldId::kUser:
      return f(Value::Str(x.user));
    case FieldId::kProcess:
      return f(Value::Str(x.process));
    case FieldId::kProtocol:
      return f(Value::Str(x.protocol));
    case FieldId::kTlsVersion:
      return f(Value::Str(x.tls_version));
    case FieldId::kKex:
      return f(Value::Str(x.kex));
    case FieldId::kFileHash:
      return f(Value::Str(x.file_hash));
    case FieldId::kEnclaveAttestation:
      return f(Value::Str(x.enclave_attestation));
    case FieldId::kSignature:
      return f(Value::Str(x.signature));
    case FieldId::kDstPort:
      return f(Value::Int(x.dst_port));
    case FieldId::kBytesIn:
      return f(Value::Int(x.bytes_in));
    case FieldId::kBytesOut:
      return f(Value::Int(x.bytes_out));
    case FieldId::kConnCount:
      return f(Value::Int(x.conn_count));
    case FieldId::kFailedLogins:
      return f(Value::Int(x.failed_logins));
    case FieldId::kDistinctPorts:
      return f(Value::Int(x.distinct_ports));
    case FieldId::kLoginHour:
      return f(Value::Int(x.login_hour));
    case FieldId::kBiometricScore:
      return f(Value::Real(x.biometric_score));
    case FieldId::kAnomalyScore:
      return f(Value::Real(x.anomaly_score));
    case FieldId::kL3Score:
      return f(e.l3.present ? Value{Value::kReal, {}, 0, e.l3.score} : Value{});
    case FieldId::kL3Decision:
      return f(e.l3.present ? Value::Str(e.l3.decision) : Value{});
    case FieldId::kL3Device:
      return f(e.l3.present && e.l3.device > 0 ? Value{Value::kInt, {}, e.l3.device, 0} : Value{});
    case FieldId::kL4Category:
      return f(e.l4.present ? Value::Str(CategoryName(e.l4.category)) : Value{});
    case FieldId::kL4Severity:
      return f(e.l4.present ? Value::Str(SeverityName(e.l4.severity)) : Value{});
    case FieldId::kL4Confidence:
      return f(e.l4.present ? Value{Value::kReal, {}, 0, e.l4.confidence} : Value{});
    case FieldId::kL4Device:
      return f(e.l4.present && e.l4.device > 0 ? Value{Value::kInt, {}, e.l4.device, 0} : Value{});
    case FieldId::kL8Flags: {
      if (!e.l8.present || e.l8.flags == 0) return f(Value{});
      for (int b = 0; b < kFlagCount; ++b) {
        const uint32_t bit = 1u << b;
        if ((e.l8.flags & bit) != 0 && f(Value::Str(FlagName(bit)))) return true;
      }
      return false;
    }
    case FieldId::kL8IocMatches: {
      if (!e.l8.present || e.l8.ioc_matches.empty()) return f(Value{});
      for (const auto& m : e.l8.ioc_matches) {
        if (f(Value::Str(m))) return true;
      }
      return false;
    }
    case FieldId::kExtra:
      for (const auto& [k, v] : x.extra) {
        if (k == extra_key) return VisitExtra(v, f);
      }
      return f(Value{});
  }
  return false;
}

// Calls f on every present value of every field (keyword search).
template <class F>
bool AnyPresentValue(const SocEvent& e, F&& f) {
  auto present = [&f](const Value& v) { return v.type != Value::kNone && f(v); };
  for (const auto& p : kPaths) {
    if (AnyValue(e, p.id, {}, present)) return true;
  }
  for (const auto& [k, v] : e.features.extra) {
    if (VisitExtra(v, present)) return true;
  }
  return false;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

std::string LowerString(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// A glob token: a character (0..255), or one of these.
constexpr int16_t kStar = -1;
constexpr int16_t kAnyChar = -2;

struct Pattern {
  enum Kind : uint8_t {
    kNull,
    kEqual,
    kPrefix,
    kSuffix,
    kContains,
    kGlob,
    kRegex,
    kCidr,
    kLt,
    kLte,
    kGt,
    kGte,
    kExists
  };
  Kind kind = kEqual;
  bool cased = false;     // compare case-sensitively (`cased`)
  bool numeric = false;   // the value reads as a number: compared numerically with numeric fields
  bool integral = false;  // ... as an integer (exact comparison)
  int64_t inum = 0;
  double num = 0;
  bool exists = true;         // kExists
  std::string text;           // literal, lower-cased unless `cased`
  std::vector<int16_t> glob;  // kGlob
  std::unique_ptr<std::regex> re;
  std::array<uint8_t, 16> net{};  // kCidr
  int prefix_bits = 0;
  bool v6 = false;
};

bool CharEq(char value, char pattern, bool cased) { return (cased ? value : Lower(value)) == pattern; }

bool EqualsFold(std::string_view v, std::string_view p, bool cased) {
  if (v.size() != p.size()) return false;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!CharEq(v[i], p[i], cased)) return false;
  }
  return true;
}

bool ContainsFold(std::string_view v, std::string_view p, bool cased) {
  if (p.size() > v.size()) return false;
  for (size_t i = 0; i + p.size() <= v.size(); ++i) {
    if (EqualsFold(v.substr(i, p.size()), p, cased)) return true;
  }
  return false;
}

bool GlobMatch(std::string_view s, const std::vector<int16_t>& g, bool cased) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < g.size() && (g[p] == kAnyChar || (g[p] >= 0 && CharEq(s[i], char(g[p]), cased)))) {
      ++p;
      ++i;
    } else if (p < g.size() && g[p] == kStar) {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < g.size() && g[p] == kStar) ++p;
  return p == g.size();
}

bool ParseIp(std::string_view s, std::array<uint8_t, 16>& out, bool& v6) {
  if (s.empty() || s.size() > 45) return false;
  char buf[46];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  out.fill(0);
  if (::inet_pton(AF_INET, buf, out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (::inet_pton(AF_INET6, buf, out.data()) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

bool InCidr(std::string_view s, const Pattern& p) {
  std::array<uint8_t, 16> a{};
  bool v6 = false;
  if (!ParseIp(s, a, v6) || v6 != p.v6) return false;
  int bits = p.prefix_bits;
  for (size_t i = 0; bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : uint8_t(0xff << (8 - bits));
    if ((a[i] & mask) != (p.net[i] & mask)) return false;
  }
  return true;
}

bool ParseNumber(std::string_view s, double& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The decimal text of a numeric value, for string matchers ("4444").
std::string_view NumberText(const Value& v, std::array<char, 32>& buf) {
  auto r = v.type == Value::kInt ? std::to_chars(buf.data(), buf.data() + buf.size(), v.i)
                                 : std::to_chars(buf.data(), buf.data() + buf.size(), v.d);
  return std::string_view(buf.data(), size_t(r.ptr - buf.data()));
}

bool MatchString(std::string_view s, const Pattern& p) {
  switch (p.kind) {
    case Pattern::kEqual:
      return EqualsFold(s, p.text, p.cased);
    case Pattern::kPrefix:
      return s.size() >= p.text.size() && EqualsFold(s.substr(0, p.text.size()), p.text, p.cased);
    case Pattern::kSuffix:
      return s.size() >= p.text.size() && EqualsFold(s.substr(s.size() - p.text.size()), p.text, p.cased);
    case Pattern::kContains:
      return ContainsFold(s, p.text, p.cased);
    case Pattern::kGlob:
      return GlobMatch(s, p.glob, p.cased);
    case Pattern::kRegex:
      return s.size() <= kSigmaMaxRegexSubject && std::regex_search(s.begin(), s.end(), *p.re);
    case Pattern::kCidr:
      return InCidr(s, p);
    default:
      return false;
  }
}

bool Compare(double v, const Pattern& p) {
  switch (p.kind) {
    case Pattern::kLt:
      return v < p.num;
    case Pattern::kLte:
      return v <= p.num;
    case Pattern::kGt:
      return v > p.num;
    case Pattern::kGte:
      return v >= p.num;
    default:
      return false;
  }
}

bool MatchValue(const Value& v, const Pattern& p) {
  if (p.kind == Pattern::kExists) return (v.type != Value::kNone) == p.exists;
  if (v.type == Value::kNone) return p.kind == Pattern::kNull || (p.kind == Pattern::kEqual && p.text.empty());
  if (p.kind == Pattern::kNull) return false;
  if (p.kind >= Pattern::kLt && p.kind <= Pattern::kGte) {
    double d = 0;
    if (v.type == Value::kInt) {
      if (p.integral) {
        switch (p.kind) {
          case Pattern::kLt:
            return v.i < p.inum;
          case Pattern::kLte:
            return v.i <= p.inum;
          case Pattern::kGt:
            return v.i > p.inum;
          default:
            return v.i >= p.inum;
        }
      }
      d = double(v.i);
    } else if (v.type == Value::kReal) {
      d = v.d;
    } else if (!ParseNumber(v.s, d)) {
      return false;
    }
    return Compare(d, p);
  }
  if (v.type == Value::kStr) return MatchString(v.s, p);
  if (p.kind == Pattern::kEqual && p.numeric) {
    if (v.type == Value::kInt) return p.integral ? v.i == p.inum : double(v.i) == p.num;
    return v.d == p.num;
  }
  std::array<char, 32> buf{};
  return MatchString(NumberText(v, buf), p);
}

struct FieldMatch {
  FieldId id = FieldId::kEventId;
  std::string extra_key;  // kExtra
  bool all = false;       // `|all`: every pattern must match
  std::vector<Pattern> patterns;
};

struct Selection {
  std::string name;
  bool keywords = false;
  std::vector<std::vector<FieldMatch>> alternatives;  // OR of (AND of fields)
  std::vector<Pattern> words;                         // keywords: any matches any field
};

struct CondNode {
  enum Op : uint8_t { kSel, kNot, kAnd, kOr, kOneOf, kAllOf };
  Op op = kSel;
  std::vector<uint32_t> args;  // kSel/kOneOf/kAllOf: selection indices; kNot/kAnd/kOr: nodes
};

struct Detection {
  std::vector<Selection> selections;
  std::vector<CondNode> nodes;
  uint32_t root = 0;
  int category = -1;  // Category value the logsource requires, -1 = any
};

bool MatchField(const SocEvent& e, const FieldMatch& f) {
  if (!f.all) {
    return AnyValue(e, f.id, f.extra_key, [&f](const Value& v) {
      for (const auto& p : f.patterns) {
        if (MatchValue(v, p)) return true;
      }
      return false;
    });
  }
  for (const auto& p : f.patterns) {
    if (!AnyValue(e, f.id, f.extra_key, [&p](const Value& v) { return MatchValue(v, p); })) return false;
  }
  return true;
}

bool MatchSelection(const SocEvent& e, const Selection& s) {
  if (s.keywords) {
    return AnyPresentValue(e, [&s](const Value& v) {
      for (const auto& p : s.words) {
        if (MatchValue(v, p)) return true;
      }
      return false;
    });
  }
  for (const auto& alt : s.alternatives) {
    bool all = true;
    for (const auto& f : alt) {
      if (!MatchField(e, f)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

bool Eval(const Detection& d, uint32_t n, const SocEvent& e) {
  const CondNode& node = d.nodes[n];
  switch (node.op) {
    case CondNode::kSel:
      return MatchSelection(e, d.selections[node.args[0]]);
    case CondNode::kNot:
      return !Eval(d, node.args[0], e);
    case CondNode::kAnd:
      for (uint32_t c : node.args) {
        if (!Eval(d, c, e)) return false;
      }
      return true;
    case CondNode::kOr:
      for (uint32_t c : node.args) {
        if (Eval(d, c, e)) return true;
      }
      return false;
    case CondNode::kOneOf:
      for (uint32_t s : node.args) {
        if (MatchSelection(e, d.selections[s])) return true;
      }
      return false;
    case CondNode::kAllOf:
      for (uint32_t s : node.args) {
        if (!MatchSelection(e, d.selections[s])) return false;
      }
      return true;
  }
  return false;
}

}  // namespace sigma_internal

namespace {

using sigma_internal::Cat;
using sigma_internal::CondNode;
using sigma_internal::Detection;
using sigma_internal::FieldId;
using sigma_internal::FieldMatch;
using sigma_internal::Lower;
using sigma_internal::LowerString;
using sigma_internal::ParseNumber;
using sigma_internal::Pattern;
using sigma_internal::Selection;

// A refusal while compiling: the line (1-based, 0 = none) and the reason.
struct Refusal {
  int line = 0;
  std::string reason;
};

int LineOf(const YAML::Node& n) {
  if (!n.IsDefined()) return 0;
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

bool IsPlainNull(const YAML::Node& n) {
  if (n.IsNull()) return true;
  if (!n.IsScalar() || n.Tag() == "!") return false;  // quoted scalars are strings
  const std::string& s = n.Scalar();
  return s == "~" || s == "null" || s == "Null" || s == "NULL";
}

bool ValidName(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

std::optional<FieldId> KnownPath(std::string_view path) {
  for (const auto& p : sigma_internal::kPaths) {
    if (p.path == path) return p.id;
  }
  return std::nullopt;
}

constexpr std::string_view kFeaturesPrefix = "features.";

class Compiler {
 public:
  explicit Compiler(const SigmaFieldMap& fields) : fields_(fields) {}

  // Fills `rule` from the document, or returns the refusal.
  std::optional<Refusal> Compile(const YAML::Node& root, std::string_view file, SigmaRule& rule,
                                 std::unique_ptr<Detection>& out);

 private:
  std::optional<Refusal> Scalar(const YAML::Node& n, std::string_view key, size_t max, std::string& out);
  std::optional<Refusal> Logsource(const YAML::Node& n, SigmaRule& rule, Detection& d);
  std::optional<Refusal> SelectionOf(const std::string& name, const YAML::Node& n, Selection& s);
  std::optional<Refusal> FieldMap(const std::string& where, const YAML::Node& n, std::vector<FieldMatch>& out);
  std::optional<Refusal> Field(const std::string& where, const YAML::Node& key, const YAML::Node& value,
                               FieldMatch& out);
  std::optional<Refusal> Value(const std::string& where, const YAML::Node& n, const std::vector<std::string>& mods,
                               Pattern& out);
  std::optional<Refusal> Condition(const YAML::Node& n, Detection& d);

  const SigmaFieldMap& fields_;
  size_t values_ = 0;
};

Refusal At(const YAML::Node& n, std::string reason) { return Refusal{LineOf(n), std::move(reason)}; }

std::optional<Refusal> Compiler::Scalar(const YAML::Node& n, std::string_view key, size_t max, std::string& out) {
  if (!n.IsScalar()) return At(n, std::string(key) + ": must be a single value");
  out = n.Scalar();
  if (out.size() > max) {
    return At(n, std::string(key) + ": " + std::to_string(out.size()) + " bytes, at most " + std::to_string(max));
  }
  return std::nullopt;
}

constexpr std::string_view kLevels[] = {"informational", "low", "medium", "high", "critical"};
constexpr std::string_view kStatuses[] = {"stable", "test", "experimental", "deprecated", "unsupported"};
constexpr std::string_view kCategories[] = {"network", "crypto", "soc", "identity", "malware", "insider"};

std::optional<Refusal> Compiler::Compile(const YAML::Node& root, std::string_view file, SigmaRule& rule,
                                         std::unique_ptr<Detection>& out) {
  if (!root.IsMap()) return At(root, "a rule must be a YAML mapping (title, logsource, detection, ...)");
  rule.line = LineOf(root) > 0 ? LineOf(root) : 1;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar()) return At(it->first, "keys must be names");
  }
  const YAML::Node title = root["title"];
  if (!title) return At(root, "title: is required");
  if (auto r = Scalar(title, "title", 256, rule.title)) return r;
  if (rule.title.empty()) return At(title, "title: must not be empty");
  if (const YAML::Node id = root["id"]) {
    if (auto r = Scalar(id, "id", 128, rule.id)) return r;
    if (rule.id.empty()) return At(id, "id: must not be empty");
    for (char c : rule.id) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return At(id, "id: control characters are not allowed");
    }
  } else {
    std::string_view stem = file;
    if (auto slash = stem.rfind('/'); slash != std::string_view::npos) stem.remove_prefix(slash + 1);
    if (auto dot = stem.rfind('.'); dot != std::string_view::npos && dot > 0) stem = stem.substr(0, dot);
    rule.id = std::string(stem.substr(0, 128));
  }
  if (const YAML::Node status = root["status"]) {
    if (auto r = Scalar(status, "status", 32, rule.status)) return r;
    rule.status = LowerString(rule.status);
    if (std::find(std::begin(kStatuses), std::end(kStatuses), rule.status) == std::end(kStatuses)) {
      return At(status,
                "status: unknown status '" + rule.status + "' (stable, test, experimental, deprecated, unsupported)");
    }
  }
  if (const YAML::Node level = root["level"]) {
    std::string l;
    if (auto r = Scalar(level, "level", 32, l)) return r;
    l = LowerString(l);
    auto it = std::find(std::begin(kLevels), std::end(kLevels), l);
    if (it == std::end(kLevels)) {
      return At(level, "level: unknown level '" + l + "' (informational, low, medium, high, critical)");
    }
    rule.level = SigmaLevel(it - std::begin(kLevels));
  }
  if (const YAML::Node desc = root["description"]) {
    if (auto r = Scalar(desc, "description", 4096, rule.description)) return r;
  }
  if (const YAML::Node tags = root["tags"]) {
    if (!tags.IsSequence()) return At(tags, "tags: must be a list");
    if (tags.size() > kSigmaMaxTags) {
      return At(tags, "tags: " + std::to_string(tags.size()) + " tags, at most " + std::to_string(kSigmaMaxTags));
    }
    for (size_t i = 0; i < tags.size(); ++i) {
      const std::string where = "tags[" + std::to_string(i) + "]";
      std::string t;
      if (auto r = Scalar(tags[i], where, 128, t)) return r;
      t = LowerString(t);
      const size_t dot = t.find('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == t.size() || !ValidName(t, 128)) {
        return At(tags[i], Cat({where, ": '", t, "' is not a tag (namespace.name, e.g. attack.t1110)"}));
      }
      rule.tags.push_back(std::move(t));
    }
  }
  auto d = std::make_unique<Detection>();
  const YAML::Node logsource = root["logsource"];
  if (!logsource) return At(root, "logsource: is required");
  if (auto r = Logsource(logsource, rule, *d)) return r;

  const YAML::Node detection = root["detection"];
  if (!detection) return At(root, "detection: is required");
  if (!detection.IsMap()) return At(detection, "detection: must be a mapping of selections and a condition");
  YAML::Node condition;
  bool has_condition = false;
  for (auto it = detection.begin(); it != detection.end(); ++it) {
    const std::string name = it->first.Scalar();
    if (name == "condition") {
      condition = it->second;
      has_condition = true;
      continue;
    }
    if (name == "timeframe") return At(it->first, "detection.timeframe: correlations are not supported");
    if (!ValidName(name, 64)) {
      return At(it->first, "detection: '" + name + "' is not a selection name (letters, digits, _ - .)");
    }
    if (d->selections.size() >= kSigmaMaxSelections) {
      return At(it->first, "detection: more than " + std::to_string(kSigmaMaxSelections) + " selections");
    }
    for (const auto& s : d->selections) {
      if (s.name == name) return At(it->first, "detection: selection '" + name + "' is defined twice");
    }
    Selection s;
    s.name = name;
    if (auto r = SelectionOf(name, it->second, s)) return r;
    d->selections.push_back(std::move(s));
  }
  if (!has_condition) return At(detection, "detection.condition: is required");
  if (auto r = Condition(condition, *d)) return r;
  out = std::move(d);
  return std::nullopt;
}

std::optional<Refusal> Compiler::Logsource(const YAML::Node& n, SigmaRule& rule, Detection& d) {
  if (!n.IsMap()) return At(n, "logsource: must be a mapping (category, product, service)");
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) return At(it->first, "logsource: keys must be names");
    const std::string key = it->first.Scalar();
    std::string value;
    if (IsPlainNull(it->second)) continue;
    if (auto r = Scalar(it->second, "logsource." + key, 64, value)) return r;
    value = LowerString(value);
    if (key == "category") {
      auto c = std::find(std::begin(kCategories), std::end(kCategories), value);
      if (c == std::end(kCategories) && !value.empty()) {
        return At(it->second, "logsource.category: unknown category '" + value +
                                  "' (network, crypto, soc, identity, malware, insider: the event's l4.category)");
      }
      rule.logsource_category = value;
      d.category = value.empty() ? -1 : int(c - std::begin(kCategories));
    } else if (key == "product") {
      if (!value.empty() && value != "dsmil") {
        return At(it->second, "logsource.product: '" + value + "' is not a DSMIL event source (use dsmil)");
      }
      rule.logsource_product = value;
    } else if (key == "service") {
      rule.logsource_service = value;
    } else if (key != "definition") {
      return At(it->first, "logsource: unknown key '" + key + "' (category, product, service, definition)");
    }
  }
  return std::nullopt;
}

std::optional<Refusal> Compiler::SelectionOf(const std::string& name, const YAML::Node& n, Selection& s) {
  const std::string where = "detection." + name;
  if (n.IsMap()) {
    s.alternatives.emplace_back();
    return FieldMap(where, n, s.alternatives.back());
  }
  if (!n.IsSequence() || n.size() == 0) {
    return At(n, where + ": must be a mapping of fields, a list of mappings or a list of keywords");
  }
  const bool maps = n[0].IsMap();
  const size_t max = maps ? kSigmaMaxAlternatives : kSigmaMaxValues;
  if (n.size() > max) {
    return At(n, where + ": " + std::to_string(n.size()) + " entries, at most " + std::to_string(max));
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string item = where + "[" + std::to_string(i) + "]";
    if (n[i].IsMap() != maps) {
      return At(n[i], item + ": a list must hold only mappings (OR of field sets) or only keywords");
    }
    if (maps) {
      s.alternatives.emplace_back();
      if (auto r = FieldMap(item, n[i], s.alternatives.back())) return r;
    } else {
      if (!n[i].IsScalar() || IsPlainNull(n[i])) return At(n[i], item + ": a keyword must be a value");
      Pattern p;
      if (auto r = Value(item, n[i], {}, p)) return r;
      s.words.push_back(std::move(p));
    }
  }
  s.keywords = !maps;
  return std::nullopt;
}

std::optional<Refusal> Compiler::FieldMap(const std::string& where, const YAML::Node& n, std::vector<FieldMatch>& out) {
  if (n.size() == 0) return At(n, where + ": an empty mapping");
  if (n.size() > kSigmaMaxFields) {
    return At(n, where + ": " + std::to_string(n.size()) + " fields, at most " + std::to_string(kSigmaMaxFields));
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    FieldMatch f;
    if (auto r = Field(where, it->first, it->second, f)) return r;
    out.push_back(std::move(f));
  }
  return std::nullopt;
}

constexpr std::string_view kUnsupportedModifiers[] = {
    "base64", "base64offset", "wide", "utf16", "utf16le", "utf16be", "windash", "expand", "fieldref", "m", "s"};

std::optional<Refusal> Compiler::Field(const std::string& where, const YAML::Node& key, const YAML::Node& value,
                                       FieldMatch& out) {
  if (!key.IsScalar()) return At(key, where + ": field names must be text");
  const std::string& spec = key.Scalar();
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t bar = spec.find('|', start);
    parts.push_back(spec.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
    if (parts.size() > 8) return At(key, Cat({where, ": '", spec, "': too many modifiers"}));
  }
  const std::string& name = parts[0];
  const std::string fw = where + "." + spec;
  if (name.empty()) return At(key, fw + ": empty field name");
  const std::string path = fields_.Resolve(name);
  if (path.empty()) {
    return At(key, where + ": unknown field '" + name + "' (neither in the field map nor an event field)");
  }
  if (auto id = KnownPath(path)) {
    out.id = *id;
  } else {
    out.id = FieldId::kExtra;
    out.extra_key = path.substr(kFeaturesPrefix.size());
  }
  std::vector<std::string> mods;
  int kinds = 0;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string m = LowerString(parts[i]);
    if (m == "all") {
      out.all = true;
      continue;
    }
    if (m == "cased") {
      mods.push_back(m);
      continue;
    }
    if (m == "i") {
      if (std::find(mods.begin(), mods.end(), "re") == mods.end()) {
        return At(key, fw + ": modifier 'i' applies to 're' only");
      }
      mods.push_back(m);
      continue;
    }
    if (m == "contains" || m == "startswith" || m == "endswith" || m == "re" || m == "cidr" || m == "lt" ||
        m == "lte" || m == "gt" || m == "gte" || m == "exists") {
      if (++kinds > 1) return At(key, Cat({fw, ": modifiers '", mods.back(), "' and '", m, "' do not combine"}));
      mods.push_back(m);
      continue;
    }
    if (std::find(std::begin(kUnsupportedModifiers), std::end(kUnsupportedModifiers), m) !=
        std::end(kUnsupportedModifiers)) {
      return At(key, Cat({fw, ": unsupported modifier '", m, "'"}));
    }
    return At(key, Cat({fw, ": unknown modifier '", m,
                        "' (contains, startswith, endswith, re, cidr, all, lt, lte, gt, gte, exists, cased)"}));
  }
  if (value.IsMap()) return At(value, fw + ": a field's value must be a value or a list of values");
  if (value.IsSequence()) {
    if (value.size() == 0) return At(value, fw + ": an empty list of values");
    if (value.size() > kSigmaMaxValues) {
      return At(value,
                fw + ": " + std::to_string(value.size()) + " values, at most " + std::to_string(kSigmaMaxValues));
    }
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].IsScalar() && !value[i].IsNull()) {
        return At(value[i], fw + "[" + std::to_string(i) + "]: values must be scalars");
      }
      Pattern p;
      if (auto r = Value(fw + "[" + std::to_string(i) + "]", value[i], mods, p)) return r;
      out.patterns.push_back(std::move(p));
    }
  } else {
    Pattern p;
    if (auto r = Value(fw, value, mods, p)) return r;
    out.patterns.push_back(std::move(p));
  }
  return std::nullopt;
}

// Splits a Sigma value into glob tokens: `*` and `?` are wildcards, `\*`,
// `\?` and `\\` their literal forms, any other backslash is itself.
std::vector<int16_t> GlobTokens(std::string_view v, bool cased) {
  std::vector<int16_t> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\\' && i + 1 < v.size() && (v[i + 1] == '*' || v[i + 1] == '?' || v[i + 1] == '\\')) {
      out.push_back(int16_t(static_cast<unsigned char>(cased ? v[i + 1] : Lower(v[i + 1]))));
      ++i;
    } else if (c == '*') {
      if (out.empty() || out.back() != sigma_internal::kStar) out.push_back(sigma_internal::kStar);
    } else if (c == '?') {
      out.push_back(sigma_internal::kAnyChar);
    } else {
      out.push_back(int16_t(static_cast<unsigned char>(cased ? c : Lower(c))));
    }
  }
  return out;
}

// Reduces a glob to a literal test where it can: abc, abc*, *abc, *abc*.
void Simplify(std::vector<int16_t> g, Pattern& p) {
  const bool lead = !g.empty() && g.front() == sigma_internal::kStar;
  const bool trail = g.size() > (lead ? 1u : 0u) && g.back() == sigma_internal::kStar;
  const size_t from = lead ? 1 : 0, to = g.size() - (trail ? 1 : 0);
  bool literal = true;
  for (size_t i = from; i < to; ++i) {
    if (g[i] < 0) literal = false;
  }
  if (!literal) {
    p.kind = Pattern::kGlob;
    p.glob = std::move(g);
    return;
  }
  p.text.clear();
  for (size_t i = from; i < to; ++i) p.text.push_back(char(g[i]));
  p.kind = lead && trail ? Pattern::kContains : lead ? Pattern::kSuffix : trail ? Pattern::kPrefix : Pattern::kEqual;
}

// Refuses patterns whose cost std::regex cannot bound: back-references, a
// repetition of a repetition, repeated groups holding a repetition or an
// alternation, more than three unbounded repetitions, counted repetitions
// over 100 or adding up to more than 1000.
std::optional<std::string> RegexCostCheck(std::string_view re) {
  struct Group {
    bool inner_rep = false;
    bool alt = false;
  };
  std::vector<Group> stack;
  int unbounded = 0;
  int counted = 0;
  bool last_group_risky = false;  // the atom just closed is a group with repetition/alternation inside
  bool prev_quant = false;        // the last token was a quantifier
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (in_class) {
      if (c == '\\') {
        ++i;
      } else if (c == ']') {
        in_class = false;
      }
      continue;
    }
    if (c == '\\') {
      if (i + 1 < re.size() && ((re[i + 1] >= '1' && re[i + 1] <= '9') || re[i + 1] == 'k')) {
        return "back-references are not supported";
      }
      ++i;
      last_group_risky = prev_quant = false;
      continue;
    }
    bool quant = false, repeats = false;  // repeats: may match its atom more than once
    switch (c) {
      case '[':
        in_class = true;
        last_group_risky = prev_quant = false;
        break;
      case '(':
        stack.emplace_back();
        last_group_risky = prev_quant = false;
        break;
      case ')': {
        if (stack.empty()) return std::nullopt;  // the compiler names it
        const Group g = stack.back();
        stack.pop_back();
        last_group_risky = g.inner_rep || g.alt;
        prev_quant = false;
        if (!stack.empty()) {
          stack.back().inner_rep |= g.inner_rep;
          stack.back().alt |= g.alt;
        }
        continue;
      }
      case '|':
        if (!stack.empty()) stack.back().alt = true;
        last_group_risky = prev_quant = false;
        break;
      case '?':
        if (!prev_quant) {
          prev_quant = true;  // optional atom; after a quantifier it only makes it lazy
          last_group_risky = false;
          if (!stack.empty()) stack.back().inner_rep = true;
        }
        continue;
      case '*':
      case '+':
        quant = repeats = true;
        if (++unbounded > 3) return "more than 3 unbounded repetitions";
        break;
      case '{': {
        const size_t close = re.find('}', i);
        if (close == std::string_view::npos) break;
        std::string_view body = re.substr(i + 1, close - i - 1);
        const size_t comma = body.find(',');
        std::string_view lo = body.substr(0, comma), hi;
        if (comma != std::string_view::npos) hi = body.substr(comma + 1);
        int a = 0, b = 0;
        constexpr const char* kCounted = "a counted repetition must be {n}, {n,} or {n,m} with n, m <= 100";
        if (std::from_chars(lo.data(), lo.data() + lo.size(), a).ec != std::errc() || a > 100) return kCounted;
        if (comma != std::string_view::npos && !hi.empty() &&
            (std::from_chars(hi.data(), hi.data() + hi.size(), b).ec != std::errc() || b > 100)) {
          return kCounted;
        }
        const bool open = comma != std::string_view::npos && hi.empty();
        if (open && ++unbounded > 3) return "more than 3 unbounded repetitions";
        counted += std::max(a, b);
        if (counted > 1000) return "counted repetitions add up to more than 1000";
        quant = true;
        repeats = open || std::max(a, b) > 1;
        i = close;
        break;
      }
      default:
        last_group_risky = prev_quant = false;
        break;
    }
    if (quant) {
      if (prev_quant) return "a repetition of a repetition";
      if (last_group_risky && repeats) return "a repeated group may not contain a repetition or an alternation";
      if (!stack.empty() && repeats) stack.back().inner_rep = true;
      last_group_risky = false;
      prev_quant = true;
    }
  }
  return std::nullopt;
}

std::optional<Refusal> Compiler::Value(const std::string& where, const YAML::Node& n,
                                       const std::vector<std::string>& mods, Pattern& out) {
  if (++values_ > kSigmaMaxRuleValues) {
    return At(n, where + ": more than " + std::to_string(kSigmaMaxRuleValues) + " values in the rule");
  }
  auto has = [&mods](std::string_view m) { return std::find(mods.begin(), mods.end(), m) != mods.end(); };
  out.cased = has("cased");
  const bool null = IsPlainNull(n);
  const std::string raw = null ? std::string() : n.Scalar();
  if (raw.size() > kSigmaMaxValueBytes) {
    return At(n, where + ": value of " + std::to_string(raw.size()) + " bytes, at most " +
                     std::to_string(kSigmaMaxValueBytes));
  }
  if (has("exists")) {
    if (raw != "true" && raw != "false") return At(n, where + ": 'exists' takes true or false");
    out.kind = Pattern::kExists;
    out.exists = raw == "true";
    return std::nullopt;
  }
  if (null) {
    if (!mods.empty() && !(mods.size() == 1 && out.cased)) {
      return At(n, where + ": null cannot be combined with modifier '" + mods.front() + "'");
    }
    out.kind = Pattern::kNull;
    return std::nullopt;
  }
  double num = 0;
  out.numeric = ParseNumber(raw, num);
  if (out.numeric) {
    out.num = num;
    int64_t i = 0;
    auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), i);
    out.integral = ec == std::errc() && p == raw.data() + raw.size();
    out.inum = i;
  }
  for (auto [name, kind] : {std::pair{"lt", Pattern::kLt}, std::pair{"lte", Pattern::kLte},
                            std::pair{"gt", Pattern::kGt}, std::pair{"gte", Pattern::kGte}}) {
    if (has(name)) {
      if (!out.numeric) return At(n, Cat({where, ": '", name, "' takes a number, got '", raw, "'"}));
      out.kind = kind;
      return std::nullopt;
    }
  }
  if (has("cidr")) {
    const size_t slash = raw.find('/');
    const std::string addr = raw.substr(0, slash);
    bool v6 = false;
    if (!sigma_internal::ParseIp(addr, out.net, v6)) {
      return At(n, where + ": '" + raw + "' is not a CIDR (a.b.c.d/len or an IPv6 prefix)");
    }
    const int max = v6 ? 128 : 32;
    int bits = max;
    if (slash != std::string::npos) {
      const std::string len = raw.substr(slash + 1);
      auto [p, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
      if (len.empty() || ec != std::errc() || p != len.data() + len.size() || bits < 0 || bits > max) {
        return At(n, where + ": '" + raw + "': prefix length must be 0.." + std::to_string(max));
      }
    }
    out.kind = Pattern::kCidr;
    out.v6 = v6;
    out.prefix_bits = bits;
    return std::nullopt;
  }
  if (has("re")) {
    std::string pattern = raw;
    bool icase = has("i");
    if (pattern.rfind("(?i)", 0) == 0) {
      icase = true;
      pattern.erase(0, 4);
    }
    if (pattern.size() > kSigmaMaxRegexBytes) {
      return At(n, where + ": regular expression of " + std::to_string(pattern.size()) + " bytes, at most " +
                       std::to_string(kSigmaMaxRegexBytes));
    }
    if (auto why = RegexCostCheck(pattern)) return At(n, where + ": regular expression refused: " + *why);
    try {
      auto flags = std::regex::ECMAScript | std::regex::optimize;
      if (icase) flags |= std::regex::icase;
      out.re = std::make_unique<std::regex>(pattern, flags);
    } catch (const std::regex_error& e) {
      return At(n, where + ": invalid regular expression '" + raw + "': " + e.what());
    }
    out.kind = Pattern::kRegex;
    return std::nullopt;
  }
  std::vector<int16_t> g = GlobTokens(raw, out.cased);
  if (has("contains")) {
    if (g.empty() || g.front() != sigma_internal::kStar) g.insert(g.begin(), sigma_internal::kStar);
    if (g.back() != sigma_internal::kStar) g.push_back(sigma_internal::kStar);
  } else if (has("startswith")) {
    if (g.empty() || g.back() != sigma_internal::kStar) g.push_back(sigma_internal::kStar);
  } else if (has("endswith")) {
    if (g.empty() || g.front() != sigma_internal::kStar) g.insert(g.begin(), sigma_internal::kStar);
  }
  Simplify(std::move(g), out);
  if (out.kind != Pattern::kEqual) out.numeric = false;
  return std::nullopt;
}

// The condition: tokens, then recursive descent (or < and < not).
class ConditionParser {
 public:
  ConditionParser(std::string_view text, Detection& d) : text_(text), d_(d) {}

  std::optional<std::string> Parse(uint32_t& root) {
    if (auto e = Tokenize()) return e;
    if (toks_.empty()) return "condition: is empty";
    auto r = Or(0);
    if (!r) return error_;
    if (pos_ < toks_.size()) {
      if (toks_[pos_].text == ")") {
        return "condition: unbalanced parentheses: ')' at column " + std::to_string(toks_[pos_].col) + " has no '('";
      }
      return "condition: unexpected '" + toks_[pos_].text + "' at column " + std::to_string(toks_[pos_].col);
    }
    root = *r;
    return std::nullopt;
  }

 private:
  struct Tok {
    std::string text;
    size_t col;
  };

  std::optional<std::string> Tokenize() {
    for (size_t i = 0; i < text_.size();) {
      const char c = text_[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
      } else if (c == '(' || c == ')') {
        toks_.push_back({std::string(1, c), i + 1});
        ++i;
      } else if (c == '|') {
        return "condition: aggregations ('| count() ...') are not supported";
      } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 c == '.' || c == '*' || c == '?') {
        const size_t start = i;
        while (i < text_.size()) {
          const char d = text_[i];
          if (!((d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9') || d == '_' || d == '-' ||
                d == '.' || d == '*' || d == '?')) {
            break;
          }
          ++i;
        }
        toks_.push_back({std::string(text_.substr(start, i - start)), start + 1});
      } else {
        return "condition: unexpected character '" + std::string(1, c) + "' at column " + std::to_string(i + 1);
      }
    }
    return std::nullopt;
  }

  bool Is(std::string_view word) const {
    if (pos_ >= toks_.size()) return false;
    const std::string& t = toks_[pos_].text;
    if (t.size() != word.size()) return false;
    for (size_t i = 0; i < t.size(); ++i) {
      if (Lower(t[i]) != word[i]) return false;
    }
    return true;
  }
  static bool IsKeyword(const std::string& t) {
    const std::string l = LowerString(t);
    return l == "and" || l == "or" || l == "not" || l == "of" || l == "them" || l == "all";
  }

  std::optional<uint32_t> Fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return std::nullopt;
  }
  uint32_t Add(CondNode n) {
    d_.nodes.push_back(std::move(n));
    return uint32_t(d_.nodes.size() - 1);
  }

  std::optional<uint32_t> Or(int depth) {
    auto first = And(depth);
    if (!first) return std::nullopt;
    CondNode n{CondNode::kOr, {*first}};
    while (Is("or")) {
      ++pos_;
      auto next = And(depth);
      if (!next) return std::nullopt;
      n.args.push_back(*next);
    }
    return n.args.size() == 1 ? *first : Add(std::move(n));
  }

  std::optional<uint32_t> And(int depth) {
    auto first = Unary(depth);
    if (!first) return std::nullopt;
    CondNode n{CondNode::kAnd, {*first}};
    while (Is("and")) {
      ++pos_;
      auto next = Unary(depth);
      if (!next) return std::nullopt;
      n.args.push_back(*next);
    }
    return n.args.size() == 1 ? *first : Add(std::move(n));
  }

  std::optional<uint32_t> Unary(int depth) {
    if (depth > kSigmaMaxConditionDepth) {
      return Fail("condition: nested deeper than " + std::to_string(kSigmaMaxConditionDepth));
    }
    if (Is("not")) {
      ++pos_;
      auto inner = Unary(depth + 1);
      if (!inner) return std::nullopt;
      return Add(CondNode{CondNode::kNot, {*inner}});
    }
    return Primary(depth);
  }

  std::optional<uint32_t> Primary(int depth) {
    if (pos_ >= toks_.size()) return Fail("condition: ends where a selection was expected");
    const Tok& t = toks_[pos_];
    if (t.text == "(") {
      ++pos_;
      auto inner = Or(depth + 1);
      if (!inner) return std::nullopt;
      if (pos_ >= toks_.size() || toks_[pos_].text != ")") {
        return Fail("condition: unbalanced parentheses: '(' at column " + std::to_string(t.col) + " is not closed");
      }
      ++pos_;
      return inner;
    }
    if (t.text == ")") {
      return Fail("condition: unbalanced parentheses: ')' at column " + std::to_string(t.col) + " has no '('");
    }
    if (t.text == "1" || Is("all") || Is("any")) {
      const bool all = Is("all");
      ++pos_;
      if (!Is("of")) return Fail("condition: expected 'of' after '" + t.text + "' at column " + std::to_string(t.col));
      ++pos_;
      if (pos_ >= toks_.size() || toks_[pos_].text == "(" || toks_[pos_].text == ")") {
        return Fail("condition: expected a selection name or 'them' after 'of'");
      }
      std::vector<uint32_t> sels;
      const Tok& target = toks_[pos_];
      if (Is("them")) {
        for (size_t i = 0; i < d_.selections.size(); ++i) {
          if (d_.selections[i].name[0] != '_') sels.push_back(uint32_t(i));
        }
        if (sels.empty()) return Fail("condition: 'them' names no selection");
      } else {
        const auto g = GlobTokens(target.text, /*cased=*/true);
        for (size_t i = 0; i < d_.selections.size(); ++i) {
          if (sigma_internal::GlobMatch(d_.selections[i].name, g, true)) sels.push_back(uint32_t(i));
        }
        if (sels.empty()) return Fail("condition: no selection matches '" + target.text + "'");
      }
      ++pos_;
      return Add(CondNode{all ? CondNode::kAllOf : CondNode::kOneOf, std::move(sels)});
    }
    if (IsKeyword(t.text)) return Fail("condition: unexpected '" + t.text + "' at column " + std::to_string(t.col));
    for (size_t i = 0; i < d_.selections.size(); ++i) {
      if (d_.selections[i].name == t.text) {
        ++pos_;
        return Add(CondNode{CondNode::kSel, {uint32_t(i)}});
      }
    }
    return Fail("condition: undefined selection '" + t.text + "'");
  }

  std::string_view text_;
  Detection& d_;
  std::vector<Tok> toks_;
  size_t pos_ = 0;
  std::string error_;
};

std::optional<Refusal> Compiler::Condition(const YAML::Node& n, Detection& d) {
  std::vector<YAML::Node> conditions;
  if (n.IsSequence()) {
    if (n.size() == 0 || n.size() > 8) return At(n, "detection.condition: a list of 1..8 conditions");
    for (size_t i = 0; i < n.size(); ++i) conditions.push_back(n[i]);
  } else {
    conditions.push_back(n);
  }
  std::vector<uint32_t> roots;
  for (const auto& c : conditions) {
    if (!c.IsScalar()) return At(c, "detection.condition: must be text");
    if (c.Scalar().size() > kSigmaMaxConditionBytes) {
      return At(c, "detection.condition: " + std::to_string(c.Scalar().size()) + " bytes, at most " +
                       std::to_string(kSigmaMaxConditionBytes));
    }
    ConditionParser p(c.Scalar(), d);
    uint32_t root = 0;
    if (auto why = p.Parse(root)) return At(c, "detection." + *why);
    roots.push_back(root);
  }
  if (roots.size() == 1) {
    d.root = roots[0];
  } else {
    d.nodes.push_back(CondNode{CondNode::kOr, roots});
    d.root = uint32_t(d.nodes.size() - 1);
  }
  return std::nullopt;
}

// The line (1-based) where a second YAML document starts ("---" or "..." at
// the start of a line after content), or 0.
int SecondDocumentLine(std::string_view text) {
  bool content = false;
  int line = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(start, end - start);
    ++line;
    start = end + 1;
    const bool marker = (l.substr(0, 3) == "---" || l.substr(0, 3) == "...") &&
                        (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
    if (marker) {
      if (content) return line;
      continue;
    }
    const size_t first = l.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && l[first] != '#' && l[first] != '%') content = true;
  }
  return 0;
}

bool HasRuleExtension(std::string_view name) {
  auto ends = [&name](std::string_view ext) {
    return name.size() > ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  return ends(".yml") || ends(".yaml");
}

struct DirFile {
  std::string name;
  int64_t mtime_ns = 0;
  int64_t size = 0;
};

// The rule files of `dir` in name order (all of them; the caller caps).
std::vector<DirFile> ListRuleFiles(const std::string& dir) {
  std::vector<DirFile> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (const dirent* ent = ::readdir(d)) {
    const std::string name = ent->d_name;
    if (name.empty() || name[0] == '.' || !HasRuleExtension(name)) continue;
    struct stat st {};
    if (::stat(Cat({dir, "/", name}).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    out.push_back({name, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, int64_t(st.st_size)});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const DirFile& a, const DirFile& b) { return a.name < b.name; });
  return out;
}

Result<std::string> ReadBounded(const std::string& path, size_t max, SigmaError* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (error) *error = SigmaError{path, 0, "cannot be opened"};
    return Status::NotFound(path + ": cannot be opened");
  }
  std::string text(max + 1, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  if (text.size() > max) {
    const std::string why = "larger than " + std::to_string(max) + " bytes";
    if (error) *error = SigmaError{path, 0, why};
    return Status::ResourceExhausted(path + ": " + why);
  }
  return text;
}

Result<SigmaRule> LoadRuleFile(const std::string& path, const SigmaFieldMap& fields, SigmaError* error) {
  auto text = ReadBounded(path, kSigmaMaxRuleFileBytes, error);
  if (!text.ok()) return text.status();
  return ParseSigmaRule(*text, path, fields, error);
}

// The set from per-file results in name order: duplicate ids refused.
SigmaRuleSet BuildSet(const std::vector<std::pair<std::string, std::shared_ptr<const SigmaRule>>>& rules,
                      std::vector<SigmaError> errors) {
  std::vector<std::shared_ptr<const SigmaRule>> kept;
  std::map<std::string, std::string, std::less<>> ids;
  for (const auto& [path, rule] : rules) {
    if (!rule) continue;
    auto [it, fresh] = ids.emplace(rule->id, path);
    if (!fresh) {
      errors.push_back({path, rule->line, "duplicate rule id '" + rule->id + "' (also in " + it->second + ")"});
      continue;
    }
    kept.push_back(rule);
  }
  return SigmaRuleSet(std::move(kept), std::move(errors));
}

}  // namespace

std::string SigmaError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  return out + ": " + reason;
}

std::string_view SigmaLevelName(SigmaLevel level) {
  const auto i = size_t(level);
  return i < std::size(kLevels) ? kLevels[i] : std::string_view("medium");
}

// ---- SigmaFieldMap ----

bool SigmaFieldMap::IsEventPath(std::string_view path) {
  if (KnownPath(path)) return true;
  if (path.substr(0, kFeaturesPrefix.size()) != kFeaturesPrefix) return false;
  return ValidName(path.substr(kFeaturesPrefix.size()), 64);
}

std::string SigmaFieldMap::Resolve(std::string_view name) const {
  auto it = map_.find(name);
  if (it != map_.end()) return it->second;
  return IsEventPath(name) ? std::string(name) : std::string();
}

Result<SigmaFieldMap> SigmaFieldMap::Parse(std::string_view text, std::string_view file) {
  auto bad = [&file](int line, const std::string& why) {
    return Status::InvalidArgument(SigmaError{std::string(file), line, why}.ToString());
  };
  if (text.size() > kSigmaMaxRuleFileBytes) {
    return bad(0, "larger than " + std::to_string(kSigmaMaxRuleFileBytes) + " bytes");
  }
  SigmaFieldMap out;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) return out;
    if (!root.IsMap()) return bad(LineOf(root), "must be a mapping of Sigma field names to event fields");
    if (root.size() > kSigmaMaxFieldMapEntries) {
      return bad(LineOf(root), "more than " + std::to_string(kSigmaMaxFieldMapEntries) + " entries");
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (!it->first.IsScalar() || !ValidName(it->first.Scalar(), 64)) {
        return bad(LineOf(it->first), "field names are 1..64 letters, digits, _ - .");
      }
      const std::string name = it->first.Scalar();
      if (!it->second.IsScalar()) return bad(LineOf(it->second), name + ": must name an event field");
      const std::string path = it->second.Scalar();
      if (!IsEventPath(path)) {
        return bad(LineOf(it->second), Cat({name, ": unknown event field '", path, "' (docs/events.md)"}));
      }
      if (!out.map_.emplace(name, path).second) return bad(LineOf(it->first), name + ": defined twice");
    }
  } catch (const YAML::Exception& e) {
    return bad(e.mark.line >= 0 ? e.mark.line + 1 : 0, std::string("not valid YAML: ") + e.msg);
  }
  return out;
}

Result<SigmaFieldMap> SigmaFieldMap::Load(const std::string& path) {
  auto text = ReadBounded(path, kSigmaMaxRuleFileBytes, nullptr);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

// ---- SigmaRule ----

SigmaRule::SigmaRule() = default;
SigmaRule::~SigmaRule() = default;
SigmaRule::SigmaRule(SigmaRule&&) noexcept = default;
SigmaRule& SigmaRule::operator=(SigmaRule&&) noexcept = default;

std::vector<std::string> SigmaRule::AttackTags() const {
  std::vector<std::string> out;
  for (const auto& t : tags) {
    if (t.rfind("attack.", 0) == 0) out.push_back(t);
  }
  return out;
}

bool SigmaRule::Matches(const SocEvent& e) const {
  if (!detection_) return false;
  const Detection& d = *detection_;
  if (d.category >= 0 && (!e.l4.present || int(e.l4.category) != d.category)) return false;
  return sigma_internal::Eval(d, d.root, e);
}

Result<SigmaRule> ParseSigmaRule(std::string_view text, std::string_view file, const SigmaFieldMap& fields,
                                 SigmaError* error) {
  auto refuse = [&](int line, std::string why) -> Status {
    SigmaError err{std::string(file), line, std::move(why)};
    Status s = Status::InvalidArgument(err.ToString());
    if (error) *error = std::move(err);
    return s;
  };
  if (text.size() > kSigmaMaxRuleFileBytes) {
    return refuse(0, "larger than " + std::to_string(kSigmaMaxRuleFileBytes) + " bytes");
  }
  SigmaRule rule;
  rule.file = std::string(file);
  try {
    if (const int second = SecondDocumentLine(text)) {
      return refuse(second, "one rule per file (a second YAML document starts here)");
    }
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) return refuse(0, "empty file: a rule needs title, logsource and detection");
    Compiler c(fields);
    std::unique_ptr<Detection> d;
    if (auto r = c.Compile(root, file, rule, d)) return refuse(r->line, std::move(r->reason));
    rule.detection_ = std::move(d);
  } catch (const YAML::Exception& e) {
    return refuse(e.mark.line >= 0 ? e.mark.line + 1 : 0, std::string("not valid YAML: ") + e.msg);
  }
  return rule;
}

// ---- SigmaRuleSet ----

SigmaRuleSet::SigmaRuleSet(std::vector<std::shared_ptr<const SigmaRule>> rules, std::vector<SigmaError> errors)
    : rules_(std::move(rules)), errors_(std::move(errors)) {}

void SigmaRuleSet::MatchInto(const SocEvent& e, std::vector<SigmaMatch>& out) const {
  for (const auto& r : rules_) {
    if (!r->Matches(e)) continue;
    out.push_back(SigmaMatch{r->id, r->title, r->level, r->AttackTags(), r->file});
  }
}

std::vector<SigmaMatch> SigmaRuleSet::Match(const SocEvent& e) const {
  std::vector<SigmaMatch> out;
  MatchInto(e, out);
  return out;
}

SigmaRuleSet LoadSigmaDirectory(const std::string& dir, const SigmaFieldMap& fields) {
  std::vector<DirFile> files = ListRuleFiles(dir);
  std::vector<SigmaError> errors;
  if (files.size() > kSigmaMaxRuleFiles) {
    errors.push_back({dir, 0,
                      std::to_string(files.size()) + " rule files, at most " + std::to_string(kSigmaMaxRuleFiles) +
                          " are loaded (the first in name order)"});
    files.resize(kSigmaMaxRuleFiles);
  }
  std::vector<std::pair<std::string, std::shared_ptr<const SigmaRule>>> rules;
  for (const auto& f : files) {
    const std::string path = dir + "/" + f.name;
    SigmaError err;
    auto r = LoadRuleFile(path, fields, &err);
    if (!r.ok()) {
      errors.push_back(std::move(err));
      continue;
    }
    rules.emplace_back(path, std::make_shared<const SigmaRule>(std::move(*r)));
  }
  return BuildSet(rules, std::move(errors));
}

// ---- SigmaRuleStore ----

SigmaRuleStore::SigmaRuleStore(std::string dir, SigmaFieldMap fields, std::chrono::milliseconds poll_interval,
                               const Logger* log)
    : dir_(std::move(dir)), fields_(std::move(fields)), poll_(poll_interval), log_(log) {}

std::string SigmaRuleStore::DirFor(const std::string& tenant) const {
  auto scope = store::TenantScope::For(tenant);
  if (!scope.ok()) return {};
  return dir_ + "/" + scope->lower();
}

void SigmaRuleStore::Reload(const std::string& tenant, Entry& entry) {
  const std::string dir = DirFor(tenant);
  std::vector<DirFile> listed = ListRuleFiles(dir);
  std::vector<SigmaError> errors;
  if (listed.size() > kSigmaMaxRuleFiles) {
    errors.push_back({dir, 0,
                      std::to_string(listed.size()) + " rule files, at most " + std::to_string(kSigmaMaxRuleFiles) +
                          " are loaded (the first in name order)"});
    listed.resize(kSigmaMaxRuleFiles);
  }
  bool changed = !entry.set || listed.size() != entry.files.size();
  for (const auto& f : listed) {
    if (changed) break;
    auto it = entry.files.find(f.name);
    changed = it == entry.files.end() || it->second.mtime_ns != f.mtime_ns || it->second.size != f.size;
  }
  if (!changed) return;
  std::map<std::string, FileState> files;
  std::vector<std::pair<std::string, std::shared_ptr<const SigmaRule>>> rules;
  int loaded = 0, refused = 0;
  for (const auto& f : listed) {
    const std::string path = dir + "/" + f.name;
    FileState st;
    auto old = entry.files.find(f.name);
    if (old != entry.files.end() && old->second.mtime_ns == f.mtime_ns && old->second.size == f.size) {
      st = old->second;
    } else {
      st.mtime_ns = f.mtime_ns;
      st.size = f.size;
      SigmaError err;
      auto r = LoadRuleFile(path, fields_, &err);
      if (r.ok()) {
        st.good = std::make_shared<const SigmaRule>(std::move(*r));
        ++loaded;
      } else {
        st.good = old != entry.files.end() ? old->second.good : nullptr;  // the last good version stays
        st.error = err.ToString();
        st.detail = std::move(err);
        ++refused;
        if (log_) {
          log_->Warn("sigma rule refused", {{"tenant", tenant},
                                            {"path", path},
                                            {"reason", st.error},
                                            {"in_force", st.good ? "last good version" : "none"}});
        }
      }
    }
    if (!st.error.empty()) errors.push_back(st.detail);
    rules.emplace_back(path, st.good);
    files.emplace(f.name, std::move(st));
  }
  entry.files = std::move(files);
  entry.set = std::make_shared<const SigmaRuleSet>(BuildSet(rules, std::move(errors)));
  if (log_) {
    log_->Info("sigma rules loaded", {{"tenant", tenant},
                                      {"dir", dir},
                                      {"rules", static_cast<int64_t>(entry.set->size())},
                                      {"compiled", static_cast<int64_t>(loaded)},
                                      {"refused", static_cast<int64_t>(refused)}});
  }
}

std::shared_ptr<const SigmaRuleSet> SigmaRuleStore::Rules(const std::string& tenant) {
  static const auto kEmpty = std::make_shared<const SigmaRuleSet>();
  if (!store::TenantScope::For(tenant).ok()) return kEmpty;
  MutexLock lock(mu_);
  Entry& e = entries_[tenant];
  const auto now = std::chrono::steady_clock::now();
  if (e.set && now - e.checked < poll_) return e.set;
  e.checked = now;
  Reload(tenant, e);
  return e.set;
}

std::vector<SigmaMatch> SigmaRuleStore::Match(const std::string& tenant, const SocEvent& e) {
  if (!e.tenant.empty() && e.tenant != tenant) return {};
  return Rules(tenant)->Match(e);
}

Result<std::vector<SigmaMatch>> SigmaRuleStore::MatchJson(const std::string& tenant, std::string_view event_json) {
  auto e = ParseEvent(event_json, tenant);
  if (!e.ok()) return e.status();
  return Match(tenant, *e);
}

std::vector<SigmaError> SigmaRuleStore::Errors(const std::string& tenant) { return Rules(tenant)->errors(); }

}  // namespace dsmil::soc
