// Prompt-injection detection (spec §9.2 drill 3): the check device 51
// (Adversarial ML Defense) runs on every L7 prompt before any LLM worker sees
// it. The rules, the normalisation and the score are described in
// docs/injection.md; the labelled corpus is data/injection/.
//
// The detector first folds the text so that disguises do not hide a phrase:
// Unicode look-alikes (Cyrillic/Greek letters, fullwidth and mathematical
// alphanumerics, accented letters) become ASCII, invisible characters
// (zero-width, bidi controls, tags, soft hyphen, combining marks) are removed,
// case is folded, punctuation and spacing become single spaces, letters
// spelled apart ("i g n o r e", "i.g.n.o.r.e") are joined, and leetspeak
// inside words ("1gn0r3") is undone. Weighted phrase rules then run over the
// words; the score is the clipped sum of the matched weights plus a bonus when
// the text was disguised. A prompt is an injection when score >= threshold.
//
// Pure functions, no I/O, no global mutable state: thread-safe. Input of any
// bytes is accepted (invalid UTF-8 is read as U+FFFD); cost is linear in the
// input length times a small constant (bounded rule gaps).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dsmil::devices {

// Decision threshold of the rules alone (DetectPromptInjection). The full
// check (injection_check.h) uses the threshold chosen when the model was
// trained, or the tenant's.
inline constexpr double kInjectionThreshold = 0.5;
// Prompts longer than this are checked on their first kInjectionMaxBytes
// bytes plus their last kInjectionMaxBytes bytes.
inline constexpr size_t kInjectionMaxBytes = 256 * 1024;

struct InjectionMatch {
  std::string rule;     // rule id, e.g. "override_instructions"
  double weight = 0;    // the rule's weight
  std::string excerpt;  // the normalised words that matched
};

struct InjectionVerdict {
  bool injection = false;  // score >= threshold
  double score = 0;        // 0..1
  std::vector<InjectionMatch> matches;
  bool obfuscated = false;  // look-alikes, invisible characters, spaced or leet letters were found
  // "Prompt injection pattern detected" when injection; "" otherwise.
  std::string reason;
  // Filled by the full check (injection_check.h); the rules alone leave them
  // empty: the learned component's probability, the views examined, and the
  // unit and view that gave the score.
  double model = 0;
  std::vector<std::string> views;
  std::string view;
  std::string unit;
};

// The normalised form the rules see: lower-case ASCII words separated by
// single spaces. `obfuscated`, when non-null, is set when folding changed
// more than case and spacing.
std::string NormalizeForInjection(std::string_view text, bool* obfuscated = nullptr);

// The phrase rules alone over `text`. The check device 51 runs is
// CheckPromptMessages (injection_check.h): decoding views, the learned
// component and roles on top of these rules.
InjectionVerdict DetectPromptInjection(std::string_view text, double threshold = kInjectionThreshold);

// The rule ids with their weights, for documentation and metrics labels.
struct InjectionRuleInfo {
  std::string id;
  double weight;
  std::string description;
};
std::vector<InjectionRuleInfo> InjectionRules();

}  // namespace dsmil::devices
