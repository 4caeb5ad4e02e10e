// Internals shared by the Streams backends (streams_redis.cc,
// streams_sqlite.cc, streams_open.cc). Not part of the store's interface.
#pragma once

#ifndef DSMIL_INTERNAL_STORE
#error \
    "store/streams_internal.h is internal to dsmil_store: include its public headers (a white-box test opts in with dsmil_white_box)"
#endif

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/config.h"
#include "store/scope.h"
#include "store/streams.h"

namespace dsmil::store::internal {

// A stream entry id "<ms>-<seq>".
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  friend auto operator<=>(const StreamId&, const StreamId&) = default;
};

// Parses "<ms>-<seq>" or "<ms>" (seq 0). InvalidArgument naming the text.
Result<StreamId> ParseStreamId(std::string_view text);
std::string FormatStreamId(StreamId id);

// The MINID cut of Trim: ids below <now_ms - retention_ms>-0 are dropped.
StreamId TrimCut(StreamKind s, std::chrono::system_clock::time_point now);

// "reader" / "writer" / "app" / "ingest".
std::string_view AccessName(Access a);

// Consumer group and consumer names: 1..200 bytes, printable ASCII without
// spaces. InvalidArgument naming `what` otherwise.
Status CheckName(std::string_view what, std::string_view name);

// Redis backend. OpenRedisStreams authenticates as the scope's user for
// `access` with the password in <secrets_dir>/redis/<user>.pass.
Result<std::unique_ptr<Streams>> OpenRedisStreams(const StoresConfig& config, const TenantScope& scope, Access access);
// Same, authenticating as `user` with `password` instead (operators' tools and
// tests of the server's ACLs: streams of `scope` opened by another tenant's user).
Result<std::unique_ptr<Streams>> OpenRedisStreamsAs(const StoresConfig& config, const TenantScope& scope, Access access,
                                                    const std::string& user, const std::string& password);

// A writer (`access` kWriter or kIngest) on Redis that buffers in embedded
// streams under config.buffer_dir while Redis cannot be reached and replays
// them in order afterwards (streams_buffered.cc). Fails only for errors a
// buffer cannot help with.
Result<std::unique_ptr<Streams>> OpenBufferedRedisStreams(const StoresConfig& config, const TenantScope& scope,
                                                          Access access);

// Embedded backend: <path>/streams/<TENANT>.db.
Result<std::unique_ptr<Streams>> OpenSqliteStreams(const StoresConfig& config, const TenantScope& scope, Access access);

}  // namespace dsmil::store::internal
