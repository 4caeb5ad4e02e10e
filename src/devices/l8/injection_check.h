// The prompt check device 51 runs on every L7 prompt (docs/injection.md):
// the chat messages with their roles are cut into scoring units (each
// message, and the conversation), each unit is seen through the decoding
// views of injection_decode.h, and every (unit, view) pair is scored by the
// phrase rules and the learned model (injection_model.h) combined into one
// probability. The verdict is the highest score over all pairs, compared with
// the threshold: the tenant's `injection_threshold` (tenant/policy.h) when it
// has one, else the one chosen on the dev set when the model was trained.
//
// The model is trained at build time from data/injection/train and dev
// (tools/train_injection.cc) and built into the library.
//
// Pure functions over an immutable model: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dbe/message.h"
#include "devices/l8/injection.h"
#include "devices/l8/injection_model.h"

namespace dsmil::tenant {
class PolicyStore;
}  // namespace dsmil::tenant

namespace dsmil::devices {

// The model built into the library.
const InjectionModel& BuiltinInjectionModel();

// The default decision threshold: the built-in model's, chosen on dev for at
// most 1% false positives.
double DefaultInjectionThreshold();

// The full check of a chat request's messages. `threshold` defaults to
// DefaultInjectionThreshold().
InjectionVerdict CheckPromptMessages(const std::vector<PromptMessage>& messages,
                                     std::optional<double> threshold = std::nullopt);

// The full check of one text, read as a single user message.
InjectionVerdict CheckPromptText(std::string_view text, std::optional<double> threshold = std::nullopt);

// Limits of the JSON payload of L8_PROMPT_CHECK.
inline constexpr size_t kMaxPromptCheckMessages = 256;
inline constexpr size_t kMaxPromptRoleBytes = 64;

// {"messages":[{"role":"system","content":"..."}, ...]}: the PAYLOAD of an
// L8_PROMPT_CHECK whose CONTENT_TYPE is JSON. InvalidArgument naming what is
// wrong (not JSON, no messages, a message without a string role/content,
// too many messages, a role over kMaxPromptRoleBytes).
Result<std::vector<PromptMessage>> ParsePromptCheckMessages(std::string_view payload);
std::string PromptCheckMessagesJson(const std::vector<PromptMessage>& messages);

// Device 51's answer to an L8_PROMPT_CHECK (0x52) request: an
// L8_PROMPT_VERDICT (0x53) reply (source/destination swapped, TENANT_ID and
// REQUEST_ID copied) whose PAYLOAD is the verdict JSON of docs/dbe.md
// ("Prompt checks"). The PAYLOAD is the messages JSON when CONTENT_TYPE is
// JSON, otherwise the prompt text (one user message). InvalidArgument when
// the request is not 0x52, has no PAYLOAD or a malformed messages JSON.
Result<dbe::Message> HandlePromptCheck(const dbe::Message& request, std::optional<double> threshold = std::nullopt);

// Device 51's whole answer to an L8_PROMPT_CHECK (spec §9.2 drill 3): the
// check above with the tenant's `injection_threshold` when `policies` (null:
// none) holds a bundle for the envelope's tenant that sets one, the reply's
// source set to `device`; an ERROR reply INVALID_PROMPT_CHECK naming what is
// wrong with a malformed request.
dbe::Message AnswerPromptCheck(const dbe::Message& request, tenant::PolicyStore* policies, int device);

// The verdict JSON carried by L8_PROMPT_VERDICT:
// {"injection","score","reason","rules","obfuscated","model","views","view","unit"}.
std::string VerdictJson(const InjectionVerdict& v);

}  // namespace dsmil::devices
