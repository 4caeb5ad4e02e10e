#!/usr/bin/env bash
# The Phase 5 red-team drills (spec §9.2) against the local cluster `make up`
# brought up, and the report: `dsmilctl redteam run` with the frozen held-out
# attacks for drill 3. Extra arguments go to dsmilctl (e.g. --tenant BRAVO
# --other ALPHA, --sample 60). Exit 0 only when all six drills pass.
#   scripts/red-team-phase5.sh [-o var/red-team-report.md] [dsmilctl args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BUILD:-build}/bin"
[ -x "$bin/dsmilctl" ] || { echo "red-team: build first (make up)" >&2; exit 2; }
out=var/red-team-report.md
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
mkdir -p "$(dirname "$out")"
rc=0
"$bin/dsmilctl" redteam run --cluster-dir "${DSMIL_CLUSTER_DIR:-var/cluster}" \
  --attacks data/injection/test/attacks.jsonl --loki-rules deploy/loki/rules -o "$out" "$@" || rc=$?
[ -f "$out" ] && cat "$out"
exit $rc
