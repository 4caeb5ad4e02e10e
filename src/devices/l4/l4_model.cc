#include "devices/l4/l4_model.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "devices/model_file.h"

namespace dsmil::soc {
namespace {

using json = nlohmann::json;

template <size_t K>
Status ReadHead(const json& j, const char* wkey, const char* bkey, size_t dim, std::vector<float>& w,
                std::array<float, K>& b) {
  constexpr std::string_view what = "l4 model";
  if (!j.contains(bkey) || !j[bkey].is_array() || j[bkey].size() != K) {
    return Status::InvalidArgument(std::string(what) + ": " + bkey + " must be an array of " + std::to_string(K));
  }
  for (size_t k = 0; k < K; ++k) {
    if (!j[bkey][k].is_number()) {
      return Status::InvalidArgument(std::string(what) + ": " + bkey + " holds a non-number");
    }
    b[k] = j[bkey][k].get<float>();
  }
  // weights: K rows of `dim` numbers (one per class).
  if (!j.contains(wkey) || !j[wkey].is_array() || j[wkey].size() != K) {
    return Status::InvalidArgument(std::string(what) + ": " + wkey + " must be " + std::to_string(K) + " rows");
  }
  w.assign(dim * K, 0.0f);
  for (size_t k = 0; k < K; ++k) {
    const json& row = j[wkey][k];
    if (!row.is_array() || row.size() != dim) {
      return Status::InvalidArgument(std::string(what) + ": " + wkey + "[" + std::to_string(k) + "] must hold " +
                                     std::to_string(dim) + " numbers");
    }
    for (size_t d = 0; d < dim; ++d) {
      if (!row[d].is_number()) {
        return Status::InvalidArgument(std::string(what) + ": " + wkey + "[" + std::to_string(k) + "][" +
                                       std::to_string(d) + "] is not a number");
      }
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

Result<L4Model> L4Model::Parse(std::string_view text) {
  DSMIL_ASSIGN_OR_RETURN(json j, devices::ParseModelJson(text, "l4 model"));
  if (j.value("format", "") != "dsmil-l4-classifier") {
    return Status::InvalidArgument("l4 model: format must be \"dsmil-l4-classifier\"");
  }
  if (j.value("version", 0) != 1) return Status::InvalidArgument("l4 model: version must be 1");
  if (!j.contains("dim") || !j["dim"].is_number_integer() || j["dim"].get<int64_t>() < 16 ||
      j["dim"].get<int64_t>() > (1 << 20)) {
    return Status::InvalidArgument("l4 model: dim must be an integer in 16..1048576");
  }
  L4Model m;
  m.dim_ = size_t(j["dim"].get<int64_t>());
  // The class order must be the one compiled in.
  auto check_names = [&](const char* key, auto count, auto name_of) -> Status {
    if (!j.contains(key) || !j[key].is_array() || j[key].size() != size_t(count)) {
      return Status::InvalidArgument(std::string("l4 model: ") + key + " must list " + std::to_string(count) +
                                     " names");
    }
    for (size_t i = 0; i < size_t(count); ++i) {
      if (!j[key][i].is_string() || j[key][i].get<std::string>() != name_of(i)) {
        return Status::InvalidArgument(std::string("l4 model: ") + key + "[" + std::to_string(i) + "] must be " +
                                       std::string(name_of(i)));
      }
    }
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(check_names("categories", kCategoryCount, [](size_t i) { return CategoryName(Category(i)); }));
  DSMIL_RETURN_IF_ERROR(check_names("severities", kSeverityCount, [](size_t i) { return SeverityName(Severity(i)); }));
  DSMIL_RETURN_IF_ERROR(ReadHead(j, "category_weights", "category_bias", m.dim_, m.cat_w_, m.cat_b_));
  DSMIL_RETURN_IF_ERROR(ReadHead(j, "severity_weights", "severity_bias", m.dim_, m.sev_w_, m.sev_b_));
  if (j.contains("heldout") && j["heldout"].is_object() && j["heldout"].contains("category_accuracy") &&
      j["heldout"]["category_accuracy"].is_number()) {
    m.heldout_accuracy_ = j["heldout"]["category_accuracy"].get<double>();
  }
  return m;
}

Result<L4Model> L4Model::Load(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, devices::ReadModelFile(path));
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
  for (int k = 1; k < kCategoryCount; ++k) {
    if (zc[k] > zc[bc]) bc = k;
  }
  for (int k = 1; k < kSeverityCount; ++k) {
    if (zs[k] > zs[bs]) bs = k;
  }
  out.category = Category(bc);
  out.severity = Severity(bs);
  out.confidence = zc[bc];
  out.category_probs = zc;
  out.severity_probs = zs;
  return out;
}

}  // namespace dsmil::soc
