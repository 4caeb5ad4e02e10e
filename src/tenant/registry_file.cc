#include "tenant/registry_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace dsmil::tenant {

namespace internal {

Result<FileLock> FileLock::Take(const std::string& path, std::string_view what) {
  DSMIL_RETURN_IF_ERROR(EnsureParentDir(path, what));
  std::string lock = path + ".lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal(std::string(what) + ": open " + lock + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int e = errno;
      ::close(fd);
      return Status::Internal(std::string(what) + ": lock " + lock + ": " + std::strerror(e));
    }
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

Status EnsureParentDir(const std::string& path, std::string_view what) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status::Internal(std::string(what) + ": create " + parent.string() + ": " + ec.message());
    std::filesystem::permissions(parent, std::filesystem::perms::owner_all, ec);
  }
  return Status::Ok();
}

Status ReplaceFile(const std::string& path, std::string_view text, std::string_view what) {
  DSMIL_RETURN_IF_ERROR(EnsureParentDir(path, what));
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Internal(std::string(what) + ": create " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::Internal(std::string(what) + ": write " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return Status::Internal(std::string(what) + ": rename " + tmp + ": " + std::strerror(e));
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || !std::filesystem::exists(path)) return std::string();
    return Status::Internal(std::string(what) + ": read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status ForEachRecordLine(const std::string& path, std::string_view what,
                         const std::function<Status(std::istringstream& fields, const std::string& where)>& record) {
  DSMIL_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, what));
  std::istringstream in(text);
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    DSMIL_RETURN_IF_ERROR(record(fields, std::string(what) + ": " + path + ": line " + std::to_string(n)));
  }
  return Status::Ok();
}

}  // namespace internal

}  // namespace dsmil::tenant
