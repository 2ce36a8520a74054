#!/usr/bin/env bash
# The demo of skiff's main job, end to end as far as it is built: two pods,
# each with an app and a skiff sidecar; eBPF capture (no iptables); the app in
# pod A calling the app in pod B through both sidecars, mutual TLS with
# SPIFFE identities between them; an xDS push that moves pod B's traffic to a
# new version of its app; and the per-flow counters through bpftool and
# `skiff flows`. A "pod" is a network namespace plus a cgroup; the two are
# joined by a veth pair, with addresses from the documentation range
# 192.0.2.0/24 that exist only inside them. Needs root; cleans up after
# itself.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIFF=$PWD/build/skiff
POD_A=192.0.2.2 POD_B=192.0.2.1
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
chown -R 1337:1337 "$work/certs" # the sidecar's UID reads its own key

step "control plane for pod B: an ADS server (test/controlplane, Envoy's own protos) on 127.0.0.1:15010"
in_pod b node test/controlplane/server.js --ads-port 15010 --control-port 15011 \
	--snapshot scripts/demo/xds-pod-b.json >"$work/controlplane.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$work/controlplane.log" && break; sleep 0.1; done
cat "$work/controlplane.log"

step "sidecars: skiff run as UID 1337 in each pod (A: outbound mTLS, B: inbound strict mTLS + RBAC, clusters from xDS)"
for pod in a b; do
	in_pod $pod setpriv --reuid=1337 --regid=1337 --clear-groups \
		"$SKIFF" run -c "$work/pod-$pod.yaml" --concurrency 1 \
		>"$work/access-$pod.log" 2>"$work/skiff-$pod.log" &
	pids+=($!)
done
for pod in a b; do
	for _ in $(seq 50); do
		in_pod $pod curl -sf http://127.0.0.1:15000/ready >/dev/null && break
		sleep 0.1
	done
	if ! in_pod $pod curl -sf http://127.0.0.1:15000/ready >/dev/null; then
		echo "pod $pod's sidecar is not ready; its log:" >&2
		cat "$work/skiff-$pod.log" >&2
		exit 1
	fi
	echo "pod $pod: $(in_pod $pod curl -s http://127.0.0.1:15000/ready)"
done

step "apps in pod B: version 1 on :8080 and version 2 on :8081"
for v in 1 2; do
	mkdir -p "$work/www-v$v"
	echo "hello from pod B, version $v" >"$work/www-v$v/index.html"
	in_pod b python3 -m http.server 808$((v - 1)) --bind 0.0.0.0 --directory "$work/www-v$v" \
		>"$work/app-b-v$v.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 50); do in_pod b curl -sf http://127.0.0.1:808$((v - 1))/ >/dev/null 2>&1 && break; sleep 0.1; done
done
for _ in $(seq 50); do # the inbound listener waits for its cluster from xDS
	in_pod b curl -s http://127.0.0.1:15000/stats | grep -q 'xds.eds.acks: [1-9]' && break
	sleep 0.1
done

step "app in pod A: curl http://$POD_B:8080/ (three times)"
for _ in 1 2 3; do in_pod a curl -s http://$POD_B:8080/; done

step "pod B's app saw the requests come from its sidecar (127.0.0.6):"
tail -3 "$work/app-b-v1.log"

step "xDS push: the control plane moves pod B's inbound cluster to version 2 (EDS)"
in_pod b curl -s -X POST -H 'content-type: application/json' http://127.0.0.1:15011/snapshot \
	-d '{"endpoints": {"inbound|8080": {"cluster_name": "inbound|8080", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 8081}}}}]}]}}}'
echo
for _ in $(seq 50); do
	in_pod b curl -s http://127.0.0.1:15000/stats | grep -q 'xds.eds.acks: [2-9]' && break
	sleep 0.1
done
for _ in 1 2 3; do in_pod a curl -s http://$POD_B:8080/; done
echo "ACKs the control plane recorded:"
in_pod b curl -s http://127.0.0.1:15011/acks | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    print("  %-8s %-22s version %s" % ("ACK" if a["ack"] else "NACK", a["type_url"].rsplit(".", 1)[1], a["version_info"]))'


step "pod A's sidecar: outbound counters, mTLS handshakes and resumed sessions (/stats):"
in_pod a curl -s http://127.0.0.1:15000/stats |
	grep -E '15001\.downstream_cx_total|outbound-mtls\.(upstream_cx_total|ssl\.handshake|ssl\.session_reused)'
step "pod B's sidecar: inbound mTLS and authorization (Prometheus on :15090):"
in_pod b curl -s http://127.0.0.1:15090/stats/prometheus |
	grep -E '^envoy_listener_(ssl_handshake|ssl_session_reused|rbac_allowed|downstream_cx_total)\{.*15006'

step "a connection that skips pod A's sidecar (UID 1337 is never captured) is plaintext: pod B refuses it"
in_pod a setpriv --reuid=1337 --regid=1337 --clear-groups curl -s -m 2 http://$POD_B:8080/ ||
	echo "curl failed, as it should"
in_pod b curl -s http://127.0.0.1:15000/stats | grep -E '15006\.downstream_cx_plaintext_refused'

step "per-flow counters in the kernel: bpftool reads the pinned map, field names from BTF"
bpftool map dump pinned /sys/fs/bpf/skiff/demo-a/flows | first 24
step "the same table for people: skiff flows --instance demo-a"
"$SKIFF" flows --instance demo-a | first 8

sleep 0.3 # access log lines are flushed every 100 ms
step "access logs (one JSON line per flow): pod A saw pod B's address, pod B saw pod A's identity"
head -n 1 "$work/access-a.log"
head -n 1 "$work/access-b.log"
step "done (still to come as they land: HTTP/2 between the sidecars)"
