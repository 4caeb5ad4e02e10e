// Chat templates: turn a list of chat messages into the prompt text a model was
// trained on. The template stored in GGUF (tokenizer.chat_template, a Jinja
// string) is not interpreted; it is recognised by its markers and mapped to one
// of the built-in formats below. A name may be given instead of template text.
//
//   kChatMl   "chatml":  <|im_start|>{role}\n{content}<|im_end|>\n ... ; prompt "<|im_start|>assistant\n"
//   kLlama2   "llama2":  <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ...
//   kLlama3   "llama3":  <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> ...
//                        prompt "<|start_header_id|>assistant<|end_header_id|>\n\n"
//
// The rendered text begins with the format's BOS marker where it has one
// (llama2 "<s>", llama3 "<|begin_of_text|>"): encode it with parse_special =
// true and add_bos = !ChatTemplateHasBos(kind).
//
// Functions here are pure and thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dsmil::llm {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplateKind { kChatMl, kLlama2, kLlama3 };

struct ChatTemplateChoice {
  ChatTemplateKind kind = ChatTemplateKind::kChatMl;
  // Set when the template was not recognised and ChatML was chosen instead:
  // "chat template not recognised (starts with '...'); using chatml".
  std::string note;
};

// "chatml", "llama2", "llama3".
std::string_view ChatTemplateName(ChatTemplateKind kind);

// True when the rendered text starts with the BOS marker itself (llama2, llama3).
bool ChatTemplateHasBos(ChatTemplateKind kind);

// Recognises a template name ("chatml", "llama2"/"llama-2", "llama3"/"llama-3")
// or GGUF template text (markers "<|im_start|>", "[INST]", "<|start_header_id|>").
// Empty or unknown input → ChatML with a note.
ChatTemplateChoice DetectChatTemplate(std::string_view template_or_name);

// Renders `msgs` in the recognised format; add_generation_prompt appends the
// opening of the assistant turn. Errors (InvalidArgument): a role other than
// system/user/assistant (naming the message index and role); for llama2, a
// system message anywhere but first, user/assistant not alternating (starting
// with user), or no user message at all.
Result<std::string> ApplyChatTemplate(std::string_view template_or_name, std::span<const ChatMessage> msgs,
                                      bool add_generation_prompt);

// Same, with an already chosen kind.
Result<std::string> ApplyChatTemplate(ChatTemplateKind kind, std::span<const ChatMessage> msgs,
                                      bool add_generation_prompt);

}  // namespace dsmil::llm
