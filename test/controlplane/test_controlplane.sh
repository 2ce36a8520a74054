#!/usr/bin/env bash
# Self-test of the ADS control plane (server.js): SotW and Delta against an
# independent gRPC client, ACK/NACK recording, pushes, h2c, restart.
# Prints ok/not ok lines and "N passed, N failed"; exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")"
if ! bash setup.sh; then
	echo "not ok - npm ci for test/controlplane"
	echo "0 passed, 1 failed"
	exit 1
fi
exec node selftest.js
