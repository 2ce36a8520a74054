#!/usr/bin/env bash
# Runs every test suite of skiff and closes with one "tests: N passed, N
# failed" line over all of them. `make test` builds what this needs first.
#   unit         cmocka binaries under build/test/unit (sanitizer build)
#   integration  test_*.py and test_*.sh under test/integration (the real
#                binary), test/interop and test/controlplane (the peers), as root; each
#                prints "ok"/"not ok" lines and its own "N passed, N failed"
#   fuzz         each fuzz target briefly over its corpus
# TESTS=unit|integration|fuzz runs one kind only.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
passed=0 failed=0 failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT

want() { [ -z "${TESTS:-}" ] || [ "$TESTS" = "$1" ]; }

# Runs one suite, echoing its output, and adds its counts to the totals. A
# suite that exits non-zero without reporting a failure counts as one.
suite() { # name command...
	local name=$1 p f rc
	shift
	echo "-- $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p; s/^\([0-9]*\) passed, [0-9]* failed.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p; s/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' "$log" | tail -1)
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then p=1; fi
	passed=$((passed + p)) failed=$((failed + f))
	if [ "$f" -ne 0 ]; then failures+=("$name"); fi
}

if want unit; then
	echo "== unit tests"
	while IFS= read -r bin; do
		suite "${bin#"$BUILD"/test/}" "$bin"
	done < <(find "$BUILD/test/unit" -type f -executable | sort)
fi

if want integration; then
	echo "== integration tests"
	if [ "$(id -u)" -ne 0 ]; then
		echo "integration tests need root (network namespaces, iptables, BPF)" >&2
		failed=$((failed + 1)) failures+=(integration)
	else
		while IFS= read -r t; do
			case "$t" in
			*.py) suite "$t" /usr/bin/python3 "$t" ;;
			*.sh) suite "$t" bash "$t" ;;
			esac
		done < <(find test/integration test/interop test/controlplane -name node_modules -prune -o \( -name 'test_*.py' -o -name 'test_*.sh' \) -print | sort)
	fi
fi

if want fuzz && [ -f test/fuzz/run.sh ]; then
	echo "== fuzz targets (${FUZZ_SECONDS:=10}s each)"
	suite fuzz env FUZZ_SECONDS="$FUZZ_SECONDS" BUILD="$BUILD" bash test/fuzz/run.sh
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
