// Archive ingest benchmark. Starts its own PostgreSQL 15 (fsync on, as in
// production), initialised with the rendered init SQL for ALPHA, then for
// each round:
//   ours   Archive::Ingest as alpha_app, batches of `batch` rows: COPY
//          (binary) into a temporary table + INSERT ... ON CONFLICT
//          (event_id) DO NOTHING into dsmil_alpha.events (RLS forced).
//   plain  the same rows as a plain binary COPY by libpq into an equivalent
//          table (same columns, primary key and ts index, no RLS), one COPY
//          per batch, as the superuser.
// Also: re-ingesting rows already stored (all skipped), and the embedded
// SQLite backend. Prints rows/s and the ratio ours/plain; never asserts.
//
// Usage: bench_archive [rows (default 50000)] [batch (default 1000)] [rounds (default 6)]
#include <libpq-fe.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/coding.h"
#include "postgres_server.h"
#include "store/archive.h"
#include "store/pg_init.h"

namespace {

using Clock = std::chrono::steady_clock;
using dsmil::store::ArchivedEvent;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::vector<ArchivedEvent> MakeRows(const std::string& prefix, size_t n) {
  std::vector<ArchivedEvent> v(n);
  const int64_t t0 = 1732377600000;
  static const char* kSev[] = {"low", "medium", "high", "critical"};
  for (size_t i = 0; i < n; ++i) {
    ArchivedEvent& e = v[i];
    char id[64];
    std::snprintf(id, sizeof(id), "%s-%08zx-4a53-9f3e-0b6c2f9d8a11", prefix.c_str(), i);
    e.event_id = id;
    e.ts_ms = t0 + int64_t(i);
    e.category = "malware";
    e.severity = kSev[i % 4];
    e.body = std::string(R"({"event_id":")") + id + R"(","tenant_id":"ALPHA","source":"l3.sensor.14","host":"ws-)" +
             std::to_string(i % 500) + R"(","src_ip":"10.1.)" + std::to_string(i % 250) + "." +
             std::to_string(i % 200) + R"(","l4":{"category":"malware","severity":")" + kSev[i % 4] +
             R"(","score":0.)" + std::to_string(100 + i % 900) + R"(},"message":"beacon to known C2 domain"})";
  }
  return v;
}

// libpq COPY BINARY encoders for the plain baseline.
void U16(std::string& b, uint16_t v) {
  char x[2];
  dsmil::PutU16BE(reinterpret_cast<uint8_t*>(x), v);
  b.append(x, 2);
}
void U32(std::string& b, uint32_t v) {
  char x[4];
  dsmil::PutU32BE(reinterpret_cast<uint8_t*>(x), v);
  b.append(x, 4);
}
void U64(std::string& b, uint64_t v) {
  char x[8];
  dsmil::PutU64BE(reinterpret_cast<uint8_t*>(x), v);
  b.append(x, 8);
}
void Text(std::string& b, const std::string& s) {
  U32(b, uint32_t(s.size()));
  b += s;
}

std::string PlainCopyBatch(const ArchivedEvent* rows, size_t n) {
  std::string b;
  static const char kSig[] = "PGCOPY\n\377\r\n";
  b.append(kSig, sizeof(kSig));
  U32(b, 0);
  U32(b, 0);
  constexpr int64_t kPgEpochMs = 946684800000;  // 2000-01-01 in Unix ms
  for (size_t i = 0; i < n; ++i) {
    const ArchivedEvent& e = rows[i];
    U16(b, 6);
    Text(b, e.event_id);
    Text(b, "ALPHA");
    U32(b, 8);
    U64(b, uint64_t((e.ts_ms - kPgEpochMs) * 1000));  // timestamptz: µs since 2000
    Text(b, e.category);
    Text(b, e.severity);
    U32(b, uint32_t(e.body.size() + 1));  // jsonb binary: version 1, then the text
    b += '\1';
    b += e.body;
  }
  U16(b, 0xffff);
  return b;
}

bool Exec(PGconn* c, const std::string& sql) {
  PGresult* r = PQexec(c, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok) std::fprintf(stderr, "bench_archive: %s: %s", sql.c_str(), PQresultErrorMessage(r));
  PQclear(r);
  return ok;
}

double PlainCopy(PGconn* c, const std::vector<ArchivedEvent>& rows, size_t batch) {
  if (!Exec(c, "TRUNCATE bench.events_plain")) return 0;
  auto t0 = Clock::now();
  for (size_t off = 0; off < rows.size(); off += batch) {
    size_t n = std::min(batch, rows.size() - off);
    std::string data = PlainCopyBatch(rows.data() + off, n);  // built inside the timing, as ours is
    PGresult* r = PQexec(c, "COPY bench.events_plain FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
      std::fprintf(stderr, "bench_archive: COPY: %s", PQresultErrorMessage(r));
      PQclear(r);
      return 0;
    }
    PQclear(r);
    PQputCopyData(c, data.data(), int(data.size()));
    PQputCopyEnd(c, nullptr);
    while (PGresult* res = PQgetResult(c)) {
      if (PQresultStatus(res) != PGRES_COMMAND_OK)
        std::fprintf(stderr, "bench_archive: COPY: %s", PQresultErrorMessage(res));
      PQclear(res);
    }
  }
  return double(rows.size()) / Seconds(Clock::now() - t0);
}

double Ours(dsmil::store::Archive& a, const std::vector<ArchivedEvent>& rows, size_t batch, size_t* added) {
  auto t0 = Clock::now();
  size_t total = 0;
  for (size_t off = 0; off < rows.size(); off += batch) {
    size_t n = std::min(batch, rows.size() - off);
    auto r = a.Ingest(std::span(rows.data() + off, n));
    if (!r.ok()) {
      std::fprintf(stderr, "bench_archive: ingest: %s\n", r.status().ToString().c_str());
      return 0;
    }
    total += *r;
  }
  double rate = double(rows.size()) / Seconds(Clock::now() - t0);
  if (added) *added = total;
  return rate;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  size_t rows_n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 50000;
  size_t batch = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 1000;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 6;
  if (rows_n == 0 || batch == 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: bench_archive [rows] [batch] [rounds]\n");
    return 2;
  }
  char tmpl[] = "/tmp/dsmil-archive-bench-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  auto alpha = dsmil::store::TenantScope::For("ALPHA").value();
  std::vector<dsmil::store::TenantScope> tenants = {alpha};
  auto sql = dsmil::store::RenderPgInitSql(tenants, dir + "/secrets");
  if (!sql.ok()) {
    std::fprintf(stderr, "bench_archive: %s\n", sql.status().ToString().c_str());
    return 1;
  }
  dsmil::testing::PostgresServerOptions po;
  po.fsync = true;
  po.init_sql = *sql + R"(
CREATE SCHEMA bench;
CREATE TABLE bench.events_plain (
  event_id text PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT 'ALPHA' CHECK (tenant_id = 'ALPHA'),
  ts timestamptz NOT NULL,
  category text NOT NULL DEFAULT '',
  severity text NOT NULL DEFAULT '',
  body jsonb NOT NULL);
CREATE INDEX events_plain_ts_idx ON bench.events_plain (ts);
)";
  auto server = dsmil::testing::PostgresServer::Start(po);
  if (!server.ok()) {
    std::fprintf(stderr, "bench_archive: %s\n", server.status().ToString().c_str());
    return 1;
  }
  auto& pg = **server;
  dsmil::store::StoresConfig config;
  config.kind = "servers";
  config.path = dir + "/data";
  config.secrets_dir = dir + "/secrets";
  config.postgres.host = pg.host();
  config.postgres.port = pg.port();
  config.postgres.dbname = pg.dbname();
  auto archive = dsmil::store::OpenArchive(config, alpha);
  if (!archive.ok()) {
    std::fprintf(stderr, "bench_archive: %s\n", archive.status().ToString().c_str());
    return 1;
  }
  // The baseline connects like ours does: TCP loopback with a SCRAM password.
  if (!pg.Psql("ALTER ROLE postgres PASSWORD 'bench'").ok()) return 1;
  std::string ci = "host=127.0.0.1 port=" + std::to_string(pg.port()) + " dbname=dsmil user=postgres password=bench";
  PGconn* plain = PQconnectdb(ci.c_str());
  if (PQstatus(plain) != CONNECTION_OK) {
    std::fprintf(stderr, "bench_archive: %s", PQerrorMessage(plain));
    return 1;
  }

  std::printf(
      "archive ingest: %zu rows per round, batches of %zu, %d rounds, PostgreSQL 15 on loopback TCP (fsync on)\n",
      rows_n, batch, rounds);
  auto sample = MakeRows("warm", 1);
  std::printf("row body: %zu bytes of JSON\n", sample[0].body.size());
  std::vector<double> ours, base, again, ratios;
  for (int r = 0; r < rounds; ++r) {
    auto rows = MakeRows("r" + std::to_string(r), rows_n);
    // Both tables start each round empty (the superuser empties ours); the
    // order alternates so that drift in the machine's load hits both alike.
    if (!pg.Psql("TRUNCATE dsmil_alpha.events").ok()) return 1;
    size_t added = 0;
    double p = 0, o = 0;
    if (r % 2 == 0) {
      p = PlainCopy(plain, rows, batch);
      o = Ours(**archive, rows, batch, &added);
    } else {
      o = Ours(**archive, rows, batch, &added);
      p = PlainCopy(plain, rows, batch);
    }
    double d = Ours(**archive, rows, batch, nullptr);  // every row already stored
    std::printf(
        "  round %d: ours %.0f rows/s (%zu new), plain COPY %.0f rows/s, ratio %.2f, "
        "re-ingest (all skipped) %.0f rows/s\n",
        r + 1, o, added, p, p > 0 ? o / p : 0, d);
    ratios.push_back(p > 0 ? o / p : 0);
    ours.push_back(o);
    base.push_back(p);
    again.push_back(d);
  }
  std::printf("PostgreSQL  ours (Archive::Ingest, RLS, idempotent) %10.0f rows/s  (median)\n", Median(ours));
  std::printf("PostgreSQL  plain binary COPY, equivalent table      %10.0f rows/s  (median)\n", Median(base));
  std::printf(
      "PostgreSQL  ratio ours / plain COPY                  %10.2f  (median of the rounds' ratios; goal >= 0.80)\n",
      Median(ratios));
  std::printf("PostgreSQL  re-ingest of stored rows (all skipped)   %10.0f rows/s  (median)\n", Median(again));
  PQfinish(plain);

  dsmil::store::StoresConfig emb;
  emb.kind = "embedded";
  emb.path = dir + "/embedded";
  emb.secrets_dir = dir + "/secrets";
  auto local = dsmil::store::OpenArchive(emb, alpha);
  if (!local.ok()) {
    std::fprintf(stderr, "bench_archive: %s\n", local.status().ToString().c_str());
    return 1;
  }
  std::vector<double> el;
  for (int r = 0; r < rounds; ++r) {
    auto rows = MakeRows("e" + std::to_string(r), rows_n);
    el.push_back(Ours(**local, rows, batch, nullptr));
  }
  std::printf("embedded    SQLite (WAL, synchronous=NORMAL)         %10.0f rows/s  (median)\n", Median(el));
  server->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
