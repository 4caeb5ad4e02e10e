// TenantScope: the one way to name a tenant's data. Every store is opened
// through a scope, and the scope derives every name from the tenant id, so no
// caller ever builds "BRAVO_..." by hand:
//
//   tenant  ALPHA
//   streams ALPHA_L3_IN, ALPHA_L3_OUT, ALPHA_L4_IN, ALPHA_L4_OUT,
//           ALPHA_SOC_EVENTS, ALPHA_DEAD_LETTER
//   schema  dsmil_alpha          (PostgreSQL; role alpha_app)
//   Redis   alpha_writer (append only), alpha_reader (read + ack only),
//           alpha_ingest (append to ALPHA_L3_IN and ALPHA_DEAD_LETTER only)
//   vectors alpha_<name>         (alpha_events, alpha_knowledge_base, ...)
//   Loki    X-Scope-OrgID: ALPHA
//
// Plain data, thread-compatible.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dsmil::store {

enum class StreamKind { kL3In, kL3Out, kL4In, kL4Out, kSocEvents, kDeadLetter };
inline constexpr std::array<StreamKind, 6> kAllStreams = {StreamKind::kL3In,      StreamKind::kL3Out,
                                                          StreamKind::kL4In,      StreamKind::kL4Out,
                                                          StreamKind::kSocEvents, StreamKind::kDeadLetter};
// "L3_IN", "L3_OUT", "L4_IN", "L4_OUT", "SOC_EVENTS", "DEAD_LETTER".
std::string_view StreamSuffix(StreamKind k);

// Retention of a stream (spec §4.1): 24 h for L3/L4, 7 days for SOC_EVENTS and
// the dead-letter stream.
int64_t StreamRetentionSeconds(StreamKind k);

// What a connection of the tenant may do; selects its credentials:
//   kWriter  the SOC pipeline's stages: append to and trim every stream
//   kReader  read, create groups, acknowledge, claim
//   kApp     the archive's role (not a streams access)
//   kIngest  what takes raw events in (POST /v1/events, outside producers):
//            append to {T}_L3_IN and, for events refused at ingest,
//            {T}_DEAD_LETTER; nothing else (MayAppend)
enum class Access { kWriter, kReader, kApp, kIngest };

// Whether a connection with `a` may append to `k`: the writer to every
// stream, ingest to L3_IN and DEAD_LETTER only, no other access. The Redis ACL
// (redis_acl.h) and the embedded backend enforce the same rule.
bool MayAppend(Access a, StreamKind k);

// Ids that name no tenant: SYSTEM is node-level DBE traffic (docs/dbe.md);
// the others are words an operator might mistake for a wildcard.
inline constexpr std::array<std::string_view, 6> kReservedTenantIds = {"SYSTEM", "ALL",     "ANY",
                                                                       "NONE",   "DEFAULT", "UNKNOWN"};
bool IsReservedTenantId(std::string_view tenant);

class TenantScope {
 public:
  // InvalidArgument unless `tenant` matches [A-Z][A-Z0-9_]{0,31} and is not
  // reserved (kReservedTenantIds).
  static Result<TenantScope> For(std::string_view tenant);

  const std::string& tenant() const { return tenant_; }  // "ALPHA"
  const std::string& lower() const { return lower_; }    // "alpha"

  std::string Stream(StreamKind k) const;  // "ALPHA_L3_IN"
  std::string StreamPattern() const;       // "ALPHA_*" (Redis key pattern)
  std::string Schema() const;              // "dsmil_alpha"
  std::string PgRole() const;              // "alpha_app"
  std::string RedisUser(Access a) const;   // "alpha_writer" / "alpha_reader" / "alpha_ingest"
  // "alpha_" + name. InvalidArgument unless `name` matches [a-z0-9_]{1,48}.
  Result<std::string> Collection(std::string_view name) const;
  // Whether a full collection name belongs to this tenant ("alpha_events").
  bool OwnsCollection(std::string_view full_name) const;

  friend bool operator==(const TenantScope& a, const TenantScope& b) { return a.tenant_ == b.tenant_; }

 private:
  std::string tenant_, lower_;
};

}  // namespace dsmil::store
