// Streams on an embedded SQLite file, <path>/streams/<TENANT>.db, with the
// semantics of Redis streams:
//   - ids "<ms>-<seq>" grow monotonically per stream (the last id is kept in
//     stream_meta, so trimming never lets an id repeat);
//   - a consumer group remembers its last delivered id; ReadGroup hands out
//     later entries and records each in `pending` with its consumer, delivery
//     time and delivery count until it is acknowledged;
//   - Claim takes over pending entries idle for at least min_idle;
//   - Trim deletes entries older than the stream's retention.
// The file is in WAL mode with a busy timeout, and every change runs in a
// BEGIN IMMEDIATE transaction, so several processes may share it. What the
// connection may do is checked here: a writer may Append and Trim, a reader
// everything else (as the Redis ACL users alpha_writer / alpha_reader).
#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/file_mode.h"
#include "store/sqlite_shared.h"
#include "store/streams.h"
#include "store/streams_internal.h"

namespace dsmil::store::internal {
namespace {

constexpr int kBusyTimeoutMs = 10000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS stream_meta(
  stream TEXT PRIMARY KEY, last_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries(
  stream TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL, payload BLOB NOT NULL,
  PRIMARY KEY(stream, ms, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_groups(
  stream TEXT NOT NULL, name TEXT NOT NULL, last_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  PRIMARY KEY(stream, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending(
  stream TEXT NOT NULL, grp TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  consumer TEXT NOT NULL, delivered_ms INTEGER NOT NULL, deliveries INTEGER NOT NULL,
  PRIMARY KEY(stream, grp, ms, seq)) WITHOUT ROWID;
)sql";

class SqliteStreams final : public Streams {
 public:
  SqliteStreams(TenantScope scope, Access access, std::string file)
      : scope_(std::move(scope)), access_(access), file_(std::move(file)) {}

  Status Open() {
    // Tenant data: directory 0700, file 0600 before SQLite opens it (its -wal
    // and -shm files take the database file's mode), whatever the umask.
    Status made = MakePrivateDirs(std::filesystem::path(file_).parent_path().string());
    if (made.ok()) made = MakePrivateSqliteFiles(file_);
    if (!made.ok()) return Status::Unavailable(Where() + ": " + made.message());
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(file_.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    db_.reset(raw);
    if (rc != SQLITE_OK) {
      return Status::Unavailable(Where() + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    SqliteSetupError set_up = PrepareSharedSqlite(db_.get(), kBusyTimeoutMs, "FULL", kSchema);
    if (set_up.rc != SQLITE_OK) return Error(set_up.rc, set_up.step, set_up.message);
    return Status::Ok();
  }

  const TenantScope& scope() const override { return scope_; }

  Result<std::vector<std::string>> Append(StreamKind s, std::span<const std::string> payloads) override {
    if (!MayAppend(access_, s)) {
      return Status::PermissionDenied(Where() + ": append to " + scope_.Stream(s) + ": the " +
                                      std::string(AccessName(access_)) + " may not do this" +
                                      (access_ == Access::kIngest ? " (ingest appends to L3_IN and DEAD_LETTER only)"
                                                                  : " (writer or ingest access needed)"));
    }
    std::vector<std::string> ids;
    if (payloads.empty()) return ids;
    for (size_t i = 0; i < payloads.size(); ++i) {
      if (payloads[i].size() > kMaxStreamPayloadBytes) {
        return Status::InvalidArgument("streams: payload " + std::to_string(i) + " is " +
                                       std::to_string(payloads[i].size()) + " bytes, over the limit of " +
                                       std::to_string(kMaxStreamPayloadBytes));
      }
    }
    std::string stream = scope_.Stream(s);
    std::string what = "append to " + stream;
    Txn txn(this);
    DSMIL_RETURN_IF_ERROR(txn.Begin(what));
    StreamId last;
    {
      DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("SELECT last_ms, last_seq FROM stream_meta WHERE stream=?1", what));
      Bind(q.get(), 1, stream);
      int rc = sqlite3_step(q.get());
      if (rc == SQLITE_ROW) {
        last = {uint64_t(sqlite3_column_int64(q.get(), 0)), uint64_t(sqlite3_column_int64(q.get(), 1))};
      } else if (rc != SQLITE_DONE) {
        return Error(rc, what);
      }
    }
    DSMIL_ASSIGN_OR_RETURN(StmtPtr ins,
                           Prepare("INSERT INTO entries(stream, ms, seq, payload) VALUES(?1, ?2, ?3, ?4)", what));
    uint64_t now = uint64_t(NowMs());
    ids.reserve(payloads.size());
    for (const std::string& p : payloads) {
      StreamId id = now > last.ms ? StreamId{now, 0} : StreamId{last.ms, last.seq + 1};
      sqlite3_reset(ins.get());
      Bind(ins.get(), 1, stream);
      sqlite3_bind_int64(ins.get(), 2, int64_t(id.ms));
      sqlite3_bind_int64(ins.get(), 3, int64_t(id.seq));
      sqlite3_bind_blob(ins.get(), 4, p.data(), int(p.size()), SQLITE_STATIC);
      int rc = sqlite3_step(ins.get());
      if (rc != SQLITE_DONE) return Error(rc, what);
      ids.push_back(FormatStreamId(id));
      last = id;
    }
    DSMIL_RETURN_IF_ERROR(SetLast(stream, last, what));
    DSMIL_RETURN_IF_ERROR(txn.Commit(what));
    return ids;
  }

  Status EnsureGroup(StreamKind s, const std::string& group) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    std::string stream = scope_.Stream(s);
    std::string what = "create group " + group + " on " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    Txn txn(this);
    DSMIL_RETURN_IF_ERROR(txn.Begin(what));
    {
      DSMIL_ASSIGN_OR_RETURN(
          StmtPtr q, Prepare("INSERT OR IGNORE INTO stream_meta(stream, last_ms, last_seq) VALUES(?1, 0, 0)", what));
      Bind(q.get(), 1, stream);
      if (int rc = sqlite3_step(q.get()); rc != SQLITE_DONE) return Error(rc, what);
    }
    {
      DSMIL_ASSIGN_OR_RETURN(
          StmtPtr q,
          Prepare("INSERT OR IGNORE INTO consumer_groups(stream, name, last_ms, last_seq) VALUES(?1, ?2, 0, 0)", what));
      Bind(q.get(), 1, stream);
      Bind(q.get(), 2, group);
      if (int rc = sqlite3_step(q.get()); rc != SQLITE_DONE) return Error(rc, what);
    }
    return txn.Commit(what);
  }

  Result<std::vector<StreamEntry>> ReadGroup(StreamKind s, const std::string& group, const std::string& consumer,
                                             size_t count, std::chrono::milliseconds block) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    DSMIL_RETURN_IF_ERROR(CheckName("consumer", consumer));
    std::string stream = scope_.Stream(s);
    std::string what = "read group " + group + " of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    auto deadline = std::chrono::steady_clock::now() + block;
    for (;;) {
      DSMIL_ASSIGN_OR_RETURN(std::vector<StreamEntry> out, ReadGroupOnce(stream, group, consumer, count, what));
      if (!out.empty() || count == 0 || std::chrono::steady_clock::now() >= deadline) return out;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  Result<size_t> Ack(StreamKind s, const std::string& group, std::span<const std::string> ids) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    std::string stream = scope_.Stream(s);
    std::string what = "acknowledge in group " + group + " of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    if (ids.empty()) return size_t{0};
    std::vector<StreamId> parsed;
    for (const std::string& id : ids) {
      DSMIL_ASSIGN_OR_RETURN(StreamId p, ParseStreamId(id));
      parsed.push_back(p);
    }
    Txn txn(this);
    DSMIL_RETURN_IF_ERROR(txn.Begin(what));
    DSMIL_ASSIGN_OR_RETURN(StmtPtr del,
                           Prepare("DELETE FROM pending WHERE stream=?1 AND grp=?2 AND ms=?3 AND seq=?4", what));
    size_t acked = 0;
    for (const StreamId& id : parsed) {
      sqlite3_reset(del.get());
      Bind(del.get(), 1, stream);
      Bind(del.get(), 2, group);
      sqlite3_bind_int64(del.get(), 3, int64_t(id.ms));
      sqlite3_bind_int64(del.get(), 4, int64_t(id.seq));
      if (int rc = sqlite3_step(del.get()); rc != SQLITE_DONE) return Error(rc, what);
      acked += size_t(sqlite3_changes(db_.get()));
    }
    DSMIL_RETURN_IF_ERROR(txn.Commit(what));
    return acked;
  }

  Result<std::vector<StreamEntry>> Claim(StreamKind s, const std::string& group, const std::string& consumer,
                                         std::chrono::milliseconds min_idle, size_t count) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    DSMIL_RETURN_IF_ERROR(CheckName("consumer", consumer));
    std::string stream = scope_.Stream(s);
    std::string what = "claim in group " + group + " of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    std::vector<StreamEntry> out;
    Txn txn(this);
    DSMIL_RETURN_IF_ERROR(txn.Begin(what));
    DSMIL_RETURN_IF_ERROR(GroupPosition(stream, group, what).status());
    if (count == 0) {
      DSMIL_RETURN_IF_ERROR(txn.Commit(what));
      return out;
    }
    int64_t now = NowMs();
    DSMIL_ASSIGN_OR_RETURN(
        StmtPtr sel, Prepare("SELECT p.ms, p.seq, e.payload FROM pending p LEFT JOIN entries e "
                             "ON e.stream=p.stream AND e.ms=p.ms AND e.seq=p.seq "
                             "WHERE p.stream=?1 AND p.grp=?2 AND p.delivered_ms<=?3 ORDER BY p.ms, p.seq LIMIT ?4",
                             what));
    Bind(sel.get(), 1, stream);
    Bind(sel.get(), 2, group);
    sqlite3_bind_int64(sel.get(), 3, now - std::max<int64_t>(min_idle.count(), 0));
    sqlite3_bind_int64(sel.get(), 4, int64_t(count));
    std::vector<StreamId> gone;
    std::vector<StreamId> taken;
    int rc;
    while ((rc = sqlite3_step(sel.get())) == SQLITE_ROW) {
      StreamId id{uint64_t(sqlite3_column_int64(sel.get(), 0)), uint64_t(sqlite3_column_int64(sel.get(), 1))};
      if (sqlite3_column_type(sel.get(), 2) == SQLITE_NULL) {
        gone.push_back(id);  // trimmed away: dropped from the pending list, as XAUTOCLAIM does
        continue;
      }
      taken.push_back(id);
      out.push_back({FormatStreamId(id), ColumnText(sel.get(), 2)});
    }
    if (rc != SQLITE_DONE) return Error(rc, what);
    DSMIL_ASSIGN_OR_RETURN(StmtPtr upd,
                           Prepare("UPDATE pending SET consumer=?5, delivered_ms=?6, "
                                   "deliveries=deliveries+1 WHERE stream=?1 AND grp=?2 AND ms=?3 AND seq=?4",
                                   what));
    for (const StreamId& id : taken) {
      sqlite3_reset(upd.get());
      Bind(upd.get(), 1, stream);
      Bind(upd.get(), 2, group);
      sqlite3_bind_int64(upd.get(), 3, int64_t(id.ms));
      sqlite3_bind_int64(upd.get(), 4, int64_t(id.seq));
      Bind(upd.get(), 5, consumer);
      sqlite3_bind_int64(upd.get(), 6, now);
      if (int r = sqlite3_step(upd.get()); r != SQLITE_DONE) return Error(r, what);
    }
    DSMIL_ASSIGN_OR_RETURN(StmtPtr del,
                           Prepare("DELETE FROM pending WHERE stream=?1 AND grp=?2 AND ms=?3 AND seq=?4", what));
    for (const StreamId& id : gone) {
      sqlite3_reset(del.get());
      Bind(del.get(), 1, stream);
      Bind(del.get(), 2, group);
      sqlite3_bind_int64(del.get(), 3, int64_t(id.ms));
      sqlite3_bind_int64(del.get(), 4, int64_t(id.seq));
      if (int r = sqlite3_step(del.get()); r != SQLITE_DONE) return Error(r, what);
    }
    DSMIL_RETURN_IF_ERROR(txn.Commit(what));
    return out;
  }

  Result<std::vector<StreamEntry>> Range(StreamKind s, const std::string& after_id, size_t count) override {
    std::string stream = scope_.Stream(s);
    std::string what = "range of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    DSMIL_ASSIGN_OR_RETURN(StreamId after, ParseStreamId(after_id));
    DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("SELECT ms, seq, payload FROM entries WHERE stream=?1 AND "
                                              "(ms, seq) > (?2, ?3) ORDER BY ms, seq LIMIT ?4",
                                              what));
    Bind(q.get(), 1, stream);
    sqlite3_bind_int64(q.get(), 2, int64_t(after.ms));
    sqlite3_bind_int64(q.get(), 3, int64_t(after.seq));
    sqlite3_bind_int64(q.get(), 4, int64_t(count));
    return Collect(q.get(), what);
  }

  Result<std::vector<StreamEntry>> Latest(StreamKind s, size_t count) override {
    std::string stream = scope_.Stream(s);
    std::string what = "latest of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    DSMIL_ASSIGN_OR_RETURN(
        StmtPtr q,
        Prepare("SELECT ms, seq, payload FROM entries WHERE stream=?1 ORDER BY ms DESC, seq DESC LIMIT ?2", what));
    Bind(q.get(), 1, stream);
    sqlite3_bind_int64(q.get(), 2, int64_t(count));
    return Collect(q.get(), what);
  }

  Result<uint64_t> Length(StreamKind s) override {
    std::string stream = scope_.Stream(s);
    std::string what = "length of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("SELECT count(*) FROM entries WHERE stream=?1", what));
    Bind(q.get(), 1, stream);
    return CountOf(q.get(), what);
  }

  Result<uint64_t> Pending(StreamKind s, const std::string& group) override {
    DSMIL_RETURN_IF_ERROR(CheckName("group", group));
    std::string stream = scope_.Stream(s);
    std::string what = "pending of group " + group + " of " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kReader, what));
    DSMIL_RETURN_IF_ERROR(GroupPosition(stream, group, what).status());
    DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("SELECT count(*) FROM pending WHERE stream=?1 AND grp=?2", what));
    Bind(q.get(), 1, stream);
    Bind(q.get(), 2, group);
    return CountOf(q.get(), what);
  }

  Result<uint64_t> Trim(StreamKind s, std::chrono::system_clock::time_point now) override {
    std::string stream = scope_.Stream(s);
    std::string what = "trim " + stream;
    DSMIL_RETURN_IF_ERROR(Need(Access::kWriter, what));
    StreamId cut = TrimCut(s, now);
    DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("DELETE FROM entries WHERE stream=?1 AND ms<?2", what));
    Bind(q.get(), 1, stream);
    sqlite3_bind_int64(q.get(), 2, int64_t(cut.ms));
    if (int rc = sqlite3_step(q.get()); rc != SQLITE_DONE) return Error(rc, what);
    return uint64_t(sqlite3_changes(db_.get()));
  }

 private:
  // BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted.
  class Txn {
   public:
    explicit Txn(SqliteStreams* s) : s_(s) {}
    ~Txn() {
      if (open_) sqlite3_exec(s_->db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Status Begin(const std::string& what) {
      DSMIL_RETURN_IF_ERROR(s_->Exec("BEGIN IMMEDIATE", what));
      open_ = true;
      return Status::Ok();
    }
    Status Commit(const std::string& what) {
      DSMIL_RETURN_IF_ERROR(s_->Exec("COMMIT", what));
      open_ = false;
      return Status::Ok();
    }

   private:
    SqliteStreams* s_;
    bool open_ = false;
  };

  std::string Where() const {
    return "streams (embedded " + file_ + ", tenant " + scope_.tenant() + ", " + std::string(AccessName(access_)) + ")";
  }

  Status Need(Access a, const std::string& what) const {
    if (access_ == a) return Status::Ok();
    return Status::PermissionDenied(Where() + ": " + what + ": the " + std::string(AccessName(access_)) +
                                    " may not do this (" + std::string(AccessName(a)) + " access needed)");
  }

  Status Error(int rc, const std::string& what, const std::string& detail = {}) const {
    std::string msg = Where() + ": " + what + ": " + (detail.empty() ? sqlite3_errmsg(db_.get()) : detail);
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Unavailable(msg);
    if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return Status::DataLoss(msg);
    if (primary == SQLITE_FULL || primary == SQLITE_NOMEM) return Status::ResourceExhausted(msg);
    return Status::Internal(msg);
  }

  Status Exec(const char* sql, const std::string& what) {
    int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return Error(rc, what);
    return Status::Ok();
  }

  Result<StmtPtr> Prepare(const char* sql, const std::string& what) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr);
    if (rc != SQLITE_OK) return Error(rc, what);
    return StmtPtr(raw);
  }

  static void Bind(sqlite3_stmt* q, int i, const std::string& v) {
    sqlite3_bind_text(q, i, v.data(), int(v.size()), SQLITE_STATIC);
  }

  static std::string ColumnText(sqlite3_stmt* q, int col) {
    const void* p = sqlite3_column_blob(q, col);
    int n = sqlite3_column_bytes(q, col);
    return p ? std::string(static_cast<const char*>(p), size_t(n)) : std::string();
  }

  Result<std::vector<StreamEntry>> Collect(sqlite3_stmt* q, const std::string& what) {
    std::vector<StreamEntry> out;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
      StreamId id{uint64_t(sqlite3_column_int64(q, 0)), uint64_t(sqlite3_column_int64(q, 1))};
      out.push_back({FormatStreamId(id), ColumnText(q, 2)});
    }
    if (rc != SQLITE_DONE) return Error(rc, what);
    return out;
  }

  Result<uint64_t> CountOf(sqlite3_stmt* q, const std::string& what) {
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) return Error(rc, what);
    return uint64_t(sqlite3_column_int64(q, 0));
  }

  Status SetLast(const std::string& stream, StreamId last, const std::string& what) {
    DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("INSERT INTO stream_meta(stream, last_ms, last_seq) VALUES(?1, ?2, ?3) "
                                              "ON CONFLICT(stream) DO UPDATE SET last_ms=?2, last_seq=?3",
                                              what));
    Bind(q.get(), 1, stream);
    sqlite3_bind_int64(q.get(), 2, int64_t(last.ms));
    sqlite3_bind_int64(q.get(), 3, int64_t(last.seq));
    if (int rc = sqlite3_step(q.get()); rc != SQLITE_DONE) return Error(rc, what);
    return Status::Ok();
  }

  // The group's last delivered id; NotFound (as Redis' NOGROUP) when the
  // group does not exist.
  Result<StreamId> GroupPosition(const std::string& stream, const std::string& group, const std::string& what) {
    DSMIL_ASSIGN_OR_RETURN(StmtPtr q,
                           Prepare("SELECT last_ms, last_seq FROM consumer_groups WHERE stream=?1 AND name=?2", what));
    Bind(q.get(), 1, stream);
    Bind(q.get(), 2, group);
    int rc = sqlite3_step(q.get());
    if (rc == SQLITE_ROW) {
      return StreamId{uint64_t(sqlite3_column_int64(q.get(), 0)), uint64_t(sqlite3_column_int64(q.get(), 1))};
    }
    if (rc != SQLITE_DONE) return Error(rc, what);
    return Status::NotFound(Where() + ": " + what + ": NOGROUP no consumer group '" + group + "' on " + stream +
                            " (EnsureGroup creates it)");
  }

  Result<std::vector<StreamEntry>> ReadGroupOnce(const std::string& stream, const std::string& group,
                                                 const std::string& consumer, size_t count, const std::string& what) {
    std::vector<StreamEntry> out;
    Txn txn(this);
    DSMIL_RETURN_IF_ERROR(txn.Begin(what));
    DSMIL_ASSIGN_OR_RETURN(StreamId pos, GroupPosition(stream, group, what));
    if (count == 0) {
      DSMIL_RETURN_IF_ERROR(txn.Commit(what));
      return out;
    }
    {
      DSMIL_ASSIGN_OR_RETURN(StmtPtr q, Prepare("SELECT ms, seq, payload FROM entries WHERE stream=?1 AND "
                                                "(ms, seq) > (?2, ?3) ORDER BY ms, seq LIMIT ?4",
                                                what));
      Bind(q.get(), 1, stream);
      sqlite3_bind_int64(q.get(), 2, int64_t(pos.ms));
      sqlite3_bind_int64(q.get(), 3, int64_t(pos.seq));
      sqlite3_bind_int64(q.get(), 4, int64_t(count));
      DSMIL_ASSIGN_OR_RETURN(out, Collect(q.get(), what));
    }
    if (out.empty()) {
      DSMIL_RETURN_IF_ERROR(txn.Commit(what));
      return out;
    }
    int64_t now = NowMs();
    DSMIL_ASSIGN_OR_RETURN(StmtPtr ins,
                           Prepare("INSERT OR REPLACE INTO pending(stream, grp, ms, seq, consumer, delivered_ms, "
                                   "deliveries) VALUES(?1, ?2, ?3, ?4, ?5, ?6, 1)",
                                   what));
    StreamId last;
    for (const StreamEntry& e : out) {
      DSMIL_ASSIGN_OR_RETURN(last, ParseStreamId(e.id));
      sqlite3_reset(ins.get());
      Bind(ins.get(), 1, stream);
      Bind(ins.get(), 2, group);
      sqlite3_bind_int64(ins.get(), 3, int64_t(last.ms));
      sqlite3_bind_int64(ins.get(), 4, int64_t(last.seq));
      Bind(ins.get(), 5, consumer);
      sqlite3_bind_int64(ins.get(), 6, now);
      if (int rc = sqlite3_step(ins.get()); rc != SQLITE_DONE) return Error(rc, what);
    }
    DSMIL_ASSIGN_OR_RETURN(
        StmtPtr upd, Prepare("UPDATE consumer_groups SET last_ms=?3, last_seq=?4 WHERE stream=?1 AND name=?2", what));
    Bind(upd.get(), 1, stream);
    Bind(upd.get(), 2, group);
    sqlite3_bind_int64(upd.get(), 3, int64_t(last.ms));
    sqlite3_bind_int64(upd.get(), 4, int64_t(last.seq));
    if (int rc = sqlite3_step(upd.get()); rc != SQLITE_DONE) return Error(rc, what);
    DSMIL_RETURN_IF_ERROR(txn.Commit(what));
    return out;
  }

  TenantScope scope_;
  Access access_;
  std::string file_;
  std::unique_ptr<sqlite3, DbDeleter> db_;
};

}  // namespace

Result<std::unique_ptr<Streams>> OpenSqliteStreams(const StoresConfig& config, const TenantScope& scope,
                                                   Access access) {
  if (config.path.empty()) {
    return Status::InvalidArgument("stores.path: empty; the embedded streams need a data directory");
  }
  auto s = std::make_unique<SqliteStreams>(scope, access, config.path + "/streams/" + scope.tenant() + ".db");
  DSMIL_RETURN_IF_ERROR(s->Open());
  return std::unique_ptr<Streams>(std::move(s));
}

}  // namespace dsmil::store::internal
