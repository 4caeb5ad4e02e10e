#!/usr/bin/env bash
# The local three-node cluster on loopback: node-a (SOC), node-b (AI), node-c (DATA,
# embedded stores). State lives in var/cluster/ (PKI, configs, logs, data).
#   scripts/cluster.sh up       (re)start the three nodes, each supervised (restarted when
#                               it exits; scripts/dsmil-supervise.py), register them in dsmilctl
#   scripts/cluster.sh down     stop the supervisors, then the nodes
#   scripts/cluster.sh status   dsmilctl status
# Environment: DSMIL_CLUSTER_DIR (state directory, default var/cluster);
# DSMIL_CLUSTER_PORTS (ten loopback ports: http, control and dbe of node-a,
# node-b, node-c, then the L7 API; default 8080 8099 8100 8180 ... 8001; an
# eleventh is SHRINK's on node-a, default 8500), so a
# second cluster (the red-team test's) can run beside the first;
# DSMIL_POLICIES_DIR (tenant policy bundles, default deploy/policies);
# DSMIL_MONITORING=1: `up` also starts Prometheus + Alertmanager (scripts/monitoring.sh);
# DSMIL_MODEL=/path/model.gguf: the model node-b serves (default: a random-weight model made
# here); DSMIL_SECOND_WORKER=0|1: device 44 as a second, one-thread worker of that model
# (default 1 for the model made here, 0 for DSMIL_MODEL).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD:-build}
bin="$root/$build/bin"
dir=${DSMIL_CLUSTER_DIR:-$root/var/cluster}
# Node state (keys, stores, logs, captured stderr) is this user's alone: files
# 0600, directories 0700, also for what an earlier run left.
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

nodes=(node-a node-b node-c)
declare -A role=([node-a]=soc [node-b]=ai [node-c]=data)
declare -A base=([node-a]=8000 [node-b]=8100 [node-c]=8200)  # http = base+80, control = base+99, dbe = base+100
declare -A index=([node-a]=0 [node-b]=1 [node-c]=2)
read -r -a ports <<< "${DSMIL_CLUSTER_PORTS:-}"
if [ ${#ports[@]} -ne 0 ] && [ ${#ports[@]} -ne 10 ] && [ ${#ports[@]} -ne 11 ]; then
  echo "cluster: DSMIL_CLUSTER_PORTS needs ten ports, or eleven with SHRINK's (got ${#ports[@]})" >&2
  exit 2
fi
port() { # node offset-in-base index-in-DSMIL_CLUSTER_PORTS
  if [ ${#ports[@]} -ge 10 ]; then echo "${ports[$(( ${index[$1]} * 3 + $3 ))]}"; else echo $(( ${base[$1]} + $2 )); fi
}
http_port()    { port "$1" 80 0; }
control_port() { port "$1" 99 1; }
dbe_port()     { port "$1" 100 2; }
l7_port()      { if [ ${#ports[@]} -ge 10 ]; then echo "${ports[9]}"; else echo "${DSMIL_L7_PORT:-8001}"; fi; }
# SHRINK on node-a (docs/shrink.md): :8500, the eleventh port, or an ephemeral one when ten are given.
shrink_port()  { if [ ${#ports[@]} -eq 11 ]; then echo "${ports[10]}"; elif [ ${#ports[@]} -eq 10 ]; then echo 0; else echo 8500; fi; }

# Each node runs under scripts/dsmil-supervise.py, which restarts it when it exits
# (backoff 0.5 s doubling to 8 s, reset after a stable minute) and passes the restart
# count in DSMIL_RESTARTS. $n.supervisor.pid holds the supervisor, $n.pid the node.
stop_pid() { # name pid
  local pid=$2
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  echo "stopped $1 (pid $pid)"
}

stop_nodes() {
  local n
  # Supervisors first (each stops its node), then any node left over.
  for n in "${nodes[@]}"; do
    [ -f "$dir/$n.supervisor.pid" ] || continue
    stop_pid "$n supervisor" "$(cat "$dir/$n.supervisor.pid")"
    rm -f "$dir/$n.supervisor.pid"
  done
  for n in "${nodes[@]}"; do
    [ -f "$dir/$n.pid" ] || continue
    stop_pid "$n" "$(cat "$dir/$n.pid")"
    rm -f "$dir/$n.pid"
  done
}

write_config() {
  local n=$1 p
  {
    echo "# $n: written by scripts/cluster.sh (make up)"
    echo "node: {name: $n, role: ${role[$n]}, address: 127.0.0.1}"
    echo "listen: {http: \"127.0.0.1:$(http_port "$n")\", control: \"127.0.0.1:$(control_port "$n")\", dbe: \"127.0.0.1:$(dbe_port "$n")\"}"
    echo "tls: {ca: pki/ca.crt, cert: pki/$n.crt, key: pki/$n.key, crl: pki/crl.pem}"
    echo "dbe: {transport: ${DSMIL_DBE_TRANSPORT:-quic}, keys_dir: keys}"
    echo "peers:"
    for p in "${nodes[@]}"; do
      [ "$p" = "$n" ] && continue
      echo "  - {name: $p, role: ${role[$p]}, control: \"https://127.0.0.1:$(control_port "$p")\", dbe: \"127.0.0.1:$(dbe_port "$p")\"}"
    done
    echo "tenants:"
    echo "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, SIGNALS]}"
    echo "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}"
    # On one machine every node uses NODE-C's embedded stores (SQLite files shared by the
    # processes); across machines the nodes use `stores: {kind: servers, ...}` instead.
    echo "stores: {kind: embedded, path: node-c/data}"
    echo "policies: {dir: \"${DSMIL_POLICIES_DIR:-$root/deploy/policies}\"}"
    case "${role[$n]}" in
      soc)
        echo "soc: {l3_model: \"$root/models/l3_router.json\", l4_model: \"$root/models/l4_classifier.json\","
        echo "      indicators_dir: \"$root/deploy/indicators\","
        echo "      sigma_rules: \"$root/deploy/sigma/rules\", sigma_fieldmap: \"$root/deploy/sigma/fieldmap.yaml\"}"
        echo "shrink: {listen: \"127.0.0.1:$(shrink_port)\"}"
        ;;
      ai)
        # Operator prompts go to SHRINK on node-a (docs/shrink.md).
        [ "$(shrink_port)" != 0 ] && echo "shrink: {forward: \"https://127.0.0.1:$(shrink_port)\"}"
        echo "l7:"
        echo "  listen: \"127.0.0.1:$(l7_port)\""
        # Device 44 is a second, smaller worker (one thread) of the same model when
        # cluster.sh made the model: the router spreads requests over both
        # (least outstanding), and each worker's status line counts its share.
        if [ "$second_worker" = 1 ]; then
          echo "  workers: [{model: \"$model_name\", device: 47}, {model: \"$model_name\", device: 44}]"
        else
          echo "  workers: [{model: \"$model_name\", device: 47}]"
        fi
        # Every tenant is limited by default (docs/security.md): 20 requests/s, bursts of 40,
        # 8 in flight, 2M tokens a day; a tenant over its limit gets 429 with Retry-After.
        echo "  limits: {default: {requests_per_second: 20, burst: 40, max_concurrent: 8, tokens_per_day: 2000000}}"
        echo "llm:"
        echo "  models:"
        echo "    - {device: 47, profile: llm-7b-amx, path: \"$model_path\", threads: ${DSMIL_LLM_THREADS:-2}}"
        [ "$second_worker" = 1 ] && echo "    - {device: 44, profile: llm-1b-npu, path: \"$model_path\", threads: 1}"
        ;;
    esac
    echo "logging: {level: info, file: $n/$n.log}"
  } > "$dir/$n.yaml"
}

up() {
  [ -x "$bin/dsmild" ] && [ -x "$bin/dsmilctl" ] || { echo "cluster: build first (make up does)"; exit 1; }
  stop_nodes
  if [ ! -f "$dir/pki/ca.crt" ]; then
    "$bin/dsmilctl" pki init --dir "$dir/pki" --nodes node-a,node-b,node-c --operators admin --tenants '*'
  fi
  # The revocation list every node checks (tls.crl); `dsmilctl pki revoke` adds to it.
  if [ ! -f "$dir/pki/crl.pem" ]; then
    "$bin/dsmilctl" pki crl --dir "$dir/pki" --sign >/dev/null
  fi
  # An operator certificate from before tenants were named in certificates covers none:
  # renew it for every tenant.
  if ! openssl x509 -in "$dir/pki/operator-admin.crt" -noout -ext subjectAltName 2>/dev/null | grep -q 'urn:dsmil:tenant'; then
    "$bin/dsmilctl" pki issue operator admin --dir "$dir/pki" --tenants '*' --force >/dev/null
  fi
  local n
  # DBE identities (ML-DSA-87) and every node's pins of the others' public keys.
  mkdir -p "$dir/keys/peer_keys"
  for n in "${nodes[@]}"; do
    if [ ! -f "$dir/keys/$n-mldsa87.key" ]; then
      "$bin/dsmilctl" pki node-keys --dir "$dir/keys" "$n" >/dev/null
    fi
    cp "$dir/keys/$n-mldsa87.pub" "$dir/keys/peer_keys/$n-mldsa87.pub"
  done
  # The model NODE-B serves: DSMIL_MODEL=/path/model.gguf, else a small llama model with random
  # weights made here (never downloaded); its name says so in /v1/models.
  # A second worker (device 44) of the model cluster.sh makes; a model given with DSMIL_MODEL
  # gets one worker unless DSMIL_SECOND_WORKER=1 (it would be loaded twice).
  second_worker=${DSMIL_SECOND_WORKER:-1}
  if [ -n "${DSMIL_MODEL:-}" ]; then
    second_worker=${DSMIL_SECOND_WORKER:-0}
    [ -r "$DSMIL_MODEL" ] || { echo "cluster: DSMIL_MODEL=$DSMIL_MODEL is not a readable file" >&2; exit 2; }
    model_path=$(readlink -f "$DSMIL_MODEL")
    model_name=$(basename "$model_path" .gguf)
  else
    model_path="$dir/models/dsmil-tiny-random-weights.gguf"
    model_name=dsmil-tiny-random-weights
    if [ ! -f "$model_path" ]; then
      mkdir -p "$dir/models"
      echo "cluster: making $model_name (random weights; set DSMIL_MODEL to serve a real GGUF model)"
      "$bin/dsmilctl" llm mkmodel --out "$model_path.tmp" --shape tiny --type q8_0 --vocab spm \
        --name "$model_name" --quiet
      mv "$model_path.tmp" "$model_path"
    fi
  fi
  for n in "${nodes[@]}"; do
    mkdir -p "$dir/$n/data"
    chmod 700 "$dir/$n" "$dir/$n/data"
    touch "$dir/$n/stderr.log" && chmod 600 "$dir/$n/stderr.log"
    write_config "$n"
    "$bin/dsmild" --config "$dir/$n.yaml" --check >/dev/null
    rm -f "$dir/$n.pid"
    setsid python3 "$root/scripts/dsmil-supervise.py" --name "$n" --pidfile "$dir/$n.pid" -- \
      "$bin/dsmild" --config "$dir/$n.yaml" >>"$dir/$n/stderr.log" 2>&1 < /dev/null &
    echo $! > "$dir/$n.supervisor.pid"
  done
  for n in "${nodes[@]}"; do
    local ok=0
    for _ in $(seq 100); do
      if curl -fsS "http://127.0.0.1:$(http_port "$n")/healthz" >/dev/null 2>&1; then ok=1; break; fi
      kill -0 "$(cat "$dir/$n.supervisor.pid")" 2>/dev/null || break
      sleep 0.1
    done
    if [ $ok = 0 ]; then
      echo "cluster: $n did not come up; its log:" >&2
      tail -n 20 "$dir/$n/stderr.log" >&2
      stop_nodes >&2
      exit 1
    fi
  done
  "$bin/dsmilctl" config set-operator --cert "$dir/pki/operator-admin.crt" --key "$dir/pki/operator-admin.key" >/dev/null
  for n in "${nodes[@]}"; do
    "$bin/dsmilctl" config add-node "${n^^}" "https://127.0.0.1:$(control_port "$n")" --cert "$dir/pki/ca.crt" >/dev/null
  done
  echo
  echo "DSMIL local cluster is up (state in $dir)"
  for n in "${nodes[@]}"; do
    printf '  %-7s %-5s pid %-7s health+metrics http://127.0.0.1:%s/healthz /metrics   control https://127.0.0.1:%s/v1/status (mTLS)\n' \
      "${n^^}" "${role[$n]}" "$(cat "$dir/$n.pid" 2>/dev/null)" "$(http_port "$n")" "$(control_port "$n")"
  done
  echo "  OpenAI-compatible API: http://127.0.0.1:$(l7_port)/v1 (model $model_name;"
  echo "    key: $bin/dsmilctl tenant key create --tenant ALPHA --data-dir $dir/node-c/data)"
  echo "  CA: $dir/pki/ca.crt   operator cert: $dir/pki/operator-admin.crt"
  echo "  dsmilctl: $bin/dsmilctl (config ${DSMILCTL_CONFIG:-$HOME/.config/dsmil/dsmilctl.yaml})"
  echo "  stop with: make down"
  echo
  "$bin/dsmilctl" status || true
  # Monitoring (docs/observability.md): Prometheus + Alertmanager beside the nodes.
  if [ "${DSMIL_MONITORING:-0}" = 1 ]; then echo; "$root/scripts/monitoring.sh" up "$dir"; fi
}

case "${1:-}" in
  up) up ;;
  down) "$root/scripts/monitoring.sh" down "$dir" || true; stop_nodes ;;
  status) "$bin/dsmilctl" status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
