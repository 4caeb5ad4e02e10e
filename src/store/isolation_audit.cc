#include "store/isolation_audit.h"

#include <postgresql/libpq-fe.h>

#include <utility>

#include "net/http_client.h"
#include "store/streams.h"
#include "store/vectors.h"

namespace dsmil::store {
namespace {

bool IsRefusal(const Status& s) {
  return s.code() == StatusCode::kPermissionDenied || s.code() == StatusCode::kUnauthenticated ||
         s.message().find("NOPERM") != std::string::npos || s.message().find("NOAUTH") != std::string::npos;
}

// A Redis attempt: refused (NOPERM) passes; success leaks; anything else
// could not be checked, which is not a pass either.
IsolationProbe RedisProbe(std::string path, const Status& s, const std::string& leak) {
  IsolationProbe p{std::move(path), false, ""};
  if (s.ok()) {
    p.detail = leak;
  } else if (IsRefusal(s)) {
    p.refused = true;
    p.detail = s.message();
  } else {
    p.detail = "could not be checked: " + s.message();
  }
  return p;
}

void RedisProbes(const StoresConfig& c, const TenantScope& t, const TenantScope& u, std::vector<IsolationProbe>& out) {
  for (Access a : {Access::kWriter, Access::kIngest, Access::kReader}) {
    std::string user = t.RedisUser(a);
    auto password = ReadSecret(c, "redis/" + user + ".pass");
    if (!password.ok()) {
      out.push_back({"redis: " + user, false, "could not be checked: " + password.status().message()});
      continue;
    }
    auto s = OpenStreamsAsUser(c, u, a, user, *password);
    if (!s.ok()) {
      out.push_back(RedisProbe("redis: " + user + " AUTH", s.status(), ""));
      continue;
    }
    if (a != Access::kReader) {
      // The writer tries the dead letters, ingest the raw input it feeds.
      StreamKind k = a == Access::kWriter ? StreamKind::kDeadLetter : StreamKind::kL3In;
      std::vector<std::string> payload = {R"({"isolation_probe":true,"from":")" + t.tenant() +
                                          R"(","note":"cross-tenant write that should have been refused"})"};
      auto r = (*s)->Append(k, payload);
      out.push_back(RedisProbe("redis: " + user + " XADD " + u.Stream(k), r.status(),
                               "write accepted (entry " + (r.ok() && !r->empty() ? (*r)[0] : "?") + ")"));
    } else {
      auto r = (*s)->Range(StreamKind::kSocEvents, "0", 1);
      out.push_back(RedisProbe("redis: " + user + " XRANGE " + u.Stream(StreamKind::kSocEvents), r.status(),
                               "read allowed (" + std::to_string(r.ok() ? r->size() : 0) + " entries returned)"));
      auto n = (*s)->Length(StreamKind::kL3In);
      out.push_back(RedisProbe("redis: " + user + " XLEN " + u.Stream(StreamKind::kL3In), n.status(),
                               "read allowed (length " + std::to_string(n.ok() ? *n : 0) + ")"));
    }
  }
}

struct PgConn {
  PGconn* conn = nullptr;
  PgConn() = default;
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;
  ~PgConn() {
    if (conn) PQfinish(conn);
  }
};

std::string TrimEnd(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

void PostgresProbes(const StoresConfig& c, const TenantScope& t, const TenantScope& u,
                    std::vector<IsolationProbe>& out) {
  std::string role = t.PgRole();
  auto password = ReadSecret(c, "postgres/" + role + ".pass");
  if (!password.ok()) {
    out.push_back({"postgres: " + role, false, "could not be checked: " + password.status().message()});
    return;
  }
  std::string port = std::to_string(c.postgres.port);
  std::string timeout = std::to_string(c.postgres.connect_timeout_s);
  const char* keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout", nullptr};
  const char* values[] = {
      c.postgres.host.c_str(), port.c_str(), c.postgres.dbname.c_str(), role.c_str(), password->c_str(),
      timeout.c_str(),         nullptr};
  PgConn pg;
  pg.conn = PQconnectdbParams(keys, values, 0);
  if (PQstatus(pg.conn) != CONNECTION_OK) {
    out.push_back(
        {"postgres: " + role + " connect", false, std::string("could not be checked: ") + PQerrorMessage(pg.conn)});
    return;
  }
  // Statements that must fail with insufficient_privilege (42501).
  const std::string other = u.Schema();
  const std::vector<std::string> statements = {
      "SELECT count(*) FROM " + other + ".events",
      "SELECT count(*) FROM " + other + ".audit_log",
      "INSERT INTO " + other + ".policies (tenant_id) VALUES ('" + u.tenant() + "')",
      "SET ROLE " + u.PgRole(),
  };
  for (const std::string& sql : statements) {
    PQclear(PQexec(pg.conn, "BEGIN"));
    PGresult* res = PQexec(pg.conn, sql.c_str());
    ExecStatusType st = PQresultStatus(res);
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    std::string msg = TrimEnd(PQresultErrorMessage(res));
    IsolationProbe p{"postgres: " + role, false, ""};
    p.path += " " + sql;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      p.detail = "allowed" + (st == PGRES_TUPLES_OK && PQntuples(res) > 0 && PQnfields(res) > 0
                                  ? std::string(" (") + PQgetvalue(res, 0, 0) + ")"
                                  : std::string());
    } else if (state &&
               (std::string(state) == "42501" || std::string(state) == "3F000" || std::string(state) == "42P01")) {
      // 42501 insufficient_privilege; 3F000 / 42P01: the schema or table is not
      // visible to the role at all.
      p.refused = true;
      p.detail = msg;
    } else {
      p.detail = "could not be checked: " + msg;
    }
    PQclear(res);
    PQclear(PQexec(pg.conn, "ROLLBACK"));
    out.push_back(std::move(p));
  }
  // The shared table: row-level security must hide the other tenant's rows.
  std::string sql = "SELECT count(*) FROM dsmil_shared.events WHERE tenant_id = '" + u.tenant() + "'";
  PGresult* res = PQexec(pg.conn, sql.c_str());
  IsolationProbe p{"postgres: " + role + " " + sql, false, ""};
  if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
    std::string n = PQgetvalue(res, 0, 0);
    p.refused = n == "0";
    p.detail = p.refused ? "row-level security: no row of " + u.tenant() + " visible" : n + " rows visible";
  } else {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    std::string msg = TrimEnd(PQresultErrorMessage(res));
    p.refused = state && std::string(state) == "42501";
    p.detail = p.refused ? msg : "could not be checked: " + msg;
  }
  PQclear(res);
  out.push_back(std::move(p));
}

void QdrantProbes(const StoresConfig& c, const TenantScope& t, const TenantScope& u, std::vector<IsolationProbe>& out) {
  auto key = ReadSecret(c, "qdrant/" + t.lower() + ".key");
  auto coll = u.Collection("events");
  std::string path = "qdrant: " + t.lower() + " key GET /collections/" + (coll.ok() ? *coll : "?");
  if (!key.ok()) {
    out.push_back({path, false, "could not be checked: " + key.status().message()});
    return;
  }
  net::HttpClientRequest req;
  std::string base = c.qdrant.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  req.url = base + "/collections/" + *coll;
  req.headers = {{"api-key", *key}};
  req.timeout = std::chrono::seconds(5);
  auto resp = net::HttpFetch(req);
  if (!resp.ok()) {
    out.push_back({path, false, "could not be checked: " + resp.status().message()});
  } else if (resp->status == 401 || resp->status == 403) {
    out.push_back({path, true, "HTTP " + std::to_string(resp->status)});
  } else if (resp->status == 404) {
    out.push_back({path, true, "HTTP 404 (no such collection reachable with this key)"});
  } else {
    out.push_back(
        {path, false, "HTTP " + std::to_string(resp->status) + ": the key reads another tenant's collection"});
  }
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::vector<IsolationProbe> ProbeIsolation(const StoresConfig& c, const TenantScope& tenant,
                                           std::span<const TenantScope> others) {
  std::vector<IsolationProbe> out;
  auto vectors = OpenVectors(c, tenant);
  if (vectors.ok()) {
    auto list = (*vectors)->ListCollections();
    if (list.ok()) {
      for (const auto& info : *list) {
        if (!tenant.OwnsCollection(info.name)) {
          out.push_back({"vectors: " + tenant.tenant() + " scope lists " + info.name, false,
                         "a collection without the tenant's prefix is reachable"});
        }
      }
    }
  }
  for (const TenantScope& u : others) {
    if (u.tenant() == tenant.tenant()) continue;
    if (c.kind == "servers") {
      RedisProbes(c, tenant, u, out);
      PostgresProbes(c, tenant, u, out);
      if (!c.qdrant.url.empty()) QdrantProbes(c, tenant, u, out);
    } else {
      out.push_back({"embedded: " + tenant.tenant() + " scope -> " + u.tenant() + " streams/archive", true,
                     "per-tenant files; the scope names only " + tenant.tenant() + "'s"});
    }
  }
  return out;
}

bool IsolationPasses(std::span<const IsolationProbe> probes) {
  for (const auto& p : probes) {
    if (!p.refused) return false;
  }
  return true;
}

Result<std::unique_ptr<IsolationAuditor>> IsolationAuditor::Start(StoresConfig c,
                                                                  const std::vector<std::string>& tenants,
                                                                  std::chrono::milliseconds interval, Registry* metrics,
                                                                  const Logger* log) {
  if (interval.count() <= 0) return Status::InvalidArgument("isolation audit: interval must be positive");
  std::unique_ptr<IsolationAuditor> a(new IsolationAuditor());
  a->stores_ = std::move(c);
  for (const auto& t : tenants) {
    auto s = TenantScope::For(t);
    if (!s.ok()) return s.status().WithContext("isolation audit");
    a->scopes_.push_back(std::move(*s));
  }
  a->interval_ = interval;
  a->log_ = log;
  if (metrics != nullptr) {
    a->ok_ = &metrics->AddGauge("dsmil_tenant_isolation_ok",
                                "Latest live isolation audit of the tenant on this node: 1 every cross-tenant probe "
                                "refused, 0 otherwise",
                                {"tenant_id"});
  }
  IsolationAuditor* self = a.get();
  a->thread_ = std::thread([self] { self->Loop(); });
  return a;
}

IsolationAuditor::~IsolationAuditor() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, IsolationAuditor::TenantResult> IsolationAuditor::Latest() const {
  MutexLock lock(mu_);
  return latest_;
}

void IsolationAuditor::RunOnce() {
  for (const TenantScope& t : scopes_) {
    TenantResult r;
    std::vector<IsolationProbe> probes = ProbeIsolation(stores_, t, scopes_);
    r.ts_ms = WallMs();
    r.probes = probes.size();
    r.pass = IsolationPasses(probes);
    for (auto& p : probes) {
      if (!p.refused) r.not_refused.push_back(std::move(p));
    }
    if (ok_ != nullptr) ok_->Labels({t.tenant()}).Set(r.pass ? 1.0 : 0.0);
    if (!r.pass && log_ != nullptr) {
      for (const auto& p : r.not_refused) {
        log_->Error("tenant isolation audit FAIL", {{"tenant", t.tenant()}, {"path", p.path}, {"detail", p.detail}});
      }
    }
    MutexLock lock(mu_);
    latest_[t.tenant()] = std::move(r);
  }
}

void IsolationAuditor::Loop() {
  while (true) {
    RunOnce();
    MutexLock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + interval_;
    while (!stop_) {
      if (!cv_.WaitUntil(mu_, deadline)) break;
    }
    if (stop_) return;
  }
}

}  // namespace dsmil::store
