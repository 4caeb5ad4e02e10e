#!/usr/bin/env bash
# Prepares the files the compose stacks mount, once, on the operator's host (as root):
#   deploy/compose/init.sh [DIR]        default DIR /etc/dsmil (the stacks' DSMIL_ETC)
# DIR/pki          CA, node and operator certificates, CRL (dsmilctl pki init)
# DIR/keys/<node>  the node's ML-DSA-87 identity + peer_keys/ (its pins of the others)
# DIR/secrets/stores  tenants' Redis and PostgreSQL passwords, audit.key (all 0600)
# DIR/redis/users.acl, DIR/postgres/init.sql   the tenants' Redis ACLs, PostgreSQL roles + RLS
# DIR/config/node-{a,b,c}.yaml   node configs (stores kind servers on NODE-C's Redis/PostgreSQL)
# DIR/policies, DIR/soc          tenant policy bundles, SOC models/indicators/Sigma rules
# DIR/models       NODE-B's model (DSMIL_MODEL=/path/model.gguf, else random weights)
# Files the nodes read belong to uid 10001 (the image's `dsmil` user), keys and secrets 0600.
# Nothing is replaced when it exists, so running it again is safe; copy DIR to every host
# (docs/deploy.md says which host needs which part).
# Environment: DSMILCTL (default build/bin/dsmilctl, else `docker run --rm dsmil:5.0 dsmilctl`),
# DSMIL_NET_PREFIX (the nodes' addresses, default 172.20.0 → .10/.20/.30 as in spec §12),
# DSMIL_TENANTS (default ALPHA,BRAVO), DSMIL_MODEL.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-/etc/dsmil}
prefix=${DSMIL_NET_PREFIX:-172.20.0}
uid=10001
ctl=${DSMILCTL:-$src/build/bin/dsmilctl}
[ -x "$ctl" ] || { echo "init: no dsmilctl at $ctl (build it, or set DSMILCTL)" >&2; exit 1; }
umask 077
mkdir -p "$dir"
cd "$dir"
nodes=(node-a node-b node-c)
declare -A role=([node-a]=soc [node-b]=ai [node-c]=data)
declare -A ip=([node-a]=$prefix.10 [node-b]=$prefix.20 [node-c]=$prefix.30)

if [ ! -f pki/ca.crt ]; then
  "$ctl" pki init --dir pki --nodes node-a,node-b,node-c --operators admin --tenants '*' \
    --ip "node-a=${ip[node-a]}" --ip "node-b=${ip[node-b]}" --ip "node-c=${ip[node-c]}" >/dev/null
fi
[ -f pki/crl.pem ] || "$ctl" pki crl --dir pki --sign >/dev/null
mkdir -p keys/all
for n in "${nodes[@]}"; do
  [ -f "keys/all/$n-mldsa87.key" ] || "$ctl" pki node-keys --dir keys/all "$n" >/dev/null
done
for n in "${nodes[@]}"; do  # each node: its own key, the others' public keys
  mkdir -p "keys/$n/peer_keys"
  cp -n "keys/all/$n-mldsa87.key" "keys/all/$n-mldsa87.pub" "keys/$n/"
  for p in "${nodes[@]}"; do [ "$p" = "$n" ] || cp -n "keys/all/$p-mldsa87.pub" "keys/$n/peer_keys/"; done
done

mkdir -p secrets/stores redis postgres
tenants=${DSMIL_TENANTS:-ALPHA,BRAVO}
[ -f redis/users.acl ] || "$ctl" tenant render-acl --tenants "$tenants" --secrets secrets/stores --out redis/users.acl >/dev/null
[ -f postgres/init.sql ] || "$ctl" tenant render-sql --tenants "$tenants" --secrets secrets/stores --out postgres/init.sql >/dev/null
# One audit log key for every node: they append to the same chains on NODE-C.
[ -f secrets/stores/audit.key ] || { openssl rand -hex 32 > secrets/stores/audit.key; }
cp -n "$src/deploy/redis/redis.conf" redis/redis.conf
cp -n "$src/deploy/postgres/postgresql.conf" "$src/deploy/postgres/pg_hba.conf" postgres/

mkdir -p policies soc models
cp -rn "$src/deploy/policies/." policies/
mkdir -p soc/sigma
cp -n "$src/models/l3_router.json" "$src/models/l4_classifier.json" soc/
cp -rn "$src/deploy/indicators" soc/
cp -rn "$src/deploy/sigma/." soc/sigma/
if [ -n "${DSMIL_MODEL:-}" ]; then
  model_name=$(basename "$DSMIL_MODEL" .gguf)
  cp -n "$DSMIL_MODEL" "models/$model_name.gguf"
else
  model_name=dsmil-tiny-random-weights
  [ -f "models/$model_name.gguf" ] || "$ctl" llm mkmodel --out "models/$model_name.gguf" --shape tiny --type q8_0 \
    --vocab spm --name "$model_name" --quiet
fi

mkdir -p config
for n in "${nodes[@]}"; do
  [ -f "config/$n.yaml" ] && continue
  {
    echo "# $n: written by deploy/compose/init.sh; paths are those inside the container"
    echo "node: {name: $n, role: ${role[$n]}, address: ${ip[$n]}}"
    echo "listen: {http: \"0.0.0.0:8080\", control: \"0.0.0.0:8099\", dbe: \"0.0.0.0:8100\"}"
    echo "tls: {ca: /etc/dsmil/certs/ca.crt, cert: /etc/dsmil/certs/node.crt, key: /run/secrets/node-tls-key, crl: /etc/dsmil/certs/crl.pem}"
    echo "dbe: {transport: quic, keys_dir: /run/secrets/node-dbe-keys}"
    echo "peers:"
    for p in "${nodes[@]}"; do
      [ "$p" = "$n" ] && continue
      echo "  - {name: $p, role: ${role[$p]}, control: \"https://$p.dsmil.local:8099\", dbe: \"$p.dsmil.local:8100\"}"
    done
    echo "tenants:"
    echo "  - {id: ALPHA, roe_level: SOC_ASSIST, compartments: [SOC, SIGNALS]}"
    echo "  - {id: BRAVO, roe_level: ANALYSIS_ONLY, compartments: [SOC]}"
    echo "stores:"
    echo "  kind: servers"
    echo "  path: /var/lib/dsmil/data"
    echo "  secrets_dir: /var/lib/dsmil/secrets     # filled from the stores secret by the entry point"
    echo "  redis: {host: redis.dsmil.local, port: 6379}"
    echo "  postgres: {host: postgres.dsmil.local, port: 5432, dbname: dsmil}"
    echo "audit: {checkpoint_dir: /var/lib/dsmil/audit-checkpoints}"
    echo "policies: {dir: /etc/dsmil/policies}"
    case "${role[$n]}" in
      soc)
        echo "soc: {l3_model: /etc/dsmil/soc/l3_router.json, l4_model: /etc/dsmil/soc/l4_classifier.json,"
        echo "      indicators_dir: /etc/dsmil/soc/indicators,"
        echo "      sigma_rules: /etc/dsmil/soc/sigma/rules, sigma_fieldmap: /etc/dsmil/soc/sigma/fieldmap.yaml}"
        ;;
      ai)
        echo "l7:"
        echo "  listen: \"0.0.0.0:8001\""
        echo "  workers: [{model: \"$model_name\", device: 47}]"
        echo "  limits: {default: {requests_per_second: 20, burst: 40, max_concurrent: 8, tokens_per_day: 2000000}}"
        echo "llm:"
        echo "  models: [{device: 47, profile: llm-7b-amx, path: \"/opt/dsmil/models/$model_name.gguf\", threads: 2}]"
        ;;
    esac
    echo "logging: {level: info}"
  } > "config/$n.yaml"
done

# Ownership: the nodes (uid $uid) read their keys, secrets and configs; Redis and PostgreSQL
# read the ACL file and the init SQL (hashes and SCRAM verifiers, not passwords) through
# their own users, so those two are 0444 inside this 0700 directory.
chown -R "$uid:$uid" pki keys secrets config policies soc models
find pki keys secrets -type d -exec chmod 0700 {} +
find pki keys secrets -type f -name '*.key' -exec chmod 0600 {} +
find secrets -type f -exec chmod 0600 {} +
find pki -type f \( -name '*.crt' -o -name '*.pem' \) -exec chmod 0644 {} +
find config policies soc models -type d -exec chmod 0755 {} +
find config policies soc models -type f -exec chmod 0644 {} +
chmod 0755 redis postgres
chmod 0444 redis/users.acl postgres/init.sql
chmod 0644 redis/redis.conf postgres/postgresql.conf postgres/pg_hba.conf
chmod 0700 "$dir"
echo "init: $dir ready (nodes ${ip[node-a]}, ${ip[node-b]}, ${ip[node-c]}; model $model_name)"
