#!/usr/bin/env bash
# Builds tlspeer (Go standard library only) into build/interop/tlspeer,
# offline: no module proxy, no network. Idempotent: go's build cache makes a
# second run cheap, and the binary is replaced only when the build succeeds.
#   BUILD=dir   output root (default build), as the Makefile passes it
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
out="$build/interop"

if ! command -v go >/dev/null 2>&1; then
	echo "tlspeer: 'go' is not installed (Debian: apt-get install golang-go; scripts/deps.sh lists it)" >&2
	exit 1
fi
mkdir -p "$out"

export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GO111MODULE=on
export GOFLAGS="$GOFLAGS -buildvcs=false"
# A cache of our own under build/, so a root-less or HOME-less run (CI) works.
export GOCACHE=${GOCACHE:-$out/.gocache}
export GOPATH=${GOPATH:-$out/.gopath}

cd "$here"
go vet ./...
go build -trimpath -o "$out/tlspeer.tmp" .
mv -f "$out/tlspeer.tmp" "$out/tlspeer"
echo "tlspeer: built ${out#"$root"/}/tlspeer ($(go version | awk '{print $3}'))"
