// Modes of what the embedded stores write (docs/streams.md, "File modes"):
// tenant data is readable by the node's user only, whatever the process umask.
// Every directory is 0700 and every file 0600: SQLite streams and archives
// (with their -wal and -shm files), hnsw vector files and snapshots, tenant
// log files, Loki spools, write buffers.
//
// Creation sites call MakePrivateDirs and MakePrivateFile; the node checks
// its data directories once at start (SecureDataDirs), repairing what an
// older version or a deploy script under umask 022 left open, with a warning
// naming each path.
//
// Thread-safe (no shared state); races with other processes like any file I/O.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "store/config.h"

namespace dsmil {
class Logger;
}

namespace dsmil::store {

inline constexpr unsigned kPrivateDirMode = 0700;
inline constexpr unsigned kPrivateFileMode = 0600;

// mkdir -p `dir`: every directory it creates gets mode 0700 whatever the
// umask, and `dir` itself loses any group/other bits it has. Existing parents
// are left alone. Unavailable naming the directory on failure.
Status MakePrivateDirs(const std::string& dir);

// Creates `path` empty with mode 0600 when absent (only when `create`; else an
// absent file is fine); an existing file loses any group/other bits. Called
// before sqlite3_open_v2 (SQLite gives the -wal and -shm files the mode of the
// database file) and after a library that writes with the umask's mode
// (hnswlib's saveIndex). Symbolic links are refused.
Status MakePrivateFile(const std::string& path, bool create = true);

// MakePrivateFile on an SQLite database file, and on its -wal and -shm files
// when they exist (left by an earlier version with wider modes).
Status MakePrivateSqliteFiles(const std::string& db_path);

// One mode repaired by RepairDataDirModes.
struct ModeRepair {
  std::string path;
  unsigned old_mode = 0;  // permission bits found (e.g. 0644)
  unsigned new_mode = 0;  // the same without group/other bits (0600)
};

// Walks `root` and everything below it (symbolic links are not followed) and
// removes the group/other bits of every directory and file that has any,
// returning each repair. An absent root is nothing to check. FailedPrecondition
// naming the path when the root is not a directory or a mode cannot be changed
// (a file of another user).
Result<std::vector<ModeRepair>> RepairDataDirModes(const std::string& root);

// The start check of a node (called by Node::Start): RepairDataDirModes on
// stores.path, stores.buffer_dir and stores.loki.spool_dir (each that is set),
// logging a warning for each repair. The error names the path.
Status SecureDataDirs(const StoresConfig& config, const Logger& log);

// "0644".
std::string ModeString(unsigned mode);

}  // namespace dsmil::store
