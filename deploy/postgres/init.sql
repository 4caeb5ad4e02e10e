-- DSMIL archive database initialisation (docs/archive.md).
-- Rendered by `dsmilctl tenant render-sql`; run as a superuser in the archive database:
--   psql -v ON_ERROR_STOP=1 -d dsmil -f init.sql
-- Tenants: ALPHA BRAVO
-- Idempotent. Role passwords are SCRAM-SHA-256 verifiers of the files
-- <secrets>/postgres/<tenant>_app.pass; re-render after changing them.

BEGIN;

-- Nobody but the owner may use the public schema or the database by default.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
DO $$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()); END $$;

-- One table shared by every tenant; row-level security keeps each tenant to its own rows.
CREATE SCHEMA IF NOT EXISTS dsmil_shared;
REVOKE ALL ON SCHEMA dsmil_shared FROM PUBLIC;
CREATE TABLE IF NOT EXISTS dsmil_shared.events (
  tenant_id text NOT NULL,
  event_id text NOT NULL,
  ts timestamptz NOT NULL,
  category text NOT NULL DEFAULT '',
  severity text NOT NULL DEFAULT '',
  body jsonb NOT NULL,
  PRIMARY KEY (tenant_id, event_id));
REVOKE ALL ON dsmil_shared.events FROM PUBLIC;
ALTER TABLE dsmil_shared.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_shared.events FORCE ROW LEVEL SECURITY;

-- ---- tenant ALPHA: schema dsmil_alpha, role alpha_app
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alpha_app') THEN
    CREATE ROLE alpha_app LOGIN;
  END IF;
END $$;
ALTER ROLE alpha_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS
  PASSWORD 'SCRAM-SHA-256$4096:a/IuL9/BKAZ+CGYEZp4xvg==$ygfkbAmKEn1OJmq9y/Lh0fBqeax1E9Ww21JPIbd1zIY=:PPn2PDmJGzUq5bX3fLfJ2dVB358rdk6yTx8oct92Lvs=';
DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO alpha_app', current_database()); END $$;
CREATE SCHEMA IF NOT EXISTS dsmil_alpha;
REVOKE ALL ON SCHEMA dsmil_alpha FROM PUBLIC;
GRANT USAGE ON SCHEMA dsmil_alpha TO alpha_app;
CREATE TABLE IF NOT EXISTS dsmil_alpha.events (
  event_id text PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT 'ALPHA' CHECK (tenant_id = 'ALPHA'),
  ts timestamptz NOT NULL,
  category text NOT NULL DEFAULT '',
  severity text NOT NULL DEFAULT '',
  body jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts_idx ON dsmil_alpha.events (ts);
CREATE TABLE IF NOT EXISTS dsmil_alpha.policies (
  policy_id text PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT 'ALPHA' CHECK (tenant_id = 'ALPHA'),
  updated_at timestamptz NOT NULL DEFAULT now(),
  body jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS dsmil_alpha.audit_log (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  ts timestamptz NOT NULL,
  event_type text NOT NULL,
  actor text NOT NULL,
  detail text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  mac text NOT NULL,
  tenant_id text NOT NULL DEFAULT 'ALPHA' CHECK (tenant_id = 'ALPHA'));
REVOKE ALL ON ALL TABLES IN SCHEMA dsmil_alpha FROM PUBLIC;
-- events and audit_log are append-only for the application.
GRANT SELECT, INSERT ON dsmil_alpha.events, dsmil_alpha.audit_log TO alpha_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON dsmil_alpha.policies TO alpha_app;
ALTER TABLE dsmil_alpha.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_alpha.events FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON dsmil_alpha.events;
CREATE POLICY tenant_rows ON dsmil_alpha.events TO alpha_app
  USING (tenant_id = 'ALPHA' AND current_user = 'alpha_app')
  WITH CHECK (tenant_id = 'ALPHA' AND current_user = 'alpha_app');
ALTER TABLE dsmil_alpha.policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_alpha.policies FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON dsmil_alpha.policies;
CREATE POLICY tenant_rows ON dsmil_alpha.policies TO alpha_app
  USING (tenant_id = 'ALPHA' AND current_user = 'alpha_app')
  WITH CHECK (tenant_id = 'ALPHA' AND current_user = 'alpha_app');
ALTER TABLE dsmil_alpha.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_alpha.audit_log FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON dsmil_alpha.audit_log;
CREATE POLICY tenant_rows ON dsmil_alpha.audit_log TO alpha_app
  USING (tenant_id = 'ALPHA' AND current_user = 'alpha_app')
  WITH CHECK (tenant_id = 'ALPHA' AND current_user = 'alpha_app');
GRANT USAGE ON SCHEMA dsmil_shared TO alpha_app;
GRANT SELECT, INSERT ON dsmil_shared.events TO alpha_app;
DROP POLICY IF EXISTS alpha_rows ON dsmil_shared.events;
CREATE POLICY alpha_rows ON dsmil_shared.events TO alpha_app
  USING (tenant_id = 'ALPHA' AND current_user = 'alpha_app')
  WITH CHECK (tenant_id = 'ALPHA' AND current_user = 'alpha_app');

-- ---- tenant BRAVO: schema dsmil_bravo, role bravo_app
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bravo_app') THEN
    CREATE ROLE bravo_app LOGIN;
  END IF;
END $$;
ALTER ROLE bravo_app WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS
  PASSWORD 'SCRAM-SHA-256$4096:ML7JXXe9+fU0y0zSNenj3A==$SUkHyql5W4pItCGyuV/nvuvz/IwYue38tOn9ZSb56HI=:InNdP6qHU/v1Mj9drnqcSSed4tDEhRgMCOEJ40lxo3o=';
DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO bravo_app', current_database()); END $$;
CREATE SCHEMA IF NOT EXISTS dsmil_bravo;
REVOKE ALL ON SCHEMA dsmil_bravo FROM PUBLIC;
GRANT USAGE ON SCHEMA dsmil_bravo TO bravo_app;
CREATE TABLE IF NOT EXISTS dsmil_bravo.events (
  event_id text PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT 'BRAVO' CHECK (tenant_id = 'BRAVO'),
  ts timestamptz NOT NULL,
  category text NOT NULL DEFAULT '',
  severity text NOT NULL DEFAULT '',
  body jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts_idx ON dsmil_bravo.events (ts);
CREATE TABLE IF NOT EXISTS dsmil_bravo.policies (
  policy_id text PRIMARY KEY,
  tenant_id text NOT NULL DEFAULT 'BRAVO' CHECK (tenant_id = 'BRAVO'),
  updated_at timestamptz NOT NULL DEFAULT now(),
  body jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS dsmil_bravo.audit_log (
  seq bigint PRIMARY KEY CHECK (seq > 0),
  ts timestamptz NOT NULL,
  event_type text NOT NULL,
  actor text NOT NULL,
  detail text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  mac text NOT NULL,
  tenant_id text NOT NULL DEFAULT 'BRAVO' CHECK (tenant_id = 'BRAVO'));
REVOKE ALL ON ALL TABLES IN SCHEMA dsmil_bravo FROM PUBLIC;
-- events and audit_log are append-only for the application.
GRANT SELECT, INSERT ON dsmil_bravo.events, dsmil_bravo.audit_log TO bravo_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON dsmil_bravo.policies TO bravo_app;
ALTER TABLE dsmil_bravo.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_bravo.events FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON dsmil_bravo.events;
CREATE POLICY tenant_rows ON dsmil_bravo.events TO bravo_app
  USING (tenant_id = 'BRAVO' AND current_user = 'bravo_app')
  WITH CHECK (tenant_id = 'BRAVO' AND current_user = 'bravo_app');
ALTER TABLE dsmil_bravo.policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_bravo.policies FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON dsmil_bravo.policies;
CREATE POLICY tenant_rows ON dsmil_bravo.policies TO bravo_app
  USING (tenant_id = 'BRAVO' AND current_user = 'bravo_app')
  WITH CHECK (tenant_id = 'BRAVO' AND current_user = 'bravo_app');
ALTER TABLE dsmil_bravo.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE dsmil_bravo.audit_log FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_rows ON dsmil_bravo.audit_log;
CREATE POLICY tenant_rows ON dsmil_bravo.audit_log TO bravo_app
  USING (tenant_id = 'BRAVO' AND current_user = 'bravo_app')
  WITH CHECK (tenant_id = 'BRAVO' AND current_user = 'bravo_app');
GRANT USAGE ON SCHEMA dsmil_shared TO bravo_app;
GRANT SELECT, INSERT ON dsmil_shared.events TO bravo_app;
DROP POLICY IF EXISTS bravo_rows ON dsmil_shared.events;
CREATE POLICY bravo_rows ON dsmil_shared.events TO bravo_app
  USING (tenant_id = 'BRAVO' AND current_user = 'bravo_app')
  WITH CHECK (tenant_id = 'BRAVO' AND current_user = 'bravo_app');

COMMIT;
