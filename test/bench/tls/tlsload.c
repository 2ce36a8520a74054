/*
 * tlsload: the mTLS load generator of test/bench/tls. One thread, one epoll
 * loop, OpenSSL 3. Traffic goes to 127.0.0.1 only.
 *
 *   tlsload -m full|resume|bulk -p PORT -e CERT -k KEY -r CA [-c CONC] [-d SECS]
 *           [-w WARMUP] [-s SIZE] [-a ALPN,..] [-x CIPHERSUITES] [-H] [-n]
 *           [-P PID,..] [-L PID,..] [-C CPU]
 *
 *   full    CONC clients, each: connect, full TLS 1.3 handshake with a client
 *           certificate, one request/response, close_notify, close; again.
 *           One op = one connection (one full handshake).
 *   resume  the same, but every connection offers the session (TLS 1.3
 *           ticket) the slot's previous connection received: after the first,
 *           every handshake is a resumption unless the server refuses it.
 *           `resumed_pct` says how many were.
 *   bulk    CONC connections (default 1), one handshake each, then SIZE-byte
 *           TLS writes as fast as the path takes them, one way; the backend
 *           discards. Throughput is payload bytes written.
 *
 * Request/response: without -H, SIZE (default 64) bytes echoed by a raw TCP
 * echo backend; bulk starts with BENCH_SINK_MAGIC so echo_backend discards.
 * With -H (for HTTP proxies such as nghttpx): one `GET / HTTP/1.1` per
 * connection, answered by a 200 with a Content-Length body; bulk is one POST
 * with a huge Content-Length whose body is streamed.
 *
 * TLS: 1.3 only, the server's chain verified against -r (SPIFFE ids are not
 * host names, so no name check; -n skips verification), ALPN offered from -a
 * (default skiff-tcp), TLS 1.3 ciphersuites from -x (default
 * TLS_AES_128_GCM_SHA256 only, so every proxy runs the same AEAD).
 *
 * The workload runs WARMUP seconds unmeasured, then SECS measured; at both
 * edges of the measured window utime+stime of the -P processes (the proxy:
 * /proc/PID/stat sums all its threads) and of tlsload plus the -L processes
 * (the load side) are sampled, and with -C the busy share of that CPU, as
 * test/bench/tcpload.c does. One line of key=value pairs goes to stdout;
 * failures and the last error reason go to stderr. Exit 1 if nothing
 * completed.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define BENCH_PROG "tlsload"
#include "../bench_proto.h"
#include "../bench_sample.h"

#define MAX_CONC 1024
#define RBUF     8192

enum mode { MODE_FULL, MODE_RESUME, MODE_BULK };

enum state {
	ST_IDLE,
	ST_CONNECTING,
	ST_HANDSHAKE,
	ST_SENDING,   /* request (or bulk prefix) partly sent */
	ST_RECEIVING, /* response partly read */
	ST_STREAMING, /* bulk */
};

struct slot {
	int fd;
	SSL *ssl;
	SSL_SESSION *sess; /* resume: the session to offer next */
	enum state state;
	size_t off;
	uint64_t t0_ns;
	/* response: raw echo of `size` bytes, or an HTTP response */
	size_t got;        /* bytes of the response so far */
	size_t total;      /* whole response length once known, else 0 */
	size_t hlen;       /* HTTP: bytes buffered while looking for the header end */
	char hbuf[RBUF];
};

static enum mode mode = MODE_FULL;
static int port;
static int conc;
static double secs = 3, warmup = 0.5;
static size_t size;
static bool http, no_verify;
static const char *cert_file, *key_file, *ca_file;
static const char *alpn_list = "skiff-tcp";
static const char *ciphersuites = "TLS_AES_128_GCM_SHA256";
static struct pidset proxy_pids, load_pids;
static int proxy_core = -1;

static SSL_CTX *ctx;
static struct slot slots[MAX_CONC];
static char *req, *scratch;
static size_t req_len;   /* request (full/resume) */
static char *prefix;     /* bulk: what goes before the payload */
static size_t prefix_len;
static int ep;

static uint64_t ops, resumed, bytes, errors, lifetime_ops, lifetime_errors;
static char last_error[256];
static char neg_tls[32], neg_cipher[64], neg_group[32], neg_alpn[32];

/* ---- connections ----------------------------------------------------------------- */

static void note_error(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	if (e != 0) {
		char buf[200];
		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(last_error, sizeof(last_error), "%s: %s", what, buf);
	} else {
		snprintf(last_error, sizeof(last_error), "%s", what);
	}
	ERR_clear_error();
}

static void slot_close(struct slot *s)
{
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->state = ST_IDLE;
}

static void slot_fail(struct slot *s, const char *what)
{
	if (measuring)
		errors++;
	lifetime_errors++;
	note_error(what);
	/* A session that failed to resume is not offered again. */
	if (s->sess != NULL && s->state == ST_HANDSHAKE) {
		SSL_SESSION_free(s->sess);
		s->sess = NULL;
	}
	slot_close(s);
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
		slot_fail(s, "socket");
		return;
	}
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)(s - slots) };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		slot_fail(s, "epoll_ctl");
		return;
	}
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		slot_fail(s, "connect");
		return;
	}
	s->state = ST_CONNECTING;
}

/*
 * After an SSL call returned r <= 0: wait for what OpenSSL wants, or fail.
 * Returns false when the slot failed.
 */
static bool ssl_wait(struct slot *s, int r, const char *what)
{
	int err = SSL_get_error(s->ssl, r);
	switch (err) {
	case SSL_ERROR_WANT_READ:
		if (watch(s, EPOLLIN) == 0)
			return true;
		break;
	case SSL_ERROR_WANT_WRITE:
		if (watch(s, EPOLLOUT) == 0)
			return true;
		break;
	case SSL_ERROR_ZERO_RETURN: {
		char m[96];
		snprintf(m, sizeof(m), "%s: peer sent close_notify", what);
		slot_fail(s, m);
		return false;
	}
	case SSL_ERROR_SYSCALL: {
		char m[96];
		snprintf(m, sizeof(m), "%s: %s", what,
			 errno != 0 ? strerror(errno) : "peer closed the connection");
		slot_fail(s, m);
		return false;
	}
	default: {
		char m[160];
		long v = SSL_get_verify_result(s->ssl);
		if (v != X509_V_OK)
			snprintf(m, sizeof(m), "%s: server certificate: %s", what,
				 X509_verify_cert_error_string(v));
		else
			snprintf(m, sizeof(m), "%s", what);
		slot_fail(s, m);
		return false;
	}
	}
	slot_fail(s, "epoll_ctl");
	return false;
}

static void remember_negotiated(struct slot *s)
{
	if (neg_tls[0] != '\0')
		return;
	snprintf(neg_tls, sizeof(neg_tls), "%s", SSL_get_version(s->ssl));
	snprintf(neg_cipher, sizeof(neg_cipher), "%s", SSL_get_cipher_name(s->ssl));
	const char *g = SSL_group_to_name(s->ssl, SSL_get_negotiated_group(s->ssl));
	snprintf(neg_group, sizeof(neg_group), "%s", g != NULL ? g : "-");
	const unsigned char *a = NULL;
	unsigned int alen = 0;
	SSL_get0_alpn_selected(s->ssl, &a, &alen);
	snprintf(neg_alpn, sizeof(neg_alpn), "%.*s", alen ? (int)alen : 1,
		 alen ? (const char *)a : "-");
}

/* full/resume: one request/response done. */
static void op_done(struct slot *s)
{
	uint64_t t = now_ns();
	record(t - s->t0_ns);
	lifetime_ops++;
	bool reused = SSL_session_reused(s->ssl);
	if (measuring) {
		ops++;
		resumed += reused;
		bytes += s->got;
	}
	if (mode == MODE_RESUME) {
		/* TLS 1.3: the tickets came after the handshake, before the reply. */
		SSL_SESSION *n = SSL_get1_session(s->ssl);
		if (n != NULL && SSL_SESSION_is_resumable(n)) {
			if (s->sess != NULL)
				SSL_SESSION_free(s->sess);
			s->sess = n;
		} else if (n != NULL) {
			SSL_SESSION_free(n);
		}
	}
	SSL_shutdown(s->ssl); /* send close_notify; do not wait for the peer's */
	slot_close(s);
	slot_start(s);
}

/* Response bytes [p, p+n) arrived. Returns -1 on a bad response. */
static int take_response(struct slot *s, const char *p, size_t n)
{
	if (!http) {
		s->got += n;
		s->total = size;
		return 0;
	}
	if (s->total == 0) {
		size_t room = sizeof(s->hbuf) - 1 - s->hlen;
		size_t k = n < room ? n : room;
		memcpy(s->hbuf + s->hlen, p, k);
		s->hlen += k;
		s->hbuf[s->hlen] = '\0';
		s->got += n;
		char *end = strstr(s->hbuf, "\r\n\r\n");
		if (end == NULL)
			return s->hlen == sizeof(s->hbuf) - 1 ? -1 : 0;
		if (strncmp(s->hbuf, "HTTP/1.1 200", 12) != 0 &&
		    strncmp(s->hbuf, "HTTP/1.0 200", 12) != 0)
			return -1;
		size_t clen = 0;
		for (char *h = strstr(s->hbuf, "\r\n"); h != NULL && h < end;
		     h = strstr(h + 2, "\r\n")) {
			if (strncasecmp(h + 2, "content-length:", 15) == 0) {
				clen = strtoul(h + 17, NULL, 10);
				break;
			}
		}
		s->total = (size_t)(end + 4 - s->hbuf) + clen;
		return 0;
	}
	s->got += n;
	return 0;
}

static void drive(struct slot *s)
{
	for (;;) {
		switch (s->state) {
		case ST_IDLE:
			return;
		case ST_CONNECTING: {
			int err = 0;
			socklen_t len = sizeof(err);
			if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
				errno = err;
				slot_fail(s, "connect: refused or failed");
				return;
			}
			s->ssl = SSL_new(ctx);
			if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
				slot_fail(s, "SSL_new");
				return;
			}
			if (mode == MODE_RESUME && s->sess != NULL)
				SSL_set_session(s->ssl, s->sess);
			s->state = ST_HANDSHAKE;
			continue;
		}
		case ST_HANDSHAKE: {
			ERR_clear_error();
			int r = SSL_connect(s->ssl);
			if (r != 1) {
				ssl_wait(s, r, "handshake");
				return;
			}
			remember_negotiated(s);
			s->state = ST_SENDING;
			s->off = 0;
			s->got = s->total = s->hlen = 0;
			continue;
		}
		case ST_SENDING: {
			const char *buf = mode == MODE_BULK ? prefix : req;
			size_t len = mode == MODE_BULK ? prefix_len : req_len;
			if (s->off == len) {
				s->state = mode == MODE_BULK ? ST_STREAMING : ST_RECEIVING;
				continue;
			}
			ERR_clear_error();
			int r = SSL_write(s->ssl, buf + s->off, (int)(len - s->off));
			if (r <= 0) {
				ssl_wait(s, r, "send");
				return;
			}
			s->off += (size_t)r;
			continue;
		}
		case ST_RECEIVING: {
			ERR_clear_error();
			int r = SSL_read(s->ssl, scratch, RBUF);
			if (r <= 0) {
				ssl_wait(s, r, "reply");
				return;
			}
			if (take_response(s, scratch, (size_t)r) < 0) {
				slot_fail(s, "reply: not an HTTP 200 response");
				return;
			}
			if (s->total != 0 && s->got >= s->total) {
				op_done(s);
				return; /* the slot restarted: wait for its connect */
			}
			continue;
		}
		case ST_STREAMING:
			/* A bounded number of writes per wakeup keeps streams fair. */
			for (int i = 0; i < 64; i++) {
				ERR_clear_error();
				int r = SSL_write(s->ssl, req, (int)size);
				if (r <= 0) {
					ssl_wait(s, r, "stream");
					return;
				}
				lifetime_ops++;
				if (measuring) {
					bytes += (uint64_t)r;
					ops++;
				}
			}
			if (watch(s, EPOLLOUT) < 0)
				slot_fail(s, "epoll_ctl");
			return;
		}
	}
}

/* ---- setup ---------------------------------------------------------------------- */

static SSL_CTX *make_ctx(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
	if (SSL_CTX_set_ciphersuites(c, ciphersuites) != 1) {
		fprintf(stderr, "tlsload: bad ciphersuites %s\n", ciphersuites);
		exit(2);
	}
	if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c) != 1) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "tlsload: cannot load %s / %s\n", cert_file, key_file);
		exit(2);
	}
	if (SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
		ERR_print_errors_fp(stderr);
		fprintf(stderr, "tlsload: cannot load %s\n", ca_file);
		exit(2);
	}
	SSL_CTX_set_verify(c, no_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	/* Sessions are kept by hand (resume mode), not in OpenSSL's cache. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* ALPN wire format: length-prefixed names. */
	unsigned char wire[256];
	size_t wlen = 0;
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", alpn_list);
	for (char *tok = strtok(tmp, ","); tok != NULL; tok = strtok(NULL, ",")) {
		size_t l = strlen(tok);
		if (l == 0 || l > 255 || wlen + 1 + l > sizeof(wire)) {
			fprintf(stderr, "tlsload: bad ALPN list %s\n", alpn_list);
			exit(2);
		}
		wire[wlen++] = (unsigned char)l;
		memcpy(wire + wlen, tok, l);
		wlen += l;
	}
	if (wlen > 0 && SSL_CTX_set_alpn_protos(c, wire, (unsigned int)wlen) != 0) {
		fprintf(stderr, "tlsload: SSL_CTX_set_alpn_protos failed\n");
		exit(2);
	}
	return c;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s -m full|resume|bulk -p PORT -e CERT -k KEY -r CA [-c CONC]\n"
		"          [-d SECS] [-w WARMUP] [-s SIZE] [-a ALPN,..] [-x SUITES] [-H] [-n]\n"
		"          [-P PID,..] [-L PID,..] [-C CPU]\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "m:p:c:d:w:s:e:k:r:a:x:HnP:L:C:")) != -1) {
		switch (opt) {
		case 'm':
			if (strcmp(optarg, "full") == 0)
				mode = MODE_FULL;
			else if (strcmp(optarg, "resume") == 0)
				mode = MODE_RESUME;
			else if (strcmp(optarg, "bulk") == 0)
				mode = MODE_BULK;
			else
				usage(argv[0]);
			break;
		case 'p': port = atoi(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'w': warmup = atof(optarg); break;
		case 's': size = (size_t)strtoul(optarg, NULL, 10); break;
		case 'e': cert_file = optarg; break;
		case 'k': key_file = optarg; break;
		case 'r': ca_file = optarg; break;
		case 'a': alpn_list = optarg; break;
		case 'x': ciphersuites = optarg; break;
		case 'H': http = true; break;
		case 'n': no_verify = true; break;
		case 'P': parse_pids(&proxy_pids, optarg); break;
		case 'L': parse_pids(&load_pids, optarg); break;
		case 'C': proxy_core = atoi(optarg); break;
		default: usage(argv[0]);
		}
	}
	if (conc == 0)
		conc = mode == MODE_BULK ? 1 : 8;
	if (size == 0)
		size = mode == MODE_BULK ? 16384 : 64;
	if (port <= 0 || port > 65535 || conc < 1 || conc > MAX_CONC || secs <= 0 || warmup < 0 ||
	    size > (1u << 20) || cert_file == NULL || key_file == NULL || ca_file == NULL)
		usage(argv[0]);
	signal(SIGPIPE, SIG_IGN);

	ctx = make_ctx();
	req = malloc(size);
	scratch = malloc(RBUF);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ctx == NULL || req == NULL || scratch == NULL || ep < 0) {
		perror("tlsload: setup");
		return 1;
	}
	memset(req, BENCH_FILL, size);
	static char hreq[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
	static char hpost[] = "POST / HTTP/1.1\r\nHost: bench\r\n"
			      "Content-Type: application/octet-stream\r\n"
			      "Content-Length: 1000000000000000\r\n\r\n";
	if (http) {
		req_len = mode == MODE_BULK ? size : strlen(hreq);
		if (mode != MODE_BULK) {
			free(req);
			req = hreq;
		}
		prefix = hpost;
		prefix_len = strlen(hpost);
	} else {
		req_len = size;
		prefix = (char *)BENCH_SINK_MAGIC;
		prefix_len = BENCH_SINK_MAGIC_LEN;
	}

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
	uint64_t busy0 = 0, busy1 = 0;
	struct epoll_event evs[512];

	for (;;) {
		uint64_t t = now_ns();
		if (!measuring && t >= t_open) {
			memset(hist, 0, sizeof(hist));
			ops = bytes = errors = resumed = 0;
			proxy0 = set_ticks(&proxy_pids, "proxy");
			load0 = set_ticks(&load_pids, "load");
			core_ticks(proxy_core, &busy0, NULL);
			win_start = now_ns();
			measuring = true;
		}
		if (measuring && t >= t_close) {
			win_end = now_ns();
			proxy1 = set_ticks(&proxy_pids, "proxy");
			load1 = set_ticks(&load_pids, "load");
			core_ticks(proxy_core, &busy1, NULL);
			break;
		}
		if (lifetime_ops == 0 && lifetime_errors > 200) {
			fprintf(stderr, "tlsload: %" PRIu64 " failed connections, none completed; last: %s\n",
				lifetime_errors, last_error);
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
			perror("tlsload: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++)
			drive(&slots[evs[i].data.u32]);
	}

	double wall = (double)(win_end - win_start) / 1e9;
	double proxy_us = (double)(proxy1 - proxy0) * 1e6 / (double)hz;
	double load_us = (double)(load1 - load0) * 1e6 / (double)hz;
	double mb = (double)bytes / 1e6;
	double tick_pct = 100.0 / (double)hz / wall;
	const char *mname = mode == MODE_FULL ? "full" : mode == MODE_RESUME ? "resume" : "bulk";
	printf("mode=%s http=%d conc=%d size=%zu secs=%.3f ops=%" PRIu64 " ops_per_s=%.1f"
	       " resumed=%" PRIu64 " resumed_pct=%.1f bytes=%" PRIu64 " mb_per_s=%.1f"
	       " p50_us=%.0f p99_us=%.0f errors=%" PRIu64 " proxy_cpu_us=%.0f"
	       " proxy_cpu_pct=%.1f load_cpu_pct=%.1f core_busy_pct=%.1f"
	       " cpu_us_per_op=%.3f cpu_us_per_mb=%.1f ops_per_core_s=%.1f"
	       " tls=%s cipher=%s group=%s alpn=%s\n",
	       mname, http, conc, size, wall, ops, (double)ops / wall, resumed,
	       ops && mode != MODE_BULK ? 100.0 * (double)resumed / (double)ops : 0, bytes,
	       mb / wall, mode == MODE_BULK ? 0 : percentile(0.50),
	       mode == MODE_BULK ? 0 : percentile(0.99), errors, proxy_us,
	       100.0 * proxy_us / 1e6 / wall, 100.0 * load_us / 1e6 / wall,
	       (double)(busy1 - busy0) * tick_pct, ops ? proxy_us / (double)ops : 0,
	       mb > 0 ? proxy_us / mb : 0, proxy_us > 0 ? (double)ops / (proxy_us / 1e6) : 0,
	       neg_tls[0] ? neg_tls : "-", neg_cipher[0] ? neg_cipher : "-",
	       neg_group[0] ? neg_group : "-", neg_alpn[0] ? neg_alpn : "-");
	if (errors > 0)
		fprintf(stderr, "tlsload: %" PRIu64 " failed connections in the window; last: %s\n",
			errors, last_error);
	return ops > 0 ? 0 : 1;
}
