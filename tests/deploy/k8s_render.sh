#!/usr/bin/env bash
# Renders deploy/kubernetes with `kubectl kustomize` (placeholder files where the Secrets'
# and node configs' real files go) and validates every object (k8s_validate.mjs).
# Usage: k8s_render.sh SOURCE_DIR MODELS_DIR
set -euo pipefail
src=$1 models=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/deploy"
cp -r "$src/deploy/kubernetes" "$src/deploy/redis" "$src/deploy/postgres" "$tmp/deploy/"
k=$tmp/deploy/kubernetes
mkdir -p "$k/config" "$k/secrets/pki" "$k/secrets/keys" "$k/secrets/stores" "$k/secrets/redis" "$k/secrets/postgres"
for n in node-a node-b node-c; do
  echo "node: {name: $n}" > "$k/config/$n.yaml"
  echo placeholder > "$k/secrets/pki/$n.crt"; echo placeholder > "$k/secrets/pki/$n.key"
  echo placeholder > "$k/secrets/keys/$n-mldsa87.key"; echo placeholder > "$k/secrets/keys/$n-mldsa87.pub"
done
for f in pki/ca.crt pki/crl.pem stores/audit.key redis/users.acl postgres/init.sql; do echo placeholder > "$k/secrets/$f"; done
kubectl kustomize --load-restrictor LoadRestrictionsNone "$k" > "$tmp/rendered.yaml"
echo "kubectl kustomize: $(grep -c '^kind:' "$tmp/rendered.yaml") objects"
DSMIL_K8S_MODELS_DIR=$models node "$(dirname "$0")/k8s_validate.mjs" "$tmp/rendered.yaml"
