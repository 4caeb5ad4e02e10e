#!/usr/bin/env bash
# Source checks run by `make test` (scripts/test.sh) before the tests:
#  1. format: every tracked C++ file matches .clang-format (clang-format-14).
#  2. tidy: clang-tidy-14 with the checked-in .clang-tidy on the C++ files
#     changed since DSMIL_TIDY_BASE (default: origin/main when it differs from
#     HEAD, else the previous commit; uncommitted changes included). Warnings
#     in those files (and in changed headers) fail the check; warnings in
#     files nobody changed are not shown. Bounded: at most DSMIL_TIDY_MAX_FILES
#     translation units (default 12; the rest are listed as skipped), each
#     with a time limit of DSMIL_TIDY_FILE_SECONDS (default 240).
#  3. dependencies: each library in src/ declares exactly the libraries it
#     includes, none above it (scripts/check_deps.py).
#  4. internal headers: `*_internal.h` only from their own library or from a
#     target that opts in with dsmil_white_box (checked by the compiler; this
#     step lists who opts in, so a new one is seen in review).
# Usage: scripts/check_style.sh <build dir with compile_commands.json>
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rc=0

echo "== format (clang-format-14 --dry-run -Werror)"
mapfile -t files < <(git ls-files '*.cc' '*.h')
if ! out=$(clang-format-14 --dry-run -Werror "${files[@]}" 2>&1); then
  echo "$out" | grep -E '^[^ ].*: (error|warning):' | cut -d: -f1 | sort -u | sed 's/^/  not formatted: /'
  echo "  fix with: clang-format-14 -i <file>   (or: git ls-files '*.cc' '*.h' | xargs clang-format-14 -i)"
  rc=1
else
  echo "  ${#files[@]} files formatted"
fi

echo "== tidy (clang-tidy-14 on changed files)"
base=${DSMIL_TIDY_BASE:-}
if [ -z "$base" ]; then
  if git rev-parse -q --verify origin/main >/dev/null && [ "$(git rev-parse origin/main)" != "$(git rev-parse HEAD)" ]; then
    base=origin/main
  elif git rev-parse -q --verify HEAD~1 >/dev/null; then
    base=HEAD~1
  fi
fi
if [ -z "$base" ]; then
  echo "  no base commit to compare with: skipped"
elif [ ! -f "$build/compile_commands.json" ]; then
  echo "  $build/compile_commands.json missing: build first"
  rc=1
else
  mapfile -t changed < <({ git diff --name-only --diff-filter=d "$base" -- '*.cc' '*.h'; git ls-files --others --exclude-standard -- '*.cc' '*.h'; } | sort -u)
  # Translation units to run: changed .cc files the build compiles.
  mapfile -t units < <(for f in "${changed[@]}"; do
    case "$f" in *.cc) grep -q "\"file\": \"$(pwd)/$f\"" "$build/compile_commands.json" && echo "$f" ;; esac
  done)
  max=${DSMIL_TIDY_MAX_FILES:-12}
  secs=${DSMIL_TIDY_FILE_SECONDS:-240}
  echo "  base $base: ${#changed[@]} changed file(s), ${#units[@]} translation unit(s) to check (at most $max)"
  if [ "${#units[@]}" -gt 0 ]; then
    # Only the changed files' own warnings count.
    filter=$(printf '%s\n' "${changed[@]}" | sed 's/[.]/\\./g' | paste -sd'|')
    n=0
    for f in "${units[@]}"; do
      n=$((n + 1))
      if [ "$n" -gt "$max" ]; then
        echo "  skipped (over DSMIL_TIDY_MAX_FILES): $f"
        continue
      fi
      out=$(timeout "$secs" clang-tidy-14 -p "$build" --quiet --header-filter="^$(pwd)/($filter)\$" \
        --warnings-as-errors='*' "$f" 2>&1)
      st=$?
      if [ "$st" = 124 ]; then
        echo "  $f: clang-tidy ran over ${secs}s (not counted as a finding)"
      elif [ "$st" != 0 ]; then
        echo "$out" | grep -E '(warning|error):' | sed 's/^/  /'
        rc=1
      else
        echo "  $f: clean"
      fi
    done
  fi
fi

echo "== library dependencies (scripts/check_deps.py)"
python3 scripts/check_deps.py || rc=1

echo "== internal headers (white-box opt-ins)"
grep -rn --include=CMakeLists.txt 'dsmil_white_box(' tests bench apps 2>/dev/null | sed 's/^/  /'

exit $rc
