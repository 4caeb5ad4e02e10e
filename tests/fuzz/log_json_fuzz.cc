// Fuzz target: structured log lines and RFC 3339 timestamps. Whatever bytes a
// log message or field carries, the line must be one valid JSON object whose
// "msg" is the input (when the input is valid UTF-8). Whatever a timestamp
// parser accepts must format and parse back to the same instant.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsmil;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  // Timestamps.
  Result<int64_t> ts = ParseRfc3339(input);
  if (ts.ok()) {
    Result<int64_t> back = ParseRfc3339(FormatRfc3339Utc(*ts, 9));
    if (!back.ok() || *back != *ts) {
      std::fprintf(stderr, "RFC 3339 round trip failed\n");
      std::abort();
    }
  } else if (ts.status().message().empty()) {
    std::abort();
  }

  // Log lines: split the input into a message and one field value.
  const size_t cut = size / 2;
  std::string_view msg = input.substr(0, cut);
  std::string_view value = input.substr(cut);
  static FakeClock clock;
  static Logger logger(LogLabels{.node = "node-a", .tenant = "ALPHA", .layer = "L7", .device = 43},
                       LoggerOptions{.min_level = LogLevel::kDebug, .sink = nullptr, .clock = &clock});
  const std::string key = "k" + std::string(value);  // cannot collide with the other keys
  const LogField fields[] = {{"value", value}, {"msg", value}, {key, 1}};
  const std::string line = logger.Format(LogLevel::kWarn, msg, fields);
  if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) std::abort();
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    std::fprintf(stderr, "log line is not JSON: %s", line.c_str());
    std::abort();
  }
  // nlohmann's dump() refuses invalid UTF-8: an independent validity check.
  bool valid_utf8 = true;
  try {
    (void)nlohmann::json(std::string(msg)).dump();
  } catch (const nlohmann::json::exception&) {
    valid_utf8 = false;
  }
  if (valid_utf8 && j["msg"] != std::string(msg)) {
    std::fprintf(stderr, "valid UTF-8 message changed: %s", line.c_str());
    std::abort();
  }
  if (j["_msg"] != j["value"] || j["tenant"] != "ALPHA" || j["device"] != "43") std::abort();
  return 0;
}
