#include "store/file_mode.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/log.h"

namespace dsmil::store {
namespace {

namespace fs = std::filesystem;

constexpr unsigned kGroupOther = 077;

std::string Errno(int e) { return std::strerror(e); }

Status Unavailable(const std::string& what, const std::string& path, int e) {
  return Status::Unavailable("cannot " + what + " " + path + ": " + Errno(e));
}

}  // namespace

std::string ModeString(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

Status MakePrivateDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("private directory: empty path");
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    if (dir[pos - 1] == '/') continue;  // "a//b"
    std::string part = dir.substr(0, pos);
    if (::mkdir(part.c_str(), kPrivateDirMode) == 0) {
      // mkdir applies the umask: set the mode explicitly.
      if (::chmod(part.c_str(), kPrivateDirMode) != 0) return Unavailable("chmod 700", part, errno);
      continue;
    }
    if (errno != EEXIST) return Unavailable("create directory", part, errno);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return Unavailable("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(dir + " exists and is not a directory");
  if ((st.st_mode & kGroupOther) != 0 && ::chmod(dir.c_str(), (st.st_mode & 07777) & ~kGroupOther) != 0) {
    return Unavailable("chmod go-rwx", dir, errno);
  }
  return Status::Ok();
}

Status MakePrivateFile(const std::string& path, bool create) {
  int fd = ::open(path.c_str(), O_RDONLY | (create ? O_CREAT : 0) | O_NOFOLLOW | O_CLOEXEC, kPrivateFileMode);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT && !create) return Status::Ok();
    if (e == ELOOP) return Status::FailedPrecondition(path + " is a symbolic link; refusing to use it for data");
    return Unavailable("create", path, e);
  }
  struct stat st {};
  Status s = Status::Ok();
  if (::fstat(fd, &st) != 0) {
    s = Unavailable("stat", path, errno);
  } else if (!S_ISREG(st.st_mode)) {
    s = Status::FailedPrecondition(path + " is not a regular file");
  } else if ((st.st_mode & kGroupOther) != 0 && ::fchmod(fd, (st.st_mode & 07777) & ~kGroupOther) != 0) {
    s = Unavailable("chmod go-rwx", path, errno);
  }
  ::close(fd);
  return s;
}

Status MakePrivateSqliteFiles(const std::string& db_path) {
  DSMIL_RETURN_IF_ERROR(MakePrivateFile(db_path));
  DSMIL_RETURN_IF_ERROR(MakePrivateFile(db_path + "-wal", /*create=*/false));
  return MakePrivateFile(db_path + "-shm", /*create=*/false);
}

Result<std::vector<ModeRepair>> RepairDataDirModes(const std::string& root) {
  std::vector<ModeRepair> out;
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) {
    if (errno == ENOENT) return out;
    return Status::FailedPrecondition("data directory " + root + ": cannot stat: " + Errno(errno));
  }
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition("data directory " + root + " is not a directory");
  auto repair = [&](const std::string& path, const struct stat& s) -> Status {
    unsigned mode = s.st_mode & 07777;
    if ((mode & kGroupOther) == 0) return Status::Ok();
    unsigned want = mode & ~kGroupOther;
    if (::chmod(path.c_str(), want) != 0) {
      return Status::FailedPrecondition(path + " is readable by group or others (mode " + ModeString(mode) +
                                        ") and its mode cannot be changed: " + Errno(errno) + " (chmod go-rwx it)");
    }
    out.push_back({path, mode, want});
    return Status::Ok();
  };
  DSMIL_RETURN_IF_ERROR(repair(root, st));
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec);
  if (ec) return Status::FailedPrecondition("data directory " + root + ": cannot list: " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::FailedPrecondition("data directory " + root + ": cannot list: " + ec.message());
    const std::string path = it->path().string();
    struct stat s {};
    if (::lstat(path.c_str(), &s) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile (a rotated log, a finished snapshot)
      return Status::FailedPrecondition(path + ": cannot stat: " + Errno(errno));
    }
    if (S_ISLNK(s.st_mode)) continue;  // not followed; the directory iterator does not enter it either
    if (!S_ISDIR(s.st_mode) && !S_ISREG(s.st_mode)) continue;  // sockets, fifos: not data
    DSMIL_RETURN_IF_ERROR(repair(path, s));
  }
  if (ec) return Status::FailedPrecondition("data directory " + root + ": cannot list: " + ec.message());
  return out;
}

Status SecureDataDirs(const StoresConfig& config, const Logger& log) {
  for (const std::string* dir : {&config.path, &config.buffer_dir, &config.loki.spool_dir}) {
    if (dir->empty()) continue;
    auto repaired = RepairDataDirModes(*dir);
    if (!repaired.ok()) return repaired.status();
    for (const ModeRepair& r : *repaired) {
      log.Warn("data path was open to group or others; mode repaired",
               {{"path", r.path}, {"was", ModeString(r.old_mode)}, {"now", ModeString(r.new_mode)}});
    }
  }
  return Status::Ok();
}

}  // namespace dsmil::store
