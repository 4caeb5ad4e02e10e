// OpenStreams: picks the backend by stores.kind, plus the helpers both
// backends share (ids, names, the trim cut).
#include <charconv>

#include "store/streams.h"
#include "store/streams_internal.h"

namespace dsmil::store {
namespace internal {

namespace {

bool ParseU64(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<StreamId> ParseStreamId(std::string_view text) {
  StreamId id;
  size_t dash = text.find('-');
  std::string_view ms = text.substr(0, dash);
  bool ok = ParseU64(ms, id.ms);
  if (ok && dash != std::string_view::npos) ok = ParseU64(text.substr(dash + 1), id.seq);
  if (!ok) {
    return Status::InvalidArgument("streams: '" + std::string(text.substr(0, 64)) +
                                   "' is not a stream id (expected <ms>-<seq> or <ms>)");
  }
  return id;
}

std::string FormatStreamId(StreamId id) { return std::to_string(id.ms) + "-" + std::to_string(id.seq); }

StreamId TrimCut(StreamKind s, std::chrono::system_clock::time_point now) {
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  int64_t cut = now_ms - StreamRetentionSeconds(s) * 1000;
  return StreamId{cut > 0 ? static_cast<uint64_t>(cut) : 0, 0};
}

std::string_view AccessName(Access a) {
  switch (a) {
    case Access::kWriter:
      return "writer";
    case Access::kReader:
      return "reader";
    case Access::kApp:
      return "app";
    case Access::kIngest:
      return "ingest";
  }
  return "?";
}

Status CheckName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 200;
  for (char c : name) ok = ok && c > ' ' && c < 0x7f;
  if (!ok) {
    return Status::InvalidArgument("streams: " + std::string(what) + " '" + std::string(name.substr(0, 64)) +
                                   "' is not valid (1 to 200 printable characters, no spaces)");
  }
  return Status::Ok();
}

}  // namespace internal

Result<std::unique_ptr<Streams>> OpenStreams(const StoresConfig& config, const TenantScope& scope, Access access) {
  if (access == Access::kApp) {
    return Status::InvalidArgument("streams: tenant " + scope.tenant() +
                                   ": open streams as writer, ingest or reader (the app role is for the archive)");
  }
  if (config.kind == "embedded") return internal::OpenSqliteStreams(config, scope, access);
  if (config.kind == "servers") {
    if ((access == Access::kWriter || access == Access::kIngest) && !config.buffer_dir.empty()) {
      return internal::OpenBufferedRedisStreams(config, scope, access);
    }
    return internal::OpenRedisStreams(config, scope, access);
  }
  return Status::InvalidArgument("stores.kind: '" + config.kind + "' is not one of embedded, servers");
}

Result<std::unique_ptr<Streams>> OpenStreamsAsUser(const StoresConfig& config, const TenantScope& scope, Access access,
                                                   const std::string& user, const std::string& password) {
  if (config.kind != "servers") {
    return Status::FailedPrecondition("streams: stores.kind is '" + config.kind +
                                      "': only server stores have per-tenant users to open streams as");
  }
  return internal::OpenRedisStreamsAs(config, scope, access, user, password);
}

}  // namespace dsmil::store
