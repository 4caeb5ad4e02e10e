// Redis ACLs for tenant streams (spec §4.1): the users.acl file that makes
// the Redis server itself refuse cross-tenant access.
//
//   user default off ~* &* +@all    (off without a password: nobody can use it;
//                                  the permissions let Redis replay its AOF, see redis_acl.cc)
//   user alpha_writer on #<sha256> resetkeys resetchannels ~ALPHA_* -@all +xadd +xtrim +ping +auth +hello
//   user alpha_reader on #<sha256> resetkeys resetchannels %R~ALPHA_* -@all +xreadgroup +xread +xrange
//        +xrevrange +xlen +xpending +xinfo +ping +auth +hello
//        (~ALPHA_* +xack +xgroup|create +xautoclaim +xclaim)
//   user alpha_ingest on #<sha256> resetkeys resetchannels ~ALPHA_L3_IN ~ALPHA_DEAD_LETTER -@all +xadd +ping
//        +auth +hello
//   user dsmil_admin on #<sha256> ~* &* +@all
//
// The reader's keys are read-only (%R~); XACK, XGROUP CREATE, XAUTOCLAIM and
// XCLAIM change the consumer group and count as writes, so a selector grants
// just those on the tenant's keys. The writer may XTRIM (retention) besides
// XADD. Ingest (POST /v1/events, outside producers of raw events) has a user
// of its own that may only XADD to the raw input stream and, for events it
// refused, the dead-letter stream: it cannot write a stream the pipeline
// writes ({T}_SOC_EVENTS, ...). Passwords are stored in the file only as
// SHA-256 hashes; the clear passwords are files under
// <secrets_dir>/redis/<user>.pass (mode 0600).
//
// Pure functions apart from EnsureRedisPasswords (which writes files).
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace dsmil::store {

inline constexpr char kRedisAdminUser[] = "dsmil_admin";

// The Redis users of `tenants` ("ALPHA" -> alpha_writer, alpha_reader,
// alpha_ingest) and
// then dsmil_admin. InvalidArgument for an invalid tenant id.
Result<std::vector<std::string>> RedisAclUsers(std::span<const std::string> tenants);

// The users.acl text for `tenants`; `passwords` maps each user of
// RedisAclUsers to its clear password (InvalidArgument naming a missing one).
Result<std::string> RenderRedisAcl(std::span<const std::string> tenants,
                                   const std::map<std::string, std::string>& passwords);

// Reads <secrets_dir>/redis/<user>.pass for every user of `tenants`, creating
// the missing ones (32 random bytes as hex, mode 0600; the directory 0700).
// Returns user -> password; `created` (if not null) receives the paths written.
Result<std::map<std::string, std::string>> EnsureRedisPasswords(const std::string& secrets_dir,
                                                                std::span<const std::string> tenants,
                                                                std::vector<std::string>* created = nullptr);

// Lower-case hex SHA-256 of `password` (the "#<hash>" form of an ACL rule).
std::string RedisPasswordHash(const std::string& password);

}  // namespace dsmil::store
