#include "llm/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "core/metrics.h"
#include "llm/gguf_writer.h"

namespace dsmil::llm {
namespace {

std::vector<uint8_t> ModelBytes(GgmlType type = GgmlType::kQ8_0) {
  RandomModelSpec spec;  // tiny
  spec.type = type;
  spec.seed = 5;
  auto bytes = RandomLlamaModelBytes(spec);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return *bytes;
}

std::unique_ptr<Engine> MakeEngine(EngineOptions options = {}, GgmlType type = GgmlType::kQ8_0) {
  auto file = GgufFile::FromBuffer(ModelBytes(type));
  EXPECT_TRUE(file.ok());
  auto tokenizer = Tokenizer::FromGguf(**file);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status().ToString();
  auto model = Model::FromGguf(std::move(*file));
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  auto engine = Engine::Create(std::move(*model), std::move(*tokenizer), options);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  return std::move(*engine);
}

// Greedy tokens computed directly with Forward, one sequence, no engine.
std::vector<int32_t> DirectGreedy(const Model& model, const std::vector<int32_t>& prompt, int n) {
  Forward fwd(model, nullptr);
  KvCache cache(model.hparams(), 128, true);
  std::vector<BatchToken> batch;
  for (size_t p = 0; p < prompt.size(); ++p) batch.push_back({prompt[p], uint32_t(p), &cache, p + 1 == prompt.size()});
  std::vector<float> logits;
  EXPECT_TRUE(fwd.Eval(batch, &logits).ok());
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    int32_t tok = Sampler::Argmax(logits);
    out.push_back(tok);
    BatchToken t{tok, uint32_t(prompt.size() + i), &cache, true};
    EXPECT_TRUE(fwd.Eval({&t, 1}, &logits).ok());
  }
  return out;
}

GenerationRequest TokenRequest(std::vector<int32_t> prompt, int max_tokens) {
  GenerationRequest r;
  r.tenant = "ALPHA";
  r.prompt_tokens = std::move(prompt);
  r.params.temperature = 0;
  r.params.max_tokens = max_tokens;
  return r;
}

TEST(Engine, GreedyGenerationMatchesTheForwardPass) {
  auto engine = MakeEngine();
  // Token 2 is eos in the generated vocabulary: avoid prompts that end early by
  // comparing only the tokens produced.
  const std::vector<int32_t> prompt = {1, 100, 200, 300};
  auto result = engine->Generate(TokenRequest(prompt, 10));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  auto want = DirectGreedy(engine->model(), prompt, 10);
  size_t n = result->tokens.size();
  ASSERT_GT(n, 0u);
  EXPECT_EQ(result->tokens, std::vector<int32_t>(want.begin(), want.begin() + n));
  if (result->finish_reason == "stop") {
    EXPECT_TRUE(engine->tokenizer()->IsEndOfGeneration(want[n]));
  } else {
    EXPECT_EQ(result->finish_reason, "length");
    EXPECT_EQ(n, 10u);
  }
  EXPECT_EQ(result->prompt_tokens, 4);
  EXPECT_EQ(result->completion_tokens, int32_t(n));
}

TEST(Engine, ConcurrentRequestsAreBatchedAndGiveTheSameTokensAsAlone) {
  EngineOptions opt;
  opt.threads = 2;
  opt.max_sequences = 6;
  opt.max_batch_tokens = 7;  // prompts are split over several steps
  auto engine = MakeEngine(opt);
  std::vector<std::vector<int32_t>> prompts = {{1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 11, 12},
                                               {1, 400},
                                               {1, 33, 44, 55},
                                               {1, 7, 7, 7, 7, 7, 7, 7, 7, 7},
                                               {1, 250}};
  std::vector<std::shared_ptr<Generation>> gens;
  for (auto& p : prompts) {
    auto g = engine->Submit(TokenRequest(p, 12));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    gens.push_back(*g);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto r = gens[i]->Wait();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto want = DirectGreedy(engine->model(), prompts[i], 12);
    EXPECT_EQ(r->tokens, std::vector<int32_t>(want.begin(), want.begin() + r->tokens.size())) << "request " << i;
  }
  EXPECT_EQ(engine->sequences_in_use(), 0u);
}

TEST(Engine, FullPoolIsRefusedWithAClearError) {
  EngineOptions opt;
  opt.max_sequences = 2;
  auto engine = MakeEngine(opt);
  std::atomic<bool> release{false};
  // The first token's callback blocks the scheduler until released, so both
  // slots stay taken however fast the model is; then both cancel.
  auto hold = [&](const TokenEvent&) {
    while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return false;
  };
  GenerationRequest r = TokenRequest({1, 5, 6}, 100);
  r.params.ignore_eos = true;  // the first token always reaches the callback
  auto a = engine->Submit(r, hold);
  auto b = engine->Submit(r, hold);
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = engine->Submit(r);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(c.status().message(), "503: model busy: 2 of 2 sequences in use");
  release = true;
  (void)(*a)->Wait();
  (void)(*b)->Wait();
  EXPECT_EQ(engine->sequences_in_use(), 0u);
  EXPECT_TRUE(engine->Generate(TokenRequest({1, 5}, 2)).ok());  // slots are free again
}

TEST(Engine, CallbackReturningFalseCancels) {
  auto engine = MakeEngine();
  int calls = 0;
  auto r = engine->Generate(TokenRequest({1, 100, 101}, 50), [&](const TokenEvent&) { return ++calls < 3; });
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->completion_tokens, 3);
  if (r->finish_reason != "stop") {
    EXPECT_EQ(r->finish_reason, "cancelled");
    EXPECT_EQ(calls, 3);
  }
}

TEST(Engine, TextPromptStreamsTheSameTextItReturns) {
  auto engine = MakeEngine();
  GenerationRequest req;
  req.prompt = "the quick brown fox";
  req.params.temperature = 0;
  req.params.max_tokens = 16;
  std::string streamed;
  auto r = engine->Generate(req, [&](const TokenEvent& e) {
    streamed += e.text;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(r->text, engine->tokenizer()->Decode(r->tokens).substr(0, r->text.size()));
}

TEST(Engine, StopSequenceEndsTheTextBeforeIt) {
  auto engine = MakeEngine();
  GenerationRequest req;
  req.prompt = "once upon a time";
  req.params.temperature = 0;
  req.params.max_tokens = 24;
  auto full = engine->Generate(req);
  ASSERT_TRUE(full.ok());
  if (full->text.size() < 6) GTEST_FAIL() << "the model generated too little text to test: '" << full->text << "'";
  const std::string stop = full->text.substr(full->text.size() / 2, 3);
  const size_t at = full->text.find(stop);
  req.params.stop = {stop};
  auto cut = engine->Generate(req);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->finish_reason, "stop");
  EXPECT_EQ(cut->text, full->text.substr(0, at));
}

TEST(Engine, SeededSamplingIsReproducible) {
  auto engine = MakeEngine();
  GenerationRequest req = TokenRequest({1, 42, 43}, 16);
  req.params.temperature = 1.0f;
  req.params.seed = 1234;
  auto a = engine->Generate(req), b = engine->Generate(req);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
}

TEST(Engine, BadRequestsAreRefused) {
  EngineOptions opt;
  opt.n_ctx = 16;
  auto engine = MakeEngine(opt);
  EXPECT_EQ(engine->Submit(TokenRequest({}, 4)).status().code(), StatusCode::kInvalidArgument);
  auto big = engine->Submit(TokenRequest(std::vector<int32_t>(16, 5), 4));
  EXPECT_NE(big.status().message().find("does not fit the context of 16 tokens"), std::string::npos)
      << big.status().ToString();
  EXPECT_NE(engine->Submit(TokenRequest({1, 9999}, 4)).status().message().find("outside the vocabulary"),
            std::string::npos);
  GenerationRequest bad = TokenRequest({1, 2}, 4);
  bad.params.top_p = 2;
  EXPECT_NE(engine->Submit(bad).status().message().find("top_p"), std::string::npos);
  // The context bounds generation: 14 prompt tokens leave room for 2.
  auto r = engine->Generate(TokenRequest(std::vector<int32_t>(14, 5), 100));
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->completion_tokens, 2);
}

TEST(Engine, KvBudgetLimitsSequences) {
  EngineOptions opt;
  opt.n_ctx = 64;
  opt.max_sequences = 8;
  auto probe = MakeEngine(opt);
  const uint64_t per = KvCache::BytesFor(probe->model().hparams(), 64, true);
  opt.max_kv_bytes = per * 3 + 1;
  auto engine = MakeEngine(opt);
  EXPECT_EQ(engine->max_sequences(), 3u);
}

TEST(Engine, MetricsAreExported) {
  Registry registry;
  EngineOptions opt;
  opt.metrics = &registry;
  opt.device_id = "44";
  auto engine = MakeEngine(opt);
  ASSERT_TRUE(engine->Generate(TokenRequest({1, 3, 4}, 8)).ok());
  // The rate gauge is set when the scheduler goes idle.
  for (int i = 0;
       i < 100 && registry.Expose().find("dsmil_llm_tokens_per_second{device_id=\"44\"} 0\n") != std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const std::string text = registry.Expose();
  EXPECT_NE(text.find("dsmil_llm_tokens_per_second{device_id=\"44\"}"), std::string::npos);
  EXPECT_EQ(text.find("dsmil_llm_tokens_per_second{device_id=\"44\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("dsmil_llm_request_seconds_count{device_id=\"44\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("dsmil_llm_time_to_first_token_seconds_bucket{device_id=\"44\",le=\"0.01\"}"), std::string::npos);
}

TEST(Engine, ShutdownEndsPendingWork) {
  auto engine = MakeEngine();
  auto g = engine->Submit(TokenRequest({1, 3}, 1000), [](const TokenEvent&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return true;
  });
  ASSERT_TRUE(g.ok());
  engine->Shutdown();
  auto r = (*g)->Wait();
  // Either it finished (eos) before the shutdown or it was ended by it.
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(engine->Submit(TokenRequest({1, 3}, 4)).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace dsmil::llm
