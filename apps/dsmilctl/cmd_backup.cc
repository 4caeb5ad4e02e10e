// dsmilctl backup / restore: the data node's stores (spec §7.2, §10.5).
//
//   dsmilctl backup  redis|postgres|vectors --node-config F --out DIR
//   dsmilctl restore redis|postgres|vectors --node-config F --from DIR [--redis-dir D]
//
// kind servers:
//   redis     `redis-cli --rdb` as dsmil_admin (password <secrets>/redis/dsmil_admin.pass,
//             passed in REDISCLI_AUTH) -> DIR/redis/dump.rdb. Restore copies it to
//             --redis-dir/dump.rdb: stop Redis first (and move its appendonlydir
//             away, or Redis loads the AOF instead), then start it.
//   postgres  pg_dump -Fc per tenant schema (dsmil_<t>) and dsmil_shared, as
//             --pg-user (default postgres; password <secrets>/postgres/<user>.pass
//             when present, else PGPASSWORD / ~/.pgpass) -> DIR/postgres/<schema>.dump.
//             Restore: pg_restore --clean --if-exists of each dump.
//   vectors   Snapshot of every collection of every tenant: embedded snapshots
//             are copied to DIR/vectors/<collection>/; Qdrant snapshots are
//             downloaded with the tenant's key to DIR/vectors/<collection>.snapshot.
// kind embedded: the SQLite files (streams/<T>.db for redis, archive/<T>.db for
// postgres) are copied with SQLite's online backup; vectors as above.
// Restore of embedded files and of vector snapshots writes into stores.path:
// stop the node first.
//
// Every step prints a progress line; DIR/manifest-<what>.json lists the files.
// Exit 0 done, 1 a step failed (the message names it), 2 bad input.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/clock.h"
#include "net/http_client.h"
#include "node/config.h"
#include "store/config.h"
#include "store/redis_acl.h"
#include "store/scope.h"
#include "store/vectors.h"

namespace dsmil::ctl {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct BackupArgs {
  std::string what;  // redis | postgres | vectors
  std::string node_config = "var/cluster/node-c.yaml";
  std::string dir;
  std::string redis_dir;
  std::string pg_user = "postgres";
};

struct ToolResult {
  int exit_code = -1;
  std::string output;
};

// Runs argv[0] from PATH with extra environment variables; stdout+stderr captured.
ToolResult RunTool(const std::vector<std::string>& argv, const std::vector<std::pair<std::string, std::string>>& env) {
  ToolResult r;
  int fds[2];
  if (::pipe(fds) != 0) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::string msg = "cannot run " + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(2, msg.data(), msg.size());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int st = 0;
  if (pid > 0 && ::waitpid(pid, &st, 0) == pid && WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
  while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  return r;
}

// A PostgreSQL program: PATH first, else the Debian PostgreSQL 15 directory.
std::string PgTool(const std::string& name) {
  std::string debian = "/usr/lib/postgresql/15/bin/" + name;
  if (::access(debian.c_str(), X_OK) == 0) return debian;
  return name;
}

std::string Size(const std::string& path) {
  std::error_code ec;
  uintmax_t n = fs::is_directory(path, ec) ? 0 : fs::file_size(path, ec);
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
      if (e.is_regular_file()) n += e.file_size();
    }
  }
  char buf[32];
  if (n >= (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024);
  }
  return buf;
}

// SQLite online backup of `from` into `to`.
Status SqliteCopy(const std::string& from, const std::string& to) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  Status s;
  if (sqlite3_open_v2(from.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    s = Status::Unavailable("cannot open " + from + ": " + sqlite3_errmsg(src));
  } else if (sqlite3_open_v2(to.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    s = Status::Unavailable("cannot create " + to + ": " + sqlite3_errmsg(dst));
  } else {
    sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
      s = Status::Unavailable("backup of " + from + ": " + sqlite3_errmsg(dst));
    } else {
      int rc;
      while ((rc = sqlite3_backup_step(b, 256)) == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        if (rc != SQLITE_OK) sqlite3_sleep(50);
      }
      sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE) s = Status::Unavailable("backup of " + from + ": " + sqlite3_errstr(rc));
    }
  }
  sqlite3_close(src);
  sqlite3_close(dst);
  return s;
}

struct Job {
  Job(const BackupArgs& args, node::NodeConfig config) : a(args), cfg(std::move(config)) {}
  const BackupArgs& a;
  node::NodeConfig cfg;
  json files = json::array();
  bool failed = false;

  void Step(const std::string& what) { std::cout << "  " << what << " ... " << std::flush; }
  void Done(const std::string& file) {
    std::cout << "ok (" << Size(file) << ")\n";
    files.push_back({{"file", file}, {"size", Size(file)}});
  }
  void Failed(const std::string& why) {
    std::cout << "FAILED\n";
    std::cerr << "dsmilctl: " << why << "\n";
    failed = true;
  }

  std::vector<store::TenantScope> Tenants() {
    std::vector<store::TenantScope> out;
    for (const auto& t : cfg.tenants) {
      auto s = store::TenantScope::For(t.id);
      if (s.ok()) out.push_back(*s);
    }
    return out;
  }

  // Embedded SQLite files <path>/<sub>/<T>.db, one per tenant.
  void SqliteFiles(const std::string& sub, bool restore) {
    for (const auto& t : Tenants()) {
      std::string live = cfg.stores.path + "/" + sub + "/" + t.tenant() + ".db";
      std::string saved = a.dir + "/" + sub + "/" + t.tenant() + ".db";
      if (restore) {
        Step("restore " + saved + " -> " + live);
        if (!fs::exists(saved)) {
          std::cout << "skipped (not in the backup)\n";
          continue;
        }
        std::error_code ec;
        fs::create_directories(cfg.stores.path + "/" + sub, ec);
        fs::remove(live, ec);
        fs::remove(live + "-wal", ec);
        fs::remove(live + "-shm", ec);
        Status s = SqliteCopy(saved, live);
        s.ok() ? Done(live) : Failed(s.message());
      } else {
        Step(sub + "/" + t.tenant() + ".db");
        if (!fs::exists(live)) {
          std::cout << "skipped (no such file)\n";
          continue;
        }
        std::error_code ec;
        fs::create_directories(a.dir + "/" + sub, ec);
        fs::remove(saved, ec);
        Status s = SqliteCopy(live, saved);
        s.ok() ? Done(saved) : Failed(s.message());
      }
    }
  }

  void Redis(bool restore) {
    if (cfg.stores.kind != "servers") return SqliteFiles("streams", restore);
    std::string rdb = a.dir + "/redis/dump.rdb";
    if (restore) {
      if (a.redis_dir.empty()) return Failed("restore redis: give --redis-dir (the stopped server's dir)");
      Step("copy " + rdb + " -> " + a.redis_dir + "/dump.rdb");
      std::error_code ec;
      fs::copy_file(rdb, a.redis_dir + "/dump.rdb", fs::copy_options::overwrite_existing, ec);
      if (ec) return Failed("restore redis: " + ec.message());
      Done(a.redis_dir + "/dump.rdb");
      std::cout << "  start Redis with appendonly off once to load dump.rdb (or remove its appendonlydir), then "
                   "turn appendonly back on with CONFIG SET appendonly yes\n";
      return;
    }
    auto pass = store::ReadSecret(cfg.stores, std::string("redis/") + store::kRedisAdminUser + ".pass");
    if (!pass.ok()) return Failed("backup redis: " + pass.status().message());
    std::error_code ec;
    fs::create_directories(a.dir + "/redis", ec);
    Step("redis-cli --rdb from " + cfg.stores.redis.host + ":" + std::to_string(cfg.stores.redis.port) + " as " +
         store::kRedisAdminUser);
    ToolResult r = RunTool({"redis-cli", "-h", cfg.stores.redis.host, "-p", std::to_string(cfg.stores.redis.port),
                            "--user", store::kRedisAdminUser, "--rdb", rdb},
                           {{"REDISCLI_AUTH", *pass}});
    if (r.exit_code != 0 || !fs::exists(rdb)) return Failed("backup redis: redis-cli --rdb: " + r.output);
    Done(rdb);
  }

  std::vector<std::pair<std::string, std::string>> PgEnv() {
    std::vector<std::pair<std::string, std::string>> env;
    auto pass = store::ReadSecret(cfg.stores, "postgres/" + a.pg_user + ".pass");
    if (pass.ok()) env.push_back({"PGPASSWORD", *pass});
    return env;
  }

  void Postgres(bool restore) {
    if (cfg.stores.kind != "servers") return SqliteFiles("archive", restore);
    const auto& pg = cfg.stores.postgres;
    std::vector<std::string> schemas;
    for (const auto& t : Tenants()) schemas.push_back(t.Schema());
    schemas.push_back("dsmil_shared");
    std::error_code ec;
    fs::create_directories(a.dir + "/postgres", ec);
    for (const std::string& schema : schemas) {
      std::string file = a.dir + "/postgres/" + schema + ".dump";
      std::vector<std::string> argv = {"-h", pg.host, "-p", std::to_string(pg.port), "-U", a.pg_user, "-d", pg.dbname};
      if (restore) {
        if (!fs::exists(file)) continue;
        Step("pg_restore " + file);
        argv.insert(argv.begin(), PgTool("pg_restore"));
        for (const char* x : {"--clean", "--if-exists", "--no-owner", "--single-transaction"}) argv.push_back(x);
        argv.push_back(file);
      } else {
        Step("pg_dump schema " + schema);
        argv.insert(argv.begin(), PgTool("pg_dump"));
        argv.insert(argv.end(), {"-Fc", "-n", schema, "-f", file});
      }
      ToolResult r = RunTool(argv, PgEnv());
      if (r.exit_code != 0) {
        Failed(std::string(restore ? "pg_restore " : "pg_dump ") + schema + ": " + r.output);
        continue;
      }
      Done(file);
    }
  }

  void Vectors(bool restore) {
    std::error_code ec;
    fs::create_directories(a.dir + "/vectors", ec);
    for (const auto& t : Tenants()) {
      auto v = store::OpenVectors(cfg.stores, t);
      if (!v.ok()) {
        Failed("vectors of " + t.tenant() + ": " + v.status().message());
        continue;
      }
      if (restore) {
        if (cfg.stores.kind == "servers" && !cfg.stores.qdrant.url.empty()) {
          return Failed(
              "restore vectors: Qdrant snapshots are restored with Qdrant's own API "
              "(PUT /collections/<name>/snapshots/upload); see docs/logs.md");
        }
        for (const auto& e : fs::directory_iterator(a.dir + "/vectors", ec)) {
          std::string name = e.path().filename().string();
          if (!e.is_directory() || !t.OwnsCollection(name)) continue;
          std::string live = cfg.stores.path + "/vectors/" + name;
          Step("restore collection " + name + " -> " + live);
          fs::remove_all(live, ec);
          fs::create_directories(live, ec);
          fs::copy(e.path(), live, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
          ec ? Failed("restore " + name + ": " + ec.message()) : Done(live);
        }
        continue;
      }
      auto list = (*v)->ListCollections();
      if (!list.ok()) {
        Failed("collections of " + t.tenant() + ": " + list.status().message());
        continue;
      }
      for (const auto& info : *list) {
        std::string short_name = info.name.substr(t.lower().size() + 1);
        Step("snapshot " + info.name + " (" + std::to_string(info.count) + " vectors)");
        auto snap = (*v)->Snapshot(short_name);
        if (!snap.ok()) {
          Failed("snapshot " + info.name + ": " + snap.status().message());
          continue;
        }
        if (fs::exists(*snap)) {
          std::string out = a.dir + "/vectors/" + info.name;
          fs::remove_all(out, ec);
          fs::copy(*snap, out, fs::copy_options::recursive, ec);
          ec ? Failed("copy " + *snap + ": " + ec.message()) : Done(out);
          continue;
        }
        // A Qdrant snapshot: download it with the tenant's key.
        auto key = store::ReadSecret(cfg.stores, "qdrant/" + t.lower() + ".key");
        std::string base = cfg.stores.qdrant.url;
        while (!base.empty() && base.back() == '/') base.pop_back();
        net::HttpClientRequest req;
        req.url = base + "/collections/" + info.name + "/snapshots/" + *snap;
        if (key.ok()) req.headers = {{"api-key", *key}};
        req.timeout = std::chrono::minutes(10);
        req.max_response_bytes = size_t{16} << 30;
        auto resp = net::HttpFetch(req);
        if (!resp.ok() || resp->status != 200) {
          Failed("download " + req.url + ": " +
                 (resp.ok() ? "HTTP " + std::to_string(resp->status) : resp.status().message()));
          continue;
        }
        std::string out = a.dir + "/vectors/" + info.name + ".snapshot";
        std::ofstream(out, std::ios::binary) << resp->body;
        Done(out);
      }
    }
  }
};

void Execute(Context& ctx, const BackupArgs& a, bool restore) {
  const char* verb = restore ? "restore" : "backup";
  if (a.what != "redis" && a.what != "postgres" && a.what != "vectors") {
    return Fail(ctx, 2, std::string(verb) + ": '" + a.what + "' is not one of redis, postgres, vectors");
  }
  if (a.dir.empty()) return Fail(ctx, 2, std::string(verb) + ": give " + (restore ? "--from DIR" : "--out DIR"));
  auto cfg = node::LoadNodeConfig(a.node_config);
  if (!cfg.ok()) return Fail(ctx, 2, std::string(verb) + ": " + cfg.status().message());
  if (cfg->tenants.empty()) return Fail(ctx, 2, std::string(verb) + ": " + a.node_config + " configures no tenants");
  if (cfg->stores.kind == "embedded" && cfg->stores.path.empty()) {
    return Fail(ctx, 2, std::string(verb) + ": " + a.node_config + " has no stores.path");
  }
  if (restore && !fs::is_directory(a.dir)) return Fail(ctx, 2, "restore: " + a.dir + " is not a directory");
  std::error_code ec;
  fs::create_directories(a.dir, ec);
  if (ec) return Fail(ctx, 2, "backup: cannot create " + a.dir + ": " + ec.message());
  Job job(a, *cfg);
  std::cout << (restore ? "Restoring " : "Backing up ") << a.what << " of node " << cfg->name << " (stores "
            << cfg->stores.kind << ") " << (restore ? "from " : "to ") << a.dir << "\n";
  if (a.what == "redis") job.Redis(restore);
  if (a.what == "postgres") job.Postgres(restore);
  if (a.what == "vectors") job.Vectors(restore);
  if (!restore) {
    int64_t now =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    json manifest = {
        {"what", a.what},     {"node", cfg->name},      {"stores", cfg->stores.kind}, {"at", FormatRfc3339Utc(now, 0)},
        {"files", job.files}, {"complete", !job.failed}};
    std::ofstream(a.dir + "/manifest-" + a.what + ".json") << manifest.dump(2) << "\n";
  }
  std::cout << (job.failed ? "Finished with errors\n" : "Done\n");
  ctx.exit_code = job.failed ? 1 : 0;
}

const CommandGroup kBackupGroup([](CLI::App& app, Context& ctx) {
  for (bool restore : {false, true}) {
    auto a = std::make_shared<BackupArgs>();
    CLI::App* cmd = app.add_subcommand(restore ? "restore" : "backup",
                                       restore ? "Restore Redis, PostgreSQL or vector data from a backup"
                                               : "Back up Redis, PostgreSQL or vector data of the data node");
    cmd->add_option("what", a->what, "redis, postgres or vectors")->required();
    cmd->add_option("--node-config", a->node_config, "the data node's config (tenants: and stores:)")
        ->capture_default_str();
    cmd->add_option(restore ? "--from" : "--out", a->dir, "backup directory")->required();
    cmd->add_option("--pg-user", a->pg_user, "PostgreSQL user for pg_dump / pg_restore")->capture_default_str();
    if (restore) cmd->add_option("--redis-dir", a->redis_dir, "the stopped Redis server's data directory");
    cmd->callback([a, &ctx, restore] { Execute(ctx, *a, restore); });
  }
});

}  // namespace
}  // namespace dsmil::ctl
