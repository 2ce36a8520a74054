#!/usr/bin/env bash
# Installs, on Debian 12 as root, what building, testing, benchmarking and the
# demo need. Idempotent: only packages that are missing are asked of apt-get,
# so a second run costs one dpkg query.
set -euo pipefail

packages=(
  # build
  make gcc clang llvm pkg-config libc6-dev
  libyaml-dev libssl-dev libnghttp2-dev libpcre2-dev libbpf-dev libelf-dev zlib1g-dev bpftool
  libxxhash-dev
  # unit tests
  libcmocka-dev
  # integration tests: namespaces, iptables REDIRECT, independent peers
  iproute2 iptables procps python3 curl util-linux openssl
  # benchmarks: the peer proxies
  haproxy nginx libnginx-mod-stream
  # mTLS interop peers (Go crypto/tls), the TLS benchmark's nghttpx, TLS scan
  golang-go nghttp2-proxy sslscan
  # fuzz targets: libFuzzer's runtime for clang -fsanitize=fuzzer (a
  # Recommends of libclang-common-14-dev, which --no-install-recommends skips)
  libclang-rt-14-dev
  # xDS tests' control plane (test/controlplane, Node + npm ci). The machine's
  # nodejs (20.x) bundles npm; Debian's separate npm package conflicts with
  # it, so it is not listed.
  nodejs
  # HTTP/1.1 differential test: h11 is one of the independent parsers (Node's
  # http server, from nodejs above, is the other)
  python3-h11 python3-prometheus-client
  # xDS: the protobuf-c runtime and protoc-c, for xds/api/*.proto
  libprotobuf-c-dev protobuf-c-compiler
  # HTTP interop and benchmarks: Python h2 (raw frames), curl with HTTP/2,
  # h2load and nghttp (nghttp2-client), the WebSocket echo peer
  python3-h2 python3-hyperframe nghttp2-client
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# NodeSource's nodejs (on the development image) carries npm; Debian's does
# not, and its separate npm package conflicts with NodeSource's: add it only
# where npm is missing.
if ! command -v npm >/dev/null 2>&1; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# The Debian nginx and haproxy packages start system services on install; the
# benchmarks run their own instances on their own ports, so stop those.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
  pkill -x "$svc" 2>/dev/null || true
done
exit 0
