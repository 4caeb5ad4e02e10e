// bench_streams: what our Streams client costs over the bare tools.
//
// Redis (a redis-server started here, AOF appendfsync everysec as in
// deploy/redis/redis.conf, the rendered tenant ACL):
//   raw XADD      redis-benchmark -q -n N -P 64 XADD bench_raw * data <payload>
//                 with its default 50 connections, and with 1 connection (the
//                 shape of our client: one connection, batches of 64)
//   our Append    alpha_writer, batches of 64 (pipelined XADD)
//   raw consume   bare hiredis loop: XREADGROUP COUNT 64 then XACK of those ids
//   our consume   alpha_reader: ReadGroup(64) + Ack
// Embedded (SQLite, WAL, synchronous=FULL):
//   raw insert    bare sqlite3 INSERTs, one transaction per 64
//   our Append / consume as above
//
// Usage: bench_streams [entries]   (default 200000 for Redis, an eighth of it embedded)
#include <hiredis/hiredis.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "redis_server.h"
#include "store/redis_acl.h"
#include "store/streams.h"

namespace {

using namespace dsmil;
using Clock = std::chrono::steady_clock;
constexpr size_t kBatch = 64;

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// "XADD ...: 123456.78 requests per second" -> 123456.78 (the last such figure).
double ParseRps(const std::string& out) {
  size_t at = out.rfind(" requests per second");
  if (at == std::string::npos) return 0;
  size_t start = out.rfind(' ', at - 1);
  return std::atof(out.substr(start + 1, at - start - 1).c_str());
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "bench_streams: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

void CheckOk(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

struct Rates {
  double append = 0, consume = 0;
};

// Our client: Append in batches of 64, then ReadGroup(64) + Ack until all are consumed.
Rates RunOurs(const store::StoresConfig& config, const store::TenantScope& scope, const std::string& payload,
              size_t n) {
  auto writer = Check(store::OpenStreams(config, scope, store::Access::kWriter), "open writer");
  auto reader = Check(store::OpenStreams(config, scope, store::Access::kReader), "open reader");
  std::vector<std::string> batch(kBatch, payload);
  auto t0 = Clock::now();
  for (size_t done = 0; done < n; done += kBatch) {
    Check(writer->Append(store::StreamKind::kL3In, batch), "append");
  }
  auto t1 = Clock::now();
  CheckOk(reader->EnsureGroup(store::StreamKind::kL3In, "bench"), "group");
  size_t consumed = 0;
  std::vector<std::string> ids;
  auto t2 = Clock::now();
  while (consumed < n) {
    auto got = Check(reader->ReadGroup(store::StreamKind::kL3In, "bench", "c1", kBatch, std::chrono::milliseconds(0)),
                     "read group");
    if (got.empty()) break;
    ids.clear();
    for (auto& e : got) ids.push_back(std::move(e.id));
    Check(reader->Ack(store::StreamKind::kL3In, "bench", ids), "ack");
    consumed += got.size();
  }
  auto t3 = Clock::now();
  if (consumed < n) Die("consumed " + std::to_string(consumed) + " of " + std::to_string(n));
  return {double(n) / Seconds(t0, t1), double(consumed) / Seconds(t2, t3)};
}

// Bare hiredis: XREADGROUP COUNT 64, then XACK those ids, on `stream` (already filled).
double RawRedisConsume(const std::string& host, int port, const std::string& user, const std::string& pass,
                       const std::string& stream, const std::string& group, size_t n) {
  redisContext* c = redisConnect(host.c_str(), port);
  if (!c || c->err) Die("raw consume: connect");
  auto cmd = [&](std::vector<std::string> argv) {
    std::vector<const char*> a;
    std::vector<size_t> l;
    for (auto& s : argv) {
      a.push_back(s.data());
      l.push_back(s.size());
    }
    auto* r = static_cast<redisReply*>(redisCommandArgv(c, int(a.size()), a.data(), l.data()));
    if (!r) Die("raw consume: connection lost");
    if (r->type == REDIS_REPLY_ERROR) Die(std::string("raw consume: ") + r->str);
    return r;
  };
  freeReplyObject(cmd({"AUTH", user, pass}));
  freeReplyObject(cmd({"XGROUP", "CREATE", stream, group, "0"}));
  size_t consumed = 0;
  auto t0 = Clock::now();
  while (consumed < n) {
    redisReply* r = cmd({"XREADGROUP", "GROUP", group, "c1", "COUNT", std::to_string(kBatch), "STREAMS", stream, ">"});
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
      freeReplyObject(r);
      break;
    }
    redisReply* entries = r->element[0]->element[1];
    std::vector<std::string> ack = {"XACK", stream, group};
    for (size_t i = 0; i < entries->elements; ++i) {
      ack.emplace_back(entries->element[i]->element[0]->str, entries->element[i]->element[0]->len);
    }
    consumed += entries->elements;
    freeReplyObject(r);
    freeReplyObject(cmd(ack));
  }
  auto t1 = Clock::now();
  redisFree(c);
  return double(consumed) / Seconds(t0, t1);
}

// Bare SQLite: the same rows, one BEGIN IMMEDIATE ... COMMIT per 64, WAL, synchronous=FULL.
double RawSqliteInsert(const std::string& file, const std::string& payload, size_t n) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) Die("raw sqlite: open");
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
               "CREATE TABLE t(stream TEXT, ms INTEGER, seq INTEGER, payload BLOB, PRIMARY KEY(stream, ms, seq))"
               " WITHOUT ROWID;",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES('S', ?1, ?2, ?3)", -1, &ins, nullptr);
  auto t0 = Clock::now();
  for (size_t done = 0; done < n; done += kBatch) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (size_t i = 0; i < kBatch; ++i) {
      sqlite3_reset(ins);
      sqlite3_bind_int64(ins, 1, int64_t(done));
      sqlite3_bind_int64(ins, 2, int64_t(i));
      sqlite3_bind_blob(ins, 3, payload.data(), int(payload.size()), SQLITE_STATIC);
      if (sqlite3_step(ins) != SQLITE_DONE) Die(std::string("raw sqlite: ") + sqlite3_errmsg(db));
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  auto t1 = Clock::now();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return double(n) / Seconds(t0, t1);
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? size_t(std::atol(argv[1])) : 200000;
  n = (n + kBatch - 1) / kBatch * kBatch;
  size_t n_embedded = std::max(kBatch, n / 8 / kBatch * kBatch);
  // A representative L3 event (about 250 bytes of JSON, no quotes for the shell).
  std::string payload =
      "{event_id:7c9e6679-7425-40de-944b-e07fc1f90ae7,ts:1732700000000,tenant:ALPHA,source:sensor-17,"
      "layer:L3,device:18,category:NETWORK,severity:MEDIUM,src_ip:10.20.30.40,dst_ip:10.20.30.41,"
      "dst_port:443,proto:tcp,bytes:18234,note:adaptive-router-ingest}";

  char tmpl[] = "/tmp/dsmil-bench-streams-XXXXXX";
  if (!mkdtemp(tmpl)) Die("mkdtemp");
  std::string dir = tmpl;
  std::vector<std::string> tenants = {"ALPHA"};
  auto passwords = Check(store::EnsureRedisPasswords(dir + "/secrets", tenants), "passwords");
  testing::RedisServerOptions o;
  o.acl = Check(store::RenderRedisAcl(tenants, passwords), "acl");
  o.appendfsync = "everysec";
  o.ping_user = store::kRedisAdminUser;
  o.ping_password = passwords[store::kRedisAdminUser];
  auto server = Check(testing::RedisServer::Start(o), "start redis-server");
  std::string port = std::to_string(server->port());
  std::string admin = " -h 127.0.0.1 -p " + port + " --user dsmil_admin -a " + o.ping_password;

  std::printf(
      "bench_streams: %zu entries of %zu bytes, batches of %zu; redis-server 127.0.0.1:%s "
      "(AOF everysec, ACL users)\n",
      n, payload.size(), kBatch, port.c_str());
  std::string base = "redis-benchmark" + admin + " -q -n " + std::to_string(n) + " -P 64";
  std::string xadd = " XADD bench_raw '*' data '" + payload + "'";
  store::StoresConfig rc;
  rc.kind = "servers";
  rc.path = dir;
  rc.secrets_dir = dir + "/secrets";
  rc.redis.port = server->port();
  auto scope = Check(store::TenantScope::For("ALPHA"), "scope");
  store::StoresConfig ec;
  ec.kind = "embedded";
  ec.path = dir + "/embedded";

  // The machine is shared: every figure is the best of kRounds, peers and
  // ours interleaved within each round.
  constexpr int kRounds = 3;
  double raw50 = 0, raw1 = 0, raw_consume = 0, raw_sqlite = 0;
  Rates ours, emb;
  for (int round = 0; round < kRounds; ++round) {
    RunCommand("redis-cli" + admin + " --no-auth-warning DEL bench_raw");
    raw50 = std::max(raw50, ParseRps(RunCommand(base + xadd)));
    RunCommand("redis-cli" + admin + " --no-auth-warning DEL bench_raw");
    raw1 = std::max(raw1, ParseRps(RunCommand(base + " -c 1" + xadd)));
    Rates r = RunOurs(rc, scope, payload, n);
    ours.append = std::max(ours.append, r.append);
    ours.consume = std::max(ours.consume, r.consume);
    raw_consume = std::max(raw_consume, RawRedisConsume("127.0.0.1", server->port(), "dsmil_admin", o.ping_password,
                                                        "bench_raw", "raw" + std::to_string(round), n));
    raw_sqlite =
        std::max(raw_sqlite, RawSqliteInsert(dir + "/raw" + std::to_string(round) + ".db", payload, n_embedded));
    Rates e = RunOurs(ec, scope, payload, n_embedded);
    emb.append = std::max(emb.append, e.append);
    emb.consume = std::max(emb.consume, e.consume);
  }

  std::printf("\nRedis (best of %d)                       entries/s   ours/raw\n", kRounds);
  std::printf("  raw XADD  redis-benchmark -P 64 -c 50 %10.0f\n", raw50);
  std::printf("  raw XADD  redis-benchmark -P 64 -c 1  %10.0f\n", raw1);
  std::printf("  our Append (1 connection, batch 64)   %10.0f   %.2fx of -c 1, %.2fx of -c 50\n", ours.append,
              raw1 > 0 ? ours.append / raw1 : 0, raw50 > 0 ? ours.append / raw50 : 0);
  std::printf("  raw consume hiredis XREADGROUP+XACK   %10.0f\n", raw_consume);
  std::printf("  our consume ReadGroup(64)+Ack         %10.0f   %.2fx\n", ours.consume,
              raw_consume > 0 ? ours.consume / raw_consume : 0);

  std::printf("\nEmbedded SQLite (WAL, synchronous=FULL), %zu entries, best of %d\n", n_embedded, kRounds);
  std::printf("  raw INSERT, 1 transaction per 64      %10.0f\n", raw_sqlite);
  std::printf("  our Append (batch 64)                 %10.0f   %.2fx\n", emb.append,
              raw_sqlite > 0 ? emb.append / raw_sqlite : 0);
  std::printf("  our consume ReadGroup(64)+Ack         %10.0f\n", emb.consume);

  server.reset();
  std::error_code ec_rm;
  std::filesystem::remove_all(dir, ec_rm);
  return 0;
}
