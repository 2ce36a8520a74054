#!/usr/bin/env bash
# Builds httppeer (Go standard library only) into build/interop/httppeer,
# offline: no module proxy, no network. Idempotent, like ../go/build.sh.
#   BUILD=dir   output root (default build), as the Makefile passes it
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=${BUILD:-build}
case $build in /*) ;; *) build="$root/$build" ;; esac
out="$build/interop"

if ! command -v go >/dev/null 2>&1; then
	echo "httppeer: 'go' is not installed (Debian: apt-get install golang-go; scripts/deps.sh lists it)" >&2
	exit 1
fi
mkdir -p "$out"

export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 GO111MODULE=on
export GOFLAGS="$GOFLAGS -buildvcs=false"
export GOCACHE=${GOCACHE:-$out/.gocache}
export GOPATH=${GOPATH:-$out/.gopath}

cd "$here"
go vet ./...
go build -trimpath -o "$out/httppeer.tmp" .
mv -f "$out/httppeer.tmp" "$out/httppeer"
echo "httppeer: built ${out#"$root"/}/httppeer ($(go version | awk '{print $3}'))"
