// Fuzzes the GGUF reader on untrusted bytes: parsing, every metadata value,
// the llama hyper-parameter checks, tokenizer construction from the file's
// vocabulary (with a short encode/decode), and chat template detection.
#include <cstddef>
#include <cstdint>
#include <span>

#include "llm/chat_template.h"
#include "llm/gguf.h"
#include "llm/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsmil::llm;
  auto f = GgufFile::FromBuffer(std::span<const uint8_t>(data, size));
  if (!f.ok()) return 0;
  const GgufFile& g = **f;
  for (const auto& kv : g.kvs()) {
    auto v = g.Value(kv.key);
    if (v.ok()) (void)v->Summary();
    (void)g.U32(kv.key);
    (void)g.F32(kv.key);
    (void)g.String(kv.key);
    (void)g.StringArray(kv.key);
    (void)g.I32Array(kv.key);
    (void)g.F32Array(kv.key);
  }
  for (const auto& t : g.tensors()) {
    if (t.bytes) {
      volatile uint8_t first = t.data[0];
      volatile uint8_t last = t.data[t.bytes - 1];
      (void)first;
      (void)last;
    }
  }
  (void)ReadLlamaHParams(g);
  auto tok = Tokenizer::FromGguf(g);
  if (tok.ok()) {
    const Tokenizer& t = **tok;
    auto ids = t.Encode("Hello <s> world \xF0\x9F\x98\x80 <|im_end|>  x", true, true);
    (void)t.Decode(ids);
    for (size_t i = 0; i < t.vocab_size() && i < 64; ++i) (void)t.TokenToPiece(int32_t(i));
  }
  auto tmpl = g.String("tokenizer.chat_template");
  if (tmpl.ok()) {
    ChatMessage msgs[] = {{"system", "s"}, {"user", "u"}};
    (void)ApplyChatTemplate(*tmpl, msgs, true);
  }
  return 0;
}
