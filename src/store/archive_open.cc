// OpenArchive: picks the backend by stores.kind.
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "store/archive.h"
#include "store/archive_backends.h"

namespace dsmil::store {
namespace {

// Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF) without NUL.
bool CleanUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

std::string Shown(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out;
}

}  // namespace

static Status BadEvent(const TenantScope& scope, size_t i, const ArchivedEvent& e, const std::string& what) {
  return Status::InvalidArgument("archive " + scope.tenant() + ": event " + std::to_string(i) + " (id '" +
                                 Shown(e.event_id) + "'): " + what);
}

Status CheckEventKeys(const TenantScope& scope, std::span<const ArchivedEvent> events) {
  for (size_t i = 0; i < events.size(); ++i) {
    const ArchivedEvent& e = events[i];
    if (e.event_id.empty()) return BadEvent(scope, i, e, "event_id is empty");
    if (e.event_id.size() > kMaxEventIdBytes) {
      return BadEvent(scope, i, e,
                      "event_id is " + std::to_string(e.event_id.size()) + " bytes (at most " +
                          std::to_string(kMaxEventIdBytes) + ")");
    }
    if (e.ts_ms < kMinEventTsMs || e.ts_ms > kMaxEventTsMs) {
      return BadEvent(scope, i, e, "ts_ms " + std::to_string(e.ts_ms) + " is outside years 1 to 9999");
    }
  }
  return Status::Ok();
}

Status ValidateEvents(const TenantScope& scope, std::span<const ArchivedEvent> events) {
  DSMIL_RETURN_IF_ERROR(CheckEventKeys(scope, events));
  for (size_t i = 0; i < events.size(); ++i) {
    const ArchivedEvent& e = events[i];
    auto bad = [&](const std::string& what) { return BadEvent(scope, i, e, what); };
    if (!CleanUtf8(e.event_id)) return bad("event_id is not UTF-8 text without NUL");
    if (!CleanUtf8(e.category)) return bad("category is not UTF-8 text without NUL");
    if (!CleanUtf8(e.severity)) return bad("severity is not UTF-8 text without NUL");
    if (!CleanUtf8(e.body)) return bad("body is not UTF-8 text without NUL");
    if (!nlohmann::json::accept(e.body)) return bad("body is not valid JSON");
  }
  return Status::Ok();
}

Status ValidateAuditFields(const TenantScope& scope, const std::string& event_type, const std::string& actor,
                           const std::string& detail) {
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument("archive " + scope.tenant() + ": audit row: " + what);
  };
  if (event_type.empty()) return bad("event_type is empty");
  if (!CleanUtf8(event_type)) return bad("event_type is not UTF-8 text without NUL");
  if (!CleanUtf8(actor)) return bad("actor is not UTF-8 text without NUL");
  if (!CleanUtf8(detail)) return bad("detail is not UTF-8 text without NUL");
  return Status::Ok();
}

Result<std::vector<HourlyCount>> Archive::CountByHour(int64_t since_ms, int64_t until_ms) {
  DSMIL_ASSIGN_OR_RETURN(std::vector<ArchivedEvent> rows, Recent(std::numeric_limits<size_t>::max(), since_ms));
  std::map<std::tuple<int64_t, std::string, std::string>, uint64_t> counts;
  for (const ArchivedEvent& e : rows) {
    if (e.ts_ms >= until_ms) continue;
    int64_t hour = e.ts_ms - (((e.ts_ms % 3600000) + 3600000) % 3600000);
    ++counts[{hour, e.category, e.severity}];
  }
  std::vector<HourlyCount> out;
  out.reserve(counts.size());
  for (const auto& [k, n] : counts) out.push_back({std::get<0>(k), std::get<1>(k), std::get<2>(k), n});
  return out;
}

Result<uint64_t> Archive::CountBetween(int64_t since_ms, int64_t until_ms) {
  DSMIL_ASSIGN_OR_RETURN(std::vector<HourlyCount> rows, CountByHour(since_ms, until_ms));
  uint64_t n = 0;
  for (const HourlyCount& r : rows) n += r.count;
  return n;
}

Result<std::unique_ptr<Archive>> OpenArchive(const StoresConfig& config, const TenantScope& scope) {
  if (config.kind == "embedded") return OpenSqliteArchive(config, scope);
  if (config.kind == "servers") return OpenPostgresArchive(config, scope);
  return Status::InvalidArgument("stores.kind: '" + config.kind + "' is not one of embedded, servers");
}

}  // namespace dsmil::store
