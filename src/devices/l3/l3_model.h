// The L3 Adaptive Router model (docs/soc.md): a logistic score over
// transformed numeric features,
//   score = sigmoid(bias + sum_i weight_i * transform_i(feature_i))
// with the routing decision PRIORITY (score >= thresholds.priority),
// STANDARD (>= thresholds.standard) or ROUTINE. Parameters from
// models/l3_router.json.
//
// Immutable after loading: Score/Decide are const, allocation-free and
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/soc/event.h"

namespace dsmil::soc {

class L3Model {
 public:
  enum class Transform : uint8_t { kIdentity, kLog1p, kInverse };
  // Feature names a weight may refer to (docs/soc.md).
  struct Term {
    int feature = 0;  // index into the feature table of l3_model.cc
    Transform transform = Transform::kIdentity;
    double weight = 0;
  };

  // Parses the JSON parameter file text; InvalidArgument naming the key.
  static Result<L3Model> Parse(std::string_view json_text);
  static Result<L3Model> Load(const std::string& path);
  // The parameters shipped in models/l3_router.json, built in (used when no
  // file is configured).
  static L3Model Default();

  double Score(const Features& f) const;
  std::string_view Decide(double score) const;

  double priority_threshold() const { return priority_; }
  double standard_threshold() const { return standard_; }

 private:
  double bias_ = 0;
  double priority_ = 0.7, standard_ = 0.3;
  std::vector<Term> terms_;
};

}  // namespace dsmil::soc
