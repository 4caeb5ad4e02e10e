-- Read-only PostgreSQL role for Grafana's audit-trail panel (docs/grafana.md).
-- Run as a superuser in the archive database, after deploy/postgres/init.sql:
--   psql -v ON_ERROR_STOP=1 -d dsmil -v pass="$(cat grafana_ro.pass)" -f postgres-grafana-ro.sql
-- grafana_ro may read each tenant's audit_log and nothing else (no events, no
-- policies, no writes). Add a block per tenant when one is added. Idempotent.

BEGIN;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grafana_ro') THEN
    CREATE ROLE grafana_ro LOGIN;
  END IF;
END $$;
ALTER ROLE grafana_ro WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS
  CONNECTION LIMIT 10;
ALTER ROLE grafana_ro SET default_transaction_read_only = on;
ALTER ROLE grafana_ro SET statement_timeout = '10s';
ALTER ROLE grafana_ro PASSWORD :'pass';
DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO grafana_ro', current_database()); END $$;

-- ---- tenant ALPHA
GRANT USAGE ON SCHEMA dsmil_alpha TO grafana_ro;
GRANT SELECT ON dsmil_alpha.audit_log TO grafana_ro;
DROP POLICY IF EXISTS grafana_ro_read ON dsmil_alpha.audit_log;
CREATE POLICY grafana_ro_read ON dsmil_alpha.audit_log FOR SELECT TO grafana_ro USING (tenant_id = 'ALPHA');

-- ---- tenant BRAVO
GRANT USAGE ON SCHEMA dsmil_bravo TO grafana_ro;
GRANT SELECT ON dsmil_bravo.audit_log TO grafana_ro;
DROP POLICY IF EXISTS grafana_ro_read ON dsmil_bravo.audit_log;
CREATE POLICY grafana_ro_read ON dsmil_bravo.audit_log FOR SELECT TO grafana_ro USING (tenant_id = 'BRAVO');

COMMIT;
