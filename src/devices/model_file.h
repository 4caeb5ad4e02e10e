// Reading a model file of the SOC layers (the L3 router and the L4
// classifier, JSON): the whole file, then one JSON object. Shared so the two
// models stay independent of each other.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace dsmil::devices {

// The JSON object in `text`; InvalidArgument "<what>: not valid JSON" or
// "<what>: must be a JSON object".
inline Result<nlohmann::json> ParseModelJson(std::string_view text, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string(what) + ": not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument(std::string(what) + ": must be a JSON object");
  return j;
}

// The whole file; NotFound "cannot open <path>".
inline Result<std::string> ReadModelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace dsmil::devices
