#include "llm/chat_template.h"

#include <gtest/gtest.h>

#include <vector>

namespace dsmil::llm {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."},
    {"user", "Hi"},
    {"assistant", "Hello."},
    {"user", "Status?"},
};

TEST(ChatTemplateTest, ChatMl) {
  auto r = ApplyChatTemplate("chatml", kConversation, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r,
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nStatus?<|im_end|>\n"
            "<|im_start|>assistant\n");
  auto no_prompt = ApplyChatTemplate(ChatTemplateKind::kChatMl, std::span(kConversation).first(2), false);
  EXPECT_EQ(*no_prompt, "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

TEST(ChatTemplateTest, Llama2) {
  auto r = ApplyChatTemplate("llama2", kConversation, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r,
            "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi [/INST] Hello. </s>"
            "<s>[INST] Status? [/INST]");
  std::vector<ChatMessage> no_system = {{"user", "Hi"}};
  EXPECT_EQ(*ApplyChatTemplate("llama-2", no_system, true), "<s>[INST] Hi [/INST]");
  std::vector<ChatMessage> bad = {{"user", "a"}, {"user", "b"}};
  EXPECT_NE(ApplyChatTemplate("llama2", bad, true)
                .status()
                .message()
                .find("llama2 message 1 has role 'user', expected 'assistant'"),
            std::string::npos);
  std::vector<ChatMessage> only_system = {{"system", "x"}};
  EXPECT_FALSE(ApplyChatTemplate("llama2", only_system, true).ok());
}

TEST(ChatTemplateTest, Llama3) {
  std::vector<ChatMessage> msgs = {{"system", " Be brief. "}, {"user", "Hi\n"}};
  auto r = ApplyChatTemplate("llama3", msgs, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, DetectsGgufTemplates) {
  EXPECT_EQ(DetectChatTemplate("{% for m in messages %}{{'<|im_start|>' + m['role'] }}").kind,
            ChatTemplateKind::kChatMl);
  EXPECT_EQ(DetectChatTemplate("{{ bos_token + '[INST] ' + content + ' [/INST]' }}").kind, ChatTemplateKind::kLlama2);
  EXPECT_EQ(DetectChatTemplate("{{ '<|start_header_id|>' + message['role'] }}").kind, ChatTemplateKind::kLlama3);
  auto unknown = DetectChatTemplate("{{ '### Instruction:\n' + content }}");
  EXPECT_EQ(unknown.kind, ChatTemplateKind::kChatMl);
  EXPECT_NE(unknown.note.find("not recognised"), std::string::npos);
  EXPECT_NE(DetectChatTemplate("").note.find("no chat template"), std::string::npos);
  EXPECT_TRUE(DetectChatTemplate("ChatML").note.empty());
  EXPECT_TRUE(ChatTemplateHasBos(ChatTemplateKind::kLlama2));
  EXPECT_FALSE(ChatTemplateHasBos(ChatTemplateKind::kChatMl));
}

TEST(ChatTemplateTest, RefusesUnknownRoles) {
  std::vector<ChatMessage> msgs = {{"user", "a"}, {"tool", "b"}};
  auto r = ApplyChatTemplate("chatml", msgs, true);
  EXPECT_EQ(r.status().message(), "chat template: message 1 has role 'tool' (expected system, user or assistant)");
}

}  // namespace
}  // namespace dsmil::llm
