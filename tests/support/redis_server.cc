#include "redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

// Sends `request` and reads one reply line (up to 2 s). "" on failure.
std::string Exchange(int fd, const std::string& request) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != ssize_t(request.size())) return "";
  std::string reply;
  char buf[256];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (reply.find("\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return "";
    reply.append(buf, size_t(n));
  }
  return reply;
}

std::string Bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }

}  // namespace

Result<std::unique_ptr<RedisServer>> RedisServer::Start(const RedisServerOptions& options) {
  if (::access(options.binary.c_str(), X_OK) != 0) {
    return Status::FailedPrecondition("redis server binary " + options.binary +
                                      " is missing (Debian package redis-server)");
  }
  std::unique_ptr<RedisServer> s(new RedisServer());
  s->options_ = options;
  char tmpl[] = "/tmp/dsmil-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::Unavailable(std::string("mkdtemp: ") + std::strerror(errno));
  s->dir_ = tmpl;
  DSMIL_ASSIGN_OR_RETURN(s->reservation_, ReservePort());
  s->port_ = s->reservation_.port();

  std::ostringstream conf;
  conf << "bind 127.0.0.1\n"
       << "port " << s->port_ << "\n"
       << "protected-mode yes\n"
       << "daemonize no\n"
       << "dir " << s->dir_ << "\n"
       << "logfile " << s->dir_ << "/redis.log\n"
       << "save \"\"\n"
       << "appendonly " << (options.appendonly ? "yes" : "no") << "\n"
       << "appendfsync " << options.appendfsync << "\n";
  if (!options.acl.empty()) {
    std::ofstream acl(s->dir_ + "/users.acl");
    acl << options.acl;
    if (!acl) return Status::Unavailable("cannot write " + s->dir_ + "/users.acl");
    conf << "aclfile " << s->dir_ << "/users.acl\n";
  }
  std::ofstream f(s->dir_ + "/redis.conf");
  f << conf.str();
  f.close();
  if (!f) return Status::Unavailable("cannot write " + s->dir_ + "/redis.conf");
  DSMIL_RETURN_IF_ERROR(s->Launch());
  return s;
}

RedisServer::~RedisServer() {
  (void)Stop();
  if (!dir_.empty() && std::getenv("DSMIL_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

Status RedisServer::Launch() {
  std::string conf = dir_ + "/redis.conf";
  std::string out = dir_ + "/stdout.log";
  pid_t pid = ::fork();
  if (pid < 0) return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no server behind
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execl(options_.binary.c_str(), options_.binary.c_str(), conf.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int wstatus = 0;
    if (::waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("redis-server on port " + std::to_string(port_) + " exited at start: " + LogTail());
    }
    if (Ping()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (void)Kill9();
  return Status::Unavailable("redis-server on port " + std::to_string(port_) + " did not answer PING within " +
                             std::to_string(options_.start_timeout_ms) + " ms: " + LogTail());
}

bool RedisServer::Ping() const {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port_);
  bool up = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    if (!options_.ping_user.empty()) {
      std::string auth = "*3\r\n" + Bulk("AUTH") + Bulk(options_.ping_user) + Bulk(options_.ping_password);
      up = Exchange(fd, auth).rfind("+OK", 0) == 0 && Exchange(fd, "PING\r\n").rfind("+PONG", 0) == 0;
    } else {
      std::string r = Exchange(fd, "PING\r\n");
      up = r.rfind("+PONG", 0) == 0 || r.rfind("-NOAUTH", 0) == 0;
    }
  }
  ::close(fd);
  return up;
}

Status RedisServer::Stop() {
  if (pid_ <= 0) return Status::Ok();
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int wstatus = 0;
    pid_t r = ::waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Kill9();
}

Status RedisServer::Kill9() {
  if (pid_ <= 0) return Status::Ok();
  ::kill(pid_, SIGKILL);
  int wstatus = 0;
  ::waitpid(pid_, &wstatus, 0);
  pid_ = -1;
  return Status::Ok();
}

Status RedisServer::Restart() {
  if (pid_ > 0) return Status::FailedPrecondition("redis-server on port " + std::to_string(port_) + " is running");
  return Launch();
}

std::string RedisServer::LogTail(size_t bytes) const {
  std::ifstream f(dir_ + "/redis.log", std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  if (s.empty()) {
    std::ifstream o(dir_ + "/stdout.log", std::ios::binary);
    std::ostringstream so;
    so << o.rdbuf();
    s = so.str();
  }
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace dsmil::testing
