/*
 * tcpload: the load generator behind `make bench`. One thread, one epoll loop,
 * no dependencies. Traffic goes to 127.0.0.1 only.
 *
 *   tcpload -m conn|rr|stream -p PORT [-c CONC] [-d SECS] [-w WARMUP]
 *           [-s SIZE] [-P PID,PID..] [-L PID,PID..] [-C CPU]
 *
 *   conn    CONC clients, each: connect, send SIZE bytes, read the SIZE-byte
 *           echo, close; again. One op = one connection. Latency is from
 *           socket() to the last byte of the echo.
 *   rr      CONC persistent connections, each: send SIZE bytes, read the
 *           SIZE-byte echo; again. One op = one request. Latency is from the
 *           first byte sent to the last byte of the echo.
 *   stream  CONC connections writing SIZE-byte chunks as fast as the path
 *           takes them, one way; the backend discards (see bench_proto.h).
 *           One op = one chunk written; throughput is bytes written.
 *
 * The workload runs WARMUP seconds unmeasured, then SECS measured. At both
 * edges of the measured window tcpload samples utime+stime of the -P
 * processes (the proxy under test; /proc/PID/stat sums all its threads) and
 * of itself plus the -L processes (the load side), so CPU cost lines up with
 * exactly the requests counted. With -C, the proxy's core's busy and softirq
 * shares over the window are reported too (from /proc/stat).
 *
 * Prints one line of key=value pairs on stdout; exit status 1 if nothing
 * completed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PROG "tcpload"
#include "bench_proto.h"
#include "bench_sample.h"

#define MAX_CONC   4096

enum mode { MODE_CONN, MODE_RR, MODE_STREAM };

enum state {
	ST_IDLE,       /* no socket; (re)started at the top of the loop */
	ST_CONNECTING,
	ST_SENDING,    /* conn/rr: request partly sent; stream: magic partly sent */
	ST_RECEIVING,
	ST_STREAMING,
};

struct slot {
	int fd;
	enum state state;
	size_t off;
	uint64_t t0_ns;
};

static enum mode mode = MODE_CONN;
static int port;
static int conc = 32;
static double secs = 10, warmup = 1;
static size_t size;
static struct pidset proxy_pids, load_pids;
static int proxy_core = -1;

static struct slot slots[MAX_CONC];
static char *req, *rbuf;
static size_t rbuf_len;
static int ep;

/* counters of the measured window; reset when it opens */
static uint64_t ops, bytes, errors, lifetime_ops, lifetime_errors;

static void slot_fail(struct slot *s)
{
	if (measuring)
		errors++;
	lifetime_errors++;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = ST_IDLE;
}

static int watch(struct slot *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)(s - slots) };
	return epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void slot_start(struct slot *s)
{
	s->t0_ns = now_ns();
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		slot_fail(s);
		return;
	}
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(s - slots) };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		slot_fail(s);
		return;
	}
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		slot_fail(s);
		return;
	}
	/* Completion, immediate or not, is reported as EPOLLOUT. */
	s->state = ST_CONNECTING;
}

static void begin_request(struct slot *s);

/* conn/rr: push the rest of the request; then wait for the echo. */
static void send_request(struct slot *s)
{
	while (s->off < size) {
		ssize_t n = send(s->fd, req + s->off, size - s->off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (watch(s, EPOLLOUT) < 0)
					slot_fail(s);
				return;
			}
			slot_fail(s);
			return;
		}
		s->off += (size_t)n;
	}
	s->state = ST_RECEIVING;
	s->off = 0;
	if (watch(s, EPOLLIN) < 0)
		slot_fail(s);
}

static void begin_request(struct slot *s)
{
	s->state = ST_SENDING;
	s->off = 0;
	send_request(s);
}

static void stream_out(struct slot *s)
{
	if (s->state == ST_SENDING) {
		while (s->off < BENCH_SINK_MAGIC_LEN) {
			ssize_t n = send(s->fd, BENCH_SINK_MAGIC + s->off,
					 BENCH_SINK_MAGIC_LEN - s->off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return;
				slot_fail(s);
				return;
			}
			s->off += (size_t)n;
		}
		s->state = ST_STREAMING;
	}
	/* A bounded number of writes per wakeup keeps several streams fair. */
	for (int round = 0; round < 64; round++) {
		ssize_t n = send(s->fd, req, size, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			slot_fail(s);
			return;
		}
		lifetime_ops++;
		if (measuring) {
			bytes += (uint64_t)n;
			ops++;
		}
	}
}

static void on_connected(struct slot *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		slot_fail(s);
		return;
	}
	if (mode == MODE_STREAM) {
		s->state = ST_SENDING;
		s->off = 0;
		stream_out(s);
		return;
	}
	if (mode == MODE_RR)
		s->t0_ns = now_ns(); /* rr latency excludes the handshake */
	begin_request(s);
}

static void on_readable(struct slot *s)
{
	for (;;) {
		ssize_t n = recv(s->fd, rbuf, size - s->off < rbuf_len ? size - s->off : rbuf_len, 0);
		if (n == 0) {
			slot_fail(s); /* closed before the whole echo came back */
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			slot_fail(s);
			return;
		}
		s->off += (size_t)n;
		if (s->off < size)
			continue;
		uint64_t t = now_ns();
		record(t - s->t0_ns);
		lifetime_ops++;
		if (measuring) {
			ops++;
			bytes += size;
		}
		if (mode == MODE_CONN) {
			close(s->fd);
			s->fd = -1;
			s->state = ST_IDLE;
			slot_start(s);
		} else {
			s->t0_ns = t;
			begin_request(s);
		}
		return;
	}
}

static void on_event(struct slot *s, uint32_t events)
{
	switch (s->state) {
	case ST_CONNECTING:
		on_connected(s);
		break;
	case ST_SENDING:
		if (mode == MODE_STREAM)
			stream_out(s);
		else
			send_request(s);
		break;
	case ST_STREAMING:
		stream_out(s);
		break;
	case ST_RECEIVING:
		on_readable(s);
		break;
	case ST_IDLE:
		break;
	}
	(void)events;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s -m conn|rr|stream -p PORT [-c CONC] [-d SECS] [-w WARMUP]\n"
		"          [-s SIZE] [-P PID,..] [-L PID,..] [-C CPU]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "m:p:c:d:w:s:P:L:C:")) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "conn") == 0)
				mode = MODE_CONN;
			else if (strcmp(optarg, "rr") == 0)
				mode = MODE_RR;
			else if (strcmp(optarg, "stream") == 0)
				mode = MODE_STREAM;
			else
				usage(argv[0]);
			break;
		case 'p': port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 's': size = (size_t)strtoul(optarg, NULL, 10); break;
		case 'P': parse_pids(&proxy_pids, optarg); break;
		case 'L': parse_pids(&load_pids, optarg); break;
		case 'C': proxy_core = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (port <= 0 || port > 65535 || conc < 1 || conc > MAX_CONC || secs <= 0 || warmup < 0)
		usage(argv[0]);
	if (size == 0)
		size = mode == MODE_STREAM ? 16384 : 64;
	signal(SIGPIPE, SIG_IGN);

	req = malloc(size);
	rbuf_len = size < 65536 ? size : 65536;
	rbuf = malloc(rbuf_len);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (req == NULL || rbuf == NULL || ep < 0) {
		perror("tcpload: setup");
		return 1;
	}
	memset(req, BENCH_FILL, size);

	load_pids.pid[load_pids.n++] = getpid();
	long hz = sysconf(_SC_CLK_TCK);

	for (int i = 0; i < conc; i++) {
		slots[i].fd = -1;
		slot_start(&slots[i]);
	}

	uint64_t t_begin = now_ns();
	uint64_t t_open = t_begin + (uint64_t)(warmup * 1e9);
	uint64_t t_close = t_open + (uint64_t)(secs * 1e9);
	uint64_t win_start = 0, win_end = 0, proxy0 = 0, proxy1 = 0, load0 = 0, load1 = 0;
	uint64_t busy0 = 0, busy1 = 0, sirq0 = 0, sirq1 = 0;
	struct epoll_event evs[512];

	for (;;) {
		uint64_t t = now_ns();
		if (!measuring && t >= t_open) {
			memset(hist, 0, sizeof(hist));
			ops = bytes = errors = 0;
			proxy0 = set_ticks(&proxy_pids, "proxy");
			load0 = set_ticks(&load_pids, "load");
			core_ticks(proxy_core, &busy0, &sirq0);
			win_start = now_ns();
			measuring = true;
		}
		if (measuring && t >= t_close) {
			win_end = now_ns();
			proxy1 = set_ticks(&proxy_pids, "proxy");
			load1 = set_ticks(&load_pids, "load");
			core_ticks(proxy_core, &busy1, &sirq1);
			break;
		}
		/* Nothing is getting through (proxy down or refusing): give up. */
		if (lifetime_ops == 0 && lifetime_errors > 2000) {
			fprintf(stderr, "tcpload: %" PRIu64 " errors, no completed op; "
				"is anything listening on 127.0.0.1:%d?\n", lifetime_errors, port);
			return 1;
		}
		int idle = 0;
		for (int i = 0; i < conc; i++) {
			if (slots[i].state == ST_IDLE) {
				slot_start(&slots[i]);
				idle += slots[i].state == ST_IDLE;
			}
		}
		uint64_t deadline = measuring ? t_close : t_open;
		int timeout_ms = (int)((deadline - t) / 1000000) + 1;
		if (timeout_ms > 50)
			timeout_ms = 50;
		if (idle > 0)
			timeout_ms = 1; /* slots failing to start: retry soon, not in a spin */
		int n = epoll_wait(ep, evs, 512, timeout_ms);
		if (n < 0 && errno != EINTR) {
			perror("tcpload: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++)
			on_event(&slots[evs[i].data.u32], evs[i].events);
	}

	double wall = (double)(win_end - win_start) / 1e9;
	double proxy_us = (double)(proxy1 - proxy0) * 1e6 / (double)hz;
	double load_us = (double)(load1 - load0) * 1e6 / (double)hz;
	double mb = (double)bytes / 1e6;
	double tick_pct = 100.0 / (double)hz / wall;
	const char *mname = mode == MODE_CONN ? "conn" : mode == MODE_RR ? "rr" : "stream";
	printf("mode=%s conc=%d size=%zu secs=%.3f ops=%" PRIu64 " ops_per_s=%.1f"
	       " bytes=%" PRIu64 " mb_per_s=%.1f p50_us=%.0f p99_us=%.0f errors=%" PRIu64
	       " proxy_cpu_us=%.0f proxy_cpu_pct=%.1f load_cpu_pct=%.1f"
	       " core_busy_pct=%.1f core_softirq_pct=%.1f"
	       " cpu_us_per_op=%.3f cpu_us_per_mb=%.1f\n",
	       mname, conc, size, wall, ops, (double)ops / wall, bytes, mb / wall,
	       mode == MODE_STREAM ? 0 : percentile(0.50),
	       mode == MODE_STREAM ? 0 : percentile(0.99), errors,
	       proxy_us, 100.0 * proxy_us / 1e6 / wall, 100.0 * load_us / 1e6 / wall,
	       (double)(busy1 - busy0) * tick_pct, (double)(sirq1 - sirq0) * tick_pct,
	       ops ? proxy_us / (double)ops : 0, mb > 0 ? proxy_us / mb : 0);
	return ops > 0 ? 0 : 1;
}
