// A real Redis server for tests: /usr/bin/redis-server on a loopback port
// reserved through ports.h for the life of the object (restarts included),
// with a temporary data directory, AOF on with appendfsync always, and
// the ACL file the test renders. Start() returns once the server answers
// PING; the destructor stops it and removes the directory.
//
// Thread safety: one thread at a time per object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "ports.h"

namespace dsmil::testing {

struct RedisServerOptions {
  std::string binary = "/usr/bin/redis-server";
  // users.acl text (written to <dir>/users.acl and named by `aclfile`);
  // empty: no ACL file, the default user has no password.
  std::string acl;
  // A user whose credentials the readiness check uses (AUTH then PING must
  // answer +PONG); empty: any reply to PING (also -NOAUTH) counts as up.
  std::string ping_user, ping_password;
  bool appendonly = true;
  std::string appendfsync = "always";  // "everysec" for production-like figures
  int start_timeout_ms = 10000;
};

class RedisServer {
 public:
  // FailedPrecondition naming the binary when it is missing; Unavailable
  // with the end of the server's log when it does not come up.
  static Result<std::unique_ptr<RedisServer>> Start(const RedisServerOptions& options = {});
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  const std::string& host() const { return host_; }  // "127.0.0.1"
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }  // data directory (AOF, users.acl, redis.log)
  bool running() const { return pid_ > 0; }

  // SIGTERM, waits for the process (SIGKILL after 10 s).
  Status Stop();
  // SIGKILL: the server dies without saving anything beyond what is on disk.
  Status Kill9();
  // Starts the server again on the same port and directory (after Stop or Kill9).
  Status Restart();

  // The last `bytes` of <dir>/redis.log.
  std::string LogTail(size_t bytes = 2000) const;

 private:
  RedisServer() = default;
  Status Launch();
  bool Ping() const;

  RedisServerOptions options_;
  std::string host_ = "127.0.0.1";
  PortReservation reservation_;  // port_, held until the object goes
  uint16_t port_ = 0;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace dsmil::testing
