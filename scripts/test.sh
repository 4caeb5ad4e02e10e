#!/usr/bin/env bash
# Builds and runs every test. Called by `make test` (after the Debian packages are installed).
#  1. normal build (g++, warnings as errors), the source checks (format, tidy
#     on changed files: scripts/check_style.sh), unit, integration and cluster tests;
#  2. clang ASan+UBSan build with the lock discipline checked (-Wthread-safety -Werror)
#     over every library and both apps: the tests of parsers (label "parser"), the
#     libFuzzer targets, each fuzzed for a bounded time (DSMIL_FUZZ_SECONDS, default 20),
#     and the compile-only checks of the lock discipline (label "static").
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
build=${BUILD:-build}
fuzz_build=${FUZZ_BUILD:-build-fuzz}
fuzz_seconds=${DSMIL_FUZZ_SECONDS:-20}
# ccache keyed on paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$(pwd)}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}

echo "== [1/2] build: $build (g++, -Werror)"
cmake -S . -B "$build" -G Ninja -DDSMIL_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs"
echo "== [1/2] source checks (scripts/check_style.sh)"
set +e
scripts/check_style.sh "$build"
rc_style=$?
set -e
echo "== [1/2] tests"
set +e
(cd "$build" && ctest --output-on-failure --no-tests=error -j "$jobs" --timeout 900) 2>&1 | tee "$build/ctest.log"
rc1=${PIPESTATUS[0]}
set -e

echo "== [2/2] build: $fuzz_build (clang-14, ASan+UBSan, libFuzzer, -Wthread-safety)"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$fuzz_build" -G Ninja -DDSMIL_FUZZ=ON -DDSMIL_BENCH=OFF \
  -DDSMIL_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$fuzz_build" -j "$jobs" --target sanitizer_tests dsmild dsmilctl
echo "== [2/2] parser tests under ASan+UBSan, fuzz targets for ${fuzz_seconds}s each, lock-discipline checks"
set +e
(cd "$fuzz_build" && ctest --output-on-failure --no-tests=error -j "$jobs" -L 'parser|fuzz|static' --timeout 900) 2>&1 | tee "$fuzz_build/ctest.log"
rc2=${PIPESTATUS[0]}
set -e

# One summary line for both runs.
count() { sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1 \2/p' "$1" | tail -n1; }
read -r f1 t1 <<<"$(count "$build/ctest.log")"
read -r f2 t2 <<<"$(count "$fuzz_build/ctest.log")"
f1=${f1:-0} t1=${t1:-0} f2=${f2:-0} t2=${t2:-0}
echo
echo "test: $(( t1 + t2 - f1 - f2 )) passed, $(( f1 + f2 )) failed"
[ "$rc_style" = 0 ] || echo "source checks failed (format or tidy; see above)"
[ "$rc_style" = 0 ] && [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ $(( t1 + t2 )) -gt 0 ]
