// Tokenizers built from GGUF metadata (tokenizer.ggml.*):
//
//  - "llama" (SentencePiece-style, VocabKind::kSpm): the text gets a leading
//    space (add_space_prefix, default on), spaces become U+2581 "▁", and the
//    UTF-8 characters are merged greedily by piece score (highest-scoring
//    adjacent pair that is in the vocabulary first). Characters with no piece
//    fall back to byte tokens <0xNN>, or to unk when the vocabulary has none.
//  - "gpt2" (byte-level BPE, VocabKind::kBpe): the text is split by the
//    pre-tokenizer that tokenizer.ggml.pre names (BpePre: llama.cpp's splits
//    "default", "gpt-2", "llama3"/"llama-bpe", "qwen2"), each chunk's bytes are
//    mapped to the GPT-2 printable alphabet (byte→unicode), and merges are
//    applied by rank (tokenizer.ggml.merges, "left right" per entry).
//
// Special tokens: bos/eos/unk ids (tokenizer.ggml.{bos,eos,unknown}_token_id);
// with parse_special, the text of CONTROL and USER_DEFINED tokens (e.g. "<s>",
// "<|im_end|>") found in the input is emitted as that token instead of being
// tokenized as text (longest match wins).
//
// A Tokenizer is immutable after construction; every const method is
// thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace dsmil::llm {

class GgufFile;

enum class VocabKind { kSpm, kBpe };

// How byte-level BPE text is split into words before merging
// (tokenizer.ggml.pre), as llama.cpp splits it. Letters, numbers and
// punctuation are the Unicode general categories L, N and P
// (unicode_tables.inc); whitespace is \t..\r, space, U+0085, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
//  - kGpt2 ("gpt-2"): 's 't 're 've 'm 'll 'd | ?\p{L}+ | ?\p{N}+ |
//    ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
//  - kDefault ("default", and a BPE file without the key, as llama.cpp
//    does): runs of punctuation and $+<=>^~| are split off first, then each
//    piece is split as kGpt2, then runs of numbers are split off, then every
//    three ASCII digits.
//  - kLlama3 ("llama3", "llama-v3", "llama-bpe"): case-insensitive
//    contractions | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} |
//    ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+; a word that is
//    a token as a whole is that token (no merges), and add_bos defaults to on.
//  - kQwen2 ("qwen2", "deepseek-r1-qwen"): as kLlama3 but one digit per
//    number, and merges always apply.
enum class BpePre { kDefault, kGpt2, kLlama3, kQwen2 };

// The BpePre a tokenizer.ggml.pre value names; InvalidArgument naming any
// other value (its split is not implemented).
Result<BpePre> ParseBpePre(std::string_view name);
// The value written to tokenizer.ggml.pre: "default", "gpt-2", "llama-bpe", "qwen2".
std::string_view BpePreName(BpePre pre);

// tokenizer.ggml.token_type values (SentencePiece's).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Everything a tokenizer is built from; also what vocab_gen produces and what
// the model writer stores in GGUF.
struct VocabData {
  VocabKind kind = VocabKind::kSpm;
  std::vector<std::string> tokens;  // tokenizer.ggml.tokens
  std::vector<float> scores;        // tokenizer.ggml.scores (SPM; may be empty for BPE)
  std::vector<int32_t> types;       // tokenizer.ggml.token_type (empty: all normal)
  std::vector<std::string> merges;  // tokenizer.ggml.merges (BPE), "left right"
  BpePre pre = BpePre::kGpt2;       // tokenizer.ggml.pre (BPE); kDefault when a file has none
  int32_t bos = -1;                 // -1: none
  int32_t eos = -1;
  int32_t unk = -1;
  bool add_bos = true;           // tokenizer.ggml.add_bos_token
  bool add_space_prefix = true;  // tokenizer.ggml.add_space_prefix (SPM only)
};

// Reads tokenizer.ggml.* from `file` into VocabData (checks array lengths agree
// and ids are in range). model "llama" → kSpm, "gpt2" → kBpe; others are
// InvalidArgument naming the model, as is a BPE file's tokenizer.ggml.pre
// that ParseBpePre refuses.
Result<VocabData> ReadVocab(const GgufFile& file);

class Tokenizer {
 public:
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& file);
  // Validates `vocab` (non-empty, scores/types sized like tokens when present,
  // special ids in range, merges of the form "left right") and builds the
  // lookup tables. A token text that appears twice maps to its first id.
  static Result<std::unique_ptr<Tokenizer>> FromVocab(VocabData vocab);

  // Token ids of `text`. add_bos prepends bos() (when the vocabulary has one).
  // parse_special: CONTROL / USER_DEFINED token texts in `text` become those
  // tokens. Never fails: bytes with no token become byte tokens or unk.
  std::vector<int32_t> Encode(std::string_view text, bool add_bos, bool parse_special) const;

  // The text bytes that token `id` stands for: "▁" → " " (SPM), byte tokens
  // → that byte, BPE tokens → their bytes via the unicode→byte map. CONTROL
  // tokens give "" (they are not text); the UNKNOWN token gives U+FFFD;
  // out-of-range ids give "".
  // A piece may be an incomplete UTF-8 sequence (byte tokens): callers that
  // stream pieces must buffer until the sequence completes.
  std::string TokenToPiece(int32_t id) const;
  // The vocabulary string of `id` as stored ("▁the", "<0x0A>", "<s>"); "" if out of range.
  const std::string& TokenText(int32_t id) const;
  TokenType Type(int32_t id) const;
  // Id of the vocabulary string `text`, or -1.
  int32_t Find(std::string_view text) const;

  // Concatenation of TokenToPiece; for SPM with add_space_prefix, the one space
  // the encoder added at the start is removed, so Decode(Encode(s)) == s.
  std::string Decode(std::span<const int32_t> ids) const;

  int32_t bos() const { return v_.bos; }
  int32_t eos() const { return v_.eos; }
  int32_t unk() const { return v_.unk; }
  bool add_bos() const { return v_.add_bos; }
  // True for eos and for CONTROL tokens that end a turn ("<|im_end|>", "<|eot_id|>", "</s>").
  bool IsEndOfGeneration(int32_t id) const;
  VocabKind kind() const { return v_.kind; }
  size_t vocab_size() const { return v_.tokens.size(); }
  const VocabData& vocab() const { return v_; }

 private:
  Tokenizer() = default;
  Status Build();
  void EncodeSpm(std::string_view text, std::vector<int32_t>& out) const;
  void EncodeBpe(std::string_view text, std::vector<int32_t>& out) const;
  void EncodeBpeChunk(std::string_view chunk, std::vector<int32_t>& out) const;
  void EncodeText(std::string_view text, bool at_start, std::vector<int32_t>& out) const;

  VocabData v_;
  std::unordered_map<std::string, int32_t> index_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // BPE: "left right" → rank
  std::vector<int32_t> byte_token_;                      // 256 entries, -1 when absent
  std::vector<std::string> specials_;                    // texts matched with parse_special
  std::vector<int32_t> special_ids_;
  std::vector<std::string> pieces_;  // TokenToPiece cache
  std::vector<bool> eog_;
};

// The pre-tokenizer `pre` of kBpe (see BpePre): splits `text` into chunks
// that concatenate back to `text`. Invalid UTF-8 bytes count as one symbol
// each (llama.cpp reads them as U+FFFD).
std::vector<std::string_view> SplitBpeWords(std::string_view text, BpePre pre = BpePre::kGpt2);

// GPT-2 byte→unicode map: the UTF-8 string standing for byte `b` in byte-level BPE
// vocabularies (printable bytes map to themselves; others to U+0100 and up).
const std::string& ByteToBpeChar(uint8_t b);

}  // namespace dsmil::llm
