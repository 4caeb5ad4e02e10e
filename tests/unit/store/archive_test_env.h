// Shared set-up of the archive tests: one PostgreSQL server per test binary
// (initialised with the rendered init SQL for ALPHA and BRAVO) and a
// temporary stores directory, plus helpers that make events.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "postgres_server.h"
#include "store/archive.h"
#include "store/config.h"
#include "store/pg_init.h"
#include "store/scope.h"

namespace dsmil::store::testenv {

inline std::string MakeTempDir(const char* prefix) {
  std::string t = std::string("/tmp/") + prefix + "-XXXXXX";
  char* p = mkdtemp(t.data());
  EXPECT_NE(p, nullptr);
  return t;
}

inline TenantScope Scope(const char* t) { return TenantScope::For(t).value(); }

// One server for the whole binary, started on first use, stopped at exit.
class PgEnvironment : public ::testing::Environment {
 public:
  static PgEnvironment* Get() {
    static PgEnvironment* env = static_cast<PgEnvironment*>(::testing::AddGlobalTestEnvironment(new PgEnvironment()));
    return env;
  }

  void SetUp() override {
    dir_ = MakeTempDir("dsmil-archive-test");
    secrets_ = dir_ + "/secrets";
    std::vector<TenantScope> tenants = {Scope("ALPHA"), Scope("BRAVO")};
    auto sql = RenderPgInitSql(tenants, secrets_);
    ASSERT_TRUE(sql.ok()) << sql.status().ToString();
    testing::PostgresServerOptions o;
    o.init_sql = *sql;
    auto s = testing::PostgresServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  testing::PostgresServer* server() { return server_.get(); }
  // kind "servers" pointing at the server; secrets under the temp dir.
  StoresConfig Servers() const {
    StoresConfig c;
    c.kind = "servers";
    c.path = dir_ + "/data";
    c.secrets_dir = secrets_;
    c.postgres.host = server_->host();
    c.postgres.port = server_->port();
    c.postgres.dbname = server_->dbname();
    c.postgres.connect_timeout_s = 15;
    return c;
  }
  StoresConfig Embedded(const std::string& sub) const {
    StoresConfig c;
    c.kind = "embedded";
    c.path = dir_ + "/" + sub;
    c.secrets_dir = secrets_;
    return c;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, secrets_;
  std::unique_ptr<testing::PostgresServer> server_;
};

inline ArchivedEvent Event(const std::string& id, int64_t ts_ms, const std::string& severity = "high") {
  ArchivedEvent e;
  e.event_id = id;
  e.ts_ms = ts_ms;
  e.category = "malware";
  e.severity = severity;
  e.body = R"({"event_id":")" + id + R"(","host":"ws-12","score":0.75})";
  return e;
}

inline std::vector<ArchivedEvent> Batch(const std::string& prefix, int from, int n, int64_t ts0 = 1732377600000) {
  std::vector<ArchivedEvent> v;
  v.reserve(size_t(n));
  for (int i = from; i < from + n; ++i) v.push_back(Event(prefix + "-" + std::to_string(i), ts0 + i));
  return v;
}

}  // namespace dsmil::store::testenv
