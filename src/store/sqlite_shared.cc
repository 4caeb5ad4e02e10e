#include "store/sqlite_shared.h"

#include <chrono>
#include <thread>

namespace dsmil::store {
namespace {

bool IsBusy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

SqliteSetupError Failed(sqlite3* db, int rc, std::string step) { return {rc, std::move(step), sqlite3_errmsg(db)}; }

}  // namespace

SqliteSetupError PrepareSharedSqlite(sqlite3* db, int busy_timeout_ms, const char* synchronous,
                                     const std::string& schema) {
  sqlite3_busy_timeout(db, busy_timeout_ms);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  int rc = SQLITE_OK;
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (!IsBusy(rc) || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
  }
  if (rc != SQLITE_OK) return Failed(db, rc, "set WAL mode");
  const std::string sync = std::string("PRAGMA synchronous=") + synchronous;
  rc = sqlite3_exec(db, sync.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Failed(db, rc, "set synchronous");
  rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Failed(db, rc, "create the tables");
  rc = sqlite3_exec(db, schema.c_str(), nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    SqliteSetupError e = Failed(db, rc, "create the tables");
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return e;
  }
  return {};
}

}  // namespace dsmil::store
