#!/usr/bin/env bash
# The demo of skiff's main job, end to end: two pods, each with an app and a
# skiff sidecar. Pod A's app (curl) makes plain HTTP/1.1 requests to pod B's
# address; eBPF captures them (no iptables) into sidecar A, which carries them
# as HTTP/2 over mutual TLS (SPIFFE identities) to sidecar B, which checks
# the caller (strict mTLS + RBAC) and routes each request to version 1 or 2
# of pod B's app. Those routes come from an xDS control plane, and a canary
# push (version 2 at 0 %, 50 %, 100 %) moves the traffic while a loop of
# requests keeps succeeding. Then the proof: sidecar counters, access logs,
# Istio metrics, and the kernel's per-flow counters through bpftool and
# `skiff flows`.
#
# A "pod" is a network namespace plus a cgroup; the two are joined by a veth
# pair, with addresses from the documentation range 192.0.2.0/24 that exist
# only inside them. Needs root; cleans up after itself, also on failure.
# SKIFF=path/to/skiff runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF=${SKIFF:-$PWD/build/skiff}
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3 || PYTHON=python3
POD_A=192.0.2.2 POD_B=192.0.2.1
URL=http://$POD_B:8080/ # pod B's "service address", as pod A's app knows it
CGROUP2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CGROUP2" ] || { echo "demo: cgroup v2 is not mounted" >&2; exit 1; }
work=$(mktemp -d /tmp/skiff-demo.XXXXXX)
chmod 755 "$work"
pids=()

# Shows the first n lines and reads the rest, so that the writer never dies
# of SIGPIPE under pipefail.
first() { head -n "$1"; cat >/dev/null; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Runs a command in a pod: into its cgroup first (nsenter would not move
# it), then into its network namespace.
in_pod() {
	local pod=$1
	shift
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CGROUP2/skiff-demo-$pod" \
		nsenter --net=/run/netns/skiff-demo-$pod "$@"
}
# A counter of a pod's sidecar (admin /stats), 0 when absent.
stat() {
	in_pod "$1" curl -s http://127.0.0.1:15000/stats |
		awk -v name="$2" '$1 == name ":" { v = $2 } END { print v + 0 }'
}
# Waits up to 5 s for a sidecar's counter to reach a value.
wait_stat() {
	for _ in $(seq 50); do
		[ "$(stat "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.1
	done
	echo "demo: pod $1's $2 did not reach $3; its log:" >&2
	cat "$work/skiff-$1.log" >&2
	return 1
}
# Shows the named fields of a JSON access log line.
log_fields() {
	"$PYTHON" -c 'import json, sys
line = json.loads(sys.stdin.readline())
print(json.dumps({k: line[k] for k in sys.argv[1:]}, indent=1))' "$@"
}

# Everything a pod runs is in its cgroup: ending the cgroup's processes ends
# them all, whatever wrapped them (sh, nsenter, setpriv).
stop_pod_processes() {
	local cg=$1
	[ -d "$cg" ] || return 0
	if [ -e "$cg/cgroup.kill" ]; then
		echo 1 >"$cg/cgroup.kill"
	else
		xargs -r kill -9 <"$cg/cgroup.procs" 2>/dev/null || true
	fi
	for _ in $(seq 50); do [ -s "$cg/cgroup.procs" ] || break; sleep 0.1; done
}

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for pod in a b; do
		stop_pod_processes "$CGROUP2/skiff-demo-$pod"
		"$SKIFF" bpf detach --instance demo-$pod >/dev/null 2>&1 || true
		ip netns del skiff-demo-$pod 2>/dev/null || true
		rmdir "$CGROUP2/skiff-demo-$pod" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "demo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

step "two pods: skiff-demo-a ($POD_A) and skiff-demo-b ($POD_B), each a netns and a cgroup"
for pod in a b; do
	stop_pod_processes "$CGROUP2/skiff-demo-$pod" # left by an interrupted run
	"$SKIFF" bpf detach --instance demo-$pod >/dev/null 2>&1 || true
	ip netns del skiff-demo-$pod 2>/dev/null || true
	ip netns add skiff-demo-$pod
	ip -n skiff-demo-$pod link set lo up
	mkdir -p "$CGROUP2/skiff-demo-$pod"
done
ip -n skiff-demo-a link add eth0 type veth peer name eth0 netns skiff-demo-b
ip -n skiff-demo-a addr add $POD_A/24 dev eth0
ip -n skiff-demo-b addr add $POD_B/24 dev eth0
ip -n skiff-demo-a link set eth0 up
ip -n skiff-demo-b link set eth0 up

step "capture: skiff bpf attach, as an init step would (connect4, getsockopt, sk_lookup, sockops, sk_msg)"
for pod in a b; do
	"$SKIFF" bpf attach --instance demo-$pod --cgroup "$CGROUP2/skiff-demo-$pod" \
		--netns /run/netns/skiff-demo-$pod --sockmap on
done
"$SKIFF" bpf status --instance demo-a | first 12

step "identities: a development CA and one SPIFFE id per pod (skiff certs)"
"$SKIFF" certs ca --out "$work/certs/ca" --trust-domain cluster.local
for pod in a b; do
	"$SKIFF" certs issue --ca "$work/certs/ca" --spiffe spiffe://cluster.local/ns/default/sa/pod-$pod \
		--ttl 1h --out "$work/certs/pod-$pod"
	sed "s|CERTS|$work/certs|g" scripts/demo/pod-$pod.yaml >"$work/pod-$pod.yaml"
done
sed "s|CERTS|$work/certs|g" scripts/demo/xds-pod-b.json >"$work/xds-pod-b.json"
chown -R 1337:1337 "$work/certs" # the sidecar's UID reads its own key

step "apps in pod B: version 1 on :8080, version 2 on :8081 (scripts/demo/app.py, HTTP/1.1)"
for v in 1 2; do
	in_pod b "$PYTHON" scripts/demo/app.py $v 808$((v - 1)) 2>"$work/app-b-v$v.log" &
	pids+=($!)
done
for v in 1 2; do
	for _ in $(seq 50); do in_pod b curl -sf http://127.0.0.1:808$((v - 1))/ >/dev/null && break; sleep 0.1; done
	echo "  :808$((v - 1)) answers: $(in_pod b curl -s http://127.0.0.1:808$((v - 1))/)"
done

step "control plane for pod B: an ADS server (test/controlplane, Envoy's own protos) on 127.0.0.1:15010"
echo "It serves scripts/demo/xds-pod-b.json: the inbound listener (mTLS, RBAC, HTTP with routes"
echo "over RDS), clusters app-v1 and app-v2, and the routes inbound|8080: app-v1 100, app-v2 0."
in_pod b node test/controlplane/server.js --ads-port 15010 --control-port 15011 \
	--snapshot "$work/xds-pod-b.json" >"$work/controlplane.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/controlplane.log" && break; sleep 0.1; done
cat "$work/controlplane.log"

step "sidecars: skiff run as UID 1337 in each pod"
echo "A (scripts/demo/pod-a.yaml): :15001 http_connection_manager -> cluster pod-b, HTTP/2 over mTLS"
echo "B (scripts/demo/pod-b.yaml): everything from the control plane (LDS, CDS, RDS)"
for pod in a b; do
	in_pod $pod setpriv --reuid=1337 --regid=1337 --clear-groups \
		"$SKIFF" run -c "$work/pod-$pod.yaml" --concurrency 1 \
		>"$work/access-$pod.log" 2>"$work/skiff-$pod.log" &
	pids+=($!)
done
wait_stat b xds.rds.acks 1 # B's inbound listener waits for its routes
for pod in a b; do
	for _ in $(seq 50); do
		in_pod $pod curl -sf http://127.0.0.1:15000/ready >/dev/null && break
		sleep 0.1
	done
	echo "pod $pod: $(in_pod $pod curl -s http://127.0.0.1:15000/ready)"
done

step "pod A's app: curl $URL (three times; plain HTTP/1.1, captured by BPF)"
for _ in 1 2 3; do in_pod a curl -sS $URL; done
echo "pod B's app saw the requests come from its sidecar (127.0.0.6):"
tail -n 3 "$work/app-b-v1.log"

# The route configuration inbound|8080 with app-v1's and app-v2's weights,
# pushed through the control plane's API (POST /snapshot replaces the routes
# and pushes them to sidecar B).
push_weights() {
	in_pod b curl -sf -o /dev/null -X POST -H 'content-type: application/json' \
		http://127.0.0.1:15011/snapshot -d @- <<-EOF
	{"routes": {"inbound|8080": {"name": "inbound|8080", "virtual_hosts": [{"name": "pod-b",
	  "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"weighted_clusters":
	  {"clusters": [{"name": "app-v1", "weight": $1}, {"name": "app-v2", "weight": $2}]}}}]}]}}}
	EOF
}

step "canary over xDS: version 2 at 0 % -> 50 % -> 100 %, while pod A's app keeps calling"
load=$work/load.log
echo "app-v1 100, app-v2 0" >"$load"
in_pod a bash -c 'while [ ! -e "$1.stop" ]; do
	if out=$(curl -sf -m 2 "$2"); then echo "ok $out"; else echo "FAILED: curl exit $?"; fi >>"$1"
done' load "$load" "$URL" &
loop=$!
pids+=("$loop")
sleep 2
acks=1
for v2 in 50 100; do
	echo "(push in flight)" >>"$load"
	push_weights $((100 - v2)) $v2
	acks=$((acks + 1))
	wait_stat b xds.rds.acks $acks
	echo "app-v1 $((100 - v2)), app-v2 $v2" >>"$load" # applied and ACKed
	echo "  pushed app-v2 $v2 %: sidecar B applied and ACKed it"
	sleep 2
done
touch "$load.stop"
wait $loop
echo "requests of the loop (each a new curl), by route configuration in force:"
# Lines of the log are answers ("ok ...", "FAILED ...") or the name of the
# stage that starts there: one summary line per stage.
awk '!/^(ok|FAILED)/ { name[++n] = $0; next }
	{ total[n]++ } /^FAILED/ { failed[n]++ } /version 1/ { v1[n]++ } /version 2/ { v2[n]++ }
	END { for (i = 1; i <= n; i++) if (total[i])
		printf "  %-22s %4d requests: %4d version 1, %4d version 2, %d failed\n",
			name[i] ":", total[i], v1[i], v2[i], failed[i] }' "$load"
if grep -q '^FAILED' "$load"; then
	echo "demo: some requests failed during the route change:" >&2
	grep '^FAILED' "$load" | first 5 >&2
	exit 1
fi
echo "pod A's app now (three times):"
for _ in 1 2 3; do in_pod a curl -sS $URL; done
echo "ACKs the control plane recorded:"
in_pod b curl -s http://127.0.0.1:15011/acks | "$PYTHON" -c '
import json, sys
for a in json.load(sys.stdin):
    print("  %-8s %-22s version %s" % ("ACK" if a["ack"] else "NACK", a["type_url"].rsplit(".", 1)[1], a["version_info"]))'

step "pod A's sidecar (/stats): HTTP/1.1 from the app, HTTP/2 over mTLS to pod B, few connections for many requests"
in_pod a curl -s http://127.0.0.1:15000/stats |
	grep -E '15001\.downstream_cx_(total|http1_total):|cluster\.pod-b\.(upstream_cx_total|upstream_cx_http2_total|ssl\.handshake|upstream_rq_total):'
step "pod B's sidecar (/stats): inbound HTTP/2 over mTLS, authorized by RBAC"
in_pod b curl -s http://127.0.0.1:15000/stats |
	grep -E '15006\.(downstream_cx_total|downstream_cx_http2_total|ssl\.handshake|rbac\.allowed):|cluster\.app-v[12]\.upstream_rq_total:'

step "Istio's request metrics (Prometheus, :15090/stats/prometheus), both sides of the mTLS hop"
for pod in a b; do
	echo "pod $pod:"
	in_pod $pod curl -s http://127.0.0.1:15090/stats/prometheus | grep '^istio_requests_total{' |
		sed -E 's/[a-z_]+="(unknown)?",?//g'
done
echo "(labels left out: those still 'unknown' or empty, as no control plane has named the workloads)"

sleep 0.3 # access log lines are flushed every 100 ms
step "access logs, one JSON line per request (some fields): A saw B's identity, B saw A's"
tail -n 1 "$work/access-a.log" |
	log_fields method path protocol response_code upstream_cluster upstream_host upstream_peer_uri_san
tail -n 1 "$work/access-b.log" |
	log_fields method path protocol response_code upstream_cluster downstream_peer_uri_san

step "a connection that skips pod A's sidecar (UID 1337 is never captured) is plaintext: pod B refuses it"
in_pod a setpriv --reuid=1337 --regid=1337 --clear-groups curl -s -m 2 $URL ||
	echo "curl failed, as it should"
in_pod b curl -s http://127.0.0.1:15000/stats | grep -E '15006\.downstream_cx_plaintext_refused'

step "per-flow counters in the kernel: bpftool reads the pinned map, field names from BTF"
bpftool map dump pinned /sys/fs/bpf/skiff/demo-a/flows | first 24
step "the same table for people: skiff flows --instance demo-a"
echo "(each curl is an outbound flow, app -> sidecar A; one upstream flow, sidecar A -> pod B, carried"
echo " them all; a short upstream flow with nothing back is the refused plaintext attempt)"
"$SKIFF" flows --instance demo-a | awk 'NR == 1 || /^upstream/ || (/^outbound/ && n++ < 5)'

step "done"
