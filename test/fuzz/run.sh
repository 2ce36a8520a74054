#!/usr/bin/env bash
# Runs every built fuzz target ($BUILD/fuzz/fuzz_<name>, BUILD defaults to
# build) for FUZZ_SECONDS (default 10) each, on a scratch copy of its corpus
# test/fuzz/corpus/<name>/ so the repository is never written, with
# test/fuzz/<name>.dict when there is one. Builds nothing (`make fuzz-build`
# does). Exits non-zero if any target finds a crash, leak or timeout; the
# scratch directory with the failing input is kept and named.
set -uo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SECONDS_EACH=${FUZZ_SECONDS:-10}

shopt -s nullglob
targets=("$BUILD"/fuzz/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets in $BUILD/fuzz (build them with: make BUILD=$BUILD fuzz-build)" >&2
  exit 0
fi

failed=()
for bin in "${targets[@]}"; do
  [ -x "$bin" ] || continue
  name=${bin##*/fuzz_}
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/skiff-fuzz-$name.XXXXXX")
  mkdir -p "$scratch/corpus"
  if [ -d "test/fuzz/corpus/$name" ]; then
    cp -R "test/fuzz/corpus/$name/." "$scratch/corpus/"
  fi
  args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$scratch/" -print_final_stats=1)
  [ -f "test/fuzz/$name.dict" ] && args+=(-dict="test/fuzz/$name.dict")

  printf '  %-8s %s (%ss)\n' FUZZ "$name" "$SECONDS_EACH"
  if "$bin" "${args[@]}" "$scratch/corpus" >"$scratch/log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "$scratch/log" | sed "s/^/           /"
    rm -rf "$scratch"
  else
    echo "fuzz: $name FAILED; input and log kept in $scratch" >&2
    tail -n 40 "$scratch/log" >&2
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]}" >&2
  exit 1
fi
exit 0
