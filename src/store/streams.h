// Streams: one tenant's event streams (spec §4.1), at-least-once.
//
// Entries are opaque payloads (the event JSON) with stream-assigned ids that
// grow with time ("<ms>-<seq>", as in Redis). Consumers read through consumer
// groups and acknowledge only after their output is written; an entry read
// but not acknowledged stays pending and is handed to another consumer by
// Claim once it has been idle long enough (a consumer that died mid-batch).
//
// Backends: Redis 7 (hiredis; XADD/XREADGROUP/XACK/XAUTOCLAIM/XTRIM MINID,
// pipelined) and the embedded SQLite backend with the same semantics, which is
// also the buffer a node writes to while NODE-C is unreachable.
//
// A Streams object is bound to one tenant and one Access: a writer can only
// Append (and Trim), ingest can only Append to L3_IN and DEAD_LETTER, a reader
// can only read, create groups and acknowledge; on Redis the server enforces
// it (ACL users alpha_writer / alpha_ingest / alpha_reader). Thread safety:
// an object is used by one thread at a time; open one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/config.h"
#include "store/scope.h"

namespace dsmil::store {

struct StreamEntry {
  std::string id;       // "1732700000000-0"
  std::string payload;  // as appended
};

// Largest payload accepted by Append.
inline constexpr size_t kMaxStreamPayloadBytes = 1 << 20;

class Streams {
 public:
  virtual ~Streams() = default;
  virtual const TenantScope& scope() const = 0;

  // Appends payloads in order in one round trip; returns their ids.
  // PermissionDenied for a reader, InvalidArgument for an oversized payload.
  virtual Result<std::vector<std::string>> Append(StreamKind s, std::span<const std::string> payloads) = 0;

  // Creates the consumer group if absent (from the start of the stream, the
  // stream itself created if missing). OK if it exists.
  virtual Status EnsureGroup(StreamKind s, const std::string& group) = 0;

  // Up to `count` entries never delivered to the group, waiting up to `block`
  // (0 = no wait) for the first. They become pending for `consumer`.
  virtual Result<std::vector<StreamEntry>> ReadGroup(StreamKind s, const std::string& group,
                                                     const std::string& consumer, size_t count,
                                                     std::chrono::milliseconds block) = 0;

  // Acknowledges entries of the group; returns how many were pending.
  virtual Result<size_t> Ack(StreamKind s, const std::string& group, std::span<const std::string> ids) = 0;

  // Takes over up to `count` entries pending for longer than `min_idle` in the
  // group (any consumer), now pending for `consumer` (XAUTOCLAIM).
  virtual Result<std::vector<StreamEntry>> Claim(StreamKind s, const std::string& group, const std::string& consumer,
                                                 std::chrono::milliseconds min_idle, size_t count) = 0;

  // Entries with id > after_id ("0" = from the start), oldest first, at most
  // `count`; no group involved (for views such as `soc top`).
  virtual Result<std::vector<StreamEntry>> Range(StreamKind s, const std::string& after_id, size_t count) = 0;
  // The newest `count` entries, newest first.
  virtual Result<std::vector<StreamEntry>> Latest(StreamKind s, size_t count) = 0;

  virtual Result<uint64_t> Length(StreamKind s) = 0;
  // Entries pending (delivered, not acknowledged) in the group.
  virtual Result<uint64_t> Pending(StreamKind s, const std::string& group) = 0;

  // Drops entries older than the stream's retention as of `now` (MINID).
  // Returns how many were removed.
  virtual Result<uint64_t> Trim(StreamKind s, std::chrono::system_clock::time_point now) = 0;
};

// Opens the tenant's streams with the credentials of `access` on the
// configured backend. Errors name the backend, address and user.
Result<std::unique_ptr<Streams>> OpenStreams(const StoresConfig& config, const TenantScope& scope, Access access);

// Opens the streams of `scope` authenticating as another server user `user`
// with `password`, for the isolation probes of `dsmilctl tenant list --probe`
// and the tests of the server's ACLs (one tenant's user asking for another
// tenant's streams must be refused by Redis itself). Only for stores.kind
// "servers": FailedPrecondition otherwise (embedded streams have no users).
Result<std::unique_ptr<Streams>> OpenStreamsAsUser(const StoresConfig& config, const TenantScope& scope, Access access,
                                                   const std::string& user, const std::string& password);

}  // namespace dsmil::store
