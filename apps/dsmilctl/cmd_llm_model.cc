// dsmilctl llm mkmodel: writes a llama GGUF model with random weights and a
// learned vocabulary (for tests and benchmarks of the LLM engine).
// dsmilctl llm info: prints what a GGUF model file holds.
//
// Exit status: 0 ok, 2 bad flags or a file that cannot be read or written
// (the reader's message is printed).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "commands.h"
#include "llm/chat_template.h"
#include "llm/gguf.h"
#include "llm/gguf_writer.h"
#include "llm/tokenizer.h"

namespace dsmil::ctl {
namespace {

struct MkModelArgs {
  std::string out;
  std::string shape = "tiny";
  std::string type = "f32";
  std::string vocab = "spm";
  std::string pre = "gpt2";
  uint64_t seed = 1;
  std::string name;
  std::vector<std::string> corpus;
  uint32_t n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, n_vocab = 0, n_ctx = 0;
  bool quiet = false;
};

struct InfoArgs {
  std::string model;
  bool kv = false;
  bool tensors = false;
};

// Reads the corpus files (directories: their *.md and *.txt files, sorted), up to 8 MiB.
Result<std::string> ReadCorpus(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        auto ext = it->path().extension();
        if (it->is_regular_file(ec) && (ext == ".md" || ext == ".txt")) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      return Status::NotFound("--corpus " + p + ": no such file or directory");
    }
  }
  std::string text;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::Unavailable("--corpus: cannot read " + f.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    text += ss.str();
    text += '\n';
    if (text.size() > (8u << 20)) break;
  }
  return text;
}

void MkModel(Context& ctx, const MkModelArgs& a) {
  std::string shape = a.shape == "custom" ? "tiny" : a.shape;
  auto spec_r = llm::RandomModelShape(shape);
  if (!spec_r.ok()) return Fail(ctx, 2, "llm mkmodel: --shape: " + spec_r.status().message());
  llm::RandomModelSpec spec = *spec_r;
  if (a.shape == "custom" && (!a.n_embd || !a.n_layer || !a.n_head || !a.n_ff || !a.n_vocab)) {
    return Fail(ctx, 2, "llm mkmodel: --shape custom needs --n-embd, --n-layer, --n-head, --n-ff and --n-vocab");
  }
  if (a.n_embd) spec.n_embd = a.n_embd;
  if (a.n_layer) spec.n_layer = a.n_layer;
  if (a.n_head) spec.n_head = spec.n_head_kv = a.n_head;
  if (a.n_head_kv) spec.n_head_kv = a.n_head_kv;
  if (a.n_ff) spec.n_ff = a.n_ff;
  if (a.n_vocab) spec.n_vocab = a.n_vocab;
  if (a.n_ctx) spec.n_ctx_train = a.n_ctx;
  auto type = llm::ParseGgmlType(a.type);
  if (!type.ok()) return Fail(ctx, 2, "llm mkmodel: --type: " + type.status().message());
  spec.type = *type;
  if (a.vocab == "spm") {
    spec.vocab = llm::VocabKind::kSpm;
  } else if (a.vocab == "bpe") {
    spec.vocab = llm::VocabKind::kBpe;
  } else {
    return Fail(ctx, 2, "llm mkmodel: --vocab must be spm or bpe, not '" + a.vocab + "'");
  }
  if (a.pre == "gpt2") {
    spec.pre = llm::BpePre::kGpt2;
  } else if (a.pre == "llama3") {
    spec.pre = llm::BpePre::kLlama3;
  } else if (a.pre == "qwen2") {
    spec.pre = llm::BpePre::kQwen2;
  } else if (a.pre == "default") {
    spec.pre = llm::BpePre::kDefault;
  } else {
    return Fail(ctx, 2, "llm mkmodel: --pre must be gpt2, llama3, qwen2 or default, not '" + a.pre + "'");
  }
  spec.seed = a.seed;
  spec.name = a.name.empty() ? "dsmil-" + a.shape + "-random-weights" : a.name;
  if (!a.corpus.empty()) {
    auto text = ReadCorpus(a.corpus);
    if (!text.ok()) return Fail(ctx, 2, "llm mkmodel: " + text.status().message());
    spec.corpus = *text;
  }
  bool show = !a.quiet;
  bool tty = isatty(STDERR_FILENO);
  int last_pct = -1;
  auto progress = [&](uint64_t done, uint64_t total) {
    if (!show || total < (64u << 20)) return;
    int pct = int(done * 100 / total);
    if (pct == last_pct) return;
    if (!tty && pct % 10 != 0) return;
    last_pct = pct;
    std::fprintf(stderr, "%swriting %s: %3d%% (%llu / %llu MiB)%s", tty ? "\r" : "", a.out.c_str(), pct,
                 static_cast<unsigned long long>(done >> 20), static_cast<unsigned long long>(total >> 20),
                 tty ? "" : "\n");
    if (tty && pct == 100) std::fputc('\n', stderr);
  };
  Status s = llm::WriteRandomLlamaModel(spec, a.out, progress);
  if (!s.ok()) return Fail(ctx, 2, "llm mkmodel: " + s.message());
  std::error_code ec;
  auto size = std::filesystem::file_size(a.out, ec);
  std::cout << "wrote " << a.out << ": " << size << " bytes, " << (9 * spec.n_layer + 3) << " tensors ("
            << llm::GgmlTypeName(spec.type) << "), n_embd " << spec.n_embd << ", n_layer " << spec.n_layer << ", vocab "
            << spec.n_vocab << " (" << a.vocab << "), seed " << spec.seed << "\n";
  ctx.exit_code = 0;
}

std::string HumanBytes(uint64_t b) {
  char buf[64];
  if (b >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
  } else if (b >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", double(b) / double(1u << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(b));
  }
  return buf;
}

void Info(Context& ctx, const InfoArgs& a) {
  auto f_r = llm::GgufFile::Open(a.model);
  if (!f_r.ok()) return Fail(ctx, 2, f_r.status().message());
  const llm::GgufFile& f = **f_r;
  std::cout << "file:       " << a.model << " (" << f.file_bytes() << " bytes";
  if (f.file_bytes() >= (1u << 20)) std::cout << ", " << HumanBytes(f.file_bytes());
  std::cout << ")\n";
  std::cout << "gguf:       version " << f.version() << ", " << f.kvs().size() << " metadata keys, "
            << f.tensors().size() << " tensors, alignment " << f.alignment() << ", data at byte " << f.data_offset()
            << "\n";
  if (f.Has("general.name")) {
    auto n = f.String("general.name");
    if (n.ok()) std::cout << "name:       " << *n << "\n";
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;
  uint64_t total = 0;
  for (const auto& t : f.tensors()) {
    auto& e = by_type[std::string(llm::GgmlTypeName(t.type))];
    e.first++;
    e.second += t.bytes;
    total += t.bytes;
  }
  std::cout << "tensors:    " << f.tensors().size() << ", " << HumanBytes(total);
  for (const auto& [name, e] : by_type) {
    std::cout << "; " << name << " x" << e.first << " (" << HumanBytes(e.second) << ")";
  }
  std::cout << "\n";
  if (a.kv) {
    for (const auto& kv : f.kvs()) {
      std::cout << "  kv " << kv.key << " = ";
      if (kv.type == llm::GgufValueType::kArray) {  // not decoded: may hold millions of items
        std::cout << "[" << llm::GgufValueTypeName(kv.elem_type) << " x " << kv.count << "]\n";
        continue;
      }
      auto v = f.Value(kv.key);
      std::cout << (v.ok() ? v->Summary() : v.status().message()) << "\n";
    }
  }
  if (a.tensors) {
    for (const auto& t : f.tensors()) {
      std::cout << "  tensor " << t.name << " " << llm::GgmlTypeName(t.type) << " {";
      for (size_t i = 0; i < t.dims.size(); ++i) std::cout << (i ? ", " : "") << t.dims[i];
      std::cout << "} " << t.bytes << " bytes at " << t.offset << "\n";
    }
  }
  auto hp = llm::ReadLlamaHParams(f);
  if (!hp.ok()) return Fail(ctx, 2, hp.status().message());
  std::cout << "arch:       " << hp->arch << "\n";
  std::cout << "hparams:    n_vocab " << hp->n_vocab << ", n_embd " << hp->n_embd << ", n_layer " << hp->n_layer
            << ", n_head " << hp->n_head << ", n_head_kv " << hp->n_head_kv << ", n_ff " << hp->n_ff << ", n_ctx_train "
            << hp->n_ctx_train << ", n_rot " << hp->n_rot << ", rope_freq_base " << hp->rope_freq_base << ", rms_eps "
            << hp->rms_eps << (hp->tied_output ? ", output tied to token_embd" : "") << "\n";
  auto tok = llm::Tokenizer::FromGguf(f);
  if (!tok.ok()) return Fail(ctx, 2, tok.status().message());
  const llm::Tokenizer& t = **tok;
  auto id = [&](int32_t i) { return i < 0 ? std::string("none") : std::to_string(i) + " '" + t.TokenText(i) + "'"; };
  std::cout << "vocab:      " << (t.kind() == llm::VocabKind::kSpm ? "spm (llama)" : "bpe (gpt2)") << ", "
            << t.vocab_size() << " tokens, bos " << id(t.bos()) << ", eos " << id(t.eos()) << ", unk " << id(t.unk())
            << ", add_bos " << (t.add_bos() ? "yes" : "no");
  if (t.kind() == llm::VocabKind::kBpe) {
    std::cout << ", " << t.vocab().merges.size() << " merges, pre " << llm::BpePreName(t.vocab().pre);
  }
  std::cout << "\n";
  std::string tmpl;
  if (f.Has("tokenizer.chat_template")) {
    auto s = f.String("tokenizer.chat_template");
    if (s.ok()) tmpl = *s;
  }
  auto choice = llm::DetectChatTemplate(tmpl);
  std::cout << "template:   " << llm::ChatTemplateName(choice.kind);
  if (!choice.note.empty()) std::cout << " (" << choice.note << ")";
  std::cout << "\n";
  ctx.exit_code = 0;
}

const CommandGroup kLlmModelGroup([](CLI::App& app, Context& ctx) {
  CLI::App* llm = Group(app, "llm", "LLM models: make test models, inspect GGUF files");
  auto mk = std::make_shared<MkModelArgs>();
  CLI::App* m = llm->add_subcommand("mkmodel", "Write a llama GGUF model with random weights");
  m->add_option("--out", mk->out, "output file")->required();
  m->add_option("--shape", mk->shape, "tiny, 134m, 1.1b or custom (default tiny)");
  m->add_option("--type", mk->type, "weight type: f32, f16, q8_0 or q4_0 (default f32)");
  m->add_option("--vocab", mk->vocab, "spm (llama) or bpe (gpt2) (default spm)");
  m->add_option("--pre", mk->pre,
                "bpe pre-tokenizer written to tokenizer.ggml.pre: gpt2 (\"gpt-2\"), llama3 (\"llama-bpe\"), "
                "qwen2 or default (default gpt2)");
  m->add_option("--seed", mk->seed, "random seed (default 1)");
  m->add_option("--name", mk->name, "general.name (\"random-weights\" is always part of it)");
  m->add_option("--corpus", mk->corpus,
                "text files or directories (*.md, *.txt) to learn the vocabulary from "
                "(default: built-in English text)");
  m->add_option("--n-embd", mk->n_embd, "embedding size");
  m->add_option("--n-layer", mk->n_layer, "number of layers");
  m->add_option("--n-head", mk->n_head, "attention heads");
  m->add_option("--n-head-kv", mk->n_head_kv, "key/value heads (default n-head)");
  m->add_option("--n-ff", mk->n_ff, "feed-forward size");
  m->add_option("--n-vocab", mk->n_vocab, "vocabulary size (at least 260)");
  m->add_option("--n-ctx", mk->n_ctx, "training context length");
  m->add_flag("--quiet", mk->quiet, "no progress output");
  m->callback([mk, &ctx] { MkModel(ctx, *mk); });

  auto info = std::make_shared<InfoArgs>();
  CLI::App* i = llm->add_subcommand("info", "Print the header, hyper-parameters and vocabulary of a GGUF model");
  i->add_option("--model", info->model, "GGUF file")->required();
  i->add_flag("--kv", info->kv, "list every metadata key");
  i->add_flag("--tensors", info->tensors, "list every tensor");
  i->callback([info, &ctx] { Info(ctx, *info); });
});

}  // namespace
}  // namespace dsmil::ctl
