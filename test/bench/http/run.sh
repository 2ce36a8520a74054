#!/usr/bin/env bash
# The L7 benchmark of the HTTP work: skiff's http_connection_manager next to
# HAProxy (mode http), nginx (proxy_pass) and nghttpx, in one run, on
# loopback, against one HTTP/1.1 backend:
#   h1    HTTP/1.1 in -> HTTP/1.1 out, one proxy
#   h2    HTTP/2 (h2c, prior knowledge) in -> HTTP/1.1 out, one proxy
#   mesh  HTTP/1.1 in -> HTTP/2 over TLS 1.3 with mutual TLS -> HTTP/1.1 out,
#         two proxies (client side, server side) of the same product
# For each: requests/s, the proxies' CPU µs per request (utime+stime, both
# proxies of the mesh pair summed), p50/p99 latency, and skiff's ratio to
# the best peer. See test/bench/http/README.md.
#
# The proxies (both of a mesh pair) are pinned to BENCH_PROXY_CPU (1), one
# worker/thread each; h2load and the backend share BENCH_LOAD_CPU (0).
#
# Environment (as test/bench/run.sh):
#   BENCH_SECONDS    measured seconds per workload, proxy and round (default 3)
#   BENCH_WARMUP     unmeasured seconds before each measurement  (default 0.5)
#   BENCH_ROUNDS     rounds; the table shows medians over them   (default 3)
#   BENCH_PROXIES    which proxies, in order (default "skiff haproxy nginx nghttpx")
#   BENCH_WORKLOADS  which rows, in order    (default "h1 h2 mesh")
#   BENCH_H1_CONNS   h2load connections for h1 and mesh         (default 32)
#   BENCH_H2_CONNS / BENCH_H2_STREAMS  for h2                  (default 8 / 16)
#   BENCH_PROXY_CPU / BENCH_LOAD_CPU                            (default 1 / 0)
#   BENCH_SKIFF      the skiff binary                           (default build/skiff)
#   BENCH_KEEP=1     keep the temp dir (certs, configs, logs) and say where
set -euo pipefail

cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
OUT="$ROOT/build/bench/http"
mkdir -p "$OUT"

BENCH_SECONDS=${BENCH_SECONDS:-3}
BENCH_WARMUP=${BENCH_WARMUP:-0.5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_PROXIES=${BENCH_PROXIES:-"skiff haproxy nginx nghttpx"}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-"h1 h2 mesh"}
H1_CONNS=${BENCH_H1_CONNS:-32}
H2_CONNS=${BENCH_H2_CONNS:-8}
H2_STREAMS=${BENCH_H2_STREAMS:-16}
SKIFF=${BENCH_SKIFF:-build/skiff}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}

BACKEND_PORT=19500
ADMIN_PORT=19400      # skiff alone, and the client side of skiff's mesh pair
ADMIN_B_PORT=19410    # the server side of skiff's mesh pair
# One proxy: its port for h1 (and h2, where the same listener detects the
# HTTP/2 preface); nginx needs a listener of its own for h2c.
declare -A PORT=([skiff]=19401 [haproxy]=19402 [nginx]=19403 [nghttpx]=19404)
declare -A H2PORT=([skiff]=19401 [haproxy]=19402 [nginx]=19413 [nghttpx]=19404)
# Mesh pairs: A takes HTTP/1.1 from h2load, B terminates the mTLS hop.
declare -A PORT_A=([skiff]=19421 [haproxy]=19422 [nginx]=19423 [nghttpx]=19424)
declare -A PORT_B=([skiff]=19431 [haproxy]=19432 [nginx]=19433 [nghttpx]=19434)

# workload -> "unit h2load-protocol connections streams"; a unit is the set
# of processes a workload runs against (one proxy, or a mesh pair).
declare -A WL=(
	[h1]="single http/1.1 $H1_CONNS 1"
	[h2]="single h2c $H2_CONNS $H2_STREAMS"
	[mesh]="mesh http/1.1 $H1_CONNS 1"
)
declare -A WL_DESC=(
	[h1]="h1->h1 c=$H1_CONNS"
	[h2]="h2->h1 c=${H2_CONNS}x$H2_STREAMS"
	[mesh]="mesh h1->h2+mTLS->h1 c=$H1_CONNS"
)

die() { echo "bench-http: $*" >&2; exit 1; }

for p in $BENCH_PROXIES; do [[ -n ${PORT[$p]:-} ]] || die "unknown proxy '$p'"; done
for w in $BENCH_WORKLOADS; do [[ -n ${WL[$w]:-} ]] || die "unknown workload '$w'"; done
[[ $(nproc) -gt $PROXY_CPU && $(nproc) -gt $LOAD_CPU ]] ||
	die "needs CPUs $LOAD_CPU and $PROXY_CPU (this machine has $(nproc))"
command -v h2load >/dev/null || die "h2load is not installed (Debian: nghttp2-client; scripts/deps.sh)"
command -v curl >/dev/null || die "curl is not installed"
for p in $BENCH_PROXIES; do
	case $p in
	haproxy) command -v haproxy >/dev/null || die "haproxy is not installed (scripts/deps.sh)" ;;
	nginx) command -v nginx >/dev/null || die "nginx is not installed (scripts/deps.sh)" ;;
	nghttpx) command -v nghttpx >/dev/null || die "nghttpx is not installed (Debian: nghttp2-proxy; scripts/deps.sh)" ;;
	esac
done

# ---- build the backend and the sampler ---------------------------------------------
CFLAGS=(-std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE)
gcc "${CFLAGS[@]}" -o "$OUT/http_backend" test/bench/tls/http_backend.c || die "building http_backend failed"
gcc "${CFLAGS[@]}" -o "$OUT/h2window" test/bench/http/h2window.c || die "building h2window failed"

# ---- process bookkeeping (test/bench/lib.sh) ---------------------------------------
TMP=$(mktemp -d /tmp/skiff-bench-http.XXXXXX)
BENCH_NAME=bench-http
source test/bench/lib.sh

for port in $BACKEND_PORT $ADMIN_PORT $ADMIN_B_PORT "${PORT[@]}" "${H2PORT[@]}" "${PORT_A[@]}" "${PORT_B[@]}"; do
	port_busy "$port" && die "127.0.0.1:$port is already in use (another bench running?)"
done
ulimit -n 20000 2>/dev/null || true

# ---- certificates -----------------------------------------------------------------
# One CA (ECDSA P-256). skiff's pair uses `skiff certs issue` identities (one
# URI SAN, as SPIFFE wants). The peers verify a server by DNS name only, so
# theirs come from the openssl command with the same URI SAN plus a DNS SAN
# (allowed in an X.509-SVID), signed by the same CA: every product verifies
# its peer's certificate on every handshake.
CERTS=$TMP/certs
TD=cluster.local
SERVER_ID=spiffe://$TD/ns/bench/sa/server
CLIENT_ID=spiffe://$TD/ns/bench/sa/client
SERVER_DNS=server.bench
mkdir -p "$CERTS"
if [[ -x $SKIFF ]] && "$SKIFF" certs ca --out "$CERTS/ca" --trust-domain $TD >/dev/null 2>"$TMP/certs.err" &&
	"$SKIFF" certs issue --ca "$CERTS/ca" --spiffe $SERVER_ID --ttl 2h --out "$CERTS/skiff-server" >/dev/null 2>>"$TMP/certs.err" &&
	"$SKIFF" certs issue --ca "$CERTS/ca" --spiffe $CLIENT_ID --ttl 2h --out "$CERTS/skiff-client" >/dev/null 2>>"$TMP/certs.err"; then
	CERT_SOURCE="CA and skiff's identities: skiff certs; the peers': openssl"
else
	CERT_SOURCE="openssl (skiff certs unavailable: $(tail -n 1 "$TMP/certs.err" 2>/dev/null || echo "no $SKIFF"))"
	mkdir -p "$CERTS/ca"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/ca/ca-key.pem" 2>/dev/null
	openssl req -x509 -new -key "$CERTS/ca/ca-key.pem" -subj "/CN=bench CA" -days 1 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$CERTS/ca/ca.pem" 2>/dev/null
fi
# leaf NAME SAN...: an ECDSA P-256 leaf in $CERTS/NAME signed by the CA.
leaf() {
	local name=$1 sans
	shift
	sans=$(IFS=,; echo "$*")
	mkdir -p "$CERTS/$name"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/$name/key.pem" 2>/dev/null
	openssl req -new -key "$CERTS/$name/key.pem" -subj "/O=bench" -out "$TMP/$name.csr" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,%s\n' \
		"$sans" >"$TMP/$name.ext"
	openssl x509 -req -in "$TMP/$name.csr" -CA "$CERTS/ca/ca.pem" -CAkey "$CERTS/ca/ca-key.pem" \
		-CAcreateserial -days 1 -extfile "$TMP/$name.ext" -out "$CERTS/$name/cert.pem" 2>/dev/null
	cp "$CERTS/ca/ca.pem" "$CERTS/$name/ca.pem"
	cat "$CERTS/$name/cert.pem" "$CERTS/$name/key.pem" >"$CERTS/$name/combined.pem"
}
leaf server "URI:$SERVER_ID" "DNS:$SERVER_DNS" || die "making certificates failed"
leaf client "URI:$CLIENT_ID" || die "making certificates failed"
[[ -d $CERTS/skiff-server ]] || { cp -r "$CERTS/server" "$CERTS/skiff-server"; cp -r "$CERTS/client" "$CERTS/skiff-client"; }
CA=$CERTS/ca/ca.pem

# ---- configs ------------------------------------------------------------------------
# skiff: Envoy v3 bootstrap. hcm NAME CLUSTER: an http_connection_manager
# (codec AUTO, Envoy's default) routing everything to CLUSTER.
hcm() {
	cat <<EOF
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: $1
          codec_type: AUTO
          route_config:
            name: $1
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {prefix: "/"}
                route: {cluster: $2}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
EOF
}
# skiff_tls KIND DIR PEER_ID ALPN INDENT: a transport_socket with DIR's
# identity, TLS 1.3 minimum, the peer's SPIFFE id required.
skiff_tls() {
	local kind=$1 d=$2 peer=$3 alpn=$4 i=$5 extra=""
	[[ $kind == Downstream ]] && extra="$i    require_client_certificate: true"$'\n'
	cat <<EOF
${i}transport_socket:
$i  name: envoy.transport_sockets.tls
$i  typed_config:
$i    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.${kind}TlsContext
$extra$i    common_tls_context:
$i      tls_params: {tls_minimum_protocol_version: TLSv1_3}
$i      alpn_protocols: [$alpn]
$i      tls_certificates: [{certificate_chain: {filename: $d/cert.pem}, private_key: {filename: $d/key.pem}}]
$i      validation_context:
$i        trusted_ca: {filename: $d/ca.pem}
$i        match_typed_subject_alt_names: [{san_type: URI, matcher: {exact: "$peer"}}]
EOF
}
static_cluster() { # NAME PORT
	cat <<EOF
  - name: $1
    type: STATIC
    connect_timeout: 1s
    load_assignment: {cluster_name: $1, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $2}}}}]}]}
EOF
}
listener() { # NAME PORT
	cat <<EOF
  - name: $1
    address: {socket_address: {address: 127.0.0.1, port_value: $2}}
    filter_chains:
EOF
}
admin() { echo "admin: {address: {socket_address: {address: 127.0.0.1, port_value: $1}}}"; }

{
	admin $ADMIN_PORT
	echo "static_resources:"
	echo "  listeners:"
	listener http_bench "${PORT[skiff]}"
	hcm http_bench backend | sed '1s/^      filters:/    - filters:/'
	echo "  clusters:"
	static_cluster backend $BACKEND_PORT
} >"$TMP/skiff.yaml"

{
	admin $ADMIN_PORT
	echo "static_resources:"
	echo "  listeners:"
	listener mesh_out "${PORT_A[skiff]}"
	hcm mesh_out mesh | sed '1s/^      filters:/    - filters:/'
	echo "  clusters:"
	static_cluster mesh "${PORT_B[skiff]}"
	cat <<EOF
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
EOF
	skiff_tls Upstream "$CERTS/skiff-client" "$SERVER_ID" h2 "    "
} >"$TMP/skiff-a.yaml"

{
	admin $ADMIN_B_PORT
	echo "static_resources:"
	echo "  listeners:"
	listener mesh_in "${PORT_B[skiff]}"
	skiff_tls Downstream "$CERTS/skiff-server" "$CLIENT_ID" h2 "      " | sed '1s/^      transport_socket:/    - transport_socket:/'
	hcm mesh_in backend
	echo "  clusters:"
	static_cluster backend $BACKEND_PORT
} >"$TMP/skiff-b.yaml"

# HAProxy: mode http, keep-alive both sides, connections to servers shared
# between client sessions (http-reuse always: what a mesh proxy's pool does).
# No log directive: HAProxy logs nothing. Its mesh client side turns the
# HTTP/2 response into "HTTP/1.1 200 " (an empty reason phrase, which RFC
# 9112 allows), and h2load 1.52 counts such a response as failed (it takes
# the status from the reason phrase's callback): one rule restores "OK".
haproxy_cfg() { # FRONTEND-BIND BACKEND-SERVER-LINE [FRONTEND-RULE]
	cat <<EOF
global
    nbthread 1
    maxconn 8000
    tune.bufsize 16384

defaults
    mode http
    http-reuse always
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s

frontend in
    bind $1
    default_backend out
    ${3:-}

backend out
    server s $2
EOF
}
haproxy_cfg "127.0.0.1:${PORT[haproxy]}" "127.0.0.1:$BACKEND_PORT" >"$TMP/haproxy.cfg"
haproxy_cfg "127.0.0.1:${PORT_A[haproxy]}" \
	"127.0.0.1:${PORT_B[haproxy]} ssl verify required ca-file $CA crt $CERTS/client/combined.pem verifyhost $SERVER_DNS sni str($SERVER_DNS) alpn h2 ssl-min-ver TLSv1.3" \
	"http-response set-status 200 reason OK if { status 200 }" >"$TMP/haproxy-a.cfg"
haproxy_cfg "127.0.0.1:${PORT_B[haproxy]} ssl crt $CERTS/server/combined.pem ca-file $CA verify required alpn h2 ssl-min-ver TLSv1.3" \
	"127.0.0.1:$BACKEND_PORT" >"$TMP/haproxy-b.cfg"

# nginx: proxy_pass with upstream keepalive, no access log. nginx cannot
# speak HTTP/2 to an upstream: its mesh hop is HTTP/1.1 keep-alive over
# mutual TLS 1.3 (the closest it has).
nginx_cfg() { # NAME SERVER-BLOCK UPSTREAM-PORT UPSTREAM-SCHEME
	cat <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $TMP/nginx-$1.pid;
error_log $TMP/nginx-$1-error.log warn;

events {
    worker_connections 8000;
    use epoll;
}

http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    upstream up {
        server 127.0.0.1:$3;
        keepalive 128;
        keepalive_requests 1000000;
    }
    server {
$2
        location / {
            proxy_pass $4://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}
nginx_cfg single "        listen 127.0.0.1:${PORT[nginx]};
        listen 127.0.0.1:${H2PORT[nginx]} http2;" $BACKEND_PORT http >"$TMP/nginx.conf"
nginx_cfg a "        listen 127.0.0.1:${PORT_A[nginx]};
        proxy_ssl_certificate $CERTS/client/cert.pem;
        proxy_ssl_certificate_key $CERTS/client/key.pem;
        proxy_ssl_trusted_certificate $CA;
        proxy_ssl_verify on;
        proxy_ssl_name $SERVER_DNS;
        proxy_ssl_server_name on;
        proxy_ssl_protocols TLSv1.3;
        proxy_ssl_session_reuse on;" "${PORT_B[nginx]}" https >"$TMP/nginx-a.conf"
nginx_cfg b "        listen 127.0.0.1:${PORT_B[nginx]} ssl;
        ssl_certificate $CERTS/server/cert.pem;
        ssl_certificate_key $CERTS/server/key.pem;
        ssl_client_certificate $CA;
        ssl_verify_client on;
        ssl_protocols TLSv1.3;" $BACKEND_PORT http >"$TMP/nginx-b.conf"

# nghttpx: its own config file empty so /etc/nghttpx/nghttpx.conf is not
# read; one worker, no Via header (the others add none), no access log.
# Up to 64 keep-alive connections per HTTP/1.1 backend (default 8, which
# would queue requests the others send at once).
: >"$TMP/nghttpx.conf"
NGHTTPX_COMMON=(--conf="$TMP/nghttpx.conf" --workers=1 --no-via --no-ocsp --log-level=WARN
	--backend-connections-per-host=64)
NGHTTPX_TLS=(--tls-min-proto-version=TLSv1.3)

ln -s "$(command -v haproxy 2>/dev/null || echo /nonexistent)" "$TMP/bench-haproxy"
ln -s "$(command -v nginx 2>/dev/null || echo /nonexistent)" "$TMP/bench-nginx"
ln -s "$(command -v nghttpx 2>/dev/null || echo /nonexistent)" "$TMP/bench-nghttpx"
[[ -x $SKIFF ]] && ln -s "$(realpath "$SKIFF")" "$TMP/bench-skiff"

# start_proc PROXY ROLE(single|a|b): one process pinned to PROXY_CPU, in
# the background; sets PID and LISTEN_PORT. Its output goes to
# $TMP/PROXY-ROLE.log.
start_proc() {
	local p=$1 role=$2 log="$TMP/$1-$2.log" sfx=""
	[[ $role != single ]] && sfx="-$role"
	case $role in
	single) LISTEN_PORT=${PORT[$p]} ;;
	a) LISTEN_PORT=${PORT_A[$p]} ;;
	b) LISTEN_PORT=${PORT_B[$p]} ;;
	esac
	PID=""
	case $p in
	skiff)
		[[ -x $SKIFF ]] || { echo "$SKIFF does not exist" >"$log"; return 1; }
		# No public Prometheus/health ports: two skiffs run at once.
		taskset -c "$PROXY_CPU" "$TMP/bench-skiff" run -c "$TMP/skiff$sfx.yaml" \
			--concurrency 1 --log-level warn --prometheus-port 0 --health-port 0 >"$log" 2>&1 &
		;;
	haproxy)
		taskset -c "$PROXY_CPU" "$TMP/bench-haproxy" -db -f "$TMP/haproxy$sfx.cfg" >"$log" 2>&1 &
		;;
	nginx)
		taskset -c "$PROXY_CPU" "$TMP/bench-nginx" -e "$TMP/nginx-${role}-error.log" -p "$TMP" \
			-c "$TMP/nginx$sfx.conf" >"$log" 2>&1 &
		;;
	nghttpx)
		case $role in
		single)
			taskset -c "$PROXY_CPU" "$TMP/bench-nghttpx" "${NGHTTPX_COMMON[@]}" \
				--frontend="127.0.0.1,$LISTEN_PORT;no-tls" \
				--backend="127.0.0.1,$BACKEND_PORT;;proto=http/1.1" \
				--errorlog-file="$log" >"$log.out" 2>&1 &
			;;
		a)
			taskset -c "$PROXY_CPU" "$TMP/bench-nghttpx" "${NGHTTPX_COMMON[@]}" "${NGHTTPX_TLS[@]}" \
				--frontend="127.0.0.1,$LISTEN_PORT;no-tls" \
				--backend="127.0.0.1,${PORT_B[nghttpx]};;proto=h2;tls;sni=$SERVER_DNS" \
				--cacert="$CA" --client-private-key-file="$CERTS/client/key.pem" \
				--client-cert-file="$CERTS/client/cert.pem" \
				--errorlog-file="$log" >"$log.out" 2>&1 &
			;;
		b)
			taskset -c "$PROXY_CPU" "$TMP/bench-nghttpx" "${NGHTTPX_COMMON[@]}" "${NGHTTPX_TLS[@]}" \
				--frontend="127.0.0.1,$LISTEN_PORT" \
				--backend="127.0.0.1,$BACKEND_PORT;;proto=http/1.1" \
				--verify-client --verify-client-cacert="$CA" \
				--errorlog-file="$log" \
				"$CERTS/server/key.pem" "$CERTS/server/cert.pem" >"$log.out" 2>&1 &
			;;
		esac
		;;
	esac
	PID=$!
	STARTED+=("$PID")
	wait_listen "$PID" "$LISTEN_PORT" || return 1
	sleep 0.3 # nginx and nghttpx fork their worker after binding
	kill -0 "$PID" 2>/dev/null
}

# Last lines of a unit's logs, on one line: why it did not start or failed.
unit_log() { # PROXY ROLE...
	local p=$1 r
	shift
	for r in "$@"; do
		{ cat "$TMP/$p-$r.log" "$TMP/$p-$r.log.out" 2>/dev/null || true; } | tail -n 2 | sed "s/^/[$r] /"
	done | tr '\n' ' ' | cut -c1-400
}

# start_unit PROXY UNIT: one proxy, or a mesh pair (server side first).
# Sets UNIT_PIDS (all their processes, comma-separated), UNIT_ROLES,
# UNIT_TOP (the pids to stop).
start_unit() {
	local p=$1 unit=$2 r
	UNIT_TOP=() UNIT_PIDS=""
	if [[ $unit == single ]]; then UNIT_ROLES=(single); else UNIT_ROLES=(b a); fi
	for r in "${UNIT_ROLES[@]}"; do
		if ! start_proc "$p" "$r"; then
			[[ -n $PID ]] && UNIT_TOP+=("$PID")
			return 1
		fi
		UNIT_TOP+=("$PID")
	done
	for r in "${UNIT_TOP[@]}"; do UNIT_PIDS+="${UNIT_PIDS:+,}$(proc_tree "$r" | paste -sd, -)"; done
}

stop_unit() {
	local pid
	for pid in "${UNIT_TOP[@]}"; do stop_pid "$pid"; done
}

# run_load PROXY WORKLOAD ROUND: one measurement into RAW, or a NOTE.
run_load() {
	local p=$1 w=$2 round=$3 unit proto conns streams port url h2pid curl_proto=() cpu lat rc
	read -r unit proto conns streams <<<"${WL[$w]}"
	case $w in
	h1) port=${PORT[$p]} ;;
	h2) port=${H2PORT[$p]}; curl_proto=(--http2-prior-knowledge) ;;
	mesh) port=${PORT_A[$p]} ;;
	esac
	url="http://127.0.0.1:$port/"
	# One request first, so that a proxy that does not forward fails with
	# a readable reason rather than as an h2load error count.
	local code
	code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 3 "${curl_proto[@]}" "$url" 2>"$TMP/curl.err") || true
	if [[ $code != 200 ]]; then
		fail_row "$p" "$w" "probe GET $url: HTTP ${code:-none} $(head -c 200 "$TMP/curl.err" | tr '\n' ' ')"
		return 1
	fi
	rm -f "$TMP/lat.log"
	taskset -c "$LOAD_CPU" h2load -t 1 -c "$conns" -m "$streams" --no-tls-proto="$proto" \
		-D "$(ms "$BENCH_SECONDS")" --warm-up-time "$(ms "$BENCH_WARMUP")" --log-file "$TMP/lat.log" \
		"$url" >"$TMP/h2load.out" 2>&1 &
	h2pid=$!
	"$OUT/h2window" cpu -P "$UNIT_PIDS" -L "$h2pid,$BACKEND_PID" -C "$PROXY_CPU" \
		-w "$BENCH_WARMUP" -d "$BENCH_SECONDS" >"$TMP/cpu.out" 2>"$TMP/cpu.err" &
	local cpupid=$!
	local cpurc=0
	rc=0
	wait "$h2pid" || rc=$?
	wait "$cpupid" || cpurc=$?
	local rps ok failed errored
	rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/h2load.out")
	read -r ok failed errored < <(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed, \([0-9]*\) errored.*/\1 \2 \3/p' "$TMP/h2load.out") || true
	if [[ $rc -ne 0 || -z $rps || -z ${ok:-} || $ok -eq 0 ]]; then
		fail_row "$p" "$w" "h2load (exit $rc): $(grep -v '^progress\|^spawning\|^Warm-up\|^Main benchmark\|^Stopped' "$TMP/h2load.out" | tail -n 3 | tr '\n' ' ')"
		return 1
	fi
	if [[ $cpurc -ne 0 ]]; then
		fail_row "$p" "$w" "CPU sampling failed: $(cat "$TMP/cpu.err")"
		return 1
	fi
	lat=$("$OUT/h2window" lat "$TMP/lat.log") || { fail_row "$p" "$w" "no latency log"; return 1; }
	cpu=$(cat "$TMP/cpu.out")
	local non2xx
	non2xx=$(sed -n 's/.*non2xx=\([0-9]*\).*/\1/p' <<<"$lat")
	if [[ $((failed + errored + non2xx)) -gt $((ok / 100)) ]]; then
		fail_row "$p" "$w" "$failed failed, $errored errored, $non2xx non-2xx of $ok"
		return 1
	fi
	local line
	line="ops=$ok ops_per_s=$rps $lat $cpu errors=$((failed + errored))"
	line+=" cpu_us_per_op=$(awk -v u="$(sed -n 's/.*proxy_cpu_us=\([0-9.]*\).*/\1/p' <<<"$cpu")" -v n="$ok" 'BEGIN{printf "%.3f", u/n}')"
	echo "round=$round proxy=$p workload=$w pids=$UNIT_PIDS $line" >>"$RESULTS"
	local kv
	for kv in $line; do RAW[$p.$w.$round.${kv%%=*}]=${kv#*=}; done
	if [[ $p == skiff && $w == mesh ]]; then
		# What the client side's cluster says the hop was.
		HOP=$(curl -sS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/stats" 2>/dev/null |
			sed -n 's/^cluster\.mesh\.\(upstream_cx_total\|upstream_cx_http2_total\|ssl\.handshake\|upstream_rq_total\): \([0-9]*\)$/\1=\2/p' |
			paste -sd' ' -) || true
	fi
}

ms() { awk -v s="$1" 'BEGIN{printf "%dms", s * 1000}'; } # h2load takes no fractions of s

fail_row() { # PROXY WORKLOAD REASON
	echo "bench-http: $1 $2 failed: $3" >&2
	FAIL[$1.$2]=$3
}

# ---- run ------------------------------------------------------------------------------
taskset -c "$LOAD_CPU" "$OUT/http_backend" -p "$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
BACKEND_PID=$!
STARTED+=("$BACKEND_PID")
wait_listen "$BACKEND_PID" "$BACKEND_PORT" || die "http backend did not start: $(cat "$TMP/backend.log")"

declare -A RAW R FAIL
HOP=""
RESULTS="$OUT/results.txt"
: >"$RESULTS"

read -r -a proxies <<<"$BENCH_PROXIES"
n_wl=$(wc -w <<<"$BENCH_WORKLOADS")
echo "bench-http: $BENCH_ROUNDS rounds x ${#proxies[@]} proxies x $n_wl workloads x" \
	"$(awk "BEGIN{print $BENCH_WARMUP+$BENCH_SECONDS}")s, about" \
	"$(awk "BEGIN{printf \"%.0f\", $BENCH_ROUNDS*${#proxies[@]}*$n_wl*($BENCH_WARMUP+$BENCH_SECONDS+2)}")s" \
	"(proxies on CPU $PROXY_CPU, h2load+backend on CPU $LOAD_CPU)" >&2

for round in $(seq "$BENCH_ROUNDS"); do
	for i in "${!proxies[@]}"; do
		p=${proxies[$(((i + round - 1) % ${#proxies[@]}))]}
		for unit in single mesh; do
			wls=()
			for w in $BENCH_WORKLOADS; do
				read -r u _ <<<"${WL[$w]}"
				[[ $u == "$unit" ]] && wls+=("$w")
			done
			[[ ${#wls[@]} -gt 0 ]] || continue
			if ! start_unit "$p" "$unit"; then
				msg="did not start: $(unit_log "$p" "${UNIT_ROLES[@]}")"
				for w in "${wls[@]}"; do fail_row "$p" "$w" "$msg"; done
				stop_unit
				continue
			fi
			for w in "${wls[@]}"; do
				echo "bench-http: round $round $p $w" >&2
				run_load "$p" "$w" "$round" || true
				for pid in "${UNIT_TOP[@]}"; do
					if ! kill -0 "$pid" 2>/dev/null; then
						fail_row "$p" "$w" "exited during round $round: $(unit_log "$p" "${UNIT_ROLES[@]}")"
						break 2
					fi
				done
			done
			stop_unit
		done
	done
done

# ---- medians over the clean rounds (test/bench/lib.sh) ------------------------------------
declare -A ROUGH
take_medians ops_per_s cpu_us_per_op p50_us p99_us proxy_cpu_pct load_cpu_pct core_busy_pct

# ---- report ---------------------------------------------------------------------------
peers=()
for p in $BENCH_PROXIES; do [[ $p == skiff ]] || peers+=("$p"); done

line() { printf '%-32s %-10s %10s %11s %9s %9s  %s\n' "$@"; }

echo
line "row" "proxy" "req/s" "cpu us/req" "p50 us" "p99 us" "cpu% proxy/core/load"
for w in $BENCH_WORKLOADS; do
	first="${WL_DESC[$w]}"
	for p in $BENCH_PROXIES; do
		if [[ -z $(get "$p" "$w" ops_per_s) ]]; then
			line "$first" "$p" "FAILED" "" "" "" "${FAIL[$p.$w]:-no measurement}"
		else
			m=$(mark "$p" "$w")
			line "$first" "$p" "$(fmt "$(get "$p" "$w" ops_per_s)")$m" "$(fmt "$(get "$p" "$w" cpu_us_per_op)")$m" \
				"$(printf '%.0f' "$(get "$p" "$w" p50_us)")" "$(printf '%.0f' "$(get "$p" "$w" p99_us)")" \
				"$(printf '%.0f/%.0f/%.0f' "$(get "$p" "$w" proxy_cpu_pct)" "$(get "$p" "$w" core_busy_pct)" "$(get "$p" "$w" load_cpu_pct)")"
		fi
		first=""
	done
	if [[ " $BENCH_PROXIES " == *" skiff "* && ${#peers[@]} -gt 0 ]]; then
		m=$(mark_row "$w")
		line "" "skiff/best" "$(ratio "$(get skiff "$w" ops_per_s)" "$(best_peer "$w" ops_per_s max)")$m" \
			"$(ratio "$(get skiff "$w" cpu_us_per_op)" "$(best_peer "$w" cpu_us_per_op min)")$m" \
			"$(ratio "$(get skiff "$w" p50_us)" "$(best_peer "$w" p50_us min)")" \
			"$(ratio "$(get skiff "$w" p99_us)" "$(best_peer "$w" p99_us min)")" ""
	fi
done

echo
echo "Medians of $BENCH_ROUNDS rounds of ${BENCH_SECONDS}s (after ${BENCH_WARMUP}s warm-up), h2load -t 1 on CPU $LOAD_CPU."
echo "skiff/best: skiff divided by the best of ${peers[*]:-no peer} on that row (req/s: the highest,"
echo "higher is better; cpu and latency: the lowest, lower is better, goal <= 1.00)."
echo "cpu us/req: the proxies' utime+stime over the measured window / requests completed in it;"
echo "mesh rows sum both proxies of the pair (both on CPU $PROXY_CPU). p50/p99: from h2load's"
echo "per-request log (1 us buckets), request start to end of response."
echo "cpu%: proxy = its (the pair's) utime+stime; core = all of CPU $PROXY_CPU busy; load = h2load +"
echo "backend on CPU $LOAD_CPU (near 100: the load side, not the proxy, limited req/s)."
echo "~ = every round of that cell was disturbed (CPU $PROXY_CPU busier than the proxies by more"
echo "than $DISTURBED_PCT points); rerun on a quieter machine."
echo "mesh hop: TLS 1.3, client certificate required and verified both ways; skiff, HAProxy and"
echo "nghttpx speak HTTP/2 between the pair; nginx cannot proxy to an HTTP/2 upstream, so its"
echo "pair speaks HTTP/1.1 keep-alive over the same mutual TLS (its closest equivalent)."
[[ -n $HOP ]] && echo "skiff's mesh hop, client side's cluster.mesh counters after its last run: $HOP"
echo "HAProxy's mesh client side answers h2load with one rule (set-status 200 reason OK):"
echo "h2load 1.52 counts an HTTP/1.1 status line with an empty reason phrase as failed."
echo "Certificates: $CERT_SOURCE."
echo "raw results: ${RESULTS#"$ROOT"/}"
