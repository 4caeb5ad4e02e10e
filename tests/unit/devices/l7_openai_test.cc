// The OpenAI wire format of the L7 front, the SSE parser, chunking and the
// hashed embedding.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "devices/l7/openai.h"
#include "devices/l7/rag.h"
#include "devices/l7/worker.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

TEST(OpenAiRequest, ParsesTheUsualFieldsAndTheDsmilExtension) {
  ChatRequest r;
  auto e = ParseChatRequest(
      R"({"model":"m","stream":true,"max_tokens":64,"temperature":0.5,"stream_options":{"include_usage":true},
          "messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                      {"role":"assistant","content":null}],
          "dsmil":{"compartments":["SOC","SIGNALS"],"classification":"SECRET","roe_level":"SOC_ASSIST","rag":true,"rag_k":2}})",
      &r);
  ASSERT_FALSE(e.has_value()) << e->message;
  EXPECT_EQ(r.model, "m");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.max_tokens, 64u);
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[1].content, "a\nb");
  EXPECT_EQ(r.dsmil.compartments, 0x03u);
  EXPECT_EQ(r.dsmil.classification, 3);
  EXPECT_EQ(r.dsmil.roe_level, "SOC_ASSIST");
  EXPECT_TRUE(r.dsmil.rag);
  EXPECT_EQ(r.dsmil.rag_k, 2);
  EXPECT_EQ(PromptText(r), "s\na\nb\n");
}

TEST(OpenAiRequest, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"messages":[{"role":"user","content":"x"}]})", "model"},
      {R"({"model":"m"})", "messages"},
      {R"({"model":"m","messages":[]})", "messages"},
      {R"({"model":"m","messages":[{"role":"robot","content":"x"}]})", "messages[0].role"},
      {R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content[0].type"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0})", "max_tokens"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})", "temperature"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})", "n"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"})", "stream"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"dsmil":{"compartments":["NOPE"]}})",
       "dsmil.compartments[0]"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"dsmil":{"roe_level":"WAR"}})", "dsmil.roe_level"},
      {R"({"model":"m","messages":[{"role":"user","content":"x"}],"dsmil":{"colour":1}})", "dsmil.colour"},
  };
  for (const Case& c : cases) {
    ChatRequest r;
    auto e = ParseChatRequest(c.body, &r);
    ASSERT_TRUE(e.has_value()) << c.body;
    EXPECT_EQ(e->status, 400);
    EXPECT_EQ(e->param, c.param) << e->message;
    EXPECT_EQ(e->message.rfind(c.param, 0), 0u) << e->message;
  }
  ChatRequest r;
  EXPECT_TRUE(ParseChatRequest("not json", &r).has_value());
  EXPECT_TRUE(ParseChatRequest("[1,2]", &r).has_value());
  EXPECT_TRUE(ParseChatRequest("", &r).has_value());
}

TEST(OpenAiRequest, Embeddings) {
  EmbeddingsRequest r;
  ASSERT_FALSE(ParseEmbeddingsRequest(R"({"model":"e","input":["a","b"],"encoding_format":"base64"})", &r));
  EXPECT_EQ(r.inputs.size(), 2u);
  EXPECT_TRUE(r.base64);
  auto e = ParseEmbeddingsRequest(R"({"model":"e","input":[1,2]})", &r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "input[0]");
}

TEST(OpenAiResponse, DocumentsAreValidJson) {
  json c = json::parse(ChatCompletionJson("id1", 5, "m", "he said \"hi\"\n", "stop", 3, 4));
  EXPECT_EQ(c["choices"][0]["message"]["content"], "he said \"hi\"\n");
  EXPECT_EQ(c["usage"]["total_tokens"], 7);
  json first = json::parse(ChatChunkJson("id1", 5, "m", "assistant", "", ""));
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  json last = json::parse(ChatChunkJson("id1", 5, "m", "", "", "stop"));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  json err = json::parse(ErrorJson({401, "bad key", "invalid_request_error", "", "invalid_api_key"}));
  EXPECT_TRUE(err["error"]["param"].is_null());
  EXPECT_EQ(err["error"]["code"], "invalid_api_key");
  json emb = json::parse(EmbeddingsJson("e", {{1.0f, -0.5f}}, true, 1));
  EXPECT_EQ(emb["data"][0]["embedding"], Base64Encode(std::string("\x00\x00\x80\x3f\x00\x00\x00\xbf", 8)));
  EXPECT_EQ(Base64Encode("ab"), "YWI=");
  EXPECT_EQ(Base64Encode("abc"), "YWJj");
}

TEST(Sse, EventsSplitAcrossReads) {
  SseParser p;
  std::vector<std::string> got;
  auto on = [&](std::string_view d) {
    got.emplace_back(d);
    return true;
  };
  EXPECT_TRUE(p.Feed("data: {\"a\":1}\n\nda", on));
  EXPECT_TRUE(p.Feed("ta: [DONE]\r\n\r\n: comment\n\n", on));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "{\"a\":1}");
  EXPECT_EQ(got[1], "[DONE]");
}

TEST(Rag, HashedEmbeddingIsDeterministicAndNormalised) {
  auto a = HashedEmbedding("Lateral movement over SMB from host fin-12");
  auto b = HashedEmbedding("Lateral movement over SMB from host fin-12");
  auto c = HashedEmbedding("quarterly budget spreadsheet");
  ASSERT_EQ(a.size(), kHashedEmbeddingDim);
  EXPECT_EQ(a, b);
  double n = 0, ac = 0, ab = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] * a[i], ac += a[i] * c[i], ab += a[i] * b[i];
  EXPECT_NEAR(n, 1.0, 1e-5);
  EXPECT_GT(ab, ac + 0.5);
  for (float x : HashedEmbedding("")) EXPECT_EQ(x, 0.0f);
}

TEST(Rag, ChunksCoverTheTextAtBoundaries) {
  std::string text;
  for (int i = 0; i < 60; ++i) text += "Sentence number " + std::to_string(i) + " about the incident. ";
  auto chunks = ChunkText(text, 200, 40);
  ASSERT_GT(chunks.size(), 5u);
  for (const auto& c : chunks) {
    EXPECT_LE(c.text.size(), 200u);
    EXPECT_FALSE(c.text.empty());
  }
  EXPECT_NE(chunks.front().text.find("Sentence number 0"), std::string::npos);
  EXPECT_NE(chunks.back().text.find("Sentence number 59"), std::string::npos);
  EXPECT_TRUE(ChunkText("   ").empty());
  // Multi-byte characters are never cut.
  std::string utf8;
  for (int i = 0; i < 300; ++i) utf8 += "\xC3\xA9";
  for (const auto& c : ChunkText(utf8, 101, 10)) EXPECT_NE(uint8_t(c.text[0]) & 0xC0, 0x80);
}

}  // namespace
}  // namespace dsmil::devices::l7
