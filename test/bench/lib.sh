# Sourced by the benchmarks' run.sh (test/bench/run.sh, test/bench/tls/run.sh):
# process bookkeeping, the medians over undisturbed rounds, and the helpers
# of the side-by-side report. Callers set BENCH_NAME (message prefix) and
# TMP (their temp dir) before sourcing, append every pid they start to
# STARTED, and declare proxies and peers (arrays) before the medians.
#
# Results live in associative arrays the caller declares:
#   RAW[proxy.workload.round.key]  one measurement
#   R[proxy.workload.key]          its median over the rounds used
#   ROUGH[proxy.workload]          set when every round was disturbed

STARTED=()

# The pid and all its descendants (nginx: master + worker).
proc_tree() {
	local pid=$1 c
	echo "$pid"
	for c in $(pgrep -P "$pid" 2>/dev/null || true); do proc_tree "$c"; done
}

stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
	local pid
	for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo "$BENCH_NAME: configs and logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# Waits up to 5 s for pid to listen on port; fails if the pid dies first.
wait_listen() {
	local pid=$1 port=$2 i
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 1
		port_busy "$port" && return 0
		sleep 0.1
	done
	return 1
}

median() { sort -g | awk '{v[NR]=$1} END{ if (NR==0) exit; print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2 }'; }

# A round is disturbed when CPU $PROXY_CPU was busier than the proxy alone
# explains (another process ran there: a build, a test).
DISTURBED_PCT=15

# take_medians KEY...: R from RAW for every proxy and workload, over the
# clean rounds; with none clean, over all of them, and ROUGH says so (the
# table marks such a figure '~').
take_medians() {
	local p w round key
	local -a clean all use
	for p in "${proxies[@]}"; do
		for w in $BENCH_WORKLOADS; do
			clean=() all=()
			for round in $(seq "$BENCH_ROUNDS"); do
				[[ -n ${RAW[$p.$w.$round.ops]:-} ]] || continue
				all+=("$round")
				awk -v b="${RAW[$p.$w.$round.core_busy_pct]}" \
					-v x="${RAW[$p.$w.$round.proxy_cpu_pct]}" -v d="$DISTURBED_PCT" \
					'BEGIN{exit !(b - x <= d)}' && clean+=("$round")
			done
			[[ ${#all[@]} -gt 0 ]] || continue
			use=("${clean[@]}")
			if [[ ${#clean[@]} -eq 0 ]]; then use=("${all[@]}"); ROUGH[$p.$w]=1; fi
			for key in "$@"; do
				R[$p.$w.$key]=$(for round in "${use[@]}"; do
					echo "${RAW[$p.$w.$round.$key]}"
				done | median)
			done
			R[$p.$w.rounds]=${#use[@]}
		done
	done
}

# get proxy workload key -> value or empty
get() { echo "${R[$1.$2.$3]:-}"; }

# best of the peers' (the caller's `peers` array) values for key: min
# (cpu) or max (throughput)
best_peer() {
	local w=$1 key=$2 how=$3 p v best=""
	for p in "${peers[@]}"; do
		v=$(get "$p" "$w" "$key")
		[[ -n $v ]] || continue
		if [[ -z $best ]] || awk -v a="$v" -v b="$best" -v h="$how" \
			'BEGIN{exit !((h=="min" && a<b) || (h=="max" && a>b))}'; then
			best=$v
		fi
	done
	echo "$best"
}

ratio() { # a / b, or n/a
	[[ -n $1 && -n $2 ]] && awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }' ||
		echo "n/a"
}

fmt() { # number with a sensible number of decimals, or n/a
	[[ -n $1 ]] || { echo "n/a"; return; }
	awk -v v="$1" 'BEGIN{ if (v>=1000) printf "%.0f", v; else if (v>=10) printf "%.1f", v; else printf "%.2f", v }'
}

mark() { [[ -n ${ROUGH[$1.$2]:-} ]] && echo "~" || true; }
mark_row() { local p; for p in $BENCH_PROXIES; do [[ -n ${ROUGH[$p.$1]:-} ]] && { echo "~"; return 0; }; done; return 0; }
