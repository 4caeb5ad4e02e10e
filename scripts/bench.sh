#!/usr/bin/env bash
# Runs every benchmark binary in $BUILD/bench-bin; each prints its own peer/limit and ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
shopt -s nullglob
ran=0
for b in "$build"/bench-bin/*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
  ran=1
done
[ $ran = 1 ] || { echo "bench: no benchmark binaries in $build/bench-bin"; exit 1; }
