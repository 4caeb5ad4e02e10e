// The learned component of the prompt-injection detector (docs/injection.md
// §4): logistic regression over hashed features, shared by the trainer
// (tools/train_injection.cc) and the detector (injection_check.h) so that
// both see exactly the same features.
//
// A check is cut into scoring units: every chat message on its own (with its
// role) and, when there are several, the whole conversation (the contents
// joined by newlines, with features of its structure: a system message that
// is not first, several system messages, a client-supplied assistant turn
// last). Each unit is seen through every view of injection_decode.h; each
// (unit, view) pair gets the phrase rules' verdict and a feature vector:
//
//   c:   character 3-5-grams of NormalizeForInjection(text)     (group-normalised)
//   s:   code-point 2-4-grams holding a letter outside Latin    (group-normalised)
//        (the normaliser drops other scripts; these keep them)
//   w:/b: word unigrams and bigrams of the normalised text      (group-normalised)
//   t:   words of the system and assistant turns, tagged with the role
//   r:   the ids of the rules that fired, and each crossed with the role
//   role:, view:, st:, obf   the unit's role, the view, the conversation
//        structure, whether the text was disguised                (binary)
//
// Features are hashed (FNV-1a) into 2^kInjectionFeatureBits weights. The
// model's margin m = w.x + bias gives the model probability
// sigmoid(platt_a * m + platt_b) and, with the rules' score r (the clipped sum
// of rule weights), the final score max(sigmoid(comb_m * m + comb_r * r +
// comb_b), sigmoid(rules_a * r + rules_b)); all maps are fitted on the dev
// set, so all are probabilities.
// The threshold stored with the model is the one the trainer chose on dev.
//
// Pure functions and immutable models: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "devices/l8/injection.h"

namespace dsmil::devices {

inline constexpr int kInjectionFeatureBits = 18;
// Messages longer than twice this are also scored in windows of this many
// bytes (half overlapping).
inline constexpr size_t kInjectionWindowBytes = 1024;

enum class PromptRole { kUser, kSystem, kAssistant, kTool, kConversation };

// "system" and "developer" -> kSystem, "assistant" -> kAssistant, "tool" and
// "function" -> kTool, anything else -> kUser.
PromptRole ParsePromptRole(std::string_view role);
std::string_view PromptRoleName(PromptRole role);

struct PromptMessage {
  std::string role;
  std::string content;
};

// One hashed feature; an index may appear more than once (values add up).
struct HashedFeature {
  uint32_t index;
  float value;
};
using FeatureVector = std::vector<HashedFeature>;

struct ScoringUnit {
  PromptRole role = PromptRole::kUser;
  std::string name;  // "message 2 (system)", "conversation"
  std::string text;
  std::vector<std::string> structure;  // "sys_late", "asst_last", ...
  // The system and assistant turns the unit holds, for role-tagged words.
  std::vector<std::pair<PromptRole, std::string>> tagged;
};

// The units of a check: each message, its windows when it is long, and the
// conversation when there are two or more messages. Each unit's text is
// clipped to its first and last kInjectionMaxBytes bytes.
std::vector<ScoringUnit> ScoringUnits(const std::vector<PromptMessage>& messages);

// One view of one unit, analysed.
struct AnalysedView {
  std::string view;        // "original", "base64", ...
  InjectionVerdict rules;  // the phrase rules on the view's text
  FeatureVector features;
};

// Every view of `unit` with its rule verdict and features.
std::vector<AnalysedView> AnalyseUnit(const ScoringUnit& unit);

// The features of one view (AnalyseUnit's), given the rules' verdict on it.
FeatureVector ExtractFeatures(std::string_view text, const ScoringUnit& unit, std::string_view view,
                              const InjectionVerdict& rules);

struct InjectionModel {
  uint32_t bits = kInjectionFeatureBits;
  std::vector<float> weights;  // 2^bits
  float bias = 0;
  double platt_a = 1, platt_b = 0;            // model probability
  double comb_m = 1, comb_r = 0, comb_b = 0;  // combined score
  double rules_a = 1, rules_b = -100;         // the rules' score calibrated alone
  double threshold = 0.5;                     // chosen on dev

  double Margin(const FeatureVector& x) const;
  double ModelProbability(double margin) const;
  // max(sigmoid(comb_m*m + comb_r*r + comb_b), sigmoid(rules_a*r + rules_b))
  // (the second only when some rule fired, r > 0):
  // a strong rule match keeps its own calibrated weight even where the
  // model has not seen the phrasing.
  double Score(double margin, double rules_score) const;

  // The binary weights file: "DSMIJ002", bits, the parameters, then 2^bits
  // little-endian float32 weights.
  std::string Serialize() const;
  static Result<InjectionModel> Parse(std::string_view bytes);
};

double Sigmoid(double z);

}  // namespace dsmil::devices
