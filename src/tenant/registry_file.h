// The discipline of the small registry files kept beside a node's data (API
// keys, ROE tokens, operators' keys, COAs, coalition releases): writers take
// an exclusive lock file, read the whole file, and replace it atomically
// (a fresh 0600 file, fsync, rename), so a reader never sees half a file and
// two writers never lose each other's change. `what` names the registry in
// errors ("api keys: rename ...").
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

#include "core/status.h"

namespace dsmil::tenant {

namespace internal {
// An exclusive flock on "<path>.lock" held by the returned guard (released
// on destruction); creates the parent directory (0700) if absent.
class FileLock {
 public:
  static Result<FileLock> Take(const std::string& path, std::string_view what);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};
// Creates the parent directory of `path` (0700) if absent.
Status EnsureParentDir(const std::string& path, std::string_view what);
// Writes `text` to a fresh 0600 file beside `path`, fsyncs it and renames it
// over `path`. Creates the parent directory (0700) if absent.
Status ReplaceFile(const std::string& path, std::string_view text, std::string_view what);
// Reads the file (absent = ""), Internal naming the path on I/O errors.
Result<std::string> ReadWholeFile(const std::string& path, std::string_view what);
// Reads the file at `path` and calls `record(fields, where)` for each line
// that is neither empty nor a '#' comment: `fields` reads the line,
// `where` is "<what>: <path>: line N" for the record's error messages.
// Stops at, and returns, the first error.
Status ForEachRecordLine(const std::string& path, std::string_view what,
                         const std::function<Status(std::istringstream& fields, const std::string& where)>& record);
}  // namespace internal

}  // namespace dsmil::tenant
