// dsmilctl llm generate: runs the LLM engine on a GGUF model in this process
// and streams the generated text to stdout; the figures (prompt and
// generation tokens/s, time to first token) follow on stderr.
//
//   dsmilctl llm generate --model m.gguf --prompt "Hello" [-n 128] [--threads 2]
//                         [--temp 0.8] [--top-k 40] [--top-p 0.95] [--seed 1] [--chat]
//
// Exit status: 0 generated, 2 bad arguments or a model that cannot be loaded.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "llm/engine.h"
#include "llm/kernels.h"

namespace dsmil::ctl {
namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int n = 128;
  int threads = 1;
  float temp = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  uint64_t seed = 0;
  uint32_t ctx = 2048;
  bool chat = false;
  std::vector<std::string> stop;
};

void RunGenerate(const GenerateArgs& a, Context& ctx) {
  llm::EngineOptions opt;
  opt.threads = a.threads;
  opt.n_ctx = a.ctx;
  opt.max_sequences = 1;
  std::fprintf(stderr, "loading %s (kernels: %s)\n", a.model.c_str(), llm::KernelDescription().c_str());
  auto engine = llm::Engine::Load(a.model, opt);
  if (!engine.ok()) return Fail(ctx, 2, engine.status().message());
  const llm::LlamaHParams& hp = (*engine)->model().hparams();
  std::fprintf(stderr, "model: %s, %u layers, n_embd %u, vocab %u, %.1f MB of weights per token\n", hp.arch.c_str(),
               hp.n_layer, hp.n_embd, hp.n_vocab, double((*engine)->model().WeightBytesPerToken()) / 1e6);
  llm::GenerationRequest req;
  req.tenant = "local";
  if (a.chat) {
    req.messages = {{"user", a.prompt}};
  } else {
    req.prompt = a.prompt;
  }
  req.params.temperature = a.temp;
  req.params.top_k = a.top_k;
  req.params.top_p = a.top_p;
  req.params.seed = a.seed;
  req.params.max_tokens = a.n;
  req.params.stop = a.stop;
  auto result = (*engine)->Generate(req, [](const llm::TokenEvent& e) {
    std::fwrite(e.text.data(), 1, e.text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!result.ok()) return Fail(ctx, 2, result.status().message());
  const llm::GenerationResult& r = *result;
  std::fprintf(stderr,
               "prompt: %d tokens, %.1f tok/s; generated: %d tokens, %.2f tok/s; time to first token %.0f ms; "
               "finish: %s\n",
               r.prompt_tokens, r.time_to_first_token_s > 0 ? r.prompt_tokens / r.time_to_first_token_s : 0.0,
               r.completion_tokens, r.decode_tokens_per_s, r.time_to_first_token_s * 1e3, r.finish_reason.c_str());
  ctx.exit_code = 0;
}

const CommandGroup kLlmGenerate([](CLI::App& app, Context& ctx) {
  CLI::App* llm = Group(app, "llm", "LLM models: make, inspect and run GGUF files");
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* gen = llm->add_subcommand("generate", "generate text from a prompt with a GGUF model in this process");
  gen->add_option("--model", args->model, "GGUF model file")->required();
  gen->add_option("--prompt", args->prompt, "prompt text")->required();
  gen->add_option("-n,--max-tokens", args->n, "tokens to generate at most")->check(CLI::Range(1, 1 << 20));
  gen->add_option("--threads", args->threads, "threads")->check(CLI::Range(1, 256));
  gen->add_option("--temp", args->temp, "temperature (0 = greedy)")->check(CLI::Range(0.0, 100.0));
  gen->add_option("--top-k", args->top_k, "top-k (0 = all)")->check(CLI::Range(0, 1 << 24));
  gen->add_option("--top-p", args->top_p, "top-p")->check(CLI::Range(0.0, 1.0));
  gen->add_option("--seed", args->seed, "sampling seed");
  gen->add_option("--ctx", args->ctx, "context length")->check(CLI::Range(2, 1 << 20));
  gen->add_option("--stop", args->stop, "stop sequence (repeatable)");
  gen->add_flag("--chat", args->chat, "wrap the prompt as a user message in the model's chat template");
  gen->callback([args, &ctx] { RunGenerate(*args, ctx); });
});

}  // namespace
}  // namespace dsmil::ctl
