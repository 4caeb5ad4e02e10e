#!/bin/bash
# First start: initdb, create the `dsmil` database and run the tenants' init SQL
# (POSTGRES_INIT_SQL, default /run/secrets/postgres-init-sql) over the local socket only;
# then PostgreSQL in the foreground with the mounted configuration.
set -euo pipefail
conf=${POSTGRES_CONF:-/etc/postgresql/postgresql.conf}
hba=${POSTGRES_HBA:-/etc/postgresql/pg_hba.conf}
init_sql=${POSTGRES_INIT_SQL:-/run/secrets/postgres-init-sql}
mkdir -p /backup/postgres/wal
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  initdb -D "$PGDATA" --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/tmp" start >/dev/null
  psql -v ON_ERROR_STOP=1 -h /tmp -d postgres -qc 'CREATE DATABASE dsmil'
  if [ -r "$init_sql" ]; then
    psql -v ON_ERROR_STOP=1 -h /tmp -d dsmil -q -f "$init_sql" >/dev/null
  else
    echo "postgres-entrypoint: no init SQL at $init_sql: the tenants have no roles yet" >&2
  fi
  pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
fi
exec postgres -D "$PGDATA" -c config_file="$conf" -c hba_file="$hba" -c unix_socket_directories=/tmp
