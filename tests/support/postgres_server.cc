#include "postgres_server.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace dsmil::testing {
namespace {

[[noreturn]] void ExecChild(const std::vector<std::string>& argv, bool drop, uid_t uid, gid_t gid) {
  if (drop && (setgid(gid) != 0 || setuid(uid) != 0)) _exit(126);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

bool Exists(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

}  // namespace

Result<ProgramResult> RunProgram(const std::vector<std::string>& argv, bool drop, uid_t uid, gid_t gid) {
  if (argv.empty()) return Status::InvalidArgument("RunProgram: empty argv");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    if (drop) {
      // A directory the dropped user may stand in (psql and initdb want one).
      if (chdir("/tmp") != 0) _exit(125);
    }
    ExecChild(argv, drop, uid, gid);
  }
  close(pipefd[1]);
  ProgramResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n > 0) {
      r.output.append(buf, size_t(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  close(pipefd[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  if (r.exit_code == 127) return Status::FailedPrecondition("cannot execute " + argv[0]);
  return r;
}

Result<std::unique_ptr<PostgresServer>> PostgresServer::Start(const PostgresServerOptions& options) {
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  s->options_ = options;
  s->bindir_ = options.bindir;
  if (s->bindir_.empty()) {
    const char* env = std::getenv("DSMIL_PG_BINDIR");
    s->bindir_ = env && *env ? env : "/usr/lib/postgresql/15/bin";
  }
  for (const char* b : {"initdb", "postgres", "psql", "pg_isready"}) {
    if (!Exists(s->Binary(b))) {
      return Status::FailedPrecondition("PostgreSQL binary " + s->Binary(b) +
                                        " is missing (install postgresql-15 or set DSMIL_PG_BINDIR)");
    }
  }
  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (!pw) return Status::FailedPrecondition("running as root but there is no `postgres` user to run PostgreSQL");
    s->drop_privileges_ = true;
    s->run_uid_ = pw->pw_uid;
    s->run_gid_ = pw->pw_gid;
  }
  char tmpl[] = "/tmp/dsmil-pg-XXXXXX";
  if (!mkdtemp(tmpl)) return Status::Unavailable(std::string("mkdtemp: ") + std::strerror(errno));
  s->dir_ = tmpl;
  if (s->drop_privileges_ && chown(tmpl, s->run_uid_, s->run_gid_) != 0) {
    return Status::Unavailable("chown " + s->dir_ + ": " + std::strerror(errno));
  }
  DSMIL_ASSIGN_OR_RETURN(s->reservation_, ReservePort());
  s->port_ = s->reservation_.port();

  DSMIL_ASSIGN_OR_RETURN(ProgramResult init,
                         RunProgram({s->Binary("initdb"), "-D", s->dir_ + "/data", "-U", "postgres", "-E", "UTF8",
                                     "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "-N"},
                                    s->drop_privileges_, s->run_uid_, s->run_gid_));
  if (init.exit_code != 0) {
    return Status::Unavailable("initdb failed (exit " + std::to_string(init.exit_code) + "): " + init.output);
  }
  DSMIL_RETURN_IF_ERROR(s->Launch());
  DSMIL_ASSIGN_OR_RETURN(std::string created,
                         s->RunPsql({"-d", "postgres", "-c", "CREATE DATABASE dsmil"}, "postgres"));
  (void)created;
  if (!options.init_sql.empty()) {
    std::string path = s->dir_ + "/init.sql";
    {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f << options.init_sql;
      if (!f) return Status::Unavailable("cannot write " + path);
    }
    chmod(path.c_str(), 0644);
    if (s->drop_privileges_ && chown(path.c_str(), s->run_uid_, s->run_gid_) != 0) {
      return Status::Unavailable("chown " + path + ": " + std::strerror(errno));
    }
    auto applied = s->PsqlFile(path);
    if (!applied.ok()) return applied.status().WithContext("init SQL");
  }
  return s;
}

PostgresServer::~PostgresServer() {
  if (pid_ > 0) (void)Stop();
  if (launcher_.joinable()) {
    {
      std::lock_guard<std::mutex> l(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    launcher_.join();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status PostgresServer::Launch() {
  std::vector<std::string> argv = {Binary("postgres"),
                                   "-D",
                                   dir_ + "/data",
                                   "-p",
                                   std::to_string(port_),
                                   "-k",
                                   dir_,
                                   "-c",
                                   "listen_addresses=127.0.0.1",
                                   "-c",
                                   std::string("fsync=") + (options_.fsync ? "on" : "off"),
                                   "-c",
                                   "max_connections=60",
                                   "-c",
                                   "password_encryption=scram-sha-256"};
  for (const auto& kv : options_.settings) {
    argv.push_back("-c");
    argv.push_back(kv);
  }
  std::string log = dir_ + "/server.log";
  int logfd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) return Status::Unavailable("cannot open " + log + ": " + std::strerror(errno));
  Status spawned = OnLauncher([&] { return Spawn(argv, logfd); });
  close(logfd);
  DSMIL_RETURN_IF_ERROR(spawned);
  return WaitReady();
}

Status PostgresServer::Spawn(const std::vector<std::string>& argv, int logfd) {
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    setpgid(0, 0);  // Kill9 signals the whole group (postmaster and backends)
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    if (chdir(dir_.c_str()) != 0) _exit(125);
    if (drop_privileges_ && (setgid(run_gid_) != 0 || setuid(run_uid_) != 0)) _exit(126);
    // After the uid change (which clears it): die with the launcher thread,
    // i.e. with the test process. The backends follow their postmaster.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(124);  // the test died before the prctl
    ExecChild(argv, false, 0, 0);
  }
  setpgid(pid, pid);
  pid_ = pid;
  return Status::Ok();
}

Status PostgresServer::OnLauncher(const std::function<Status()>& fn) {
  std::unique_lock<std::mutex> l(mu_);
  if (!launcher_.joinable()) {
    launcher_ = std::thread([this] {
      std::unique_lock<std::mutex> lk(mu_);
      for (;;) {
        cv_.wait(lk, [this] { return quit_ || task_; });
        if (quit_) return;
        task_status_ = task_();
        task_ = nullptr;
        task_done_ = true;
        cv_.notify_all();
      }
    });
  }
  task_done_ = false;
  task_ = fn;
  cv_.notify_all();
  cv_.wait(l, [this] { return task_done_; });
  return task_status_;
}

Status PostgresServer::WaitReady() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("postgres exited during start; log:\n" + LogTail());
    }
    auto r = RunProgram({Binary("pg_isready"), "-q", "-h", host_, "-p", std::to_string(port_), "-d", "postgres"});
    if (r.ok() && r->exit_code == 0) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Unavailable("postgres did not accept connections on " + host_ + ":" + std::to_string(port_) +
                             " within " + std::to_string(options_.start_timeout_ms) + " ms; log:\n" + LogTail());
}

Status PostgresServer::Stop() {
  if (pid_ <= 0) return Status::Ok();
  kill(pid_, SIGINT);  // fast shutdown: roll back open transactions, checkpoint, exit
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return Status::Ok();
}

Status PostgresServer::Kill9() {
  if (pid_ <= 0) return Status::FailedPrecondition("postgres is not running");
  kill(-pid_, SIGKILL);
  int st = 0;
  waitpid(pid_, &st, 0);
  pid_ = -1;
  // Backends die with the group; give the kernel a moment to release them.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return Status::Ok();
}

Status PostgresServer::Restart() {
  if (pid_ > 0) DSMIL_RETURN_IF_ERROR(Stop());
  return Launch();
}

Result<std::string> PostgresServer::RunPsql(const std::vector<std::string>& extra, const std::string& user) const {
  std::vector<std::string> argv = {
      Binary("psql"),        "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", dir_, "-p",
      std::to_string(port_), "-U", user};
  bool has_db = false;
  for (const auto& e : extra) has_db = has_db || e == "-d";
  if (!has_db) {
    argv.push_back("-d");
    argv.push_back(dbname_);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  DSMIL_ASSIGN_OR_RETURN(ProgramResult r, RunProgram(argv, drop_privileges_, run_uid_, run_gid_));
  if (r.exit_code != 0) {
    while (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
    return Status::Internal("psql as " + user + " (exit " + std::to_string(r.exit_code) + "): " + r.output);
  }
  return r.output;
}

Result<std::string> PostgresServer::Psql(const std::string& sql, const std::string& user) const {
  return RunPsql({"-c", sql}, user);
}

Result<std::string> PostgresServer::PsqlFile(const std::string& path, const std::string& user) const {
  return RunPsql({"-f", path}, user);
}

std::string PostgresServer::LogTail(size_t bytes) const {
  std::ifstream f(dir_ + "/server.log", std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace dsmil::testing
