#!/usr/bin/env bash
# Resource footprint: the memory skiff's L4 proxy holds idle and per
# connection, next to HAProxy (mode tcp) and nginx (stream) doing the same,
# in one run, on loopback. README "Resource footprint" quotes its table.
#
# For each proxy, each worker count (BENCH_WORKERS: skiff --concurrency N,
# HAProxy nbthread N, nginx worker_processes N) and each transport (plain
# TCP; mTLS with a required, verified client certificate):
#   idle    RSS once the proxy listens and has served one connection
#   1k, 5k  RSS with that many client connections open through it to the
#           echo backend, each having echoed one byte (so both sides and any
#           TLS session exist), then idle
# RSS is VmRSS from /proc/PID/status summed over the proxy's processes
# (nginx: master + workers; shared pages count once per process, as `ps`
# would show them). "per 1k" is (RSS at N - idle) / (N / 1000).
#
# Environment:
#   BENCH_WORKERS  worker counts, in order        (default "1 2")
#   BENCH_CONNS    connection counts, ascending   (default "1000 5000")
#   BENCH_PROXIES  columns, in order              (default "skiff haproxy nginx")
#   BENCH_TLS      "tcp mtls" (default), or one of them
#   BENCH_SKIFF    the skiff binary               (default $BUILD/skiff)
#   BUILD          build directory: the binary, build/bench/ for outputs (default build)
#   BENCH_KEEP=1   keep the temp dir (configs, logs)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT="$ROOT/${BUILD:-build}/bench"
mkdir -p "$OUT"

WORKERS=${BENCH_WORKERS:-"1 2"}
CONNS=${BENCH_CONNS:-"1000 5000"}
BENCH_PROXIES=${BENCH_PROXIES:-"skiff haproxy nginx"}
TRANSPORTS=${BENCH_TLS:-"tcp mtls"}
SKIFF=${BENCH_SKIFF:-${BUILD:-build}/skiff}

ADMIN_PORT=19200
BACKEND_PORT=19300
declare -A PORT=([skiff]=19201 [haproxy]=19202 [nginx]=19203)
MAX_CONNS=$(tr ' ' '\n' <<<"$CONNS" | sort -n | tail -1)

die() { echo "footprint: $*" >&2; exit 1; }
for p in $BENCH_PROXIES; do [[ -n ${PORT[$p]:-} ]] || die "unknown proxy '$p'"; done

gcc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-o "$OUT/echo_backend" test/bench/echo_backend.c || die "building echo_backend failed"

TMP=$(mktemp -d /tmp/skiff-footprint.XXXXXX)
BENCH_NAME=footprint
source test/bench/lib.sh

for port in $BACKEND_PORT $ADMIN_PORT "${PORT[@]}"; do
	port_busy "$port" && die "127.0.0.1:$port is already in use (another bench running?)"
done
# Each client connection costs the proxy two descriptors, the client and the
# backend one each.
FDS=$((MAX_CONNS * 2 + 1000))
ulimit -n "$FDS" 2>/dev/null || die "cannot raise the descriptor limit to $FDS (hard limit $(ulimit -Hn))"

# ---- certificates (mTLS rows): skiff certs, as the TLS benchmark does --------------
CERTS=$TMP/certs
if [[ $TRANSPORTS == *mtls* ]]; then
	"$SKIFF" certs ca --out "$CERTS/ca" --trust-domain cluster.local >/dev/null 2>"$TMP/certs.err" &&
		"$SKIFF" certs issue --ca "$CERTS/ca" --spiffe spiffe://cluster.local/ns/fp/sa/server \
			--ttl 2h --out "$CERTS/server" >/dev/null 2>>"$TMP/certs.err" &&
		"$SKIFF" certs issue --ca "$CERTS/ca" --spiffe spiffe://cluster.local/ns/fp/sa/client \
			--ttl 2h --out "$CERTS/client" >/dev/null 2>>"$TMP/certs.err" ||
		die "skiff certs failed: $(tail -n 1 "$TMP/certs.err")"
	S=$CERTS/server
	cat "$S/cert.pem" "$S/key.pem" >"$TMP/haproxy-combined.pem"
fi

# ---- configs: the benchmarks' (test/bench/run.sh, tls/run.sh), idle timeouts
# long enough that nothing closes while RSS is read ------------------------------------
skiff_config() { # transport
	local tls=""
	if [[ $1 == mtls ]]; then
		tls="
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            alpn_protocols: [skiff-tcp]
            tls_certificates: [{certificate_chain: {filename: $S/cert.pem}, private_key: {filename: $S/key.pem}}]
            validation_context: {trusted_ca: {filename: $S/ca.pem}}
      filters:"
	else
		tls="
    - filters:"
	fi
	cat <<EOF
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $ADMIN_PORT}}}
static_resources:
  listeners:
  - name: footprint
    address: {socket_address: {address: 127.0.0.1, port_value: ${PORT[skiff]}}}
    filter_chains:$tls
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: footprint
          cluster: backend
          idle_timeout: 600s
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    load_assignment: {cluster_name: backend, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $BACKEND_PORT}}}}]}]}
EOF
}

haproxy_config() { # transport workers
	local bind="bind 127.0.0.1:${PORT[haproxy]}"
	[[ $1 == mtls ]] && bind+=" ssl crt $TMP/haproxy-combined.pem ca-file $CERTS/ca/ca.pem verify required alpn skiff-tcp ssl-min-ver TLSv1.2"
	cat <<EOF
global
    nbthread $2
    maxconn $((MAX_CONNS + 100))
    tune.bufsize 16384

defaults
    mode tcp
    timeout connect 1s
    timeout client 600s
    timeout server 600s

listen footprint
    $bind
    server backend 127.0.0.1:$BACKEND_PORT
EOF
}

nginx_config() { # transport workers
	local ssl=""
	[[ $1 == mtls ]] && ssl="ssl_certificate $S/cert.pem;
        ssl_certificate_key $S/key.pem;
        ssl_client_certificate $CERTS/ca/ca.pem;
        ssl_verify_client on;
        ssl_protocols TLSv1.2 TLSv1.3;"
	cat <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes $2;
worker_rlimit_nofile $FDS;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;

events {
    worker_connections $((MAX_CONNS * 2 + 100));
    use epoll;
}

stream {
    server {
        listen 127.0.0.1:${PORT[nginx]}$([[ $1 == mtls ]] && echo " ssl");
        $ssl
        proxy_pass 127.0.0.1:$BACKEND_PORT;
        proxy_buffer_size 16k;
        proxy_connect_timeout 1s;
        proxy_timeout 600s;
    }
}
EOF
}

# Names of their own, as in run.sh: nothing that cleans up by name hits them.
ln -s "$(command -v haproxy)" "$TMP/fp-haproxy"
ln -s "$(command -v nginx)" "$TMP/fp-nginx"
ln -s "$(realpath "$SKIFF")" "$TMP/fp-skiff"

start_proxy() { # proxy transport workers; sets PROXY_PID
	local p=$1 t=$2 n=$3
	case $p in
	skiff)
		skiff_config "$t" >"$TMP/skiff.yaml"
		"$TMP/fp-skiff" run -c "$TMP/skiff.yaml" --concurrency "$n" --log-level warn \
			--prometheus-port 0 --health-port 0 >"$TMP/$p.log" 2>&1 &
		;;
	haproxy)
		haproxy_config "$t" "$n" >"$TMP/haproxy.cfg"
		"$TMP/fp-haproxy" -db -f "$TMP/haproxy.cfg" >"$TMP/$p.log" 2>&1 &
		;;
	nginx)
		nginx_config "$t" "$n" >"$TMP/nginx.conf"
		"$TMP/fp-nginx" -e "$TMP/nginx-error.log" -p "$TMP" -c "$TMP/nginx.conf" >"$TMP/$p.log" 2>&1 &
		;;
	esac
	PROXY_PID=$!
	STARTED+=("$PROXY_PID")
	wait_listen "$PROXY_PID" "${PORT[$p]}" || return 1
	sleep 0.5 # nginx forks its workers after the master binds
	kill -0 "$PROXY_PID" 2>/dev/null
}

# VmRSS in KiB summed over the proxy's processes.
rss_kib() {
	local pid sum=0 v
	for pid in $(proc_tree "$1"); do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# The client: opens connections up to each count it reads on stdin, each
# echoing one byte through the proxy, then says "open N" and holds them all.
cat >"$TMP/hold.py" <<'EOF'
import socket, ssl, sys
port, tls, certs = int(sys.argv[1]), sys.argv[2] == "mtls", sys.argv[3]
ctx = None
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # SPIFFE ids, no DNS names
    ctx.load_verify_locations(f"{certs}/ca/ca.pem")
    ctx.load_cert_chain(f"{certs}/client/cert.pem", f"{certs}/client/key.pem")
    ctx.set_alpn_protocols(["skiff-tcp"])
held = []
for line in sys.stdin:
    want = int(line)
    while len(held) < want:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if ctx:
            s = ctx.wrap_socket(s)
        s.sendall(b"x")
        if s.recv(1) != b"x":
            sys.exit(f"connection {len(held)}: no echo")
        held.append(s)
    print(f"open {len(held)}", flush=True)
EOF

# ---- run ---------------------------------------------------------------------------
"$OUT/echo_backend" -p "$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
STARTED+=("$!")
wait_listen "$!" "$BACKEND_PORT" || die "echo backend did not start: $(cat "$TMP/backend.log")"

declare -A RSS NOTE
: >"$OUT/footprint.txt"
read -r -a proxies <<<"$BENCH_PROXIES"
for t in $TRANSPORTS; do
	for n in $WORKERS; do
		for p in "${proxies[@]}"; do
			echo "footprint: $p $t workers=$n" >&2
			if ! start_proxy "$p" "$t" "$n"; then
				NOTE[$p.$t.$n]="did not start: $(tail -n 2 "$TMP/$p.log" | tr '\n' ' ')"
				echo "footprint: $p ${NOTE[$p.$t.$n]}" >&2
				stop_pid "$PROXY_PID"
				continue
			fi
			coproc HOLD { /usr/bin/python3 "$TMP/hold.py" "${PORT[$p]}" "$t" "$CERTS" 2>"$TMP/hold.err"; }
			hold_pid=$HOLD_PID
			# Idle: after one connection has come and gone (lazy
			# allocations on the first connection are part of idle).
			echo 1 >&"${HOLD[1]}"
			read -r _ <&"${HOLD[0]}" || true
			kill "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null || true
			sleep 1
			RSS[$p.$t.$n.idle]=$(rss_kib "$PROXY_PID")
			coproc HOLD { /usr/bin/python3 "$TMP/hold.py" "${PORT[$p]}" "$t" "$CERTS" 2>"$TMP/hold.err"; }
			hold_pid=$HOLD_PID
			for c in $CONNS; do
				echo "$c" >&"${HOLD[1]}"
				if read -r -t 300 reply <&"${HOLD[0]}" && [[ $reply == "open $c" ]]; then
					sleep 1
					RSS[$p.$t.$n.$c]=$(rss_kib "$PROXY_PID")
				else
					NOTE[$p.$t.$n]="$c connections failed: $(tail -n 1 "$TMP/hold.err")"
					echo "footprint: $p ${NOTE[$p.$t.$n]}" >&2
					break
				fi
			done
			kill "$hold_pid" 2>/dev/null; wait "$hold_pid" 2>/dev/null || true
			stop_pid "$PROXY_PID"
			line="proxy=$p transport=$t workers=$n idle_kib=${RSS[$p.$t.$n.idle]}"
			for c in $CONNS; do line+=" conns_${c}_kib=${RSS[$p.$t.$n.$c]:-}"; done
			echo "$line" >>"$OUT/footprint.txt"
		done
	done
done

# ---- report ------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
per_k() { # proxy.transport.workers conns -> MiB per 1000 connections
	local key=$1 c=$2
	[[ -n ${RSS[$key.$c]:-} && -n ${RSS[$key.idle]:-} ]] || { echo "n/a"; return; }
	awk -v a="${RSS[$key.$c]}" -v b="${RSS[$key.idle]}" -v c="$c" \
		'BEGIN{printf "%.2f", (a-b)/1024/(c/1000)}'
}
ratio() { # skiff value, peer value
	awk -v s="$1" -v p="$2" 'BEGIN{ if (s=="n/a" || p=="n/a" || p+0<=0) print "n/a"; else printf "%.2f", s/p }'
}

echo
echo "Resource footprint, $(date -u +%Y-%m-%d), $(nproc) CPUs, $(uname -r)," \
	"$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM"
echo "RSS (MiB; VmRSS summed over the proxy's processes) idle, and per 1,000 open idle connections"
header="| transport | workers | figure |"
sep="| --- | --- | --- |"
for p in "${proxies[@]}"; do header+=" $p |"; sep+=" --- |"; done
for p in "${proxies[@]}"; do [[ $p == skiff ]] || { header+=" skiff/$p |"; sep+=" --- |"; }; done
echo "$header"
echo "$sep"
for t in $TRANSPORTS; do
	for n in $WORKERS; do
		row="| $t | $n | idle RSS |"
		for p in "${proxies[@]}"; do
			v=${RSS[$p.$t.$n.idle]:-}
			row+=" $([[ -n $v ]] && mib "$v" || echo n/a) |"
		done
		for p in "${proxies[@]}"; do
			[[ $p == skiff ]] && continue
			row+=" $(ratio "${RSS[skiff.$t.$n.idle]:-n/a}" "${RSS[$p.$t.$n.idle]:-n/a}") |"
		done
		echo "$row"
		for c in $CONNS; do
			row="| $t | $n | per 1k conns (at $c) |"
			for p in "${proxies[@]}"; do row+=" $(per_k "$p.$t.$n" "$c") |"; done
			for p in "${proxies[@]}"; do
				[[ $p == skiff ]] && continue
				row+=" $(ratio "$(per_k "skiff.$t.$n" "$c")" "$(per_k "$p.$t.$n" "$c")") |"
			done
			echo "$row"
		done
	done
done
for k in "${!NOTE[@]}"; do echo "note: $k: ${NOTE[$k]}"; done
echo "raw figures: $OUT/footprint.txt"
