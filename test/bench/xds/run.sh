#!/usr/bin/env bash
# xDS apply benchmark: how long skiff takes, and how much memory it grows, to
# apply a configuration of 10,000 routes, 1,000 clusters and 10,000
# endpoints pushed by the Node control plane (test/controlplane), then a
# one-endpoint change on top of it; over state of the world and Delta, side
# by side.
#
# Apply time is from the first response the control plane sends for a push
# to skiff's last ACK of it, both by the control plane's clock (its /responses
# and /acks logs). It covers the follow-on subscriptions skiff makes (EDS
# after CDS, RDS after LDS) and every snapshot skiff builds on the way. RSS is
# skiff's VmRSS from /proc before the push, after it and after the change
# (each read 1.5 s after the ACK, once replaced snapshots are freed).
#
# Environment:
#   XDS_BENCH_ROUTES / XDS_BENCH_CLUSTERS / XDS_BENCH_EPS (endpoints per
#   cluster)             default 10000 / 1000 / 10
#   XDS_BENCH_MODES      default "sotw delta"
#   BENCH_SKIFF          the skiff binary (default build/skiff)
#   BENCH_KEEP=1         keep the temp dir (bootstrap, logs) and say where
# Runs in a network namespace of its own when root (unshare -n), so the fixed
# ports below collide with nothing; raw results go to build/bench/xds.txt.
set -euo pipefail

cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
if [ "$(id -u)" -eq 0 ] && [ -z "${XDS_BENCH_NETNS:-}" ]; then
	exec env XDS_BENCH_NETNS=1 unshare -n bash -c 'ip link set lo up && exec bash "$0"' "$0"
fi

SKIFF=${BENCH_SKIFF:-build/skiff}
ROUTES=${XDS_BENCH_ROUTES:-10000}
CLUSTERS=${XDS_BENCH_CLUSTERS:-1000}
EPS=${XDS_BENCH_EPS:-10}
MODES=${XDS_BENCH_MODES:-"sotw delta"}
ADS_PORT=19200 CONTROL_PORT=19201 ADMIN_PORT=19202 LISTEN_PORT=19280
OUT="$ROOT/build/bench"
mkdir -p "$OUT"
[ -x "$SKIFF" ] || { echo "xds bench: $SKIFF not built (make)" >&2; exit 1; }
[ -d test/controlplane/node_modules ] || bash test/controlplane/setup.sh

TMP=$(mktemp -d "${TMPDIR:-/tmp}/skiff-xds-bench.XXXXXX")
CP_PID= SKIFF_PID=
cleanup() {
	[ -n "$SKIFF_PID" ] && kill "$SKIFF_PID" 2>/dev/null && wait "$SKIFF_PID" 2>/dev/null
	[ -n "$CP_PID" ] && kill "$CP_PID" 2>/dev/null && wait "$CP_PID" 2>/dev/null
	if [ -n "${BENCH_KEEP:-}" ]; then echo "xds bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

bootstrap() { # api_type
	cat <<EOF
node: {id: bench~127.0.0.1~bench.default~default.svc.cluster.local, cluster: bench}
admin: {address: {socket_address: {address: 127.0.0.1, port_value: $ADMIN_PORT}}}
dynamic_resources:
  ads_config:
    api_type: $1
    transport_api_version: V3
    grpc_services: [{envoy_grpc: {cluster_name: xds-grpc}}]
  lds_config: {ads: {}, resource_api_version: V3}
  cds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds-grpc
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: xds-grpc
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: $ADS_PORT}}}}]}]
EOF
}

wait_http() { # port
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.1
	done
	echo "xds bench: nothing answers on $1" >&2
	return 1
}

run_mode() { # sotw|delta
	local api=GRPC
	[ "$1" = delta ] && api=DELTA_GRPC
	node test/controlplane/server.js --ads-port $ADS_PORT --control-port $CONTROL_PORT \
		>"$TMP/cp-$1.log" 2>&1 &
	CP_PID=$!
	wait_http $CONTROL_PORT
	bootstrap $api >"$TMP/bootstrap-$1.yaml"
	"$SKIFF" run -c "$TMP/bootstrap-$1.yaml" --log-level info --prometheus-port 19290 \
		--health-port 19221 >"$TMP/skiff-$1.log" 2>&1 &
	SKIFF_PID=$!
	wait_http $ADMIN_PORT
	# both wildcard subscriptions answered (empty) before the push
	for _ in $(seq 100); do
		[ "$(curl -s "http://127.0.0.1:$CONTROL_PORT/acks" | grep -o '"ack":true' | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	node test/bench/xds/bench.js --control $CONTROL_PORT --admin $ADMIN_PORT --pid $SKIFF_PID \
		--routes "$ROUTES" --clusters "$CLUSTERS" --endpoints-per-cluster "$EPS" \
		--listen $LISTEN_PORT >"$TMP/result-$1.json"
	kill "$SKIFF_PID" "$CP_PID"
	wait "$SKIFF_PID" "$CP_PID" 2>/dev/null || true
	SKIFF_PID= CP_PID=
	echo "$1 $(cat "$TMP/result-$1.json")" >>"$OUT/xds.txt"
}

for m in $MODES; do
	printf '  %-8s %s\n' XDS "$m: $ROUTES routes, $CLUSTERS clusters, $((CLUSTERS * EPS)) endpoints"
	run_mode "$m"
done

python3 - "$TMP" $MODES <<'EOF'
import json, sys
tmp, modes = sys.argv[1], sys.argv[2:]
r = {m: json.load(open(f"{tmp}/result-{m}.json")) for m in modes}
first = r[modes[0]]
print(f"\nxDS apply: {first['routes']} routes, {first['clusters']} clusters, "
      f"{first['endpoints']} endpoints (skiff {', '.join(modes)})\n")
rows = [
    ("full config: push -> ACK", lambda x: f"{x['full_apply_ms']} ms"),
    ("full config: RSS growth", lambda x: f"{(x['rss_full_kib'] - x['rss_before_kib']) / 1024:.1f} MiB"),
    ("one endpoint: push -> ACK", lambda x: f"{x['one_endpoint_apply_ms']} ms"),
    ("one endpoint: resources sent", lambda x: str(x['one_endpoint_resources_sent'])),
    ("one endpoint: RSS change", lambda x: f"{(x['rss_after_change_kib'] - x['rss_full_kib']) / 1024:+.1f} MiB"),
    ("RSS before / full / after (MiB)", lambda x: f"{x['rss_before_kib'] / 1024:.1f} / "
     f"{x['rss_full_kib'] / 1024:.1f} / {x['rss_after_change_kib'] / 1024:.1f}"),
]
print(f"{'':34}" + "".join(f"{m:>22}" for m in modes))
for name, fn in rows:
    print(f"{name:34}" + "".join(f"{fn(r[m]):>22}" for m in modes))
EOF
