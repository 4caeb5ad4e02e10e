#include "store/pg_init.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/coding.h"
#include "crypto/ossl.h"
#include "store/archive_backends.h"
#include "store/config.h"

namespace dsmil::store {
namespace {

// mkdir -p with mode 0700 for every directory it creates.
Status EnsureDir(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string part = dir.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::Unavailable("cannot create directory " + part + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

std::string Base64(const uint8_t* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, int(n));
  out.resize(size_t(len));
  return out;
}

// The row-level security predicate of a tenant: its id AND its own role.
std::string Predicate(const TenantScope& s) {
  return "tenant_id = '" + s.tenant() + "' AND current_user = '" + s.PgRole() + "'";
}

}  // namespace

Result<std::string> LoadOrCreatePgPassword(const std::string& secrets_dir, const TenantScope& scope) {
  if (secrets_dir.empty()) return Status::InvalidArgument("secrets directory is not set");
  StoresConfig c;
  c.secrets_dir = secrets_dir;
  const std::string rel = "postgres/" + scope.PgRole() + ".pass";
  auto pass = ReadSecret(c, rel);
  if (pass.ok() || pass.status().code() != StatusCode::kNotFound) return pass;
  DSMIL_RETURN_IF_ERROR(EnsureDir(secrets_dir));
  DSMIL_RETURN_IF_ERROR(EnsureDir(secrets_dir + "/postgres"));
  std::array<uint8_t, 32> raw{};
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(raw));
  std::string text = ToHex(raw) + "\n";
  crypto::SecureWipe(raw.data(), raw.size());
  const std::string path = secrets_dir + "/" + rel;
  Status created = CreateSecretFileOnce(path, text);  // a concurrent creator may win; read theirs
  if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;
  crypto::SecureWipe(text.data(), text.size());
  return ReadSecret(c, rel);
}

Result<std::string> ScramSha256Verifier(const std::string& password) {
  constexpr int kIterations = 4096;
  std::array<uint8_t, 16> salt{};
  DSMIL_RETURN_IF_ERROR(crypto::RandomBytes(salt));
  std::array<uint8_t, 32> salted{};
  if (PKCS5_PBKDF2_HMAC(password.data(), int(password.size()), salt.data(), int(salt.size()), kIterations, EVP_sha256(),
                        int(salted.size()), salted.data()) != 1) {
    return Status::Internal("PBKDF2-HMAC-SHA256 failed");
  }
  std::array<uint8_t, 32> client_key{}, server_key{}, stored_key{};
  unsigned int len = 0;
  static const char kClient[] = "Client Key";
  static const char kServer[] = "Server Key";
  if (!HMAC(EVP_sha256(), salted.data(), int(salted.size()), reinterpret_cast<const uint8_t*>(kClient),
            sizeof(kClient) - 1, client_key.data(), &len) ||
      !HMAC(EVP_sha256(), salted.data(), int(salted.size()), reinterpret_cast<const uint8_t*>(kServer),
            sizeof(kServer) - 1, server_key.data(), &len)) {
    return Status::Internal("HMAC-SHA256 failed");
  }
  SHA256(client_key.data(), client_key.size(), stored_key.data());
  crypto::SecureWipe(salted.data(), salted.size());
  crypto::SecureWipe(client_key.data(), client_key.size());
  return "SCRAM-SHA-256$" + std::to_string(kIterations) + ":" + Base64(salt.data(), salt.size()) + "$" +
         Base64(stored_key.data(), stored_key.size()) + ":" + Base64(server_key.data(), server_key.size());
}

Result<std::string> RenderPgInitSql(std::span<const TenantScope> tenants, const std::string& secrets_dir) {
  if (tenants.empty()) return Status::InvalidArgument("no tenants to render");
  std::string sql;
  sql += "-- DSMIL archive database initialisation (docs/archive.md).\n";
  sql += "-- Rendered by `dsmilctl tenant render-sql`; run as a superuser in the archive database:\n";
  sql += "--   psql -v ON_ERROR_STOP=1 -d dsmil -f init.sql\n";
  sql += "-- Tenants:";
  for (const auto& t : tenants) sql += " " + t.tenant();
  sql += "\n-- Idempotent. Role passwords are SCRAM-SHA-256 verifiers of the files\n";
  sql += "-- <secrets>/postgres/<tenant>_app.pass; re-render after changing them.\n\n";
  sql += "BEGIN;\n\n";
  sql += "-- Nobody but the owner may use the public schema or the database by default.\n";
  sql += "REVOKE ALL ON SCHEMA public FROM PUBLIC;\n";
  sql += "DO $$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()); END $$;\n\n";
  sql += "-- One table shared by every tenant; row-level security keeps each tenant to its own rows.\n";
  sql += "CREATE SCHEMA IF NOT EXISTS dsmil_shared;\n";
  sql += "REVOKE ALL ON SCHEMA dsmil_shared FROM PUBLIC;\n";
  sql +=
      "CREATE TABLE IF NOT EXISTS dsmil_shared.events (\n"
      "  tenant_id text NOT NULL,\n"
      "  event_id text NOT NULL,\n"
      "  ts timestamptz NOT NULL,\n"
      "  category text NOT NULL DEFAULT '',\n"
      "  severity text NOT NULL DEFAULT '',\n"
      "  body jsonb NOT NULL,\n"
      "  PRIMARY KEY (tenant_id, event_id));\n";
  sql += "REVOKE ALL ON dsmil_shared.events FROM PUBLIC;\n";
  sql += "ALTER TABLE dsmil_shared.events ENABLE ROW LEVEL SECURITY;\n";
  sql += "ALTER TABLE dsmil_shared.events FORCE ROW LEVEL SECURITY;\n";

  for (const auto& t : tenants) {
    DSMIL_ASSIGN_OR_RETURN(std::string password, LoadOrCreatePgPassword(secrets_dir, t));
    DSMIL_ASSIGN_OR_RETURN(std::string verifier, ScramSha256Verifier(password));
    crypto::SecureWipe(password.data(), password.size());
    const std::string role = t.PgRole();
    const std::string schema = t.Schema();
    const std::string tenant_check = "CHECK (tenant_id = '" + t.tenant() + "')";
    const std::string pred = Predicate(t);
    sql += "\n-- ---- tenant " + t.tenant() + ": schema " + schema + ", role " + role + "\n";
    sql +=
        "DO $$ BEGIN\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" +
        role +
        "') THEN\n"
        "    CREATE ROLE " +
        role +
        " LOGIN;\n"
        "  END IF;\n"
        "END $$;\n";
    sql += "ALTER ROLE " + role +
           " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS\n"
           "  PASSWORD '" +
           verifier + "';\n";
    sql += "DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO " + role +
           "', current_database()); END $$;\n";
    sql += "CREATE SCHEMA IF NOT EXISTS " + schema + ";\n";
    sql += "REVOKE ALL ON SCHEMA " + schema + " FROM PUBLIC;\n";
    sql += "GRANT USAGE ON SCHEMA " + schema + " TO " + role + ";\n";
    sql += "CREATE TABLE IF NOT EXISTS " + schema +
           ".events (\n"
           "  event_id text PRIMARY KEY,\n"
           "  tenant_id text NOT NULL DEFAULT '" +
           t.tenant() + "' " + tenant_check +
           ",\n"
           "  ts timestamptz NOT NULL,\n"
           "  category text NOT NULL DEFAULT '',\n"
           "  severity text NOT NULL DEFAULT '',\n"
           "  body jsonb NOT NULL);\n";
    sql += "CREATE INDEX IF NOT EXISTS events_ts_idx ON " + schema + ".events (ts);\n";
    sql += "CREATE TABLE IF NOT EXISTS " + schema +
           ".policies (\n"
           "  policy_id text PRIMARY KEY,\n"
           "  tenant_id text NOT NULL DEFAULT '" +
           t.tenant() + "' " + tenant_check +
           ",\n"
           "  updated_at timestamptz NOT NULL DEFAULT now(),\n"
           "  body jsonb NOT NULL);\n";
    sql += "CREATE TABLE IF NOT EXISTS " + schema +
           ".audit_log (\n"
           "  seq bigint PRIMARY KEY CHECK (seq > 0),\n"
           "  ts timestamptz NOT NULL,\n"
           "  event_type text NOT NULL,\n"
           "  actor text NOT NULL,\n"
           "  detail text NOT NULL,\n"
           "  prev_hash text NOT NULL,\n"
           "  hash text NOT NULL,\n"
           "  mac text NOT NULL,\n"
           "  tenant_id text NOT NULL DEFAULT '" +
           t.tenant() + "' " + tenant_check + ");\n";
    sql += "REVOKE ALL ON ALL TABLES IN SCHEMA " + schema + " FROM PUBLIC;\n";
    sql += "-- events and audit_log are append-only for the application.\n";
    sql += "GRANT SELECT, INSERT ON " + schema + ".events, " + schema + ".audit_log TO " + role + ";\n";
    sql += "GRANT SELECT, INSERT, UPDATE, DELETE ON " + schema + ".policies TO " + role + ";\n";
    for (const char* table : {"events", "policies", "audit_log"}) {
      const std::string qt = schema + "." + table;
      sql += "ALTER TABLE " + qt + " ENABLE ROW LEVEL SECURITY;\n";
      sql += "ALTER TABLE " + qt + " FORCE ROW LEVEL SECURITY;\n";
      sql += "DROP POLICY IF EXISTS tenant_rows ON " + qt + ";\n";
      sql += "CREATE POLICY tenant_rows ON " + qt + " TO " + role + "\n  USING (" + pred + ")\n  WITH CHECK (" + pred +
             ");\n";
    }
    sql += "GRANT USAGE ON SCHEMA dsmil_shared TO " + role + ";\n";
    sql += "GRANT SELECT, INSERT ON dsmil_shared.events TO " + role + ";\n";
    sql += "DROP POLICY IF EXISTS " + t.lower() + "_rows ON dsmil_shared.events;\n";
    sql += "CREATE POLICY " + t.lower() + "_rows ON dsmil_shared.events TO " + role + "\n  USING (" + pred +
           ")\n  WITH CHECK (" + pred + ");\n";
  }
  sql += "\nCOMMIT;\n";
  return sql;
}

}  // namespace dsmil::store
