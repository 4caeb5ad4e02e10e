// The labelled prompt-injection corpus (data/injection/, docs/injection.md
// §6), read by the trainer, the evaluation test and the benchmark alike.
//
// JSONL, one example a line:
//   {"id": "...", "class": "direct_override", "lang": "en",
//    "messages": [{"role": "user", "content": "..."}]}
// The label (attack or benign) is the example's "label" field when present
// ("attack" / "benign"), else the file's name when it holds "attack" or
// "benign", else the class (docs/injection.md lists the classes; "legacy"
// exists on both sides, so it needs one of the other two).
//
// The old corpus (data/injection/attacks.txt, benign.txt: one prompt a line,
// '#' comments) reads as class "legacy" with one user message.
//
// Bounded: files over kMaxCorpusFileBytes, lines over kMaxCorpusLineBytes,
// more than kMaxCorpusExamples examples or kMaxCorpusMessages messages in one
// example are errors, as is any malformed line (named by file and line).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/l8/injection_model.h"

namespace dsmil::devices {

inline constexpr size_t kMaxCorpusFileBytes = 64 * 1024 * 1024;
inline constexpr size_t kMaxCorpusLineBytes = 1024 * 1024;
inline constexpr size_t kMaxCorpusExamples = 200000;
inline constexpr size_t kMaxCorpusMessages = 256;

struct CorpusExample {
  std::string id;
  std::string cls;  // "class"
  std::string lang;
  bool attack = false;
  std::vector<PromptMessage> messages;
};

bool IsAttackClass(std::string_view cls);
bool IsBenignClass(std::string_view cls);

// One JSONL file. `label_hint` is the file's name (or any name holding
// "attack" / "benign").
Result<std::vector<CorpusExample>> ParseInjectionJsonl(std::string_view text, std::string_view label_hint);
Result<std::vector<CorpusExample>> ReadInjectionJsonl(const std::string& path);

// Every *.jsonl file directly under `dir`, in name order; an empty list when
// the directory does not exist or holds none.
Result<std::vector<CorpusExample>> ReadInjectionDir(const std::string& dir);

// The old one-prompt-a-line corpus as class "legacy".
Result<std::vector<CorpusExample>> ReadLegacyInjectionText(const std::string& path, bool attack);

// Whether a legacy example goes to dev in the fallback split (used when
// data/injection/train/ holds no JSONL yet): a hash of its text, 30% dev.
bool LegacyExampleIsDev(const CorpusExample& e);

// The example's messages as one string (for printing and hashing).
std::string ExampleText(const CorpusExample& e);

}  // namespace dsmil::devices
