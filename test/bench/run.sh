#!/usr/bin/env bash
# `make bench`: skiff's L4 (TCP) proxying next to HAProxy (mode tcp) and nginx
# (stream), in one run, on loopback. See test/bench/README.md for what each
# row means.
#
# The proxy under test is pinned to BENCH_PROXY_CPU (1); the load generator
# and the echo backend share BENCH_LOAD_CPU (0). Each proxy runs one
# worker/thread, no logging, 16 KiB buffers where configurable.
#
# Environment:
#   BENCH_SECONDS    measured seconds per workload, proxy and round (default 3)
#   BENCH_WARMUP     unmeasured seconds before each measurement  (default 0.5)
#   BENCH_ROUNDS     rounds; the table shows medians over them   (default 3)
#   BENCH_PROXIES    which columns, in order        (default "skiff haproxy nginx")
#   BENCH_WORKLOADS  which rows, in order           (default "conn rr rr16k stream")
#   BENCH_PROXY_CPU / BENCH_LOAD_CPU                (default 1 / 0)
#   BENCH_SKIFF      the skiff binary                (default build/skiff)
#   BENCH_KEEP=1     keep the temp dir (configs, proxy logs) and say where
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
OUT="$ROOT/build/bench"
mkdir -p "$OUT"

BENCH_SECONDS=${BENCH_SECONDS:-3}
BENCH_WARMUP=${BENCH_WARMUP:-0.5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_PROXIES=${BENCH_PROXIES:-"skiff haproxy nginx"}
BENCH_WORKLOADS=${BENCH_WORKLOADS:-"conn rr rr16k stream"}
SKIFF=${BENCH_SKIFF:-build/skiff}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}

ADMIN_PORT=19000       # skiff's admin listener (fixed by its config below)
BACKEND_PORT=19100
declare -A PORT=([skiff]=19001 [haproxy]=19002 [nginx]=19003)

# workload -> "mode concurrency size" for tcpload
declare -A WL=(
	[conn]="conn 32 64"
	[rr]="rr 32 64"
	[rr16k]="rr 8 16384"
	[stream]="stream 1 16384"
)
declare -A WL_DESC=(
	[conn]="conn 64B c=32"
	[rr]="rr 64B c=32"
	[rr16k]="rr 16KiB c=8"
	[stream]="stream 16KiB c=1"
)

die() { echo "bench: $*" >&2; exit 1; }

for p in $BENCH_PROXIES; do [[ -n ${PORT[$p]:-} ]] || die "unknown proxy '$p'"; done
for w in $BENCH_WORKLOADS; do [[ -n ${WL[$w]:-} ]] || die "unknown workload '$w'"; done
[[ $(nproc) -gt $PROXY_CPU && $(nproc) -gt $LOAD_CPU ]] ||
	die "needs CPUs $LOAD_CPU and $PROXY_CPU (this machine has $(nproc))"

# ---- build the load generator and the backend ---------------------------------
for t in tcpload echo_backend; do
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
		-o "$OUT/$t" "test/bench/$t.c" || die "building $t failed"
done

# ---- process bookkeeping --------------------------------------------------------
TMP=$(mktemp -d /tmp/skiff-bench.XXXXXX)
BENCH_NAME=bench
source test/bench/lib.sh

for port in $BACKEND_PORT $ADMIN_PORT "${PORT[@]}"; do
	port_busy "$port" && die "127.0.0.1:$port is already in use (another bench running?)"
done
ulimit -n 20000 2>/dev/null || true

# ---- configs --------------------------------------------------------------------
cat >"$TMP/skiff.yaml" <<EOF
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: $ADMIN_PORT}}
static_resources:
  listeners:
  - name: bench
    address: {socket_address: {address: 127.0.0.1, port_value: ${PORT[skiff]}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bench
          cluster: backend
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $BACKEND_PORT}}}
EOF

# No log directive: HAProxy logs nothing. -db keeps it in the foreground as a
# single process (no master).
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

listen bench
    bind 127.0.0.1:${PORT[haproxy]}
    server backend 127.0.0.1:$BACKEND_PORT
EOF

# The stream module logs no access lines unless access_log is set; the error
# log stays at warn.
cat >"$TMP/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;

events {
    worker_connections 8000;
    use epoll;
}

stream {
    server {
        listen 127.0.0.1:${PORT[nginx]};
        proxy_pass 127.0.0.1:$BACKEND_PORT;
        proxy_buffer_size 16k;
        proxy_connect_timeout 1s;
        proxy_timeout 30s;
    }
}
EOF

# The peers run under names of their own: scripts/deps.sh (run by `make test`,
# `make demo`, ... possibly in another checkout at the same time) does
# `pkill -x nginx` / `pkill -x haproxy`, which must not hit a bench in flight;
# skiff too, against test scripts cleaning up by name.
ln -s "$(command -v haproxy)" "$TMP/bench-haproxy"
ln -s "$(command -v nginx)" "$TMP/bench-nginx"
[[ -x $SKIFF ]] && ln -s "$(realpath "$SKIFF")" "$TMP/bench-skiff"

# Starts proxy $1 pinned to PROXY_CPU in the background; sets PROXY_PID.
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
	nginx)
		taskset -c "$PROXY_CPU" "$TMP/bench-nginx" -e "$TMP/nginx-error.log" -p "$TMP" \
			-c "$TMP/nginx.conf" >"$TMP/$p.log" 2>&1 &
		;;
	esac
	PROXY_PID=$!
	STARTED+=("$PROXY_PID")
	wait_listen "$PROXY_PID" "${PORT[$p]}" || return 1
	# nginx forks its worker after the master binds; give it a moment.
	sleep 0.3
	kill -0 "$PROXY_PID" 2>/dev/null
}

# ---- run ------------------------------------------------------------------------
taskset -c "$LOAD_CPU" "$OUT/echo_backend" -p "$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
BACKEND_PID=$!
STARTED+=("$BACKEND_PID")
wait_listen "$BACKEND_PID" "$BACKEND_PORT" || die "echo backend did not start: $(cat "$TMP/backend.log")"

declare -A RAW          # RAW[proxy.workload.round.key] = value from tcpload
declare -A R            # R[proxy.workload.key] = median over the rounds
declare -A NOTE         # NOTE[proxy] = why its column is n/a or thin
declare -A NOSTART      # NOSTART[proxy] = 1 once it failed to start
RESULTS="$OUT/results.txt"
: >"$RESULTS"

read -r -a proxies <<<"$BENCH_PROXIES"
n_wl=$(wc -w <<<"$BENCH_WORKLOADS")
echo "bench: $BENCH_ROUNDS rounds x ${#proxies[@]} proxies x $n_wl workloads x" \
	"$(awk "BEGIN{print $BENCH_WARMUP+$BENCH_SECONDS}")s, about" \
	"$(awk "BEGIN{printf \"%.0f\", $BENCH_ROUNDS*${#proxies[@]}*($n_wl*($BENCH_WARMUP+$BENCH_SECONDS)+0.6)}")s" \
	"(proxy on CPU $PROXY_CPU, load+backend on CPU $LOAD_CPU)" >&2

# Rounds interleave the proxies, each round starting with the next one, so
# a slow minute on a noisy machine lands on every column alike.
for round in $(seq "$BENCH_ROUNDS"); do
	for i in "${!proxies[@]}"; do
		p=${proxies[$(((i + round - 1) % ${#proxies[@]}))]}
		[[ -n ${NOSTART[$p]:-} ]] && continue
		if ! start_proxy "$p"; then
			NOSTART[$p]=1
			NOTE[$p]="did not start: $(tail -n 3 "$TMP/$p.log" 2>/dev/null | tr '\n' ' ')"
			echo "bench: $p ${NOTE[$p]}" >&2
			[[ -n $PROXY_PID ]] && stop_pid "$PROXY_PID"
			continue
		fi
		pids=$(proc_tree "$PROXY_PID" | paste -sd, -)
		for w in $BENCH_WORKLOADS; do
			read -r mode conc size <<<"${WL[$w]}"
			echo "bench: round $round $p $w" >&2
			if line=$(taskset -c "$LOAD_CPU" "$OUT/tcpload" -m "$mode" -p "${PORT[$p]}" \
				-c "$conc" -s "$size" -d "$BENCH_SECONDS" -w "$BENCH_WARMUP" \
				-P "$pids" -L "$BACKEND_PID" -C "$PROXY_CPU" 2>"$TMP/tcpload.err"); then
				echo "round=$round proxy=$p workload=$w pids=$pids $line" >>"$RESULTS"
				for kv in $line; do RAW[$p.$w.$round.${kv%%=*}]=${kv#*=}; done
			else
				echo "bench: $p $w failed: $(cat "$TMP/tcpload.err")" >&2
			fi
			if ! kill -0 "$PROXY_PID" 2>/dev/null; then
				NOTE[$p]="${NOTE[$p]:-}exited during round $round $w ($(tail -n 2 "$TMP/$p.log" | tr '\n' ' ')); "
				echo "bench: $p exited during $w" >&2
				break
			fi
		done
		stop_pid "$PROXY_PID"
	done
done

# Medians over the undisturbed rounds (test/bench/lib.sh).
declare -A ROUGH
take_medians ops_per_s mb_per_s cpu_us_per_op cpu_us_per_mb p50_us p99_us proxy_cpu_pct load_cpu_pct core_busy_pct

# ---- report ---------------------------------------------------------------------
peers=()
for p in $BENCH_PROXIES; do [[ $p == skiff ]] || peers+=("$p"); done






row() { # label, cells..., ratio
	printf '%-18s %-20s' "$1" "$2"
	shift 2
	local c
	for c in "$@"; do printf ' %12s' "$c"; done
	printf '\n'
}

echo
printf '%-18s %-20s' "workload" "metric"
for p in $BENCH_PROXIES; do printf ' %12s' "$p"; done
printf ' %12s\n' "skiff/best"
for w in $BENCH_WORKLOADS; do
	read -r mode _ _ <<<"${WL[$w]}"
	case $mode in
	conn)   rate_key=ops_per_s; rate_lbl="conn/s";  cpu_key=cpu_us_per_op; cpu_lbl="cpu us/conn" ;;
	rr)     rate_key=ops_per_s; rate_lbl="req/s";   cpu_key=cpu_us_per_op; cpu_lbl="cpu us/req" ;;
	stream) rate_key=mb_per_s;  rate_lbl="MB/s";    cpu_key=cpu_us_per_mb; cpu_lbl="cpu us/MB" ;;
	esac

	cells=(); for p in $BENCH_PROXIES; do cells+=("$(fmt "$(get "$p" "$w" "$rate_key")")$(mark "$p" "$w")"); done
	row "${WL_DESC[$w]}" "$rate_lbl" "${cells[@]}" \
		"$(ratio "$(get skiff "$w" "$rate_key")" "$(best_peer "$w" "$rate_key" max)")$(mark_row "$w")"

	cells=(); for p in $BENCH_PROXIES; do cells+=("$(fmt "$(get "$p" "$w" "$cpu_key")")$(mark "$p" "$w")"); done
	row "" "$cpu_lbl" "${cells[@]}" \
		"$(ratio "$(get skiff "$w" "$cpu_key")" "$(best_peer "$w" "$cpu_key" min)")$(mark_row "$w")"

	if [[ $mode != stream ]]; then
		cells=()
		for p in $BENCH_PROXIES; do
			a=$(get "$p" "$w" p50_us); b=$(get "$p" "$w" p99_us)
			cells+=("$([[ -n $a ]] && printf '%.0f/%.0f' "$a" "$b" || echo n/a)")
		done
		row "" "p50/p99 us" "${cells[@]}" ""
	fi

	cells=()
	for p in $BENCH_PROXIES; do
		a=$(get "$p" "$w" proxy_cpu_pct); b=$(get "$p" "$w" core_busy_pct)
		c=$(get "$p" "$w" load_cpu_pct)
		cells+=("$([[ -n $a ]] && printf '%.0f/%.0f/%.0f' "$a" "$b" "$c" || echo n/a)")
	done
	row "" "cpu% proxy/core/load" "${cells[@]}" ""
done

echo
echo "Medians of $BENCH_ROUNDS rounds. skiff/best: skiff divided by the best of ${peers[*]:-no peer}"
echo "(throughput: higher is better; cpu: lower is better, goal <= 1.00)."
echo "cpu%: proxy = its utime+stime; core = all of CPU $PROXY_CPU busy; load = tcpload + backend"
echo "on CPU $LOAD_CPU (near 100: the load side, not the proxy, limited throughput)."
echo "~ = every round of that cell was disturbed (CPU $PROXY_CPU busier than the proxy by"
echo "more than $DISTURBED_PCT points: something else ran there); rerun on a quieter machine."
for p in $BENCH_PROXIES; do
	[[ -n ${NOTE[$p]:-} ]] && echo "$p: ${NOTE[$p]}"
done
echo "raw results: ${RESULTS#"$ROOT"/}"
