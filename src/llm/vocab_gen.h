// Vocabulary generator for test and benchmark models: learns a real-shaped
// vocabulary from text by byte-pair merging, so that tokenizers see the same
// layout as in published models.
//
//  - SPM (tokenizer.ggml.model "llama"): <unk>, <s>, </s>, the 256 byte tokens
//    <0x00>..<0xFF> (type BYTE), then pieces in merge order ("▁t", "he", "▁the",
//    ...; spaces are "▁") with score -rank, then the single characters of the
//    text, lowest scores. bos 1, eos 2, unk 0.
//  - BPE (tokenizer.ggml.model "gpt2"): the 256 byte characters of the GPT-2
//    alphabet, then merged tokens in merge order (merges "left right"), then
//    the control tokens <|endoftext|> (bos = eos), <|im_start|>, <|im_end|>.
//
// When the text has too few distinct pairs to reach n_vocab, further pieces
// are formed by joining frequent pieces (each still reachable by merging).
// Deterministic: the same inputs give the same vocabulary. Thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/status.h"
#include "llm/tokenizer.h"

namespace dsmil::llm {

// A few KB of built-in English text (used when no corpus is given).
std::string_view BuiltinVocabCorpus();

// Smallest n_vocab GenerateVocab accepts for each kind (260 for both).
size_t MinGeneratedVocab(VocabKind kind);

// Learns a vocabulary of exactly n_vocab tokens from `corpus` ("" = the built-in
// text). InvalidArgument when n_vocab < MinGeneratedVocab(kind) or > 1,000,000.
Result<VocabData> GenerateVocab(VocabKind kind, size_t n_vocab, std::string_view corpus);

}  // namespace dsmil::llm
