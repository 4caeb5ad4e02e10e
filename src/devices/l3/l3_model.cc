#include "devices/l3/l3_model.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "devices/model_file.h"

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

Result<double> Num(const json& j, const char* key, std::string_view what) {
  if (!j.contains(key) || !j[key].is_number()) {
    return Status::InvalidArgument(std::string(what) + ": " + key + " must be a number");
  }
  double d = j[key].get<double>();
  if (!std::isfinite(d)) return Status::InvalidArgument(std::string(what) + ": " + key + " must be finite");
  return d;
}

}  // namespace

Result<L3Model> L3Model::Parse(std::string_view text) {
  DSMIL_ASSIGN_OR_RETURN(json j, devices::ParseModelJson(text, "l3 model"));
  if (j.value("format", "") != "dsmil-l3-router") {
    return Status::InvalidArgument("l3 model: format must be \"dsmil-l3-router\"");
  }
  if (j.value("version", 0) != 1) return Status::InvalidArgument("l3 model: version must be 1");
  L3Model m;
  DSMIL_ASSIGN_OR_RETURN(m.bias_, Num(j, "bias", "l3 model"));
  if (!j.contains("thresholds") || !j["thresholds"].is_object()) {
    return Status::InvalidArgument("l3 model: thresholds must be an object {priority, standard}");
  }
  DSMIL_ASSIGN_OR_RETURN(m.priority_, Num(j["thresholds"], "priority", "l3 model thresholds"));
  DSMIL_ASSIGN_OR_RETURN(m.standard_, Num(j["thresholds"], "standard", "l3 model thresholds"));
  if (!(m.standard_ >= 0 && m.standard_ <= m.priority_ && m.priority_ <= 1)) {
    return Status::InvalidArgument("l3 model: thresholds need 0 <= standard <= priority <= 1");
  }
  if (!j.contains("terms") || !j["terms"].is_array()) {
    return Status::InvalidArgument("l3 model: terms must be an array");
  }
  for (size_t i = 0; i < j["terms"].size(); ++i) {
    const json& t = j["terms"][i];
    std::string where = "l3 model: terms[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("feature") || !t["feature"].is_string()) {
      return Status::InvalidArgument(where + ".feature must be a string");
    }
    std::string name = t["feature"].get<std::string>();
    Term term;
    term.feature = -1;
    for (int k = 0; k < kL3FeatureCount; ++k) {
      if (kL3FeatureNames[k] == name) term.feature = k;
    }
    if (term.feature < 0) {
      return Status::InvalidArgument(where.append(".feature: unknown feature '").append(name).append("'"));
    }
    std::string tr = t.value("transform", "identity");
    if (tr == "identity") {
      term.transform = Transform::kIdentity;
    } else if (tr == "log1p") {
      term.transform = Transform::kLog1p;
    } else if (tr == "inverse") {
      term.transform = Transform::kInverse;
    } else {
      return Status::InvalidArgument(
          where.append(".transform: unknown transform '").append(tr).append("' (identity, log1p, inverse)"));
    }
    DSMIL_ASSIGN_OR_RETURN(term.weight, Num(t, "weight", where));
    m.terms_.push_back(term);
  }
  return m;
}

Result<L3Model> L3Model::Load(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, devices::ReadModelFile(path));
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

}  // namespace dsmil::soc
