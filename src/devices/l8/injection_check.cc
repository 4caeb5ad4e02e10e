#include "devices/l8/injection_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "tenant/policy.h"

// The weights file the build trains (src/devices/CMakeLists.txt), embedded by
// the generated injection_model_embed.cc.
extern "C" const char dsmil_injection_model_begin[];
extern "C" const char dsmil_injection_model_end[];

namespace dsmil::devices {
namespace {

using nlohmann::json;

constexpr char kReason[] = "Prompt injection pattern detected";

}  // namespace

const InjectionModel& BuiltinInjectionModel() {
  static const InjectionModel* model = [] {
    std::string_view bytes(dsmil_injection_model_begin,
                           size_t(dsmil_injection_model_end - dsmil_injection_model_begin));
    auto m = InjectionModel::Parse(bytes);
    if (!m.ok()) {
      // The build produced the file with the same code: a mismatch is a
      // broken build, not an input.
      std::fprintf(stderr, "built-in injection model: %s\n", m.status().ToString().c_str());
      std::abort();
    }
    return new InjectionModel(std::move(*m));
  }();
  return *model;
}

double DefaultInjectionThreshold() { return BuiltinInjectionModel().threshold; }

InjectionVerdict CheckPromptMessages(const std::vector<PromptMessage>& messages, std::optional<double> threshold) {
  const InjectionModel& model = BuiltinInjectionModel();
  double t = threshold.value_or(model.threshold);
  InjectionVerdict v;
  v.score = -1;
  std::vector<std::string> rules;
  for (const ScoringUnit& unit : ScoringUnits(messages)) {
    for (const AnalysedView& a : AnalyseUnit(unit)) {
      double m = model.Margin(a.features);
      double s = model.Score(m, a.rules.score);
      v.model = std::max(v.model, model.ModelProbability(m));
      if (s > v.score) {
        v.score = s;
        v.unit = unit.name;
        v.view = a.view;
      }
      v.obfuscated |= a.rules.obfuscated;
      if (std::find(v.views.begin(), v.views.end(), a.view) == v.views.end()) v.views.push_back(a.view);
      for (const InjectionMatch& match : a.rules.matches) {
        if (std::find(rules.begin(), rules.end(), match.rule) == rules.end()) {
          rules.push_back(match.rule);
          v.matches.push_back(match);
        }
      }
    }
  }
  if (v.score < 0) v.score = 0;  // no messages
  v.injection = v.score >= t;
  if (v.injection) {
    v.reason = kReason;
    if (!v.view.empty() && v.view != "original") v.reason += " (decoded: " + v.view + ")";
  }
  return v;
}

InjectionVerdict CheckPromptText(std::string_view text, std::optional<double> threshold) {
  return CheckPromptMessages({PromptMessage{"user", std::string(text)}}, threshold);
}

Result<std::vector<PromptMessage>> ParsePromptCheckMessages(std::string_view payload) {
  json j = json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("prompt check: PAYLOAD is not a JSON object");
  auto msgs = j.find("messages");
  if (msgs == j.end() || !msgs->is_array()) return Status::InvalidArgument("prompt check: messages must be an array");
  if (msgs->size() > kMaxPromptCheckMessages) {
    return Status::InvalidArgument("prompt check: more than " + std::to_string(kMaxPromptCheckMessages) + " messages");
  }
  std::vector<PromptMessage> out;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    std::string at = "prompt check: messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Status::InvalidArgument(at + " must be an object");
    auto role = m.find("role");
    auto content = m.find("content");
    if (role == m.end() || !role->is_string()) return Status::InvalidArgument(at + ".role must be a string");
    if (role->get_ref<const std::string&>().size() > kMaxPromptRoleBytes) {
      return Status::InvalidArgument(at + ".role is longer than " + std::to_string(kMaxPromptRoleBytes) + " bytes");
    }
    if (content == m.end() || !content->is_string()) return Status::InvalidArgument(at + ".content must be a string");
    out.push_back({role->get<std::string>(), content->get<std::string>()});
  }
  return out;
}

std::string PromptCheckMessagesJson(const std::vector<PromptMessage>& messages) {
  json arr = json::array();
  for (const PromptMessage& m : messages) arr.push_back({{"role", m.role}, {"content", m.content}});
  json j = {{"messages", std::move(arr)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string VerdictJson(const InjectionVerdict& v) {
  auto round3 = [](double x) { return double(std::lround(x * 1000)) / 1000; };
  nlohmann::ordered_json rules = nlohmann::ordered_json::array();
  for (const InjectionMatch& m : v.matches) rules.push_back(m.rule);
  nlohmann::ordered_json j;
  j["injection"] = v.injection;
  j["score"] = round3(v.score);
  j["reason"] = v.reason;
  j["rules"] = std::move(rules);
  j["obfuscated"] = v.obfuscated;
  j["model"] = round3(v.model);
  j["views"] = v.views;
  j["view"] = v.view;
  j["unit"] = v.unit;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<dbe::Message> HandlePromptCheck(const dbe::Message& request, std::optional<double> threshold) {
  if (request.type() != dbe::MsgType::kL8PromptCheck) {
    return Status::InvalidArgument("prompt check: message type is not L8_PROMPT_CHECK");
  }
  auto payload = request.GetBytes(dbe::TlvType::kPayload);
  if (!payload.ok()) return Status::InvalidArgument("prompt check: no PAYLOAD");
  auto ct = request.GetU8(dbe::TlvType::kContentType);
  InjectionVerdict v;
  if (ct.ok() && *ct == uint8_t(dbe::ContentType::kJson)) {
    DSMIL_ASSIGN_OR_RETURN(std::vector<PromptMessage> messages, ParsePromptCheckMessages(AsString(*payload)));
    v = CheckPromptMessages(messages, threshold);
  } else {
    v = CheckPromptText(AsString(*payload), threshold);
  }
  dbe::Message reply(dbe::MsgType::kL8PromptVerdict);
  reply.header().src_device = request.header().dst_device;
  reply.header().dst_device = request.header().src_device;
  reply.SetString(dbe::TlvType::kTenantId, request.tenant_id());
  if (auto rid = request.GetString(dbe::TlvType::kRequestId); rid.ok()) {
    reply.SetString(dbe::TlvType::kRequestId, *rid);
  }
  reply.SetU8(dbe::TlvType::kContentType, uint8_t(dbe::ContentType::kJson));
  reply.SetString(dbe::TlvType::kPayload, VerdictJson(v));
  return reply;
}

dbe::Message AnswerPromptCheck(const dbe::Message& request, tenant::PolicyStore* policies, int device) {
  std::optional<double> threshold;
  if (policies != nullptr) {
    if (auto b = policies->Get(std::string(request.tenant_id())); b.ok()) {
      threshold = (*b)->injection_threshold;
    }
  }
  auto verdict = HandlePromptCheck(request, threshold);
  if (!verdict.ok()) {
    return dbe::MakeErrorReply(request, StatusCode::kInvalidArgument, "INVALID_PROMPT_CHECK",
                               verdict.status().message());
  }
  verdict->header().src_device = uint16_t(device);
  return std::move(*verdict);
}

}  // namespace dsmil::devices
