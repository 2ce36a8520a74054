#!/usr/bin/env bash
# Benchmarks of the BPF datapath (issue 3), in one run, as root:
#
#  1. the app<->sidecar hop: the same captured connection with sk_msg
#     redirect (--sockmap on) and over plain loopback TCP (--sockmap off):
#     request/response latency p50/p99 at 1 KB, 16 KB and 1 MB, and echo
#     throughput; sk_msg twice, with the default 1 MiB redirect window (bulk
#     falls back to TCP) and with the window out of the way (pure sk_msg);
#  2. end to end through `skiff run`: new connections per second, captured by
#     BPF (sockmap off and on) against iptables REDIRECT.
#
# Everything runs in a network namespace and cgroup of its own, removed at
# exit. The load generator is C (below), built into $BUILD/bench.
#   BUILD=build bash test/bench/bpf_bench.sh      ITERS=2000 SECONDS_E2E=5 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SKIFF=${SKIFF:-$BUILD/skiff}
SKIFF_CLI=${SKIFF_BPF_CLI:-$SKIFF}
ITERS=${ITERS:-2000}
SECONDS_E2E=${SECONDS_E2E:-5}
ROUNDS=${ROUNDS:-3}
TAG=$$
NS=skbench$TAG
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CG=$CGROOT/skiff-bench-$TAG
INST=bench$TAG
PIDS=()

[ "$(id -u)" -eq 0 ] || { echo "bpf_bench: needs root" >&2; exit 1; }
[ -n "$CGROOT" ] || { echo "bpf_bench: cgroup v2 not mounted" >&2; exit 1; }

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	"$SKIFF_CLI" bpf detach --instance "$INST" >/dev/null 2>&1 || true
	ip netns del "$NS" 2>/dev/null || true
	rmdir "$CG" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

mkdir -p "$BUILD/bench"
TOOL=$BUILD/bench/skiff_bpf_loadgen
cat > "$BUILD/bench/skiff_bpf_loadgen.c" <<'EOF'
/* Load generator for bpf_bench.sh. Non-blocking sockets read after poll(),
 * so a sockmap socket's spurious EAGAIN (docs/bpf.md) only costs a retry.
 *   server PORT             echo every connection until EOF (thread each)
 *   rr HOST PORT SIZE N     one connection, N echoes of SIZE bytes: p50 p99 us
 *   stream HOST PORT MB     one connection, echo MB megabytes: MB/s each way
 *   conns HOST PORT SECS    new connection per 100-byte echo: connections/s */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	poll(&p, 1, 10000);
}

static int send_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EAGAIN) { wait_fd(fd, POLLOUT); continue; }
		if (r <= 0) return -1;
		b += r; n -= (size_t)r;
	}
	return 0;
}

static ssize_t recv_some(int fd, char *b, size_t n)
{
	for (;;) {
		ssize_t r = recv(fd, b, n, 0);
		if (r < 0 && errno == EAGAIN) { wait_fd(fd, POLLIN); continue; }
		return r;
	}
}

static int recv_all(int fd, char *b, size_t n)
{
	while (n) {
		ssize_t r = recv_some(fd, b, n);
		if (r <= 0) return -1;
		b += r; n -= (size_t)r;
	}
	return 0;
}

static void nonblock(int fd)
{
	int one = 1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void *echo(void *arg)
{
	int fd = (int)(long)arg;
	static __thread char buf[1 << 20];
	ssize_t r;
	nonblock(fd);
	while ((r = recv_some(fd, buf, sizeof(buf))) > 0)
		if (send_all(fd, buf, (size_t)r) < 0) break;
	close(fd);
	return NULL;
}

static int dial(const char *host, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, host, &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) { perror("connect"); exit(1); }
	nonblock(fd);
	return fd;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct pump { int fd; size_t total; };

static void *pump_send(void *arg)
{
	struct pump *p = arg;
	static char buf[1 << 16];
	for (size_t sent = 0; sent < p->total; sent += sizeof(buf))
		send_all(p->fd, buf, sizeof(buf));
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server")) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
		int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) || listen(l, 4096)) { perror("listen"); return 1; }
		for (;;) {
			pthread_t t;
			int c = accept(l, NULL, NULL);
			if (c < 0) continue;
			pthread_create(&t, NULL, echo, (void *)(long)c);
			pthread_detach(t);
		}
	}
	if (argc >= 6 && !strcmp(argv[1], "rr")) {
		size_t size = strtoul(argv[4], NULL, 10);
		int n = atoi(argv[5]), fd = dial(argv[2], atoi(argv[3]));
		char *buf = malloc(size);
		double *lat = malloc(sizeof(double) * n);
		memset(buf, 'x', size);
		for (int i = 0; i < n; i++) {
			double t0 = now();
			if (send_all(fd, buf, size) || recv_all(fd, buf, size)) { fprintf(stderr, "rr: io error\n"); return 1; }
			lat[i] = (now() - t0) * 1e6;
		}
		qsort(lat, n, sizeof(double), cmp);
		printf("%.1f %.1f\n", lat[n / 2], lat[(int)(n * 0.99)]);
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "stream")) {
		struct pump p = { dial(argv[2], atoi(argv[3])), strtoul(argv[4], NULL, 10) << 20 };
		static char buf[1 << 16];
		pthread_t t;
		double t0 = now();
		size_t got = 0;
		pthread_create(&t, NULL, pump_send, &p);
		while (got < p.total) {
			ssize_t r = recv_some(p.fd, buf, sizeof(buf));
			if (r <= 0) { fprintf(stderr, "stream: short\n"); return 1; }
			got += (size_t)r;
		}
		pthread_join(t, NULL);
		printf("%.0f\n", (double)p.total / (1 << 20) / (now() - t0));
		return 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "conns")) {
		double end = now() + atof(argv[4]), t0 = now();
		long n = 0, failed = 0;
		char buf[100] = { 0 };
		while (now() < end) {
			int fd = dial(argv[2], atoi(argv[3]));
			if (send_all(fd, buf, sizeof(buf)) || recv_all(fd, buf, sizeof(buf)))
				failed++;
			else
				n++;
			close(fd);
		}
		if (failed)
			fprintf(stderr, "conns: %ld of %ld connections failed\n", failed, n + failed);
		printf("%.0f\n", n / (now() - t0));
		return 0;
	}
	fprintf(stderr, "usage: server PORT | rr HOST PORT SIZE N | stream HOST PORT MB | conns HOST PORT SECS\n");
	return 2;
}
EOF
cc -O2 -pthread -o "$TOOL" "$BUILD/bench/skiff_bpf_loadgen.c"

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.99.0.1/32 dev lo
# New connections by the thousand per second: reuse TIME_WAIT ports and use
# the whole port range (both per namespace), or the proxy runs out of ports.
nsenter --net=/run/netns/"$NS" sysctl -qw net.ipv4.tcp_tw_reuse=1 \
	net.ipv4.ip_local_port_range="1024 65535"
mkdir "$CG"
# in_pod CMD...: CMD in the bench cgroup and netns
in_pod() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" nsenter --net=/run/netns/"$NS" "$@"; }
# exec: $! is then the tool itself, which cleanup can stop by its pid
bg() { (exec sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" nsenter --net=/run/netns/"$NS" "$@") &
	PIDS+=($!); sleep 0.3; }
stop_bg() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
attach() { "$SKIFF_CLI" bpf attach --instance "$INST" --cgroup "$CG" --netns /run/netns/"$NS" \
	--exclude-inbound-ports 8080,15020,15021,15090 "$@" >/dev/null; }
detach() { "$SKIFF_CLI" bpf detach --instance "$INST" >/dev/null; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print (NR ? v[int((NR + 1) / 2)] : 0) }'; }
setup_hop() {
	case $1 in
	tcp) attach --sockmap off ;;
	sockmap) attach --sockmap on ;;
	sockmap-nowindow) attach --sockmap on --redirect-window 1099511627776 ;;
	esac
}

# The machine may be shared: modes are interleaved, ROUNDS times, and each
# figure is the median over the rounds.
echo "== 1. app<->sidecar hop: one captured connection, the bench tool as the proxy on 15001 (median of $ROUNDS rounds)"
HOP_MODES="tcp sockmap sockmap-nowindow"
declare -A R
for round in $(seq "$ROUNDS"); do
	for mode in $HOP_MODES; do
		setup_hop "$mode"
		bg "$TOOL" server 15001
		for size in 1024 16384 1048576; do
			n=$ITERS; [ "$size" -eq 1048576 ] && n=$((ITERS / 10 + 1))
			read -r p50 p99 < <(in_pod "$TOOL" rr 10.99.0.1 8080 "$size" "$n")
			R[$mode-$size-p50]+=" $p50" R[$mode-$size-p99]+=" $p99"
		done
		R[$mode-mbs]+=" $(in_pod "$TOOL" stream 10.99.0.1 8080 1024)"
		stop_bg
		detach
	done
done
printf '%-18s %10s %10s %10s %10s %10s %10s %8s\n' mode 1K-p50us 1K-p99us 16K-p50us 16K-p99us 1M-p50us 1M-p99us MB/s
declare -A M
for mode in $HOP_MODES; do
	row=()
	for key in 1024-p50 1024-p99 16384-p50 16384-p99 1048576-p50 1048576-p99 mbs; do
		M[$mode-$key]=$(echo "${R[$mode-$key]}" | median)
		row+=("${M[$mode-$key]}")
	done
	printf '%-18s %10s %10s %10s %10s %10s %10s %8s\n' "$mode" "${row[@]}"
done
echo "ratios sockmap / tcp (latency below 1 and throughput above 1 = sk_msg better):"
for size in 1024 16384 1048576; do
	echo "  p50 $size B: $(ratio "${M[sockmap-$size-p50]}" "${M[tcp-$size-p50]}")  p99: $(ratio "${M[sockmap-$size-p99]}" "${M[tcp-$size-p99]}")   without window: p50 $(ratio "${M[sockmap-nowindow-$size-p50]}" "${M[tcp-$size-p50]}")  p99 $(ratio "${M[sockmap-nowindow-$size-p99]}" "${M[tcp-$size-p99]}")"
done
echo "  throughput: $(ratio "${M[sockmap-mbs]}" "${M[tcp-mbs]}")   without window: $(ratio "${M[sockmap-nowindow-mbs]}" "${M[tcp-mbs]}")"

echo
echo "== 2. end to end through skiff run: new connection per 100-byte echo, ${SECONDS_E2E}s (median of $ROUNDS rounds)"
[ -x "$SKIFF" ] || { echo "no $SKIFF: skipped"; exit 0; }
E2E_MODES="iptables bpf bpf-sockmap"
declare -A C
for round in $(seq "$ROUNDS"); do
	for mode in $E2E_MODES; do
		case $mode in
		iptables)
			nsenter --net=/run/netns/"$NS" iptables -t nat -A OUTPUT -p tcp -d 10.99.0.1 --dport 8080 \
				-m owner ! --uid-owner 1337 -j REDIRECT --to-ports 15001 ;;
		bpf) attach --sockmap off ;;
		bpf-sockmap) attach --sockmap on ;;
		esac
		bg "$TOOL" server 8080
		bg setpriv --reuid=1337 --regid=1337 --clear-groups "$SKIFF" run --concurrency 2 \
			--log-level error --prometheus-port 0 --health-port 0 >/dev/null
		sleep 0.5
		C[$mode]+=" $(in_pod "$TOOL" conns 10.99.0.1 8080 "$SECONDS_E2E")"
		stop_bg
		if [ "$mode" = iptables ]; then
			nsenter --net=/run/netns/"$NS" iptables -t nat -F OUTPUT
		else
			detach
		fi
	done
done
for mode in $E2E_MODES; do
	M[$mode]=$(echo "${C[$mode]}" | median)
	echo "  $mode: ${M[$mode]} connections/s  (rounds:${C[$mode]})"
done
echo "ratios: bpf / iptables $(ratio "${M[bpf]}" "${M[iptables]}");  bpf+sockmap / iptables $(ratio "${M[bpf-sockmap]}" "${M[iptables]}")"
