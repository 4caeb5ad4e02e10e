#!/usr/bin/env bash
# Prometheus + Alertmanager (and a webhook receiver) on loopback beside a local
# cluster made by scripts/cluster.sh (docs/observability.md).
#   scripts/monitoring.sh up [CLUSTER_DIR]      (re)start them, print the URLs
#   scripts/monitoring.sh down [CLUSTER_DIR]    stop them
#   scripts/monitoring.sh status [CLUSTER_DIR]  which are running
# CLUSTER_DIR defaults to $DSMIL_CLUSTER_DIR, else var/cluster. The scrape
# targets are read from its node configs (node-a.yaml ... listen.http). State
# lives in CLUSTER_DIR/monitoring/: the generated prometheus.yml and
# alertmanager.yml, the TSDB and Alertmanager data, logs, pid files and
# alerts.jsonl (every alert the receiver got, one JSON line each).
# Environment: DSMIL_MONITORING_PORTS (three loopback ports: Prometheus,
# Alertmanager, receiver; default 9090 9093 9095); DSMIL_MONITORING_INTERVAL
# (scrape and rule evaluation interval, default 2s).
# `DSMIL_MONITORING=1 scripts/cluster.sh up` runs `up` after the nodes start;
# `scripts/cluster.sh down` runs `down`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cmd=${1:-}
dir=${2:-${DSMIL_CLUSTER_DIR:-$root/var/cluster}}
dir=$(cd "$dir" 2>/dev/null && pwd) || { echo "monitoring: no cluster directory ${2:-${DSMIL_CLUSTER_DIR:-var/cluster}}" >&2; exit 2; }
mdir="$dir/monitoring"
read -r -a ports <<< "${DSMIL_MONITORING_PORTS:-9090 9093 9095}"
if [ ${#ports[@]} -ne 3 ]; then
  echo "monitoring: DSMIL_MONITORING_PORTS needs three ports (got ${#ports[@]})" >&2
  exit 2
fi
prom_port=${ports[0]} am_port=${ports[1]} recv_port=${ports[2]}
interval=${DSMIL_MONITORING_INTERVAL:-2s}
procs=(prometheus alertmanager receiver)
nodes=(node-a node-b node-c)
declare -A role=([node-a]=soc [node-b]=ai [node-c]=data)

stop() {
  local p pid
  for p in "${procs[@]}"; do
    [ -f "$mdir/$p.pid" ] || continue
    pid=$(cat "$mdir/$p.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
      echo "stopped $p (pid $pid)"
    fi
    rm -f "$mdir/$p.pid"
  done
}

http_addr() { # the listen.http address of a node config written by cluster.sh
  sed -n 's/^listen:.*http: *"\{0,1\}\([0-9.]*:[0-9]*\)"\{0,1\}.*/\1/p' "$dir/$1.yaml" | head -1
}

write_configs() {
  local n a
  {
    echo "# Written by scripts/monitoring.sh for the local cluster in $dir;"
    echo "# the deployed file is deploy/prometheus/prometheus.yml."
    echo "global: {scrape_interval: $interval, evaluation_interval: $interval, external_labels: {cluster: dsmil-local}}"
    echo "rule_files: [\"$root/deploy/prometheus/rules/recording.yml\", \"$root/deploy/prometheus/rules/alerts.yml\"]"
    echo "alerting: {alertmanagers: [{static_configs: [{targets: [\"127.0.0.1:$am_port\"]}]}]}"
    echo "scrape_configs:"
    echo "  - job_name: dsmil"
    echo "    honor_labels: true"
    echo "    static_configs:"
    for n in "${nodes[@]}"; do
      a=$(http_addr "$n")
      [ -n "$a" ] || { echo "monitoring: no listen.http in $dir/$n.yaml (run scripts/cluster.sh up first)" >&2; exit 1; }
      echo "      - {targets: [\"$a\"], labels: {node: $n, role: ${role[$n]}}}"
    done
  } > "$mdir/prometheus.yml"
  # The deployed Alertmanager file with this receiver's port and short waits.
  sed -e "s#http://127.0.0.1:9095/#http://127.0.0.1:$recv_port/#" \
      -e 's/^\( *\)group_wait: .*/\1group_wait: 1s/' \
      -e 's/^\( *\)group_interval: .*/\1group_interval: 10s/' \
      "$root/deploy/alertmanager/alertmanager.yml" > "$mdir/alertmanager.yml"
}

wait_ready() { # name url pid
  for _ in $(seq 150); do
    if curl -fsS "$2" >/dev/null 2>&1; then return 0; fi
    kill -0 "$3" 2>/dev/null || break
    sleep 0.2
  done
  echo "monitoring: $1 did not come up; its log:" >&2
  tail -n 20 "$mdir/$1.log" >&2
  stop >&2
  exit 1
}

up() {
  local t
  for t in prometheus promtool prometheus-alertmanager python3 curl; do
    command -v "$t" >/dev/null || { echo "monitoring: $t not found (scripts/deps.sh test installs it)" >&2; exit 1; }
  done
  mkdir -p "$mdir"
  chmod 700 "$mdir"
  stop >/dev/null
  write_configs
  promtool check config "$mdir/prometheus.yml" >/dev/null
  setsid python3 "$root/scripts/alert-receiver.py" --listen "127.0.0.1:$recv_port" --out "$mdir/alerts.jsonl" \
    >>"$mdir/receiver.log" 2>&1 < /dev/null &
  echo $! > "$mdir/receiver.pid"
  setsid prometheus-alertmanager --config.file="$mdir/alertmanager.yml" --storage.path="$mdir/alertmanager-data" \
    --web.listen-address="127.0.0.1:$am_port" --cluster.listen-address= \
    >>"$mdir/alertmanager.log" 2>&1 < /dev/null &
  echo $! > "$mdir/alertmanager.pid"
  setsid prometheus --config.file="$mdir/prometheus.yml" --storage.tsdb.path="$mdir/prometheus-data" \
    --web.listen-address="127.0.0.1:$prom_port" --storage.tsdb.retention.time=2d \
    >>"$mdir/prometheus.log" 2>&1 < /dev/null &
  echo $! > "$mdir/prometheus.pid"
  wait_ready receiver "http://127.0.0.1:$recv_port/healthz" "$(cat "$mdir/receiver.pid")"
  wait_ready alertmanager "http://127.0.0.1:$am_port/-/ready" "$(cat "$mdir/alertmanager.pid")"
  wait_ready prometheus "http://127.0.0.1:$prom_port/-/ready" "$(cat "$mdir/prometheus.pid")"
  echo "DSMIL monitoring is up (state in $mdir, scrape and evaluation every $interval)"
  echo "  Prometheus:   http://127.0.0.1:$prom_port (targets: /targets, alerts: /alerts)"
  echo "  Alertmanager: http://127.0.0.1:$am_port"
  echo "  receiver:     http://127.0.0.1:$recv_port -> $mdir/alerts.jsonl"
}

status() {
  local p rc=0
  for p in "${procs[@]}"; do
    if [ -f "$mdir/$p.pid" ] && kill -0 "$(cat "$mdir/$p.pid")" 2>/dev/null; then
      echo "$p: running (pid $(cat "$mdir/$p.pid"))"
    else
      echo "$p: stopped"; rc=1
    fi
  done
  echo "  Prometheus http://127.0.0.1:$prom_port  Alertmanager http://127.0.0.1:$am_port  receiver http://127.0.0.1:$recv_port"
  return $rc
}

case "$cmd" in
  up) up ;;
  down) stop ;;
  status) status ;;
  *) echo "usage: $0 up|down|status [CLUSTER_DIR]" >&2; exit 2 ;;
esac
