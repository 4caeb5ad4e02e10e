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
  clang-14 libclang-rt-14-dev valgrind prometheus
  redis-server redis-tools postgresql-15 haproxy wrk
)
pkgs=("${build_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
# Node.js >= 20.19 is needed by the interop tests (@noble/post-quantum); Debian's nodejs is
# used only when no node is installed at all.
if [ "$mode" = test ] && ! command -v node >/dev/null 2>&1; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} Debian packages present"
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
# Likewise Redis, PostgreSQL and HAProxy: the packages start system servers; the tests and
# `make up` start their own on free loopback ports with their own data.
for svc in redis-server postgresql haproxy; do
  (service "$svc" stop || systemctl stop "$svc") >/dev/null 2>&1 || true
done
echo "deps: done"
