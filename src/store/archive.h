// Archive: one tenant's long-term event store and audit log (spec §4.2).
//
// PostgreSQL 15 backend (libpq): schema dsmil_<tenant> with tables events,
// policies, audit_log; the connection logs in as the tenant's own role
// (alpha_app), and row-level security on tenant_id, tied to the role, lets the
// database itself refuse other tenants' rows. A batch goes in as one
// INSERT ... SELECT FROM unnest(<binary arrays>) ON CONFLICT (event_id) DO
// NOTHING (PostgreSQL refuses COPY into a table with row-level security, and
// COPY into a temporary table first measured slower), so ingest is atomic per
// batch and idempotent on event_id. Embedded backend: one SQLite file per
// tenant with the same tables and semantics.
//
// Thread safety: one thread at a time per object.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/config.h"
#include "store/scope.h"

namespace dsmil::store {

struct ArchivedEvent {
  std::string event_id;  // UUID; unique per tenant
  int64_t ts_ms = 0;     // event time, ms since the Unix epoch
  std::string category;  // l4.category ("" if not classified)
  std::string severity;  // l4.severity
  std::string body;      // the whole event as JSON
};

// Events of one whole UTC hour with one L4 category and severity ("" when
// not classified): a row of Archive::CountByHour.
struct HourlyCount {
  int64_t hour_ms = 0;  // start of the hour, ms since the Unix epoch
  std::string category;
  std::string severity;
  uint64_t count = 0;
};

// One row of the tenant's audit_log, as stored.
struct AuditRow {
  int64_t seq = 0;  // 1, 2, 3, ... per tenant
  int64_t ts_ms = 0;
  std::string event_type;  // TENANT_ESCAPE_ATTEMPT, AUTH_FAILED, POLICY_DENIED, ...
  std::string actor;       // who tried (key id, certificate CN, device)
  std::string detail;      // JSON
  std::string prev_hash;   // hex SHA3-256 of the previous row ("" for seq 1: 64 zeros)
  std::string hash;        // hex SHA3-256 over prev_hash and this row's fields
  std::string mac;         // hex HMAC-SHA3-256 of hash under the node log key
};

// The head of a tenant's audit log: how many rows it holds and the newest.
struct AuditHead {
  uint64_t rows = 0;
  std::optional<AuditRow> last;
};

class Archive {
 public:
  virtual ~Archive() = default;
  virtual const TenantScope& scope() const = 0;

  // Stores the events; those whose event_id is already archived are skipped.
  // Returns how many rows were new. All or nothing per call.
  virtual Result<size_t> Ingest(std::span<const ArchivedEvent> events) = 0;
  virtual Result<uint64_t> Count() = 0;
  virtual Result<std::optional<ArchivedEvent>> Get(const std::string& event_id) = 0;
  // Newest first, at most `limit`, with ts_ms >= since_ms.
  virtual Result<std::vector<ArchivedEvent>> Recent(size_t limit, int64_t since_ms) = 0;
  // The events with since_ms <= ts_ms < until_ms counted per whole UTC hour,
  // category and severity, in hour order, without reading their bodies (the
  // L5 forecasts, docs/l5-l6.md §4). The default counts the rows of Recent;
  // the backends answer with one grouped query.
  virtual Result<std::vector<HourlyCount>> CountByHour(int64_t since_ms, int64_t until_ms);
  // The number of events with since_ms <= ts_ms < until_ms, one index range
  // count (no grouping): L5 checks with it that hours it counted before are
  // unchanged. The archive is append-only (Ingest never deletes or
  // rewrites an event), so an unchanged count means unchanged hours. The
  // default sums CountByHour.
  virtual Result<uint64_t> CountBetween(int64_t since_ms, int64_t until_ms);

  // Appends an audit row: seq, prev_hash, hash and mac are computed here
  // (store/audit.h), under a lock that serialises appenders of the tenant
  // (also across processes). Returns the stored row.
  virtual Result<AuditRow> AppendAudit(int64_t ts_ms, const std::string& event_type, const std::string& actor,
                                       const std::string& detail) = 0;
  // Every audit row in seq order.
  virtual Result<std::vector<AuditRow>> ReadAudit() = 0;
  // The number of audit rows and the newest row (absent when the log is
  // empty), read in one statement without reading the whole log. The default
  // reads the whole log; the backends answer with one query.
  virtual Result<AuditHead> ReadAuditHead() {
    DSMIL_ASSIGN_OR_RETURN(std::vector<AuditRow> rows, ReadAudit());
    AuditHead h;
    h.rows = rows.size();
    if (!rows.empty()) h.last = std::move(rows.back());
    return h;
  }
  // The audit row with this seq, if there is one (the default reads the
  // whole log).
  virtual Result<std::optional<AuditRow>> ReadAuditRow(int64_t seq) {
    DSMIL_ASSIGN_OR_RETURN(std::vector<AuditRow> rows, ReadAudit());
    for (auto& r : rows) {
      if (r.seq == seq) return std::optional<AuditRow>(std::move(r));
    }
    return std::optional<AuditRow>();
  }
};

// Opens the tenant's archive as its own role (alpha_app) on the configured
// backend; audit MACs use the node log key (LoadOrCreateLogKey).
Result<std::unique_ptr<Archive>> OpenArchive(const StoresConfig& config, const TenantScope& scope);

}  // namespace dsmil::store
