// Decoding passes of the prompt-injection detector (docs/injection.md §2):
// attackers hide an instruction in an encoding the model reads but a phrase
// rule does not. Each pass that finds something produces an extra "view" of
// the text, scored like the original; the verdict is the maximum over views.
//
//   base64   runs of base64 (standard or URL alphabet) that decode to mostly
//            printable UTF-8, replaced in place by their decoding
//   hex      runs of hex pairs ("49676e6f7265", "49 67 6e", "\x49\x67",
//            "0x49 0x67") that decode to printable UTF-8
//   url      %XX escapes (three or more) decoded
//   tags     Unicode tag characters (U+E0020..U+E007E, invisible) read as the
//            ASCII they shadow
//   concat   quoted fragments joined by '+' ("ig" + "nore") concatenated
//   rot13    the text under ROT13, kept when it reads as more English words
//   reversed the text backwards (by code point), kept likewise
//
// A decoded view is decoded once more (base64, hex, url, concat) so that one
// level of nesting is seen ("rot13>base64" is not tried: rot13 and reversed
// run on the original only). Bounded: at most kMaxInjectionViews views, each
// at most kMaxInjectionViewBytes bytes; every pass is one linear scan.
//
// Pure functions: thread-safe, any bytes accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsmil::devices {

inline constexpr size_t kMaxInjectionViews = 8;               // including the original
inline constexpr size_t kMaxInjectionViewBytes = 128 * 1024;  // per decoded view

struct InjectionView {
  std::string name;  // "original", "base64", "hex", "url", "tags", "concat", "rot13", "reversed", "base64>hex", ...
  std::string text;
};

// views[0] is {"original", text}; then one view per pass that changed
// something, in the order of the list above, nested ones last.
std::vector<InjectionView> DecodeViews(std::string_view text);

// The single passes, exposed for tests and the fuzzer. Each returns true and
// sets *out when it found and decoded something (the rest of the text is
// kept around the decoded runs).
bool DecodeBase64Runs(std::string_view text, std::string* out);
bool DecodeHexRuns(std::string_view text, std::string* out);
bool DecodeUrlEscapes(std::string_view text, std::string* out);
bool DecodeTagCharacters(std::string_view text, std::string* out);
bool JoinQuotedFragments(std::string_view text, std::string* out);
bool Rot13IfReadable(std::string_view text, std::string* out);
bool ReverseIfReadable(std::string_view text, std::string* out);

// How many common English words `text` holds (the readability test of the
// rot13 and reversed passes).
size_t CommonWordCount(std::string_view text);

// One UTF-8 sequence at s[i], read leniently (lead byte range and
// continuation bytes only, as the decoding passes and the model's script
// n-grams read text): true with *cp and *len, false for an invalid lead byte,
// a truncated sequence or a bad continuation byte (the caller skips one byte).
bool LaxUtf8At(std::string_view s, size_t i, uint32_t* cp, size_t* len);

}  // namespace dsmil::devices
