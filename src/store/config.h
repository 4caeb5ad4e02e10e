// Where a node's stores live: the embedded default (SQLite files, an
// in-process hnswlib index, per-tenant log files under one data directory) or
// real servers (Redis, PostgreSQL, Qdrant, Loki). Parsed from the `stores:`
// section of the node config (docs/configuration.md).
//
// Credentials never sit in the config: each tenant's passwords and API keys
// are files under `secrets_dir` (mode 0600), written by
// `dsmilctl tenant render-acl` / `dsmilctl tenant init-secrets`:
//   <secrets_dir>/redis/<user>.pass        alpha_writer.pass, alpha_reader.pass
//   <secrets_dir>/postgres/<role>.pass     alpha_app.pass
//   <secrets_dir>/qdrant/<tenant>.key      alpha.key
//   <secrets_dir>/audit.key                the node log key (audit MACs)
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace dsmil::store {

struct RedisConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 6379;
  int connect_timeout_ms = 2000;
};

struct PostgresConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 5432;
  std::string dbname = "dsmil";
  int connect_timeout_s = 5;
};

struct QdrantConfig {
  std::string url;  // "http://127.0.0.1:6333"; "" = not used
};

struct LokiConfig {
  std::string url;        // "http://127.0.0.1:3100"; "" = not used
  std::string spool_dir;  // where lines wait while Loki is down (default <path>/loki-spool)
};

struct StoresConfig {
  // "embedded": everything under `path`. "servers": streams on Redis,
  // archive on PostgreSQL, vectors on Qdrant when qdrant.url is set (else
  // embedded), logs to files and to Loki when loki.url is set.
  std::string kind = "embedded";
  std::string path;         // data directory (embedded stores, spools, snapshots)
  std::string secrets_dir;  // see above; default <path>/secrets
  // kind servers: where a writer keeps the entries it appends while Redis
  // cannot be reached (embedded SQLite streams, e.g. on tmpfs: spec §4.1),
  // replayed to Redis in order once it answers. "" = no buffer: Append fails
  // with Unavailable instead.
  std::string buffer_dir;
  RedisConfig redis;
  PostgresConfig postgres;
  QdrantConfig qdrant;
  LokiConfig loki;
};

// Reads <secrets_dir>/<relative> (must not be readable by group/others),
// trailing newline stripped. NotFound / FailedPrecondition naming the file.
Result<std::string> ReadSecret(const StoresConfig& c, const std::string& relative);

}  // namespace dsmil::store
