#!/bin/sh
# Daily Redis snapshot for NODE-C (spec §7.2): fetches an RDB file from the
# running server as dsmil_admin and keeps the last KEEP_DAYS days.
#
#   deploy/redis/backup.sh [backup_dir]        (default /backup/redis)
#
# Environment: REDIS_HOST (127.0.0.1), REDIS_PORT (6379),
#   REDIS_ADMIN_PASS_FILE (/etc/dsmil/secrets/redis/dsmil_admin.pass), KEEP_DAYS (14).
# Cron (as the user that may read the password file):
#   15 3 * * * /opt/dsmil/deploy/redis/backup.sh /backup/redis >> /var/log/dsmil-redis-backup.log 2>&1
# Restore: stop Redis, put the file in its `dir` as dump.rdb, remove appendonlydir
# (or start with appendonly no, then CONFIG SET appendonly yes), start Redis.
set -eu

dir=${1:-/backup/redis}
host=${REDIS_HOST:-127.0.0.1}
port=${REDIS_PORT:-6379}
pass_file=${REDIS_ADMIN_PASS_FILE:-/etc/dsmil/secrets/redis/dsmil_admin.pass}
keep_days=${KEEP_DAYS:-14}

if [ ! -r "$pass_file" ]; then
  echo "redis backup: cannot read the admin password file $pass_file" >&2
  exit 2
fi
mkdir -p "$dir"
chmod 700 "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$dir/dump-$stamp.rdb"
REDISCLI_AUTH=$(cat "$pass_file")
export REDISCLI_AUTH
if ! redis-cli -h "$host" -p "$port" --user dsmil_admin --rdb "$out.part" >/dev/null; then
  rm -f "$out.part"
  echo "redis backup: redis-cli --rdb from $host:$port failed" >&2
  exit 1
fi
mv "$out.part" "$out"
chmod 600 "$out"
find "$dir" -name 'dump-*.rdb' -type f -mtime +"$keep_days" -delete
echo "redis backup: $out ($(wc -c < "$out") bytes)"
