// A real PostgreSQL 15 server for tests: initdb into a temporary directory,
// postgres on a loopback port (unix socket in the same directory), a
// database `dsmil`, and the init SQL the test renders applied as the
// superuser. The port is reserved through ports.h for the life of the
// object, restarts included. Local (socket) connections are trusted for the superuser
// `postgres`; TCP connections need a SCRAM password, as in production.
//
// When the process runs as root, the directory is chowned to the `postgres`
// user and the server and psql run as that user (PostgreSQL refuses root).
// Binaries come from options.bindir, else $DSMIL_PG_BINDIR, else
// /usr/lib/postgresql/15/bin; a missing binary fails Start naming it.
//
// The server dies with the test process, even one killed by a signal or a
// timeout: it is started from a thread the object owns, with
// PR_SET_PDEATHSIG, so no server outlives its test.
//
// Thread safety: one thread at a time per object (Restart may be called from
// any thread).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "ports.h"

namespace dsmil::testing {

struct PostgresServerOptions {
  std::string bindir;    // "" = $DSMIL_PG_BINDIR or /usr/lib/postgresql/15/bin
  std::string init_sql;  // run as superuser in database dsmil after start ("" = none)
  bool fsync = false;    // tests: off (a killed server still keeps what it wrote)
  // Extra `-c name=value` settings for the server.
  std::vector<std::string> settings;
  int start_timeout_ms = 30000;
};

class PostgresServer {
 public:
  // FailedPrecondition naming a missing binary; Unavailable with the end of
  // the server log when it does not come up; the psql error when init_sql fails.
  static Result<std::unique_ptr<PostgresServer>> Start(const PostgresServerOptions& options = {});
  ~PostgresServer();  // stops the server, removes the directory
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  const std::string& host() const { return host_; }  // "127.0.0.1"
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }  // <tmp>: data/, server.log, sockets
  const std::string& socket_dir() const { return dir_; }
  const std::string& dbname() const { return dbname_; }  // "dsmil"
  bool running() const { return pid_ > 0; }

  // Fast shutdown (SIGINT), waits for the postmaster (SIGKILL after 30 s).
  Status Stop();
  // SIGKILL to the postmaster and every backend (its process group).
  Status Kill9();
  // Starts again on the same port and data directory (after Stop or Kill9);
  // returns once the server accepts connections.
  Status Restart();

  // Runs SQL through psql as `user` (default the superuser, over the unix
  // socket) in database dsmil; returns psql's unaligned, tuples-only output.
  // A failing statement gives an error holding psql's message.
  Result<std::string> Psql(const std::string& sql, const std::string& user = "postgres") const;
  // Runs a SQL file the same way.
  Result<std::string> PsqlFile(const std::string& path, const std::string& user = "postgres") const;
  // Path of a binary in the server's bindir ("psql", "pg_dump", ...).
  std::string Binary(const std::string& name) const { return bindir_ + "/" + name; }

  // The last `bytes` of <dir>/server.log.
  std::string LogTail(size_t bytes = 3000) const;

 private:
  PostgresServer() = default;
  Status Launch();
  // Forks and execs the postmaster (runs on the launcher thread).
  Status Spawn(const std::vector<std::string>& argv, int logfd);
  // Runs fn on the launcher thread (started on first use) and waits for it.
  Status OnLauncher(const std::function<Status()>& fn);
  Status WaitReady();
  Result<std::string> RunPsql(const std::vector<std::string>& extra, const std::string& user) const;

  PostgresServerOptions options_;
  std::string bindir_;
  std::string host_ = "127.0.0.1";
  PortReservation reservation_;  // port_, held until the object goes
  uint16_t port_ = 0;
  std::string dir_;
  std::string dbname_ = "dsmil";
  pid_t pid_ = -1;
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  bool drop_privileges_ = false;

  std::thread launcher_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<Status()> task_;  // guarded by mu_
  Status task_status_;            // guarded by mu_
  bool task_done_ = false;        // guarded by mu_
  bool quit_ = false;             // guarded by mu_
};

// Runs argv (argv[0] a path), as uid/gid when `drop` is set, with stdin from
// /dev/null; returns exit status and the combined stdout + stderr.
struct ProgramResult {
  int exit_code = -1;
  std::string output;
};
Result<ProgramResult> RunProgram(const std::vector<std::string>& argv, bool drop = false, uid_t uid = 0, gid_t gid = 0);

}  // namespace dsmil::testing
