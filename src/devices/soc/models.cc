#include "devices/soc/models.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace dsmil::soc {
namespace {

using json = nlohmann::json;

// The features an L3 term may name. Indicator features are 0 or 1.
enum L3Feature : int {
  kBytesIn,
  kBytesOut,
  kConnCount,
  kFailedLogins,
  kDistinctPorts,
  kAnomalyScore,
  kBiometricScore,
  kClassicalKex,   // kex present and not post-quantum
  kEnclaveFailed,  // enclave_attestation == "failed"
  kOffHours,       // login_hour outside 06..21
  kHasFileHash,
  kL3FeatureCount
};
constexpr std::string_view kL3FeatureNames[kL3FeatureCount] = {
    "bytes_in",        "bytes_out",     "conn_count",     "failed_logins", "distinct_ports", "anomaly_score",
    "biometric_score", "classical_kex", "enclave_failed", "off_hours",     "has_file_hash"};

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

// Returns whether the feature is present, and its raw value.
bool L3Value(const Features& f, int feature, double* v) {
  auto opt_i = [&](const std::optional<int64_t>& o) {
    if (!o) return false;
    *v = double(*o);
    return true;
  };
  auto opt_d = [&](const std::optional<double>& o) {
    if (!o) return false;
    *v = *o;
    return true;
  };
  switch (feature) {
    case kBytesIn:
      return opt_i(f.bytes_in);
    case kBytesOut:
      return opt_i(f.bytes_out);
    case kConnCount:
      return opt_i(f.conn_count);
    case kFailedLogins:
      return opt_i(f.failed_logins);
    case kDistinctPorts:
      return opt_i(f.distinct_ports);
    case kAnomalyScore:
      return opt_d(f.anomaly_score);
    case kBiometricScore:
      return opt_d(f.biometric_score);
    case kClassicalKex:
      if (f.kex.empty()) return false;
      *v = IsPostQuantumKex(f.kex) ? 0 : 1;
      return true;
    case kEnclaveFailed:
      *v = f.enclave_attestation == "failed" ? 1 : 0;
      return true;
    case kOffHours:
      if (!f.login_hour) return false;
      *v = (*f.login_hour < 6 || *f.login_hour > 21) ? 1 : 0;
      return true;
    case kHasFileHash:
      *v = f.file_hash.empty() ? 0 : 1;
      return true;
  }
  return false;
}

Result<json> ParseJson(std::string_view text, std::string_view what) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string(what) + ": not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument(std::string(what) + ": must be a JSON object");
  return j;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<double> Num(const json& j, const char* key, std::string_view what) {
  if (!j.contains(key) || !j[key].is_number())
    return Status::InvalidArgument(std::string(what) + ": " + key + " must be a number");
  double d = j[key].get<double>();
  if (!std::isfinite(d)) return Status::InvalidArgument(std::string(what) + ": " + key + " must be finite");
  return d;
}

template <size_t K>
Status ReadHead(const json& j, const char* wkey, const char* bkey, size_t dim, std::vector<float>& w,
                std::array<float, K>& b) {
  constexpr std::string_view what = "l4 model";
  if (!j.contains(bkey) || !j[bkey].is_array() || j[bkey].size() != K)
    return Status::InvalidArgument(std::string(what) + ": " + bkey + " must be an array of " + std::to_string(K));
  for (size_t k = 0; k < K; ++k) {
    if (!j[bkey][k].is_number())
      return Status::InvalidArgument(std::string(what) + ": " + bkey + " holds a non-number");
    b[k] = j[bkey][k].get<float>();
  }
  // weights: K rows of `dim` numbers (one per class).
  if (!j.contains(wkey) || !j[wkey].is_array() || j[wkey].size() != K)
    return Status::InvalidArgument(std::string(what) + ": " + wkey + " must be " + std::to_string(K) + " rows");
  w.assign(dim * K, 0.0f);
  for (size_t k = 0; k < K; ++k) {
    const json& row = j[wkey][k];
    if (!row.is_array() || row.size() != dim)
      return Status::InvalidArgument(std::string(what) + ": " + wkey + "[" + std::to_string(k) + "] must hold " +
                                     std::to_string(dim) + " numbers");
    for (size_t d = 0; d < dim; ++d) {
      if (!row[d].is_number())
        return Status::InvalidArgument(std::string(what) + ": " + wkey + "[" + std::to_string(k) + "][" +
                                       std::to_string(d) + "] is not a number");
      w[d * K + k] = row[d].get<float>();
    }
  }
  return Status::Ok();
}

template <size_t K>
void Softmax(std::array<double, K>& z) {
  double m = z[0];
  for (double v : z) m = std::max(m, v);
  double s = 0;
  for (double& v : z) {
    v = std::exp(v - m);
    s += v;
  }
  for (double& v : z) v /= s;
}

}  // namespace

bool IsPostQuantumKex(std::string_view kex) {
  return ContainsIgnoreCase(kex, "MLKEM") || ContainsIgnoreCase(kex, "ML-KEM") || ContainsIgnoreCase(kex, "KYBER") ||
         ContainsIgnoreCase(kex, "SNTRUP") || ContainsIgnoreCase(kex, "FRODO") || ContainsIgnoreCase(kex, "HQC");
}

// ---- L3 ----

Result<L3Model> L3Model::Parse(std::string_view text) {
  DSMIL_ASSIGN_OR_RETURN(json j, ParseJson(text, "l3 model"));
  if (j.value("format", "") != "dsmil-l3-router")
    return Status::InvalidArgument("l3 model: format must be \"dsmil-l3-router\"");
  if (j.value("version", 0) != 1) return Status::InvalidArgument("l3 model: version must be 1");
  L3Model m;
  DSMIL_ASSIGN_OR_RETURN(m.bias_, Num(j, "bias", "l3 model"));
  if (!j.contains("thresholds") || !j["thresholds"].is_object())
    return Status::InvalidArgument("l3 model: thresholds must be an object {priority, standard}");
  DSMIL_ASSIGN_OR_RETURN(m.priority_, Num(j["thresholds"], "priority", "l3 model thresholds"));
  DSMIL_ASSIGN_OR_RETURN(m.standard_, Num(j["thresholds"], "standard", "l3 model thresholds"));
  if (!(m.standard_ >= 0 && m.standard_ <= m.priority_ && m.priority_ <= 1))
    return Status::InvalidArgument("l3 model: thresholds need 0 <= standard <= priority <= 1");
  if (!j.contains("terms") || !j["terms"].is_array())
    return Status::InvalidArgument("l3 model: terms must be an array");
  for (size_t i = 0; i < j["terms"].size(); ++i) {
    const json& t = j["terms"][i];
    std::string where = "l3 model: terms[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("feature") || !t["feature"].is_string())
      return Status::InvalidArgument(where + ".feature must be a string");
    std::string name = t["feature"].get<std::string>();
    Term term;
    term.feature = -1;
    for (int k = 0; k < kL3FeatureCount; ++k)
      if (kL3FeatureNames[k] == name) term.feature = k;
    if (term.feature < 0) return Status::InvalidArgument(where + ".feature: unknown feature '" + name + "'");
    std::string tr = t.value("transform", "identity");
    if (tr == "identity")
      term.transform = Transform::kIdentity;
    else if (tr == "log1p")
      term.transform = Transform::kLog1p;
    else if (tr == "inverse")
      term.transform = Transform::kInverse;
    else
      return Status::InvalidArgument(where + ".transform: unknown transform '" + tr + "' (identity, log1p, inverse)");
    DSMIL_ASSIGN_OR_RETURN(term.weight, Num(t, "weight", where));
    m.terms_.push_back(term);
  }
  return m;
}

Result<L3Model> L3Model::Load(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto m = Parse(text);
  if (!m.ok()) return m.status().WithContext(path);
  return m;
}

L3Model L3Model::Default() {
  L3Model m;
  m.bias_ = -3.2;
  m.priority_ = 0.7;
  m.standard_ = 0.3;
  m.terms_ = {
      {kFailedLogins, Transform::kLog1p, 0.9},    {kDistinctPorts, Transform::kLog1p, 0.45},
      {kBytesOut, Transform::kLog1p, 0.12},       {kConnCount, Transform::kLog1p, 0.1},
      {kAnomalyScore, Transform::kIdentity, 3.0}, {kBiometricScore, Transform::kInverse, 1.2},
      {kClassicalKex, Transform::kIdentity, 0.8}, {kEnclaveFailed, Transform::kIdentity, 2.5},
      {kOffHours, Transform::kIdentity, 0.6},     {kHasFileHash, Transform::kIdentity, 0.7},
  };
  return m;
}

double L3Model::Score(const Features& f) const {
  double z = bias_;
  for (const Term& t : terms_) {
    double v;
    if (!L3Value(f, t.feature, &v)) continue;
    switch (t.transform) {
      case Transform::kIdentity:
        break;
      case Transform::kLog1p:
        v = std::log1p(std::max(0.0, v));
        break;
      case Transform::kInverse:
        v = 1.0 - v;
        break;
    }
    z += t.weight * v;
  }
  return 1.0 / (1.0 + std::exp(-z));
}

std::string_view L3Model::Decide(double score) const {
  if (score >= priority_) return "PRIORITY";
  if (score >= standard_) return "STANDARD";
  return "ROUTINE";
}

// ---- L4 ----

Result<L4Model> L4Model::Parse(std::string_view text) {
  DSMIL_ASSIGN_OR_RETURN(json j, ParseJson(text, "l4 model"));
  if (j.value("format", "") != "dsmil-l4-classifier")
    return Status::InvalidArgument("l4 model: format must be \"dsmil-l4-classifier\"");
  if (j.value("version", 0) != 1) return Status::InvalidArgument("l4 model: version must be 1");
  if (!j.contains("dim") || !j["dim"].is_number_integer() || j["dim"].get<int64_t>() < 16 ||
      j["dim"].get<int64_t>() > (1 << 20))
    return Status::InvalidArgument("l4 model: dim must be an integer in 16..1048576");
  L4Model m;
  m.dim_ = size_t(j["dim"].get<int64_t>());
  // The class order must be the one compiled in.
  auto check_names = [&](const char* key, auto count, auto name_of) -> Status {
    if (!j.contains(key) || !j[key].is_array() || j[key].size() != size_t(count))
      return Status::InvalidArgument(std::string("l4 model: ") + key + " must list " + std::to_string(count) +
                                     " names");
    for (size_t i = 0; i < size_t(count); ++i) {
      if (!j[key][i].is_string() || j[key][i].get<std::string>() != name_of(i))
        return Status::InvalidArgument(std::string("l4 model: ") + key + "[" + std::to_string(i) + "] must be " +
                                       std::string(name_of(i)));
    }
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(check_names("categories", kCategoryCount, [](size_t i) { return CategoryName(Category(i)); }));
  DSMIL_RETURN_IF_ERROR(check_names("severities", kSeverityCount, [](size_t i) { return SeverityName(Severity(i)); }));
  DSMIL_RETURN_IF_ERROR(ReadHead(j, "category_weights", "category_bias", m.dim_, m.cat_w_, m.cat_b_));
  DSMIL_RETURN_IF_ERROR(ReadHead(j, "severity_weights", "severity_bias", m.dim_, m.sev_w_, m.sev_b_));
  if (j.contains("heldout") && j["heldout"].is_object() && j["heldout"].contains("category_accuracy") &&
      j["heldout"]["category_accuracy"].is_number())
    m.heldout_accuracy_ = j["heldout"]["category_accuracy"].get<double>();
  return m;
}

Result<L4Model> L4Model::Load(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto m = Parse(text);
  if (!m.ok()) return m.status().WithContext(path);
  return m;
}

L4Output L4Model::Classify(const Features& f) const {
  std::array<double, kCategoryCount> zc;
  std::array<double, kSeverityCount> zs;
  for (int k = 0; k < kCategoryCount; ++k) zc[k] = cat_b_[k];
  for (int k = 0; k < kSeverityCount; ++k) zs[k] = sev_b_[k];
  L4Tokens(f, [&](std::string_view tok) {
    size_t b = Fnv1a32(tok) % dim_;
    const float* wc = &cat_w_[b * kCategoryCount];
    for (int k = 0; k < kCategoryCount; ++k) zc[k] += wc[k];
    const float* ws = &sev_w_[b * kSeverityCount];
    for (int k = 0; k < kSeverityCount; ++k) zs[k] += ws[k];
  });
  Softmax(zc);
  Softmax(zs);
  L4Output out;
  int bc = 0, bs = 0;
  for (int k = 1; k < kCategoryCount; ++k)
    if (zc[k] > zc[bc]) bc = k;
  for (int k = 1; k < kSeverityCount; ++k)
    if (zs[k] > zs[bs]) bs = k;
  out.category = Category(bc);
  out.severity = Severity(bs);
  out.confidence = zc[bc];
  out.category_probs = zc;
  out.severity_probs = zs;
  return out;
}

}  // namespace dsmil::soc
