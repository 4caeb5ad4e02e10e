#include "llm/chat_template.h"

#include "core/strings.h"

namespace dsmil::llm {
namespace {

std::string_view Trim(std::string_view s) {
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

Status CheckRoles(std::span<const ChatMessage> msgs) {
  for (size_t i = 0; i < msgs.size(); ++i) {
    const std::string& r = msgs[i].role;
    if (r != "system" && r != "user" && r != "assistant") {
      return Status::InvalidArgument("chat template: message " + std::to_string(i) + " has role '" + r +
                                     "' (expected system, user or assistant)");
    }
  }
  return Status::Ok();
}

Result<std::string> RenderLlama2(std::span<const ChatMessage> msgs) {
  std::string system;
  size_t start = 0;
  if (!msgs.empty() && msgs[0].role == "system") {
    system = msgs[0].content;
    start = 1;
  }
  if (start >= msgs.size()) {
    return Status::InvalidArgument("chat template: llama2 needs a user message");
  }
  std::string out;
  for (size_t i = start; i < msgs.size(); ++i) {
    const ChatMessage& m = msgs[i];
    const char* want = (i - start) % 2 == 0 ? "user" : "assistant";
    if (m.role != want) {
      return Status::InvalidArgument("chat template: llama2 message " + std::to_string(i) + " has role '" + m.role +
                                     "', expected '" + want + "' (system first, then user and assistant alternating)");
    }
    if (m.role == "user") {
      out += "<s>[INST] ";
      if (i == start && start == 1) out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
      out += m.content;
      out += " [/INST]";
    } else {
      out += " " + m.content + " </s>";
    }
  }
  return out;
}

}  // namespace

std::string_view ChatTemplateName(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatMl:
      return "chatml";
    case ChatTemplateKind::kLlama2:
      return "llama2";
    case ChatTemplateKind::kLlama3:
      return "llama3";
  }
  return "chatml";
}

bool ChatTemplateHasBos(ChatTemplateKind kind) { return kind != ChatTemplateKind::kChatMl; }

ChatTemplateChoice DetectChatTemplate(std::string_view t) {
  ChatTemplateChoice c;
  std::string_view name = Trim(t);
  if (EqualsIgnoreCaseAscii(name, "chatml")) return c;
  if (EqualsIgnoreCaseAscii(name, "llama2") || EqualsIgnoreCaseAscii(name, "llama-2")) {
    c.kind = ChatTemplateKind::kLlama2;
    return c;
  }
  if (EqualsIgnoreCaseAscii(name, "llama3") || EqualsIgnoreCaseAscii(name, "llama-3")) {
    c.kind = ChatTemplateKind::kLlama3;
    return c;
  }
  if (t.find("<|im_start|>") != std::string_view::npos) return c;
  if (t.find("<|start_header_id|>") != std::string_view::npos) {
    c.kind = ChatTemplateKind::kLlama3;
    return c;
  }
  if (t.find("[INST]") != std::string_view::npos) {
    c.kind = ChatTemplateKind::kLlama2;
    return c;
  }
  if (name.empty()) {
    c.note = "no chat template; using chatml";
  } else {
    std::string head(name.substr(0, 40));
    for (char& ch : head) {
      if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
    }
    c.note = "chat template not recognised (starts with '" + head + "'); using chatml";
  }
  return c;
}

Result<std::string> ApplyChatTemplate(ChatTemplateKind kind, std::span<const ChatMessage> msgs,
                                      bool add_generation_prompt) {
  DSMIL_RETURN_IF_ERROR(CheckRoles(msgs));
  std::string out;
  switch (kind) {
    case ChatTemplateKind::kLlama2:
      return RenderLlama2(msgs);
    case ChatTemplateKind::kLlama3:
      out = "<|begin_of_text|>";
      for (const ChatMessage& m : msgs) {
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n";
        out += Trim(m.content);
        out += "<|eot_id|>";
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatTemplateKind::kChatMl:
      break;
  }
  for (const ChatMessage& m : msgs) {
    out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

Result<std::string> ApplyChatTemplate(std::string_view template_or_name, std::span<const ChatMessage> msgs,
                                      bool add_generation_prompt) {
  return ApplyChatTemplate(DetectChatTemplate(template_or_name).kind, msgs, add_generation_prompt);
}

}  // namespace dsmil::llm
