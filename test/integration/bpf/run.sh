#!/usr/bin/env bash
# Runs the BPF datapath's tests alone: its unit tests, then the two-pod
# integration test (root). `make test` runs the same through test/run.sh,
# which finds build/test/unit/bpf/* and test/integration/bpf/test_*.py.
#   BUILD=build-bpf bash test/integration/bpf/run.sh
set -u
cd "$(dirname "$0")/../../.."
BUILD=${BUILD:-build}
export BUILD
rc=0
for t in "$BUILD"/test/unit/bpf/test_*; do
	[ -x "$t" ] || continue
	echo "-- $t"
	"$t" || rc=1
done
echo "-- test/integration/bpf/test_capture.py"
/usr/bin/python3 test/integration/bpf/test_capture.py || rc=1
exit $rc
