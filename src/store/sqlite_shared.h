// Set-up of an SQLite file that several processes open at once.
//
// Switching a new file to WAL may fail with SQLITE_BUSY without SQLite's busy
// handler being asked (another connection is creating or recovering the
// file), and a schema script run statement by statement can lose a race to
// another process's CREATE. PrepareSharedSqlite retries the journal switch
// until the busy timeout and runs the schema in one BEGIN IMMEDIATE
// transaction, which waits for the write lock through the busy handler.
#pragma once

#include <sqlite3.h>

#include <string>

namespace dsmil::store {

struct SqliteSetupError {
  int rc = SQLITE_OK;   // SQLITE_OK: set up
  std::string step;     // "set WAL mode", "set synchronous", "create the tables"
  std::string message;  // sqlite3_errmsg at the failure
};

// Busy timeout, WAL journal, `synchronous` (FULL or NORMAL), then `schema`
// (CREATE ... IF NOT EXISTS statements) in one write transaction.
SqliteSetupError PrepareSharedSqlite(sqlite3* db, int busy_timeout_ms, const char* synchronous,
                                     const std::string& schema);

}  // namespace dsmil::store
