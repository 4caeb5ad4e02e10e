// PostgreSQL archive over libpq, logged in as the tenant's own role.
//
// Ingest: one statement per batch,
//   INSERT INTO dsmil_<t>.events SELECT ... FROM unnest($1::text[],
//   $2::timestamptz[], ...) ON CONFLICT (event_id) DO NOTHING
// with the five columns as binary array parameters. (COPY cannot write into
// a table with row-level security; COPY into a temporary table followed by
// INSERT ... SELECT measured 0.50x of a plain COPY here, this statement
// 0.78x: one round trip, no temporary heap. See docs/archive.md.) The
// statement is atomic and idempotent, so a batch interrupted by a lost
// connection is simply sent again after reconnecting (within
// stores.postgres.connect_timeout_s); the count of new rows it returns
// then leaves out rows the lost attempt had already committed.
//
// AppendAudit: BEGIN; pg_advisory_xact_lock(<tenant key>); read the last row;
// insert the sealed next row; COMMIT. The advisory lock serialises appenders
// of the tenant across processes. An append whose COMMIT was sent but never
// answered is NOT retried (it may have committed): the caller gets
// Unavailable("... outcome unknown ...").
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/coding.h"
#include "store/archive_backends.h"
#include "store/audit.h"

namespace dsmil::store {
namespace {

using Clock = std::chrono::steady_clock;

struct PgResult {
  PGresult* r = nullptr;
  PgResult() = default;
  explicit PgResult(PGresult* p) : r(p) {}
  PgResult(PgResult&& o) noexcept : r(o.r) { o.r = nullptr; }
  PgResult& operator=(PgResult&& o) noexcept {
    std::swap(r, o.r);
    return *this;
  }
  ~PgResult() {
    if (r) PQclear(r);
  }
};

// Quotes a libpq conninfo value.
std::string ConnValue(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Binary parameter encoding (arrays of PostgreSQL's binary send format).
void PutU32(std::string& buf, uint32_t v) {
  char b[4];
  PutU32BE(reinterpret_cast<uint8_t*>(b), v);
  buf.append(b, 4);
}
void PutU64(std::string& buf, uint64_t v) {
  char b[8];
  PutU64BE(reinterpret_cast<uint8_t*>(b), v);
  buf.append(b, 8);
}
void PutField(std::string& buf, std::string_view v) {
  PutU32(buf, uint32_t(v.size()));
  buf.append(v);
}

constexpr char kEpochTs[] = "'1970-01-01 00:00:00+00'::timestamptz";

class PostgresArchive final : public Archive {
 public:
  PostgresArchive(StoresConfig config, TenantScope scope, std::string password, std::string log_key)
      : config_(std::move(config)),
        scope_(std::move(scope)),
        password_(std::move(password)),
        log_key_(std::move(log_key)) {
    const std::string schema = scope_.Schema();
    events_ = schema + ".events";
    audit_ = schema + ".audit_log";
  }
  ~PostgresArchive() override { Disconnect(); }

  const TenantScope& scope() const override { return scope_; }

  Status Connect() {
    Disconnect();
    const auto& pg = config_.postgres;
    std::string ci = "host=" + ConnValue(pg.host) + " port=" + std::to_string(pg.port) +
                     " dbname=" + ConnValue(pg.dbname) + " user=" + ConnValue(scope_.PgRole()) +
                     " password=" + ConnValue(password_) +
                     " connect_timeout=" + std::to_string(std::max(1, pg.connect_timeout_s)) +
                     " application_name=" + ConnValue("dsmil-archive-" + scope_.lower()) +
                     " options=" + ConnValue("-c search_path=" + scope_.Schema());
    conn_ = PQconnectdb(ci.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string err = PQerrorMessage(conn_);
      Disconnect();
      while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
      return Status::Unavailable("archive " + scope_.tenant() + ": cannot connect to PostgreSQL " + pg.host + ":" +
                                 std::to_string(pg.port) + "/" + pg.dbname + " as " + scope_.PgRole() + ": " + err);
    }
    // Server notices (e.g. "relation already exists, skipping") are not for stderr.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    return Status::Ok();
  }

  Result<size_t> Ingest(std::span<const ArchivedEvent> events) override {
    // Cheap checks here; the full check (UTF-8, JSON) runs only when the
    // server refuses the batch, to name the event at fault.
    DSMIL_RETURN_IF_ERROR(CheckEventKeys(scope_, events));
    if (events.empty()) return size_t{0};
    // The parameters are built once; a retry after reconnecting resends them.
    const std::vector<std::string> arrays = BuildArrays(events);
    size_t added = 0;
    Status s = WithRetry("ingest", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(added, IngestArrays(arrays));
      return Status::Ok();
    });
    if (!s.ok() && s.code() != StatusCode::kUnavailable) {
      // The server refused the data (e.g. a body that is not JSON): name the event.
      Status named = ValidateEvents(scope_, events);
      if (!named.ok()) return named;
    }
    if (!s.ok()) return s;
    return added;
  }

  Result<uint64_t> Count() override {
    uint64_t n = 0;
    DSMIL_RETURN_IF_ERROR(WithRetry("count", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query("SELECT count(*) FROM " + events_, {}));
      n = std::strtoull(PQgetvalue(r.r, 0, 0), nullptr, 10);
      return Status::Ok();
    }));
    return n;
  }

  Result<std::optional<ArchivedEvent>> Get(const std::string& event_id) override {
    std::optional<ArchivedEvent> out;
    DSMIL_RETURN_IF_ERROR(WithRetry("get", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query(SelectEvents() + " WHERE event_id = $1", {event_id}));
      out.reset();
      if (PQntuples(r.r) > 0) out = RowToEvent(r.r, 0);
      return Status::Ok();
    }));
    return out;
  }

  Result<std::vector<ArchivedEvent>> Recent(size_t limit, int64_t since_ms) override {
    std::vector<ArchivedEvent> out;
    const std::string lim = std::to_string(std::min<size_t>(limit, size_t(INT64_MAX)));
    since_ms = std::clamp(since_ms, kMinEventTsMs, kMaxEventTsMs);  // keeps the interval arithmetic in range
    DSMIL_RETURN_IF_ERROR(WithRetry("recent", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query(SelectEvents() + " WHERE ts >= " + kEpochTs +
                                                   " + $1::bigint * interval '1 millisecond'"
                                                   " ORDER BY ts DESC, event_id DESC LIMIT $2::bigint",
                                               {std::to_string(since_ms), lim}));
      out.clear();
      for (int i = 0; i < PQntuples(r.r); ++i) out.push_back(RowToEvent(r.r, i));
      return Status::Ok();
    }));
    return out;
  }

  Result<std::vector<HourlyCount>> CountByHour(int64_t since_ms, int64_t until_ms) override {
    std::vector<HourlyCount> out;
    since_ms = std::clamp(since_ms, kMinEventTsMs, kMaxEventTsMs);  // keeps the interval arithmetic in range
    until_ms = std::clamp(until_ms, kMinEventTsMs, kMaxEventTsMs);
    DSMIL_RETURN_IF_ERROR(WithRetry("hourly counts", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(
          PgResult r,
          Query("SELECT (floor(extract(epoch FROM ts) / 3600) * 3600000)::bigint AS h, category, severity, "
                "count(*) FROM " +
                    events_ + " WHERE ts >= " + kEpochTs + " + $1::bigint * interval '1 millisecond' AND ts < " +
                    kEpochTs + " + $2::bigint * interval '1 millisecond' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                {std::to_string(since_ms), std::to_string(until_ms)}));
      out.clear();
      for (int i = 0; i < PQntuples(r.r); ++i) {
        out.push_back({std::strtoll(PQgetvalue(r.r, i, 0), nullptr, 10), Val(r.r, i, 1), Val(r.r, i, 2),
                       std::strtoull(PQgetvalue(r.r, i, 3), nullptr, 10)});
      }
      return Status::Ok();
    }));
    return out;
  }

  Result<uint64_t> CountBetween(int64_t since_ms, int64_t until_ms) override {
    uint64_t n = 0;
    since_ms = std::clamp(since_ms, kMinEventTsMs, kMaxEventTsMs);
    until_ms = std::clamp(until_ms, kMinEventTsMs, kMaxEventTsMs);
    DSMIL_RETURN_IF_ERROR(WithRetry("count between", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query("SELECT count(*) FROM " + events_ + " WHERE ts >= " + kEpochTs +
                                                   " + $1::bigint * interval '1 millisecond' AND ts < " + kEpochTs +
                                                   " + $2::bigint * interval '1 millisecond'",
                                               {std::to_string(since_ms), std::to_string(until_ms)}));
      n = std::strtoull(PQgetvalue(r.r, 0, 0), nullptr, 10);
      return Status::Ok();
    }));
    return n;
  }

  Result<AuditRow> AppendAudit(int64_t ts_ms, const std::string& event_type, const std::string& actor,
                               const std::string& detail) override {
    DSMIL_RETURN_IF_ERROR(ValidateAuditFields(scope_, event_type, actor, detail));
    AuditRow row;
    DSMIL_RETURN_IF_ERROR(WithRetry(
        "audit append",
        [&](bool& committing) -> Status {
          DSMIL_RETURN_IF_ERROR(Command("BEGIN"));
          Status s = AppendLocked(ts_ms, event_type, actor, detail, row);
          if (s.ok()) {
            committing = true;
            s = Command("COMMIT");
          }
          if (!s.ok()) Rollback();
          return s;
        },
        /*retry_after_commit=*/false));
    return row;
  }

  Result<std::vector<AuditRow>> ReadAudit() override {
    std::vector<AuditRow> out;
    DSMIL_RETURN_IF_ERROR(WithRetry("read audit", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query(SelectAudit() + " ORDER BY seq", {}));
      out.clear();
      out.reserve(size_t(PQntuples(r.r)));
      for (int i = 0; i < PQntuples(r.r); ++i) out.push_back(RowToAudit(r.r, i));
      return Status::Ok();
    }));
    return out;
  }

  Result<AuditHead> ReadAuditHead() override {
    AuditHead h;
    DSMIL_RETURN_IF_ERROR(WithRetry("read audit head", [&](bool&) -> Status {
      // One statement: the count and the newest row come from one snapshot.
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query("SELECT a.*, (SELECT count(*) FROM " + audit_ + ") FROM (" +
                                                   SelectAudit() + " ORDER BY seq DESC LIMIT 1) a",
                                               {}));
      h = AuditHead{};
      if (PQntuples(r.r) > 0) {
        h.last = RowToAudit(r.r, 0);
        h.rows = std::strtoull(PQgetvalue(r.r, 0, 8), nullptr, 10);
      }
      return Status::Ok();
    }));
    return h;
  }

  Result<std::optional<AuditRow>> ReadAuditRow(int64_t seq) override {
    std::optional<AuditRow> out;
    DSMIL_RETURN_IF_ERROR(WithRetry("read audit row", [&](bool&) -> Status {
      DSMIL_ASSIGN_OR_RETURN(PgResult r, Query(SelectAudit() + " WHERE seq = $1::bigint", {std::to_string(seq)}));
      out.reset();
      if (PQntuples(r.r) > 0) out = RowToAudit(r.r, 0);
      return Status::Ok();
    }));
    return out;
  }

 private:
  // Runs `op` on a live connection. When the connection is lost (before or
  // during the op), reconnects and runs it again until
  // stores.postgres.connect_timeout_s has passed since the first failure.
  // `op` sets its flag once COMMIT has been sent; a loss after that is
  // retried only when retry_after_commit (the op is idempotent).
  template <typename Op>
  Status WithRetry(const char* what, Op op, bool retry_after_commit = true) {
    const auto window = std::chrono::seconds(std::max(1, config_.postgres.connect_timeout_s));
    std::optional<Clock::time_point> first_failure;
    auto backoff = std::chrono::milliseconds(20);
    Status last;
    for (;;) {
      if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
        last = Connect();
      } else {
        bool committing = false;
        last = op(committing);
        if (last.ok()) return last;
        if (!ConnectionLost()) return last;
        if (committing && !retry_after_commit) {
          Disconnect();
          return Status::Unavailable("archive " + scope_.tenant() + ": " + what +
                                     ": connection lost after COMMIT was sent; outcome unknown (" + last.message() +
                                     ")");
        }
        Disconnect();
      }
      if (last.ok()) continue;  // connected; run the op
      auto now = Clock::now();
      if (!first_failure) first_failure = now;
      if (now - *first_failure >= window) {
        return Status::Unavailable("archive " + scope_.tenant() + ": " + what + ": gave up after " +
                                   std::to_string(window.count()) + " s: " + last.message());
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }

  bool ConnectionLost() {
    if (!conn_ || PQstatus(conn_) != CONNECTION_OK) return true;
    // 08xxx connection exceptions, 57P01..57P03 shutdown / cannot connect now.
    return last_sqlstate_.rfind("08", 0) == 0 || last_sqlstate_ == "57P01" || last_sqlstate_ == "57P02" ||
           last_sqlstate_ == "57P03";
  }

  // Five one-dimensional arrays in PostgreSQL's binary array format:
  // event_id text[], ts timestamptz[], category text[], severity text[], body text[].
  static std::vector<std::string> BuildArrays(std::span<const ArchivedEvent> events) {
    constexpr uint32_t kTextOid = 25, kTimestamptzOid = 1184;
    constexpr int64_t kPgEpochMs = 946684800000;  // 2000-01-01, PostgreSQL's timestamp origin
    std::vector<std::string> a(5);
    auto header = [&](std::string& b, uint32_t oid) {
      PutU32(b, 1);  // ndim
      PutU32(b, 0);  // flags: no NULLs
      PutU32(b, oid);
      PutU32(b, uint32_t(events.size()));
      PutU32(b, 1);  // lower bound
    };
    header(a[0], kTextOid);
    header(a[1], kTimestamptzOid);
    header(a[2], kTextOid);
    header(a[3], kTextOid);
    header(a[4], kTextOid);
    for (const auto& e : events) {
      PutField(a[0], e.event_id);
      PutU32(a[1], 8);
      PutU64(a[1], uint64_t((e.ts_ms - kPgEpochMs) * 1000));  // µs since 2000 (range checked)
      PutField(a[2], e.category);
      PutField(a[3], e.severity);
      PutField(a[4], e.body);
    }
    return a;
  }

  // Inserts the rows not yet stored (ids already stored, or repeated in the
  // batch, are skipped). One atomic statement. (A plain insert behind a NOT
  // EXISTS anti-join, to skip speculative insertion, measured far slower:
  // the planner's row estimate for unnest picks poor join plans.)
  Result<size_t> IngestArrays(const std::vector<std::string>& a) {
    return InsertArrays("INSERT INTO " + events_ +
                            " (event_id, tenant_id, ts, category, severity, body)"
                            " SELECT e, '" +
                            scope_.tenant() +
                            "', t, c, s, b::jsonb"
                            " FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[])"
                            " AS u(e, t, c, s, b) ON CONFLICT (event_id) DO NOTHING",
                        a);
  }

  Result<size_t> InsertArrays(const std::string& sql, const std::vector<std::string>& a) {
    const Oid types[5] = {1009, 1185, 1009, 1009, 1009};  // text[], timestamptz[]
    const char* values[5];
    int lengths[5], formats[5];
    for (int i = 0; i < 5; ++i) {
      values[i] = a[size_t(i)].data();
      lengths[i] = int(a[size_t(i)].size());
      formats[i] = 1;
    }
    PgResult r(PQexecParams(conn_, sql.c_str(), 5, types, values, lengths, formats, 0));
    if (PQresultStatus(r.r) != PGRES_COMMAND_OK) return Failed("insert", r.r);
    last_sqlstate_.clear();
    return size_t(std::strtoull(PQcmdTuples(r.r), nullptr, 10));
  }

  Status AppendLocked(int64_t ts_ms, const std::string& event_type, const std::string& actor, const std::string& detail,
                      AuditRow& row) {
    DSMIL_ASSIGN_OR_RETURN(PgResult lock, Query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                                                {"dsmil.audit_log." + scope_.tenant()}));
    DSMIL_ASSIGN_OR_RETURN(PgResult last, Query(SelectAudit() + " ORDER BY seq DESC LIMIT 1", {}));
    std::optional<AuditRow> prev;
    if (PQntuples(last.r) > 0) prev = RowToAudit(last.r, 0);
    row = AuditRow{};
    row.seq = prev ? prev->seq + 1 : 1;
    row.ts_ms = ts_ms;
    row.event_type = event_type;
    row.actor = actor;
    row.detail = detail;
    SealAuditRow(prev ? &*prev : nullptr, log_key_, row);
    DSMIL_ASSIGN_OR_RETURN(
        PgResult ins,
        Query("INSERT INTO " + audit_ +
                  " (seq, ts, event_type, actor, detail, prev_hash, hash, mac, tenant_id) VALUES ($1::bigint, " +
                  kEpochTs + " + $2::bigint * interval '1 millisecond', $3, $4, $5, $6, $7, $8, '" + scope_.tenant() +
                  "')",
              {std::to_string(row.seq), std::to_string(row.ts_ms), row.event_type, row.actor, row.detail, row.prev_hash,
               row.hash, row.mac}));
    return Status::Ok();
  }

  std::string SelectEvents() const {
    return "SELECT event_id, (extract(epoch FROM ts) * 1000)::bigint, category, severity, body::text FROM " + events_;
  }
  std::string SelectAudit() const {
    return "SELECT seq, (extract(epoch FROM ts) * 1000)::bigint, event_type, actor, detail, prev_hash, hash, mac "
           "FROM " +
           audit_;
  }

  static std::string Val(PGresult* r, int row, int col) {
    return std::string(PQgetvalue(r, row, col), size_t(PQgetlength(r, row, col)));
  }
  static ArchivedEvent RowToEvent(PGresult* r, int i) {
    ArchivedEvent e;
    e.event_id = Val(r, i, 0);
    e.ts_ms = std::strtoll(PQgetvalue(r, i, 1), nullptr, 10);
    e.category = Val(r, i, 2);
    e.severity = Val(r, i, 3);
    e.body = Val(r, i, 4);
    return e;
  }
  static AuditRow RowToAudit(PGresult* r, int i) {
    AuditRow a;
    a.seq = std::strtoll(PQgetvalue(r, i, 0), nullptr, 10);
    a.ts_ms = std::strtoll(PQgetvalue(r, i, 1), nullptr, 10);
    a.event_type = Val(r, i, 2);
    a.actor = Val(r, i, 3);
    a.detail = Val(r, i, 4);
    a.prev_hash = Val(r, i, 5);
    a.hash = Val(r, i, 6);
    a.mac = Val(r, i, 7);
    return a;
  }

  Result<PgResult> Query(const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    for (const auto& p : params) {
      values.push_back(p.c_str());
      lengths.push_back(int(p.size()));
    }
    PgResult r(
        PQexecParams(conn_, sql.c_str(), int(params.size()), nullptr, values.data(), lengths.data(), nullptr, 0));
    ExecStatusType st = PQresultStatus(r.r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Failed("query", r.r);
    last_sqlstate_.clear();
    return r;
  }
  Status Command(const char* sql) {
    PgResult r(PQexec(conn_, sql));
    if (PQresultStatus(r.r) != PGRES_COMMAND_OK) return Failed(sql, r.r);
    last_sqlstate_.clear();
    return Status::Ok();
  }
  void Rollback() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      PgResult r(PQexec(conn_, "ROLLBACK"));
    }
  }

  // Records the SQLSTATE and maps the error: permission / RLS refusals to
  // PermissionDenied, connection trouble to Unavailable, bad data to
  // InvalidArgument, the rest to Internal.
  Status Failed(const std::string& what, PGresult* r) {
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    last_sqlstate_ = state ? state : "";
    std::string msg = r ? PQresultErrorMessage(r) : "";
    if (msg.empty() && conn_) msg = PQerrorMessage(conn_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (msg.empty()) msg = "no answer from the server";
    std::string full = "archive " + scope_.tenant() + ": " + what.substr(0, 40) + ": " + msg;
    if (last_sqlstate_ == "42501") return Status::PermissionDenied(full);
    if (ConnectionLost()) return Status::Unavailable(full);
    if (last_sqlstate_.rfind("22", 0) == 0 || last_sqlstate_.rfind("23", 0) == 0) {
      return Status::InvalidArgument(full);
    }
    return Status::Internal(full);
  }

  void Disconnect() {
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  StoresConfig config_;
  TenantScope scope_;
  std::string password_;
  std::string log_key_;
  std::string events_, audit_;
  PGconn* conn_ = nullptr;
  std::string last_sqlstate_;
};

}  // namespace

Result<std::unique_ptr<Archive>> OpenPostgresArchive(const StoresConfig& config, const TenantScope& scope) {
  DSMIL_ASSIGN_OR_RETURN(std::string password, ReadSecret(config, "postgres/" + scope.PgRole() + ".pass"));
  DSMIL_ASSIGN_OR_RETURN(std::string key, LoadOrCreateLogKey(config));
  auto a = std::make_unique<PostgresArchive>(config, scope, std::move(password), std::move(key));
  DSMIL_RETURN_IF_ERROR(a->Connect());
  return std::unique_ptr<Archive>(std::move(a));
}

}  // namespace dsmil::store
