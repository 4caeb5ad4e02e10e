#include "devices/l8/injection_corpus.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace dsmil::devices {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 9> kAttackClasses = {"direct_override",   "multilingual",   "persona_roleplay",
                                                            "policy_override",   "role_injection", "prefix_forcing",
                                                            "prompt_extraction", "hidden_in_data", "encoded"};
constexpr std::array<std::string_view, 6> kBenignClasses = {"soc_question",         "discusses_attacks",
                                                            "benign_system_prompt", "multilingual_benign",
                                                            "data_processing",      "near_miss_wording"};

Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::NotFound("corpus: " + path + ": " + ec.message());
  if (size > kMaxCorpusFileBytes) {
    return Status::ResourceExhausted("corpus: " + path + " is " + std::to_string(size) + " bytes (limit " +
                                     std::to_string(kMaxCorpusFileBytes) + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("corpus: " + path + " cannot be opened");
  std::string text(size, '\0');
  in.read(text.data(), std::streamsize(size));
  text.resize(size_t(in.gcount()));
  return text;
}

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

}  // namespace

bool IsAttackClass(std::string_view cls) {
  return std::find(kAttackClasses.begin(), kAttackClasses.end(), cls) != kAttackClasses.end();
}

bool IsBenignClass(std::string_view cls) {
  return std::find(kBenignClasses.begin(), kBenignClasses.end(), cls) != kBenignClasses.end();
}

Result<std::vector<CorpusExample>> ParseInjectionJsonl(std::string_view text, std::string_view label_hint) {
  std::string name = BaseName(label_hint);
  int file_label = -1;
  if (name.find("attack") != std::string::npos) file_label = 1;
  if (name.find("benign") != std::string::npos) file_label = file_label == 1 ? -1 : 0;
  std::vector<CorpusExample> out;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    auto bad = [&](const std::string& what) {
      std::string msg = "corpus: ";
      msg.append(name).append(":").append(std::to_string(line_no)).append(": ").append(what);
      return Status::InvalidArgument(msg);
    };
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (line.size() > kMaxCorpusLineBytes) return bad("line longer than " + std::to_string(kMaxCorpusLineBytes));
    if (out.size() >= kMaxCorpusExamples) return bad("more than " + std::to_string(kMaxCorpusExamples) + " examples");
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    CorpusExample e;
    auto str = [&](const char* key, std::string* dst, bool required) -> Status {
      auto it = j.find(key);
      if (it == j.end()) return required ? bad(std::string(key) + " is required") : Status::Ok();
      if (!it->is_string()) return bad(std::string(key) + " must be a string");
      *dst = it->get<std::string>();
      return Status::Ok();
    };
    DSMIL_RETURN_IF_ERROR(str("id", &e.id, true));
    DSMIL_RETURN_IF_ERROR(str("class", &e.cls, true));
    DSMIL_RETURN_IF_ERROR(str("lang", &e.lang, false));
    std::string label;
    DSMIL_RETURN_IF_ERROR(str("label", &label, false));
    if (!label.empty() && label != "attack" && label != "benign") {
      return bad("label must be \"attack\" or \"benign\"");
    }
    if (!label.empty()) {
      e.attack = label == "attack";
    } else if (file_label >= 0) {
      e.attack = file_label == 1;
    } else if (IsAttackClass(e.cls) || IsBenignClass(e.cls)) {
      e.attack = IsAttackClass(e.cls);
    } else {
      return bad("class '" + e.cls + "' does not say attack or benign (no label field, file name says neither)");
    }
    auto msgs = j.find("messages");
    if (msgs == j.end() || !msgs->is_array() || msgs->empty()) return bad("messages must be a non-empty array");
    if (msgs->size() > kMaxCorpusMessages) return bad("more than " + std::to_string(kMaxCorpusMessages) + " messages");
    for (const json& m : *msgs) {
      if (!m.is_object()) return bad("each message must be an object");
      auto role = m.find("role");
      auto content = m.find("content");
      if (role == m.end() || !role->is_string()) return bad("message role must be a string");
      if (content == m.end() || !content->is_string()) return bad("message content must be a string");
      e.messages.push_back({role->get<std::string>(), content->get<std::string>()});
    }
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<CorpusExample>> ReadInjectionJsonl(const std::string& path) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseInjectionJsonl(text, path);
}

Result<std::vector<CorpusExample>> ReadInjectionDir(const std::string& dir) {
  std::vector<CorpusExample> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".jsonl") files.push_back(entry.path().string());
  }
  if (ec) return Status::NotFound("corpus: " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    DSMIL_ASSIGN_OR_RETURN(std::vector<CorpusExample> part, ReadInjectionJsonl(f));
    if (out.size() + part.size() > kMaxCorpusExamples) {
      return Status::ResourceExhausted("corpus: " + dir + " holds more than " + std::to_string(kMaxCorpusExamples) +
                                       " examples");
    }
    for (auto& e : part) out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<CorpusExample>> ReadLegacyInjectionText(const std::string& path, bool attack) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<CorpusExample> out;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    if (line.size() > kMaxCorpusLineBytes) {
      return Status::InvalidArgument("corpus: " + BaseName(path) + ":" + std::to_string(line_no) + ": line too long");
    }
    CorpusExample e;
    e.id = BaseName(path) + ":" + std::to_string(line_no);
    e.cls = "legacy";
    e.lang = "en";
    e.attack = attack;
    e.messages.push_back({"user", std::move(line)});
    out.push_back(std::move(e));
  }
  return out;
}

bool LegacyExampleIsDev(const CorpusExample& e) {
  uint64_t h = 14695981039346656037ULL;
  for (char c : ExampleText(e)) h = (h ^ uint8_t(c)) * 1099511628211ULL;
  return h % 10 < 3;
}

std::string ExampleText(const CorpusExample& e) {
  std::string out;
  for (const PromptMessage& m : e.messages) {
    if (!out.empty()) out.push_back('\n');
    out += m.content;
  }
  return out;
}

}  // namespace dsmil::devices
