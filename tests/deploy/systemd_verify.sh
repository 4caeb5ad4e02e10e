#!/usr/bin/env bash
# systemd-analyze verify on deploy/systemd/dsmild@.service (as instance node-a, with
# ExecStart pointing at the test build's dsmild): no warning or error may be printed.
# Usage: systemd_verify.sh BIN_DIR SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/local/bin/dsmild|$bin/dsmild|g" "$src/deploy/systemd/dsmild@.service" > "$tmp/dsmild@node-a.service"
out=$(cd "$tmp" && systemd-analyze verify --man=no "./dsmild@node-a.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
for key in 'Restart=always' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' 'CapabilityBoundingSet=$' \
           'ReadWritePaths=/var/lib/dsmil/%i$'; do
  grep -q "^$key" "$src/deploy/systemd/dsmild@.service" || { echo "missing $key"; exit 1; }
done
echo "dsmild@.service: systemd-analyze verify clean"
