#!/usr/bin/env bash
# Installs the gRPC peers' npm dependencies exactly as pinned in
# package-lock.json (npm ci), once: a stamp records which lock file the
# installed node_modules came from. Idempotent and quiet when up to date.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null && command -v npm >/dev/null || {
	echo "interop/grpc: node and npm are needed (scripts/deps.sh installs nodejs)" >&2
	exit 1
}
want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.skiff-lock-sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "interop/grpc: npm ci" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
echo "$want" >"$stamp"
