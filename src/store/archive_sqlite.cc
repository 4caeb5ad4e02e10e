// Embedded archive: one SQLite file per tenant, <path>/archive/<TENANT>.db,
// with the tables of the PostgreSQL schema (events, policies, audit_log).
// WAL journal; audit appends run under BEGIN IMMEDIATE, which takes the
// file's write lock and so serialises appenders across processes.
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "store/archive_backends.h"
#include "store/audit.h"
#include "store/file_mode.h"
#include "store/sqlite_shared.h"

namespace dsmil::store {
namespace {

constexpr int kBusyTimeoutMs = 10000;

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Stmt() {
    if (s_) sqlite3_finalize(s_);
  }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

std::string Col(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p), size_t(sqlite3_column_bytes(s, i))) : std::string();
}

class SqliteArchive final : public Archive {
 public:
  SqliteArchive(TenantScope scope, std::string file, std::string log_key)
      : scope_(std::move(scope)), file_(std::move(file)), log_key_(std::move(log_key)) {}
  ~SqliteArchive() override {
    insert_event_ = Stmt();
    if (db_) sqlite3_close_v2(db_);
  }

  Status Open() {
    // 0600 before SQLite opens it: the -wal and -shm files take its mode.
    Status made = MakePrivateSqliteFiles(file_);
    if (!made.ok()) return Status::Unavailable("archive " + scope_.tenant() + ": " + made.message());
    int rc =
        sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return Err("open", rc);
    const std::string t = scope_.tenant();
    const std::string check = "CHECK (tenant_id = '" + t + "')";
    std::string ddl =
        "CREATE TABLE IF NOT EXISTS events ("
        " event_id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL DEFAULT '" +
        t + "' " + check +
        ","
        " ts_ms INTEGER NOT NULL,"
        " category TEXT NOT NULL DEFAULT '',"
        " severity TEXT NOT NULL DEFAULT '',"
        " body TEXT NOT NULL) WITHOUT ROWID;"
        "CREATE INDEX IF NOT EXISTS events_ts_idx ON events (ts_ms);"
        // Covers CountByHour: the hourly counts of L5 read no table row.
        "CREATE INDEX IF NOT EXISTS events_hour_idx ON events (ts_ms, category, severity);"
        "CREATE TABLE IF NOT EXISTS policies ("
        " policy_id TEXT PRIMARY KEY NOT NULL,"
        " tenant_id TEXT NOT NULL DEFAULT '" +
        t + "' " + check +
        ","
        " updated_at_ms INTEGER NOT NULL,"
        " body TEXT NOT NULL);"
        "CREATE TABLE IF NOT EXISTS audit_log ("
        " seq INTEGER PRIMARY KEY CHECK (seq > 0),"
        " ts_ms INTEGER NOT NULL,"
        " event_type TEXT NOT NULL,"
        " actor TEXT NOT NULL,"
        " detail TEXT NOT NULL,"
        " prev_hash TEXT NOT NULL,"
        " hash TEXT NOT NULL,"
        " mac TEXT NOT NULL,"
        " tenant_id TEXT NOT NULL DEFAULT '" +
        t + "' " + check + ");";
    SqliteSetupError set_up = PrepareSharedSqlite(db_, kBusyTimeoutMs, "NORMAL", ddl);
    if (set_up.rc != SQLITE_OK) return Err(set_up.step, set_up.rc, set_up.message);
    DSMIL_ASSIGN_OR_RETURN(insert_event_,
                           Prepare("INSERT INTO events (event_id, tenant_id, ts_ms, category, severity, body) "
                                   "VALUES (?1, '" +
                                   t + "', ?2, ?3, ?4, ?5) ON CONFLICT (event_id) DO NOTHING"));
    return Status::Ok();
  }

  const TenantScope& scope() const override { return scope_; }

  Result<size_t> Ingest(std::span<const ArchivedEvent> events) override {
    DSMIL_RETURN_IF_ERROR(ValidateEvents(scope_, events));
    if (events.empty()) return size_t{0};
    DSMIL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin ingest"));
    size_t added = 0;
    sqlite3_stmt* s = insert_event_.get();
    for (const ArchivedEvent& e : events) {
      sqlite3_reset(s);
      sqlite3_bind_text(s, 1, e.event_id.data(), int(e.event_id.size()), SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, e.ts_ms);
      sqlite3_bind_text(s, 3, e.category.data(), int(e.category.size()), SQLITE_STATIC);
      sqlite3_bind_text(s, 4, e.severity.data(), int(e.severity.size()), SQLITE_STATIC);
      sqlite3_bind_text(s, 5, e.body.data(), int(e.body.size()), SQLITE_STATIC);
      int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) {
        Status st = Err("insert event '" + e.event_id + "'", rc);
        sqlite3_reset(s);
        Rollback();
        return st;
      }
      added += size_t(sqlite3_changes(db_));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    Status c = Exec("COMMIT", "commit ingest");
    if (!c.ok()) {
      Rollback();
      return c;
    }
    return added;
  }

  Result<uint64_t> Count() override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT count(*) FROM events"));
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return Err("count events", rc);
    return uint64_t(sqlite3_column_int64(s.get(), 0));
  }

  Result<std::optional<ArchivedEvent>> Get(const std::string& event_id) override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s,
                           Prepare("SELECT event_id, ts_ms, category, severity, body FROM events WHERE event_id = ?1"));
    sqlite3_bind_text(s.get(), 1, event_id.data(), int(event_id.size()), SQLITE_STATIC);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return std::optional<ArchivedEvent>();
    if (rc != SQLITE_ROW) return Err("get event", rc);
    return std::optional<ArchivedEvent>(RowToEvent(s.get()));
  }

  Result<std::vector<ArchivedEvent>> Recent(size_t limit, int64_t since_ms) override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT event_id, ts_ms, category, severity, body FROM events "
                                           "WHERE ts_ms >= ?1 ORDER BY ts_ms DESC, event_id DESC LIMIT ?2"));
    sqlite3_bind_int64(s.get(), 1, since_ms);
    sqlite3_bind_int64(s.get(), 2, int64_t(std::min<size_t>(limit, size_t(INT64_MAX))));
    std::vector<ArchivedEvent> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(RowToEvent(s.get()));
    if (rc != SQLITE_DONE) return Err("recent events", rc);
    return out;
  }

  Result<std::vector<HourlyCount>> CountByHour(int64_t since_ms, int64_t until_ms) override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT ts_ms - (((ts_ms % 3600000) + 3600000) % 3600000) AS h, category, "
                                           "severity, COUNT(*) FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2 "
                                           "GROUP BY h, category, severity ORDER BY h, category, severity"));
    sqlite3_bind_int64(s.get(), 1, since_ms);
    sqlite3_bind_int64(s.get(), 2, until_ms);
    std::vector<HourlyCount> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      out.push_back({sqlite3_column_int64(s.get(), 0), Col(s.get(), 1), Col(s.get(), 2),
                     uint64_t(sqlite3_column_int64(s.get(), 3))});
    }
    if (rc != SQLITE_DONE) return Err("hourly counts", rc);
    return out;
  }

  Result<uint64_t> CountBetween(int64_t since_ms, int64_t until_ms) override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT COUNT(*) FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2"));
    sqlite3_bind_int64(s.get(), 1, since_ms);
    sqlite3_bind_int64(s.get(), 2, until_ms);
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return Err("count between", rc);
    return uint64_t(sqlite3_column_int64(s.get(), 0));
  }

  Result<AuditRow> AppendAudit(int64_t ts_ms, const std::string& event_type, const std::string& actor,
                               const std::string& detail) override {
    DSMIL_RETURN_IF_ERROR(ValidateAuditFields(scope_, event_type, actor, detail));
    DSMIL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin audit append"));
    auto r = AppendLocked(ts_ms, event_type, actor, detail);
    if (!r.ok()) {
      Rollback();
      return r.status();
    }
    Status c = Exec("COMMIT", "commit audit append");
    if (!c.ok()) {
      Rollback();
      return c;
    }
    return r;
  }

  Result<std::vector<AuditRow>> ReadAudit() override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT seq, ts_ms, event_type, actor, detail, prev_hash, hash, mac "
                                           "FROM audit_log ORDER BY seq"));
    std::vector<AuditRow> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) out.push_back(RowToAudit(s.get()));
    if (rc != SQLITE_DONE) return Err("read audit log", rc);
    return out;
  }

  Result<AuditHead> ReadAuditHead() override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT seq, ts_ms, event_type, actor, detail, prev_hash, hash, mac, "
                                           "(SELECT count(*) FROM audit_log) FROM audit_log "
                                           "ORDER BY seq DESC LIMIT 1"));
    AuditHead h;
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      h.last = RowToAudit(s.get());
      h.rows = uint64_t(sqlite3_column_int64(s.get(), 8));
    } else if (rc != SQLITE_DONE) {
      return Err("read audit head", rc);
    }
    return h;
  }

  Result<std::optional<AuditRow>> ReadAuditRow(int64_t seq) override {
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT seq, ts_ms, event_type, actor, detail, prev_hash, hash, mac "
                                           "FROM audit_log WHERE seq = ?1 LIMIT 1"));
    sqlite3_bind_int64(s.get(), 1, seq);
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) return std::optional<AuditRow>(RowToAudit(s.get()));
    if (rc != SQLITE_DONE) return Err("read audit row", rc);
    return std::optional<AuditRow>();
  }

 private:
  Result<AuditRow> AppendLocked(int64_t ts_ms, const std::string& event_type, const std::string& actor,
                                const std::string& detail) {
    std::optional<AuditRow> last;
    {
      DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("SELECT seq, ts_ms, event_type, actor, detail, prev_hash, hash, mac "
                                             "FROM audit_log ORDER BY seq DESC LIMIT 1"));
      int rc = sqlite3_step(s.get());
      if (rc == SQLITE_ROW) {
        last = RowToAudit(s.get());
      } else if (rc != SQLITE_DONE) {
        return Err("read last audit row", rc);
      }
    }
    AuditRow row;
    row.seq = last ? last->seq + 1 : 1;
    row.ts_ms = ts_ms;
    row.event_type = event_type;
    row.actor = actor;
    row.detail = detail;
    SealAuditRow(last ? &*last : nullptr, log_key_, row);
    DSMIL_ASSIGN_OR_RETURN(Stmt s, Prepare("INSERT INTO audit_log (seq, ts_ms, event_type, actor, detail, "
                                           "prev_hash, hash, mac, tenant_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                                           "?8, '" +
                                           scope_.tenant() + "')"));
    sqlite3_bind_int64(s.get(), 1, row.seq);
    sqlite3_bind_int64(s.get(), 2, row.ts_ms);
    int i = 3;
    for (const std::string* f : {&row.event_type, &row.actor, &row.detail, &row.prev_hash, &row.hash, &row.mac}) {
      sqlite3_bind_text(s.get(), i++, f->data(), int(f->size()), SQLITE_STATIC);
    }
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_DONE) return Err("insert audit row", rc);
    return row;
  }

  static ArchivedEvent RowToEvent(sqlite3_stmt* s) {
    ArchivedEvent e;
    e.event_id = Col(s, 0);
    e.ts_ms = sqlite3_column_int64(s, 1);
    e.category = Col(s, 2);
    e.severity = Col(s, 3);
    e.body = Col(s, 4);
    return e;
  }
  static AuditRow RowToAudit(sqlite3_stmt* s) {
    AuditRow r;
    r.seq = sqlite3_column_int64(s, 0);
    r.ts_ms = sqlite3_column_int64(s, 1);
    r.event_type = Col(s, 2);
    r.actor = Col(s, 3);
    r.detail = Col(s, 4);
    r.prev_hash = Col(s, 5);
    r.hash = Col(s, 6);
    r.mac = Col(s, 7);
    return r;
  }

  Status Err(const std::string& what, int rc, const std::string& detail = {}) const {
    std::string msg = "archive " + scope_.tenant() + " (" + file_ + "): " + what + ": " +
                      (!detail.empty() ? detail
                       : db_           ? sqlite3_errmsg(db_)
                                       : sqlite3_errstr(rc));
    const int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Unavailable(msg);
    if (primary == SQLITE_CONSTRAINT) return Status::InvalidArgument(msg);
    return Status::Internal(msg);
  }
  Status Exec(const std::string& sql, const std::string& what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (err) sqlite3_free(err);
    return rc == SQLITE_OK ? Status::Ok() : Err(what, rc);
  }
  void Rollback() {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Result<Stmt> Prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &s, nullptr);
    if (rc != SQLITE_OK) return Err("prepare", rc);
    return Stmt(s);
  }

  TenantScope scope_;
  std::string file_;
  std::string log_key_;
  sqlite3* db_ = nullptr;
  Stmt insert_event_;
};

}  // namespace

Result<std::unique_ptr<Archive>> OpenSqliteArchive(const StoresConfig& config, const TenantScope& scope) {
  if (config.path.empty()) {
    return Status::InvalidArgument("stores.path: empty (the embedded archive needs a directory)");
  }
  const std::string dir = config.path + "/archive";
  Status made = MakePrivateDirs(dir);
  if (!made.ok()) return Status::Unavailable("archive: " + made.message());
  DSMIL_ASSIGN_OR_RETURN(std::string key, LoadOrCreateLogKey(config));
  auto a = std::make_unique<SqliteArchive>(scope, dir + "/" + scope.tenant() + ".db", std::move(key));
  DSMIL_RETURN_IF_ERROR(a->Open());
  return std::unique_ptr<Archive>(std::move(a));
}

}  // namespace dsmil::store
