// llm_dump: what our LLM engine makes of a GGUF model, as JSON on stdout, for
// the comparison with llama.cpp (llamacpp_compare.mjs).
//
//   llm_dump MODEL TEXTS_HEX PROMPT_HEX STEPS LOGIT_STEPS [FORCED]
//
// TEXTS_HEX: a file with one text per line, hex-encoded UTF-8 bytes (so any
// byte, newlines included, passes through). PROMPT_HEX: the prompt, hex.
// Prints {"add_bos", "bos", "eos", "n_vocab", "texts": [{"plain", "with_bos",
// "decoded_hex"}], "prompt": [...], "greedy": [...], "logits": [[...], ...]}:
// each text tokenised without and with BOS (BOS only when the model's
// tokenizer.ggml.add_bos_token says so, as llama.cpp's add_special does), the
// decoded plain tokens, the prompt's tokens (with BOS per add_bos), and for
// each of STEPS steps the argmax of the logits (lowest id on ties), with the
// full logits of the first LOGIT_STEPS steps. Each step's token is fed back
// for the next step: the argmax (greedy generation), or the step's entry of
// FORCED (comma-separated ids, e.g. llama.cpp's greedy tokens) when given.
// Keys and values are cached in F16, as llama.cpp does by default. Exit
// status 2 on bad arguments or a model the engine refuses (message on stderr).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "llm/forward.h"
#include "llm/model.h"
#include "llm/threadpool.h"
#include "llm/tokenizer.h"

namespace {

using dsmil::llm::BatchToken;
using dsmil::llm::Forward;
using dsmil::llm::KvCache;
using dsmil::llm::Model;
using dsmil::llm::ThreadPool;
using dsmil::llm::Tokenizer;

bool FromHex(const std::string& hex, std::string* out) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]);
    int lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string ToHex(const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Ids(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

int Fail(const std::string& message) {
  std::cerr << "llm_dump: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6 && argc != 7) return Fail("usage: llm_dump MODEL TEXTS_HEX PROMPT_HEX STEPS LOGIT_STEPS [FORCED]");
  const std::string model_path = argv[1];
  std::vector<std::string> texts;
  {
    std::ifstream in(argv[2]);
    if (!in) return Fail(std::string("cannot read ") + argv[2]);
    std::string line;
    std::string text;
    while (std::getline(in, line)) {
      if (!FromHex(line, &text)) return Fail(std::string(argv[2]) + ": a line is not hex");
      texts.push_back(text);
    }
  }
  std::string prompt;
  if (!FromHex(argv[3], &prompt)) return Fail("PROMPT_HEX is not hex");
  const int steps = std::atoi(argv[4]);
  const int logit_steps = std::atoi(argv[5]);
  if (steps <= 0 || logit_steps < 0 || logit_steps > steps) return Fail("bad STEPS or LOGIT_STEPS");
  std::vector<int32_t> forced;
  if (argc == 7) {
    std::string list = argv[6];
    for (size_t at = 0; at < list.size();) {
      size_t comma = list.find(',', at);
      if (comma == std::string::npos) comma = list.size();
      forced.push_back(static_cast<int32_t>(std::atol(list.substr(at, comma - at).c_str())));
      at = comma + 1;
    }
    if (forced.size() < static_cast<size_t>(steps)) return Fail("FORCED has fewer than STEPS tokens");
  }

  auto model_r = Model::Open(model_path);
  if (!model_r.ok()) return Fail(model_r.status().message());
  std::unique_ptr<Model> model = std::move(*model_r);
  auto tok_r = Tokenizer::FromGguf(model->file());
  if (!tok_r.ok()) return Fail(tok_r.status().message());
  const Tokenizer& tok = **tok_r;
  const uint32_t n_vocab = model->hparams().n_vocab;

  std::string out = "{";
  out += "\"add_bos\":" + std::string(tok.add_bos() ? "true" : "false");
  out += ",\"bos\":" + std::to_string(tok.bos()) + ",\"eos\":" + std::to_string(tok.eos());
  out += ",\"n_vocab\":" + std::to_string(n_vocab) + ",\"texts\":[";
  for (size_t i = 0; i < texts.size(); ++i) {
    std::vector<int32_t> plain = tok.Encode(texts[i], false, false);
    std::vector<int32_t> with_bos = tok.Encode(texts[i], tok.add_bos(), false);
    out += (i ? "," : "") + std::string("{\"plain\":") + Ids(plain) + ",\"with_bos\":" + Ids(with_bos) +
           ",\"decoded_hex\":\"" + ToHex(tok.Decode(plain)) + "\"}";
  }
  out += "]";

  std::vector<int32_t> prompt_ids = tok.Encode(prompt, tok.add_bos(), false);
  out += ",\"prompt\":" + Ids(prompt_ids);
  const uint32_t n_ctx = static_cast<uint32_t>(prompt_ids.size() + steps + 1);
  if (prompt_ids.empty() || n_ctx > model->hparams().n_ctx_train) return Fail("prompt empty or too long");

  ThreadPool pool(2);
  Forward forward(*model, &pool);
  KvCache cache(model->hparams(), n_ctx, /*f16=*/true);
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < prompt_ids.size(); ++i) {
    batch.push_back({prompt_ids[i], static_cast<uint32_t>(i), &cache, i + 1 == prompt_ids.size()});
  }
  std::vector<int32_t> greedy;
  std::vector<float> logits;
  std::string logits_json = "[";
  uint32_t pos = static_cast<uint32_t>(prompt_ids.size());
  for (int step = 0; step < steps; ++step) {
    dsmil::Status s = forward.Eval(batch, &logits);
    if (!s.ok()) return Fail(s.message());
    if (logits.size() != n_vocab) return Fail("forward pass gave " + std::to_string(logits.size()) + " logits");
    int32_t best = 0;
    for (uint32_t t = 1; t < n_vocab; ++t) {
      if (logits[t] > logits[best]) best = static_cast<int32_t>(t);
    }
    greedy.push_back(best);
    if (step < logit_steps) {
      logits_json += step ? ",[" : "[";
      char buf[32];
      for (uint32_t t = 0; t < n_vocab; ++t) {
        std::snprintf(buf, sizeof buf, "%s%.9g", t ? "," : "", static_cast<double>(logits[t]));
        logits_json += buf;
      }
      logits_json += "]";
    }
    batch.assign(1, BatchToken{forced.empty() ? best : forced[step], pos++, &cache, true});
  }
  out += ",\"greedy\":" + Ids(greedy) + ",\"logits\":" + logits_json + "]}";
  std::cout << out << "\n";
  return 0;
}
