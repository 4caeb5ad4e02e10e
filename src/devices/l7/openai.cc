#include "devices/l7/openai.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "dbe/registry.h"

namespace dsmil::devices::l7 {
namespace {

using nlohmann::json;

ApiError Bad(std::string param, std::string message) {
  ApiError e;
  e.status = 400;
  e.param = param;
  e.message = param.empty() ? message : param + ": " + message;
  return e;
}

std::string NullOr(const std::string& s) { return s.empty() ? "null" : net::JsonQuote(s); }

std::optional<ApiError> ParseContent(const json& c, const std::string& param, std::string* out) {
  if (c.is_null()) {
    out->clear();
    return std::nullopt;
  }
  if (c.is_string()) {
    *out = c.get<std::string>();
    return std::nullopt;
  }
  if (!c.is_array()) return Bad(param, "must be a string or an array of content parts");
  out->clear();
  for (size_t i = 0; i < c.size(); ++i) {
    const json& part = c[i];
    std::string p = param + "[" + std::to_string(i) + "]";
    if (!part.is_object()) return Bad(p, "must be an object");
    auto type = part.find("type");
    if (type == part.end() || !type->is_string()) return Bad(p + ".type", "is required");
    if (*type != "text") return Bad(p + ".type", "only 'text' parts are supported");
    auto text = part.find("text");
    if (text == part.end() || !text->is_string()) return Bad(p + ".text", "must be a string");
    if (!out->empty()) out->push_back('\n');
    *out += text->get<std::string>();
  }
  return std::nullopt;
}

std::optional<ApiError> ParseDsmil(const json& d, DsmilFields* f) {
  if (!d.is_object()) return Bad("dsmil", "must be an object");
  for (auto it = d.begin(); it != d.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "compartments") {
      uint64_t mask = 0;
      if (v.is_array()) {
        for (size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_string()) return Bad("dsmil.compartments[" + std::to_string(i) + "]", "must be a string");
          auto m = dbe::ParseCompartmentMask(v[i].get<std::string>());
          if (!m.ok()) return Bad("dsmil.compartments[" + std::to_string(i) + "]", m.status().message());
          mask |= *m;
        }
      } else if (v.is_string()) {
        auto m = dbe::ParseCompartmentMask(v.get<std::string>());
        if (!m.ok()) return Bad("dsmil.compartments", m.status().message());
        mask = *m;
      } else if (v.is_number_unsigned()) {
        mask = v.get<uint64_t>();
        if (mask & ~dbe::kKnownCompartments) return Bad("dsmil.compartments", "unknown compartment bits");
      } else {
        return Bad("dsmil.compartments", "must be a list of compartment names");
      }
      f->compartments = mask;
      f->has_compartments = true;
    } else if (k == "classification") {
      if (!v.is_string()) return Bad("dsmil.classification", "must be a string such as \"SECRET\"");
      auto c = dbe::ParseClassification(v.get<std::string>());
      if (!c.ok()) return Bad("dsmil.classification", c.status().message());
      f->classification = int(*c);
    } else if (k == "roe_level") {
      if (!v.is_string() || !dbe::IsRoeLevel(v.get<std::string>())) {
        return Bad("dsmil.roe_level", "must be one of ANALYSIS_ONLY, SOC_ASSIST, TRAINING");
      }
      f->roe_level = v.get<std::string>();
    } else if (k == "rag") {
      if (!v.is_boolean()) return Bad("dsmil.rag", "must be a boolean");
      f->rag = v.get<bool>();
    } else if (k == "rag_k") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 16) {
        return Bad("dsmil.rag_k", "must be an integer 1..16");
      }
      f->rag_k = int(v.get<int64_t>());
    } else {
      return Bad("dsmil." + k, "unknown field");
    }
  }
  return std::nullopt;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::string ErrorJson(const ApiError& e) {
  return "{\"error\":{\"message\":" + net::JsonQuote(e.message) + ",\"type\":" + net::JsonQuote(e.type) +
         ",\"param\":" + NullOr(e.param) + ",\"code\":" + NullOr(e.code) + "}}";
}

net::HttpResponse ErrorResponse(const ApiError& e) {
  net::HttpResponse r;
  r.status = e.status;
  r.body = ErrorJson(e);
  // Busy or over a limit: the client may retry shortly (RFC 9110 §10.2.3).
  if (e.status == 429 || e.status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

std::optional<ApiError> ParseChatRequest(std::string_view body, ChatRequest* out) {
  *out = ChatRequest{};
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Bad("", "the request body is not valid JSON");
  if (!j.is_object()) return Bad("", "the request body must be a JSON object");
  auto model = j.find("model");
  if (model == j.end() || !model->is_string() || model->get<std::string>().empty()) {
    return Bad("model", "is required (a non-empty string)");
  }
  out->model = model->get<std::string>();
  if (out->model.size() > 128) return Bad("model", "is longer than 128 characters");
  auto messages = j.find("messages");
  if (messages == j.end() || !messages->is_array()) return Bad("messages", "is required (an array)");
  if (messages->empty()) return Bad("messages", "must hold at least one message");
  if (messages->size() > kMaxMessages) return Bad("messages", "holds more than 256 messages");
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Bad(p, "must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return Bad(p + ".role", "is required");
    std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer") {
      return Bad(p + ".role", "must be one of system, developer, user, assistant, tool");
    }
    ChatMessage msg{r, {}};
    auto content = m.find("content");
    if (content == m.end()) {
      if (r != "assistant") return Bad(p + ".content", "is required");
    } else if (auto e = ParseContent(*content, p + ".content", &msg.content)) {
      return e;
    }
    out->messages.push_back(std::move(msg));
  }
  if (auto s = j.find("stream"); s != j.end() && !s->is_null()) {
    if (!s->is_boolean()) return Bad("stream", "must be a boolean");
    out->stream = s->get<bool>();
  }
  if (auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
    if (!so->is_object()) return Bad("stream_options", "must be an object");
    if (auto iu = so->find("include_usage"); iu != so->end()) {
      if (!iu->is_boolean()) return Bad("stream_options.include_usage", "must be a boolean");
      out->include_usage = iu->get<bool>();
    }
  }
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    auto mt = j.find(k);
    if (mt == j.end() || mt->is_null()) continue;
    if (!mt->is_number_integer() || mt->get<int64_t>() < 1 || mt->get<int64_t>() > int64_t(kMaxTokensLimit)) {
      return Bad(k, "must be an integer 1.." + std::to_string(kMaxTokensLimit));
    }
    out->max_tokens = uint32_t(mt->get<int64_t>());
  }
  if (auto t = j.find("temperature"); t != j.end() && !t->is_null()) {
    if (!t->is_number() || !std::isfinite(t->get<double>()) || t->get<double>() < 0 || t->get<double>() > 2) {
      return Bad("temperature", "must be a number 0..2");
    }
    out->temperature = t->get<double>();
  }
  if (auto t = j.find("top_p"); t != j.end() && !t->is_null()) {
    if (!t->is_number() || !std::isfinite(t->get<double>()) || t->get<double>() < 0 || t->get<double>() > 1) {
      return Bad("top_p", "must be a number 0..1");
    }
    out->top_p = t->get<double>();
  }
  if (auto n = j.find("n"); n != j.end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<int64_t>() != 1) return Bad("n", "only n=1 is supported");
  }
  if (auto u = j.find("user"); u != j.end() && !u->is_null()) {
    if (!u->is_string()) return Bad("user", "must be a string");
    out->user = u->get<std::string>();
  }
  if (auto d = j.find("dsmil"); d != j.end() && !d->is_null()) {
    if (auto e = ParseDsmil(*d, &out->dsmil)) return e;
  }
  out->raw = std::string(body);
  return std::nullopt;
}

std::optional<ApiError> ApplyDsmilHeaders(const net::HttpRequest& req, DsmilFields* f) {
  if (auto v = req.Header("X-DSMIL-Compartments"); !v.empty()) {
    auto m = dbe::ParseCompartmentMask(v);
    if (!m.ok()) return Bad("X-DSMIL-Compartments", m.status().message());
    f->compartments = *m;
    f->has_compartments = true;
  }
  if (auto v = req.Header("X-DSMIL-Classification"); !v.empty()) {
    auto c = dbe::ParseClassification(v);
    if (!c.ok()) return Bad("X-DSMIL-Classification", c.status().message());
    f->classification = int(*c);
  }
  if (auto v = req.Header("X-DSMIL-ROE-Level"); !v.empty()) {
    if (!dbe::IsRoeLevel(v)) return Bad("X-DSMIL-ROE-Level", "must be one of ANALYSIS_ONLY, SOC_ASSIST, TRAINING");
    f->roe_level = std::string(v);
  }
  if (auto v = req.Header("X-DSMIL-RAG"); !v.empty()) {
    if (v == "1" || v == "true") {
      f->rag = true;
    } else if (v == "0" || v == "false") {
      f->rag = false;
    } else {
      return Bad("X-DSMIL-RAG", "must be 1 or 0");
    }
  }
  return std::nullopt;
}

std::string PromptText(const ChatRequest& r) {
  std::string out;
  for (const ChatMessage& m : r.messages) {
    if (!out.empty()) out.push_back('\n');
    out += m.content;
  }
  return out;
}

std::optional<ApiError> ParseEmbeddingsRequest(std::string_view body, EmbeddingsRequest* out) {
  *out = EmbeddingsRequest{};
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return Bad("", "the request body is not valid JSON");
  if (!j.is_object()) return Bad("", "the request body must be a JSON object");
  auto model = j.find("model");
  if (model == j.end() || !model->is_string() || model->get<std::string>().empty()) {
    return Bad("model", "is required (a non-empty string)");
  }
  out->model = model->get<std::string>();
  auto input = j.find("input");
  if (input == j.end()) return Bad("input", "is required");
  if (input->is_string()) {
    out->inputs.push_back(input->get<std::string>());
  } else if (input->is_array()) {
    if (input->empty()) return Bad("input", "must not be empty");
    if (input->size() > kMaxEmbeddingInputs) return Bad("input", "holds more than 2048 inputs");
    for (size_t i = 0; i < input->size(); ++i) {
      if (!(*input)[i].is_string()) {
        return Bad("input[" + std::to_string(i) + "]", "must be a string (token arrays are not supported)");
      }
      out->inputs.push_back((*input)[i].get<std::string>());
    }
  } else {
    return Bad("input", "must be a string or an array of strings");
  }
  for (size_t i = 0; i < out->inputs.size(); ++i) {
    if (out->inputs[i].empty()) return Bad("input[" + std::to_string(i) + "]", "must not be empty");
  }
  if (auto f = j.find("encoding_format"); f != j.end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64")) {
      return Bad("encoding_format", "must be 'float' or 'base64'");
    }
    out->base64 = *f == "base64";
  }
  if (auto u = j.find("user"); u != j.end() && !u->is_null()) {
    if (!u->is_string()) return Bad("user", "must be a string");
    out->user = u->get<std::string>();
  }
  return std::nullopt;
}

std::string ChatCompletionJson(const std::string& id, int64_t created, const std::string& model,
                               const std::string& content, const std::string& finish_reason, uint32_t prompt_tokens,
                               uint32_t completion_tokens) {
  return "{\"id\":" + net::JsonQuote(id) + ",\"object\":\"chat.completion\",\"created\":" + std::to_string(created) +
         ",\"model\":" + net::JsonQuote(model) +
         ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + net::JsonQuote(content) +
         "},\"finish_reason\":" + NullOr(finish_reason) +
         "}],\"usage\":{\"prompt_tokens\":" + std::to_string(prompt_tokens) +
         ",\"completion_tokens\":" + std::to_string(completion_tokens) +
         ",\"total_tokens\":" + std::to_string(prompt_tokens + completion_tokens) + "}}";
}

std::string ChatChunkJson(const std::string& id, int64_t created, const std::string& model, const std::string& role,
                          const std::string& content, const std::string& finish_reason) {
  std::string delta = "{";
  if (!role.empty()) delta += "\"role\":" + net::JsonQuote(role);
  if (!content.empty() || role.empty()) {
    if (delta.size() > 1) delta += ",";
    delta += "\"content\":" + net::JsonQuote(content);
  }
  delta += "}";
  if (!finish_reason.empty()) delta = "{}";
  return "{\"id\":" + net::JsonQuote(id) +
         ",\"object\":\"chat.completion.chunk\",\"created\":" + std::to_string(created) +
         ",\"model\":" + net::JsonQuote(model) + ",\"choices\":[{\"index\":0,\"delta\":" + delta +
         ",\"finish_reason\":" + NullOr(finish_reason) + "}]}";
}

std::string EmbeddingsJson(const std::string& model, const std::vector<std::vector<float>>& vectors, bool base64,
                           uint32_t prompt_tokens) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (i > 0) out += ",";
    out += "{\"object\":\"embedding\",\"index\":" + std::to_string(i) + ",\"embedding\":";
    if (base64) {
      // Little-endian float32, as the OpenAI API sends it.
      std::string raw(vectors[i].size() * 4, '\0');
      for (size_t k = 0; k < vectors[i].size(); ++k) {
        uint32_t bits;
        std::memcpy(&bits, &vectors[i][k], 4);
        for (int b = 0; b < 4; ++b) raw[k * 4 + size_t(b)] = char((bits >> (8 * b)) & 0xFF);
      }
      out += "\"" + Base64Encode(raw) + "\"";
    } else {
      out += "[";
      char buf[32];
      for (size_t k = 0; k < vectors[i].size(); ++k) {
        if (k > 0) out += ",";
        std::snprintf(buf, sizeof(buf), "%.7g", double(vectors[i][k]));
        out += buf;
      }
      out += "]";
    }
    out += "}";
  }
  out += "],\"model\":" + net::JsonQuote(model) + ",\"usage\":{\"prompt_tokens\":" + std::to_string(prompt_tokens) +
         ",\"total_tokens\":" + std::to_string(prompt_tokens) + "}}";
  return out;
}

std::string ModelsJson(const std::vector<ModelInfo>& models) {
  std::string out = "{\"object\":\"list\",\"data\":[";
  for (size_t i = 0; i < models.size(); ++i) {
    if (i > 0) out += ",";
    out += "{\"id\":" + net::JsonQuote(models[i].id) +
           ",\"object\":\"model\",\"created\":" + std::to_string(models[i].created) +
           ",\"owned_by\":" + net::JsonQuote(models[i].owned_by) + "}";
  }
  return out + "]}";
}

uint32_t EstimateTokens(std::string_view text) { return uint32_t(std::max<size_t>(1, (text.size() + 3) / 4)); }

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  while (i + 3 <= in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace dsmil::devices::l7
