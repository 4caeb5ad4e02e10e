// The two Archive backends behind OpenArchive (store/archive.h), and the
// checks they share. Internal to dsmil_store.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"
#include "store/archive.h"

namespace dsmil::store {

// PostgreSQL as <t>_app; password from <secrets>/postgres/<t>_app.pass.
Result<std::unique_ptr<Archive>> OpenPostgresArchive(const StoresConfig& config, const TenantScope& scope);
// SQLite file <path>/archive/<TENANT>.db (created 0600, directory 0700).
Result<std::unique_ptr<Archive>> OpenSqliteArchive(const StoresConfig& config, const TenantScope& scope);

// Longest event_id accepted (bytes).
inline constexpr size_t kMaxEventIdBytes = 128;

// Event times accepted: years 1 to 9999 (ms since the Unix epoch).
inline constexpr int64_t kMinEventTsMs = -62135596800000;
inline constexpr int64_t kMaxEventTsMs = 253402300799999;

// The cheap part of ValidateEvents: event_id present and not over-long, ts_ms
// in range. InvalidArgument naming the first bad event.
Status CheckEventKeys(const TenantScope& scope, std::span<const ArchivedEvent> events);
// InvalidArgument naming the first bad event ("archive ALPHA: event 3 (id
// 'x'): body is not valid JSON"): CheckEventKeys, then text that is not
// UTF-8 or holds NUL, body that is not JSON.
Status ValidateEvents(const TenantScope& scope, std::span<const ArchivedEvent> events);
// InvalidArgument unless the audit fields are UTF-8 without NUL and
// event_type is not empty.
Status ValidateAuditFields(const TenantScope& scope, const std::string& event_type, const std::string& actor,
                           const std::string& detail);

// Creates `path` holding `content`, mode 0600, atomically: written to a
// temporary file beside it, fsynced, then hard-linked into place, so a
// concurrent reader never sees a partial file. AlreadyExists when another
// writer got there first (then read theirs). Parent directory must exist.
Status CreateSecretFileOnce(const std::string& path, const std::string& content);

}  // namespace dsmil::store
