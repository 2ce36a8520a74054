#!/usr/bin/env bash
# Runs every test suite of skiff and closes with one "N passed, N failed"
# line over all of them. `make test` builds what this needs first.
#   unit         cmocka binaries under build/test/unit (sanitizer build)
#   integration  test/integration/*/test_*.py and test_*.sh, as root
#   fuzz         each fuzz target briefly over its corpus
# TESTS=unit|integration|fuzz runs one kind only.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
passed=0 failed=0 failures=()

record() { # name rc
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

want() { [ -z "${TESTS:-}" ] || [ "$TESTS" = "$1" ]; }

if want unit; then
	echo "== unit tests"
	while IFS= read -r bin; do
		echo "-- ${bin#"$BUILD"/test/}"
		"$bin"
		record "$bin" $?
	done < <(find "$BUILD/test/unit" -type f -executable | sort)
fi

if want integration; then
	echo "== integration tests"
	if [ "$(id -u)" -ne 0 ]; then
		echo "integration tests need root (network namespaces, iptables, BPF)" >&2
		record integration 1
	else
		while IFS= read -r t; do
			echo "-- $t"
			case "$t" in
			*.py) /usr/bin/python3 "$t" ;;
			*.sh) bash "$t" ;;
			esac
			record "$t" $?
		done < <(find test/integration -name 'test_*.py' -o -name 'test_*.sh' | sort)
	fi
fi

if want fuzz && [ -x test/fuzz/run.sh ] || [ -f test/fuzz/run.sh ]; then
	if want fuzz; then
		echo "== fuzz targets (${FUZZ_SECONDS:=10}s each)"
		FUZZ_SECONDS=$FUZZ_SECONDS BUILD=$BUILD bash test/fuzz/run.sh
		record fuzz $?
	fi
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
