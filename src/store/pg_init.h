// PostgreSQL initialisation for the archive (spec §4.1): the SQL a superuser
// runs once in the archive database to create, for every tenant,
//
//   schema dsmil_<t>   tables events, policies, audit_log (owned by the
//                      superuser, never by the tenant's role)
//   role   <t>_app     LOGIN, password from <secrets_dir>/postgres/<t>_app.pass,
//                      USAGE on dsmil_<t> only (plus the shared schema),
//                      SELECT/INSERT on events and audit_log (append-only),
//                      full access to policies
//   RLS    ENABLE + FORCE on every table, one policy per table tied to the
//          tenant AND the role: tenant_id = 'ALPHA' AND current_user = 'alpha_app'
//          (a session variable such as dsmil.tenant_id plays no part, so
//          `SET dsmil.tenant_id = 'BRAVO'` changes nothing)
//
// and one shared table, dsmil_shared.events (tenant_id column, RLS per tenant
// and role), for data that must sit in one table. PUBLIC loses every right on
// the public schema and on the database; each app role gets CONNECT and
// TEMPORARY (ingest copies into a temporary table first).
//
// The SQL is idempotent (safe to run again, e.g. after adding a tenant) and
// never contains a plain password: roles get SCRAM-SHA-256 verifiers.
#pragma once

#include <span>
#include <string>

#include "core/status.h"
#include "store/scope.h"

namespace dsmil::store {

// The password of the tenant's role: <secrets_dir>/postgres/<t>_app.pass,
// created (directories 0700, file 0600, 32 random bytes as hex) when absent.
Result<std::string> LoadOrCreatePgPassword(const std::string& secrets_dir, const TenantScope& scope);

// A SCRAM-SHA-256 verifier for `password` (random salt, 4096 iterations), in
// the form PostgreSQL stores: "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>".
Result<std::string> ScramSha256Verifier(const std::string& password);

// Renders the init SQL for `tenants` (passwords loaded or created under
// `secrets_dir`). Run it as a superuser connected to the archive database,
// with psql -v ON_ERROR_STOP=1 or as one simple-query string.
Result<std::string> RenderPgInitSql(std::span<const TenantScope> tenants, const std::string& secrets_dir);

}  // namespace dsmil::store
