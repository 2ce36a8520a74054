#!/usr/bin/env bash
# The TLS benchmark of the mTLS work: skiff's inbound mTLS listener next to
# HAProxy and nghttpx, in one run, on loopback, with the same certificates:
# full mTLS handshakes per second (per core), resumed (TLS 1.3 ticket)
# handshakes per second, and the CPU cost of a megabyte of mTLS traffic.
# See test/bench/tls/README.md for what each row means.
#
# Each proxy terminates mTLS (client certificate required and verified) and
# forwards plaintext to a local backend; it is pinned to BENCH_PROXY_CPU (1),
# one worker/thread; tlsload and the backend share BENCH_LOAD_CPU (0).
#
# Environment (as test/bench/run.sh):
#   BENCH_SECONDS    measured seconds per workload, proxy and round (default 3)
#   BENCH_WARMUP     unmeasured seconds before each measurement  (default 0.5)
#   BENCH_ROUNDS     rounds; the table shows medians over them   (default 3)
#   BENCH_PROXIES    which columns, in order     (default "skiff haproxy nghttpx")
#   BENCH_WORKLOADS  which rows, in order        (default "full resume bulk")
#   BENCH_PROXY_CPU / BENCH_LOAD_CPU             (default 1 / 0)
#   BENCH_SKIFF      the skiff binary             (default build/skiff)
#   BENCH_KEEP=1     keep the temp dir (certs, configs, proxy logs) and say where
set -euo pipefail

cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
OUT="$ROOT/build/bench/tls"
mkdir -p "$OUT"

BENCH_SECONDS=${BENCH_SECONDS:-3}
BENCH_WARMUP=${BENCH_WARMUP:-0.5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_PROXIES=${BENCH_PROXIES:-"skiff haproxy nghttpx"}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-"full resume bulk"}
SKIFF=${BENCH_SKIFF:-build/skiff}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}

ADMIN_PORT=19200        # skiff's admin listener
ECHO_PORT=19300         # raw TCP echo backend (skiff, HAProxy)
HTTP_PORT=19301         # HTTP/1.1 backend (nghttpx)
declare -A PORT=([skiff]=19201 [haproxy]=19202 [nghttpx]=19203)
# What tlsload speaks to each: raw TCP with ALPN skiff-tcp, or HTTP/1.1.
declare -A LOADARGS=([skiff]="-a skiff-tcp" [haproxy]="-a skiff-tcp" [nghttpx]="-H -a http/1.1")
declare -A BACKEND_OF=([skiff]=echo [haproxy]=echo [nghttpx]=http)

# workload -> "mode concurrency size" for tlsload
declare -A WL=(
	[full]="full 8 64"
	[resume]="resume 8 64"
	[bulk]="bulk 1 16384"
)
declare -A WL_DESC=(
	[full]="full hs c=8"
	[resume]="resumed hs c=8"
	[bulk]="bulk 16KiB c=1"
)

die() { echo "bench-tls: $*" >&2; exit 1; }

for p in $BENCH_PROXIES; do [[ -n ${PORT[$p]:-} ]] || die "unknown proxy '$p'"; done
for w in $BENCH_WORKLOADS; do [[ -n ${WL[$w]:-} ]] || die "unknown workload '$w'"; done
[[ $(nproc) -gt $PROXY_CPU && $(nproc) -gt $LOAD_CPU ]] ||
	die "needs CPUs $LOAD_CPU and $PROXY_CPU (this machine has $(nproc))"
for p in $BENCH_PROXIES; do
	case $p in
	haproxy) command -v haproxy >/dev/null || die "haproxy is not installed (scripts/deps.sh)" ;;
	nghttpx) command -v nghttpx >/dev/null || die "nghttpx is not installed (Debian: nghttp2-proxy; scripts/deps.sh)" ;;
	esac
done

# ---- build the load generator and the backends ------------------------------------
CFLAGS=(-std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE)
gcc "${CFLAGS[@]}" -o "$OUT/tlsload" test/bench/tls/tlsload.c -lssl -lcrypto || die "building tlsload failed"
gcc "${CFLAGS[@]}" -o "$OUT/http_backend" test/bench/tls/http_backend.c || die "building http_backend failed"
gcc "${CFLAGS[@]}" -o "$OUT/echo_backend" test/bench/echo_backend.c || die "building echo_backend failed"

# ---- process bookkeeping (test/bench/lib.sh) -------------------------------------------
TMP=$(mktemp -d /tmp/skiff-bench-tls.XXXXXX)
BENCH_NAME=bench-tls
source test/bench/lib.sh

for port in $ECHO_PORT $HTTP_PORT $ADMIN_PORT "${PORT[@]}"; do
	port_busy "$port" && die "127.0.0.1:$port is already in use (another bench running?)"
done
ulimit -n 20000 2>/dev/null || true

# ---- certificates: one CA, one server and one client identity, shared by all ------
CERTS=$TMP/certs
TD=cluster.local
SERVER_ID=spiffe://$TD/ns/bench/sa/server
CLIENT_ID=spiffe://$TD/ns/bench/sa/client
if [[ -x $SKIFF ]] && "$SKIFF" certs ca --out "$CERTS/ca" --trust-domain $TD >/dev/null 2>"$TMP/certs.err" &&
	"$SKIFF" certs issue --ca "$CERTS/ca" --spiffe $SERVER_ID --ttl 2h --out "$CERTS/server" >/dev/null 2>>"$TMP/certs.err" &&
	"$SKIFF" certs issue --ca "$CERTS/ca" --spiffe $CLIENT_ID --ttl 2h --out "$CERTS/client" >/dev/null 2>>"$TMP/certs.err"; then
	CERT_SOURCE="skiff certs"
else
	# No skiff yet: the same shape of certificates (ECDSA P-256 root, leaves
	# with one URI SAN) from the openssl command, so the peers still run.
	CERT_SOURCE="openssl (skiff certs unavailable: $(tail -n 1 "$TMP/certs.err" 2>/dev/null || echo "no $SKIFF"))"
	mkdir -p "$CERTS/ca" "$CERTS/server" "$CERTS/client"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/ca/ca-key.pem" 2>/dev/null
	openssl req -x509 -new -key "$CERTS/ca/ca-key.pem" -subj "/CN=bench CA" -days 1 \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
		-out "$CERTS/ca/ca.pem" 2>/dev/null
	for who in server client; do
		id=$SERVER_ID; [[ $who == client ]] && id=$CLIENT_ID
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CERTS/$who/key.pem" 2>/dev/null
		openssl req -new -key "$CERTS/$who/key.pem" -subj "/O=bench" -out "$TMP/$who.csr" 2>/dev/null
		printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:%s\n' \
			"$id" >"$TMP/$who.ext"
		openssl x509 -req -in "$TMP/$who.csr" -CA "$CERTS/ca/ca.pem" -CAkey "$CERTS/ca/ca-key.pem" \
			-CAcreateserial -days 1 -extfile "$TMP/$who.ext" -out "$CERTS/$who/cert.pem" 2>/dev/null
		cp "$CERTS/ca/ca.pem" "$CERTS/$who/ca.pem"
	done
fi
S=$CERTS/server
cat "$S/cert.pem" "$S/key.pem" >"$TMP/haproxy-combined.pem"
CLIENT_ARGS=(-e "$CERTS/client/cert.pem" -k "$CERTS/client/key.pem" -r "$CERTS/ca/ca.pem")

# ---- configs ------------------------------------------------------------------------
# skiff: the inbound mTLS listener of the mTLS issue, tcp_proxy to the echo
# backend. Certificate, key and bundle share a directory (skiff watches it).
cat >"$TMP/skiff.yaml" <<EOF
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $ADMIN_PORT}}}
static_resources:
  listeners:
  - name: tls_bench
    address: {socket_address: {address: 127.0.0.1, port_value: ${PORT[skiff]}}}
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            alpn_protocols: [skiff-tcp]
            tls_certificates: [{certificate_chain: {filename: $S/cert.pem}, private_key: {filename: $S/key.pem}}]
            validation_context: {trusted_ca: {filename: $S/ca.pem}}
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tls_bench
          cluster: backend
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    load_assignment: {cluster_name: backend, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $ECHO_PORT}}}}]}]}
EOF

# HAProxy: mode tcp, TLS terminated on the bind line, client certificate
# required and verified against the bundle; session tickets on (default).
cat >"$TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8000
    tune.bufsize 16384

defaults
    mode tcp
    timeout connect 1s
    timeout client 30s
    timeout server 30s

listen tls_bench
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $TMP/haproxy-combined.pem ca-file $CERTS/ca/ca.pem verify required alpn skiff-tcp ssl-min-ver TLSv1.2
    server backend 127.0.0.1:$ECHO_PORT
EOF

# nghttpx: an HTTP proxy (no raw TCP mode): TLS frontend with a required,
# verified client certificate, HTTP/1.1 to the tiny HTTP backend. Its own
# config file is empty so /etc/nghttpx/nghttpx.conf is not read. No access
# log unless asked; one worker.
: >"$TMP/nghttpx.conf"

ln -s "$(command -v haproxy 2>/dev/null || echo /nonexistent)" "$TMP/bench-haproxy"
ln -s "$(command -v nghttpx 2>/dev/null || echo /nonexistent)" "$TMP/bench-nghttpx"
[[ -x $SKIFF ]] && ln -s "$(realpath "$SKIFF")" "$TMP/bench-skiff"

start_proxy() {
	local p=$1
	PROXY_PID=""
	case $p in
	skiff)
		[[ -x $SKIFF ]] || { echo "$SKIFF does not exist" >"$TMP/$p.log"; return 1; }
		taskset -c "$PROXY_CPU" "$TMP/bench-skiff" run -c "$TMP/skiff.yaml" \
			--concurrency 1 --log-level warn >"$TMP/$p.log" 2>&1 &
		;;
	haproxy)
		taskset -c "$PROXY_CPU" "$TMP/bench-haproxy" -db -f "$TMP/haproxy.cfg" >"$TMP/$p.log" 2>&1 &
		;;
	nghttpx)
		taskset -c "$PROXY_CPU" "$TMP/bench-nghttpx" --conf="$TMP/nghttpx.conf" --workers=1 \
			--frontend="127.0.0.1,${PORT[nghttpx]}" \
			--backend="127.0.0.1,$HTTP_PORT;;proto=http/1.1" \
			--verify-client --verify-client-cacert="$CERTS/ca/ca.pem" \
			--no-via --no-ocsp --log-level=WARN --errorlog-file="$TMP/$p.log" \
			"$S/key.pem" "$S/cert.pem" >"$TMP/$p.out" 2>&1 &
		;;
	esac
	PROXY_PID=$!
	STARTED+=("$PROXY_PID")
	wait_listen "$PROXY_PID" "${PORT[$p]}" || return 1
	sleep 0.3 # nghttpx forks its worker after binding
	kill -0 "$PROXY_PID" 2>/dev/null
}

# ---- run ----------------------------------------------------------------------------
taskset -c "$LOAD_CPU" "$OUT/echo_backend" -p "$ECHO_PORT" >"$TMP/echo.log" 2>&1 &
ECHO_PID=$!
STARTED+=("$ECHO_PID")
taskset -c "$LOAD_CPU" "$OUT/http_backend" -p "$HTTP_PORT" >"$TMP/http.log" 2>&1 &
HTTP_PID=$!
STARTED+=("$HTTP_PID")
wait_listen "$ECHO_PID" "$ECHO_PORT" || die "echo backend did not start: $(cat "$TMP/echo.log")"
wait_listen "$HTTP_PID" "$HTTP_PORT" || die "http backend did not start: $(cat "$TMP/http.log")"
declare -A BACKEND_PID=([echo]=$ECHO_PID [http]=$HTTP_PID)

declare -A RAW R NOTE NOSTART NEG
RESULTS="$OUT/results.txt"
: >"$RESULTS"

read -r -a proxies <<<"$BENCH_PROXIES"
n_wl=$(wc -w <<<"$BENCH_WORKLOADS")
echo "bench-tls: $BENCH_ROUNDS rounds x ${#proxies[@]} proxies x $n_wl workloads x" \
	"$(awk "BEGIN{print $BENCH_WARMUP+$BENCH_SECONDS}")s, about" \
	"$(awk "BEGIN{printf \"%.0f\", $BENCH_ROUNDS*${#proxies[@]}*($n_wl*($BENCH_WARMUP+$BENCH_SECONDS)+0.8)}")s" \
	"(proxy on CPU $PROXY_CPU, load+backends on CPU $LOAD_CPU; certificates: $CERT_SOURCE)" >&2

for round in $(seq "$BENCH_ROUNDS"); do
	for i in "${!proxies[@]}"; do
		p=${proxies[$(((i + round - 1) % ${#proxies[@]}))]}
		[[ -n ${NOSTART[$p]:-} ]] && continue
		if ! start_proxy "$p"; then
			NOSTART[$p]=1
			NOTE[$p]="did not start: $(cat "$TMP/$p.log" "$TMP/$p.out" 2>/dev/null | tail -n 3 | tr '\n' ' ' || true)"
			echo "bench-tls: $p ${NOTE[$p]}" >&2
			[[ -n $PROXY_PID ]] && stop_pid "$PROXY_PID"
			continue
		fi
		pids=$(proc_tree "$PROXY_PID" | paste -sd, -)
		for w in $BENCH_WORKLOADS; do
			read -r mode conc size <<<"${WL[$w]}"
			echo "bench-tls: round $round $p $w" >&2
			# shellcheck disable=SC2086 # LOADARGS holds several words
			if line=$(taskset -c "$LOAD_CPU" "$OUT/tlsload" -m "$mode" -p "${PORT[$p]}" \
				-c "$conc" -s "$size" -d "$BENCH_SECONDS" -w "$BENCH_WARMUP" \
				"${CLIENT_ARGS[@]}" ${LOADARGS[$p]} \
				-P "$pids" -L "${BACKEND_PID[${BACKEND_OF[$p]}]}" -C "$PROXY_CPU" 2>"$TMP/tlsload.err"); then
				echo "round=$round proxy=$p workload=$w pids=$pids $line" >>"$RESULTS"
				for kv in $line; do RAW[$p.$w.$round.${kv%%=*}]=${kv#*=}; done
				NEG[$p]="$(sed -n 's/.* tls=\([^ ]*\) cipher=\([^ ]*\) group=\([^ ]*\) alpn=\([^ ]*\).*/\1 \2 \3 alpn=\4/p' <<<"$line")"
				if [[ -s $TMP/tlsload.err ]]; then
					echo "bench-tls: $p $w: $(tail -n 1 "$TMP/tlsload.err")" >&2
				fi
			else
				msg=$(tail -n 1 "$TMP/tlsload.err" || true)
				echo "bench-tls: $p $w failed: $msg" >&2
				[[ ${NOTE[$p]:-} == *"$w failed"* ]] || NOTE[$p]="${NOTE[$p]:-}$w failed: $msg; "
			fi
			if ! kill -0 "$PROXY_PID" 2>/dev/null; then
				NOTE[$p]="${NOTE[$p]:-}exited during round $round $w ($(cat "$TMP/$p.log" "$TMP/$p.out" 2>/dev/null | tail -n 2 | tr '\n' ' ' || true)); "
				echo "bench-tls: $p exited during $w" >&2
				break
			fi
		done
		stop_pid "$PROXY_PID"
	done
done

# ---- medians over the clean rounds (test/bench/lib.sh) --------------------------------
declare -A ROUGH
take_medians ops_per_s ops_per_core_s mb_per_s cpu_us_per_op cpu_us_per_mb p50_us p99_us resumed_pct proxy_cpu_pct load_cpu_pct core_busy_pct errors

# ---- report -------------------------------------------------------------------------
peers=()
for p in $BENCH_PROXIES; do [[ $p == skiff ]] || peers+=("$p"); done
row() {
	printf '%-16s %-20s' "$1" "$2"
	shift 2
	local c
	for c in "$@"; do printf ' %12s' "$c"; done
	printf '\n'
}
# metric_row WORKLOAD LABEL KEY HOW(max|min|-) [first-column label]
metric_row() {
	local w=$1 lbl=$2 key=$3 how=$4 first=${5:-} p cells=() r=""
	for p in $BENCH_PROXIES; do cells+=("$(fmt "$(get "$p" "$w" "$key")")$(mark "$p" "$w")"); done
	[[ $how != - ]] && r="$(ratio "$(get skiff "$w" "$key")" "$(best_peer "$w" "$key" "$how")")$(mark_row "$w")"
	row "$first" "$lbl" "${cells[@]}" "$r"
}
pct_row() {
	local w=$1 p cells=() a b c
	for p in $BENCH_PROXIES; do
		a=$(get "$p" "$w" proxy_cpu_pct); b=$(get "$p" "$w" core_busy_pct); c=$(get "$p" "$w" load_cpu_pct)
		cells+=("$([[ -n $a ]] && printf '%.0f/%.0f/%.0f' "$a" "$b" "$c" || echo n/a)")
	done
	row "" "cpu% proxy/core/load" "${cells[@]}" ""
}
lat_row() {
	local w=$1 p cells=() a b
	for p in $BENCH_PROXIES; do
		a=$(get "$p" "$w" p50_us); b=$(get "$p" "$w" p99_us)
		cells+=("$([[ -n $a ]] && printf '%.0f/%.0f' "$a" "$b" || echo n/a)")
	done
	row "" "p50/p99 us" "${cells[@]}" ""
}

echo
printf '%-16s %-20s' "workload" "metric"
for p in $BENCH_PROXIES; do printf ' %12s' "$p"; done
printf ' %12s\n' "skiff/best"
for w in $BENCH_WORKLOADS; do
	case $w in
	full | resume)
		metric_row "$w" "hs/s per core" ops_per_core_s max "${WL_DESC[$w]}"
		metric_row "$w" "cpu us/hs" cpu_us_per_op min
		metric_row "$w" "hs/s (wall)" ops_per_s max
		[[ $w == resume ]] && metric_row "$w" "resumed %" resumed_pct -
		lat_row "$w"
		;;
	bulk)
		metric_row "$w" "cpu us/MB" cpu_us_per_mb min "${WL_DESC[$w]}"
		metric_row "$w" "MB/s (wall)" mb_per_s max
		;;
	esac
	pct_row "$w"
done

echo
echo "Medians of $BENCH_ROUNDS rounds. skiff/best: skiff divided by the best of ${peers[*]:-no peer}"
echo "(hs/s, MB/s: higher is better; cpu: lower is better, goal <= 1.00)."
echo "hs/s per core = handshakes per second of the proxy's own CPU time (10^6 / cpu us/hs):"
echo "the per-core figure, independent of how busy the load side was."
echo "Each handshake: TLS 1.3, client certificate required and verified, one 64 B"
echo "request/response (nghttpx: one HTTP/1.1 GET), close. Certificates: $CERT_SOURCE."
for p in $BENCH_PROXIES; do
	[[ -n ${NEG[$p]:-} ]] && echo "  $p negotiated: ${NEG[$p]}"
done
echo "cpu%: proxy = its utime+stime; core = all of CPU $PROXY_CPU busy; load = tlsload + backend"
echo "on CPU $LOAD_CPU (near 100: the load side, not the proxy, limited the wall rate)."
echo "~ = every round of that cell was disturbed (CPU $PROXY_CPU busier than the proxy by"
echo "more than $DISTURBED_PCT points: something else ran there); rerun on a quieter machine."
for p in $BENCH_PROXIES; do
	[[ -n ${NOTE[$p]:-} ]] && echo "$p: ${NOTE[$p]}"
done
echo "raw results: ${RESULTS#"$ROOT"/}"
