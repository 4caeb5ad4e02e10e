#include "devices/llm/llm_worker.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/metrics.h"
#include "llm/gguf_writer.h"
#include "support/clock_util.h"
#include "tenant/claims.h"

namespace dsmil::devices {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class LlmWorkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("llm_worker_test." + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    llm::RandomModelSpec spec;  // tiny
    spec.type = llm::GgmlType::kQ8_0;
    ASSERT_TRUE(llm::WriteRandomLlamaModel(spec, (*dir_ / "tiny.gguf").string()).ok());
    std::ofstream(*dir_ / "bad.gguf") << "this is not a GGUF file";
    keyring_ = new tenant::ClaimKeyring((*dir_ / "claims").string());
    verifier_ = new tenant::ClaimVerifier([](const std::string& t) { return keyring_->PublicKey(t); });
  }
  static void TearDownTestSuite() {
    delete verifier_;
    delete keyring_;
    fs::remove_all(*dir_);
    delete dir_;
  }

  // A claim token for `tenant` as the L7 router issues it (user "key:...")
  // or as the control API issues it for an operator.
  static std::string Token(const std::string& tenant, const std::string& user = "key:0badc0de") {
    auto key = keyring_->SigningKey(tenant);
    EXPECT_TRUE(key.ok());
    int64_t now = dsmil::testing::UnixSeconds();
    auto t = tenant::SignClaim({tenant, user, now, now + 600}, ByteView(key->data(), key->size()));
    EXPECT_TRUE(t.ok());
    return std::string(reinterpret_cast<const char*>(t->data()), t->size());
  }

  // `llm_section`: the `llm:` section as JSON text, parsed as the node does
  // at config load; "" = the node config has no llm section.
  static DeviceContext Context(int id, const std::string& llm_section, const std::string& tenant = "") {
    DeviceContext ctx(id, tenant, "node-b");
    ctx.config_dir = dir_->string();
    if (llm_section.empty()) {
      ctx.config.Declare<llm_worker::LlmConfig>("llm");
    } else {
      auto parsed = llm_worker::ParseLlmConfig(llm_section, ctx.config_dir);
      EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
      if (parsed.ok()) ctx.config.Put("llm", *parsed);
    }
    ctx.claims = verifier_;
    ctx.tenants = {{"ALPHA", "SOC_ASSIST", {"SOC"}}, {"BRAVO", "ANALYSIS_ONLY", {"SOC"}}};
    return ctx;
  }

  static std::unique_ptr<Device> Started(const DeviceContext& ctx) {
    auto dev = llm_worker::CreateLlmWorker(ctx);
    EXPECT_TRUE(dev.ok()) << dev.status().ToString();
    EXPECT_TRUE((*dev)->Start().ok());
    for (int i = 0; i < 500 && (*dev)->Health().state == DeviceState::kStarting; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::move(*dev);
  }

  static dbe::Message Chat(const json& body, const std::string& tenant = "ALPHA") {
    dbe::Message m(dbe::MsgType::kL7ChatReq);
    m.header().src_device = 43;
    m.header().dst_device = 47;
    m.SetString(dbe::TlvType::kTenantId, tenant);
    m.SetString(dbe::TlvType::kRequestId, "r-1");
    m.SetString(dbe::TlvType::kPayload, body.dump());
    m.SetString(dbe::TlvType::kL7ClaimToken, Token(tenant));
    return m;
  }

  static json Payload(const dbe::Message& m) {
    auto p = m.GetBytes(dbe::TlvType::kPayload);
    EXPECT_TRUE(p.ok());
    return json::parse(AsString(*p));
  }

  static std::string Reason(const dbe::Message& m) {
    auto r = m.GetString(dbe::TlvType::kErrorReason);
    return r.ok() ? std::string(*r) : "";
  }

  static inline fs::path* dir_ = nullptr;
  static inline tenant::ClaimKeyring* keyring_ = nullptr;
  static inline tenant::ClaimVerifier* verifier_ = nullptr;
  const json kHello = {
      {"messages", {{{"role", "user"}, {"content", "hello there"}}}}, {"max_tokens", 8}, {"temperature", 0}};
};

TEST_F(LlmWorkerTest, BothWorkerDevicesAreRegistered) {
  RegisterBuiltinDevices();
  EXPECT_TRUE(IsImplemented(47));
  EXPECT_TRUE(IsImplemented(44));
  EXPECT_EQ(DeclaredSections(47), std::vector<std::string>{"llm"});
  EXPECT_EQ(DeclaredSections(44), std::vector<std::string>{"llm"});
  EXPECT_TRUE(IsConfigSectionRegistered("llm"));
}

TEST_F(LlmWorkerTest, NoModelConfiguredIsNotImplementedAndNeverAnswersText) {
  auto dev = Started(Context(47, ""));
  DeviceHealth h = dev->Health();
  EXPECT_EQ(h.state, DeviceState::kNotImplemented);
  EXPECT_NE(h.reason.find("no model configured for device 47"), std::string::npos) << h.reason;
  auto r = dev->Handle(Chat(kHello));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->type(), dbe::MsgType::kError);
  EXPECT_EQ(Reason(*r), "NO_MODEL");
  // A section for the other worker only: still no model for 47.
  auto other = Started(Context(47, R"({"models":[{"device":44,"path":"tiny.gguf"}]})"));
  EXPECT_EQ(other->Health().state, DeviceState::kNotImplemented);
}

TEST_F(LlmWorkerTest, BadConfigNamesTheKey) {
  const std::string dir = dir_->string();
  auto bad = llm_worker::ParseLlmConfig(R"({"models":[{"device":47,"path":"x","threads":0}]})", dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("llm.models[0].threads"), std::string::npos) << bad.status().message();
  auto unknown = llm_worker::ParseLlmConfig(R"({"models":[{"device":47,"path":"x","gpu":1}]})", dir);
  EXPECT_NE(unknown.status().message().find("llm.models[0].gpu: unknown key"), std::string::npos);
  auto no_path = llm_worker::ParseLlmConfig(R"({"models":[{"device":47}]})", dir);
  EXPECT_NE(no_path.status().message().find("llm.models[0].path: is required"), std::string::npos);
  auto top = llm_worker::ParseLlmConfig(R"({"model":[]})", dir);
  EXPECT_NE(top.status().message().find("llm.model: unknown key"), std::string::npos);
  auto twice = llm_worker::ParseLlmConfig(R"({"models":[{"device":44,"path":"a"},{"device":44,"path":"b"}]})", dir);
  EXPECT_EQ(twice.status().message(), "llm.models[1].device: device 44 is configured twice");
  // Parsed once: relative paths resolved, one entry per device.
  auto good = llm_worker::ParseLlmConfig(R"({"models":[{"device":44,"path":"tiny.gguf"}]})", dir);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  auto m44 = llm_worker::ModelConfigFor(&*good, 44);
  ASSERT_TRUE(m44.ok());
  EXPECT_EQ(m44->path, dir + "/tiny.gguf");
  EXPECT_EQ(llm_worker::ModelConfigFor(&*good, 47).status().message(),
            "no model configured for device 47 (llm.models)");
  EXPECT_EQ(llm_worker::ModelConfigFor(nullptr, 47).status().message(),
            "no model configured for device 47 (the node config has no llm section)");
}

TEST_F(LlmWorkerTest, BadModelFileFailsWithTheReason) {
  for (const char* file : {"bad.gguf", "missing.gguf"}) {
    auto dev = Started(Context(47, std::string(R"({"models":[{"device":47,"path":")") + file + R"("}]})"));
    DeviceHealth h = dev->Health();
    EXPECT_EQ(h.state, DeviceState::kFailed) << file;
    EXPECT_NE(h.reason.find(file), std::string::npos) << h.reason;
    auto r = dev->Handle(Chat(kHello));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->type(), dbe::MsgType::kError);
    EXPECT_EQ(Reason(*r), "MODEL_FAILED");
    dev->Stop();
  }
}

TEST_F(LlmWorkerTest, AnswersChatWithTextAndUsage) {
  Registry registry;
  DeviceContext ctx = Context(47, R"({"models":[{"device":47,"profile":"llm-7b-amx","path":"tiny.gguf",
                                      "threads":2,"max_sequences":2,"ctx":256}]})");
  ctx.metrics = &registry;
  auto dev = Started(ctx);
  ASSERT_EQ(dev->Health().state, DeviceState::kHealthy) << dev->Health().reason;
  EXPECT_GT(dev->MemoryUsedBytes(), 0u);
  auto r = dev->Handle(Chat(kHello));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->type(), dbe::MsgType::kL7ChatResp) << dbe::ToDebugString(*r);
  EXPECT_EQ(r->header().dst_device, 43);
  EXPECT_EQ(r->header().src_device, 47);
  EXPECT_EQ(*r->GetString(dbe::TlvType::kRequestId), "r-1");
  json p = Payload(*r);
  EXPECT_TRUE(p["text"].is_string());
  EXPECT_EQ(p["content"], p["text"]);
  EXPECT_GT(p["prompt_tokens"].get<int>(), 3);
  EXPECT_GE(p["completion_tokens"].get<int>(), 1);
  EXPECT_LE(p["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(*r->GetU32(dbe::TlvType::kTokenCount), p["completion_tokens"].get<uint32_t>());
  EXPECT_TRUE(p["finish_reason"] == "stop" || p["finish_reason"] == "length");
  // Greedy: the same request gives the same text.
  auto again = dev->Handle(Chat(kHello));
  EXPECT_EQ(Payload(*again)["text"], p["text"]);
  EXPECT_NE(registry.Expose().find("dsmil_llm_request_seconds_count{device_id=\"47\"} 2"), std::string::npos);
  // Its share of the traffic, for dsmilctl status.
  EXPECT_EQ(dev->StatusDetail(),
            "worker 47: 2 chats, " + std::to_string(2 * p["completion_tokens"].get<int>()) + " tokens, 0 in flight");
  dev->Stop();
  EXPECT_EQ(dev->Health().state, DeviceState::kStopped);
}

TEST_F(LlmWorkerTest, StreamsOneChunkPerTokenThenTheFinalFrame) {
  auto dev = Started(Context(47, R"({"models":[{"device":47,"path":"tiny.gguf"}]})"));
  ASSERT_EQ(dev->Health().state, DeviceState::kHealthy);
  json body = kHello;
  body["max_tokens"] = 12;
  std::vector<dbe::Message> chunks;
  ASSERT_TRUE(dev->HandleStreaming(Chat(body),
                                   [&](const dbe::Message& m) {
                                     chunks.push_back(m);
                                     return true;
                                   })
                  .ok());
  ASSERT_GE(chunks.size(), 2u);
  std::string streamed;
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].type(), dbe::MsgType::kL7ChatResp);
    EXPECT_TRUE(chunks[i].header().flags & dbe::kFlagMore);
    streamed += Payload(chunks[i])["delta"].get<std::string>();
  }
  const dbe::Message& last = chunks.back();
  EXPECT_FALSE(last.header().flags & dbe::kFlagMore);
  json p = Payload(last);
  EXPECT_EQ(p["text"].get<std::string>(), streamed);
  EXPECT_FALSE(p.contains("content"));
  // One chunk per token, plus at most one for text held back until the end.
  const size_t tokens = p["completion_tokens"].get<size_t>();
  EXPECT_TRUE(chunks.size() - 1 == tokens || chunks.size() - 2 == tokens) << chunks.size() << " " << tokens;
  // A reader that leaves after the first chunk gets nothing more.
  size_t seen = 0;
  ASSERT_TRUE(dev->HandleStreaming(Chat(body), [&](const dbe::Message&) { return ++seen < 1; }).ok());
  EXPECT_EQ(seen, 1u);
}

TEST_F(LlmWorkerTest, RefusesOtherTenantsBadRequestsAndOtherMessages) {
  auto dev = Started(Context(47, R"({"models":[{"device":47,"path":"tiny.gguf"}]})", "BRAVO"));
  ASSERT_EQ(dev->Health().state, DeviceState::kHealthy);
  auto r = dev->Handle(Chat(kHello, "ALPHA"));
  EXPECT_EQ(Reason(*r), "TENANT_MISMATCH");
  EXPECT_EQ(dev->Handle(Chat(kHello, "BRAVO"))->type(), dbe::MsgType::kL7ChatResp);

  auto bad = dev->Handle(Chat({{"messages", {{{"content", "x"}}}}}, "BRAVO"));
  EXPECT_EQ(Reason(*bad), "BAD_REQUEST");
  EXPECT_NE(std::string(*bad->GetString(dbe::TlvType::kErrorDetail)).find("messages[0].role"), std::string::npos);
  auto bad_temp =
      dev->Handle(Chat({{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"temperature", 9}}, "BRAVO"));
  EXPECT_NE(std::string(*bad_temp->GetString(dbe::TlvType::kErrorDetail)).find("temperature"), std::string::npos);

  dbe::Message ping(dbe::MsgType::kHealthPing);
  ping.SetString(dbe::TlvType::kTenantId, "BRAVO");
  EXPECT_EQ(Reason(*dev->Handle(ping)), "UNSUPPORTED_MESSAGE");
}

TEST(ChatPayload, ParsesTheOpenAiFields) {
  auto c = llm_worker::ParseChatPayload(
      R"({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"a"},)"
      R"({"type":"text","text":"b"}]}],"max_tokens":9,"temperature":0.5,"top_p":0.9,"stop":"END","seed":42})",
      100);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->messages.size(), 2u);
  EXPECT_EQ(c->messages[1].content, "ab");
  EXPECT_EQ(c->params.max_tokens, 9);  // the body wins over the TLV
  EXPECT_FLOAT_EQ(c->params.temperature, 0.5f);
  EXPECT_FLOAT_EQ(c->params.top_p, 0.9f);
  EXPECT_EQ(c->params.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(c->params.seed, 42u);
  auto tlv = llm_worker::ParseChatPayload(R"({"messages":[{"role":"user","content":"x"}]})", 5);
  EXPECT_EQ(tlv->params.max_tokens, 5);
  for (const char* bad : {"", "[]", R"({"messages":[]})", R"({"messages":[{"role":1}]})",
                          R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})",
                          R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})",
                          R"({"messages":[{"role":"user","content":{}}]})"}) {
    auto r = llm_worker::ParseChatPayload(bad, 0);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace dsmil::devices

namespace dsmil::devices {
namespace {

// Only the L7 router's claim for the request's own tenant gets a completion.
TEST_F(LlmWorkerTest, RefusesRequestsWithoutTheRoutersClaim) {
  auto dev = Started(Context(47, R"({"models":[{"device":47,"path":"tiny.gguf"}]})"));
  ASSERT_EQ(dev->Health().state, DeviceState::kHealthy);
  dbe::Message none = Chat(kHello);
  none.Remove(dbe::TlvType::kL7ClaimToken);
  EXPECT_EQ(Reason(*dev->Handle(none)), "CLAIM_MISSING");
  dbe::Message other = Chat(kHello, "ALPHA");
  other.SetString(dbe::TlvType::kL7ClaimToken, Token("BRAVO"));
  EXPECT_EQ(Reason(*dev->Handle(other)), "CLAIM_TENANT_MISMATCH");
  dbe::Message op = Chat(kHello, "ALPHA");
  op.SetString(dbe::TlvType::kL7ClaimToken, Token("ALPHA", "operator:admin"));
  EXPECT_EQ(Reason(*dev->Handle(op)), "CALLER_NOT_ALLOWED");
  dbe::Message forged = Chat(kHello, "ALPHA");
  std::string t = Token("ALPHA");
  t[t.size() - 10] ^= 0x01;
  forged.SetString(dbe::TlvType::kL7ClaimToken, t);
  EXPECT_EQ(Reason(*dev->Handle(forged)), "CLAIM_INVALID");
  EXPECT_EQ(dev->Handle(Chat(kHello, "ALPHA"))->type(), dbe::MsgType::kL7ChatResp);
}

// A tenant holding its share of the KV pool gets TENANT_BUSY; the other
// tenant is still served at the same moment.
TEST_F(LlmWorkerTest, ATenantOverItsShareIsBusyWhileTheOtherIsServed) {
  auto dev = Started(Context(47, R"({"models":[{"device":47,"path":"tiny.gguf","max_sequences":2}]})"));
  ASSERT_EQ(dev->Health().state, DeviceState::kHealthy);
  json long_body = {
      {"messages", {{{"role", "user"}, {"content", "hello there"}}}}, {"max_tokens", 16}, {"temperature", 0}};
  std::string alpha_again, bravo_type;
  bool checked = false;
  ASSERT_TRUE(dev->HandleStreaming(Chat(long_body, "ALPHA"),
                                   [&](const dbe::Message&) {
                                     if (!checked) {
                                       checked = true;
                                       alpha_again = Reason(*dev->Handle(Chat(kHello, "ALPHA")));
                                       auto b = dev->Handle(Chat(kHello, "BRAVO"));
                                       bravo_type = std::string(dbe::MsgTypeName(b->type())) + Reason(*b);
                                     }
                                     return true;
                                   })
                  .ok());
  ASSERT_TRUE(checked);
  EXPECT_EQ(alpha_again, "TENANT_BUSY");
  EXPECT_EQ(bravo_type, std::string(dbe::MsgTypeName(dbe::MsgType::kL7ChatResp)));
  // Once ALPHA's request is done its share is free again.
  EXPECT_EQ(dev->Handle(Chat(kHello, "ALPHA"))->type(), dbe::MsgType::kL7ChatResp);
}

}  // namespace
}  // namespace dsmil::devices
