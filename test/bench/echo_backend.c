/*
 * echo_backend: the backend every proxy under `make bench` forwards to.
 *
 *   echo_backend [-p PORT]        listens on 127.0.0.1:PORT (default 19100)
 *
 * One thread, one level-triggered epoll loop. Each connection is an echo
 * unless its first bytes are BENCH_SINK_MAGIC, in which case everything after
 * is read and discarded: the stream workload measures one-way bulk transfer,
 * and the proxies are configured with one upstream only, so the choice rides
 * in-band. Echo keeps backpressure honest: while an echo is only partly
 * written the connection stops reading.
 *
 * Loopback only: the listening address is fixed to 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_proto.h"

enum conn_mode {
	MODE_UNKNOWN, /* fewer than sizeof(magic) bytes seen, all matching */
	MODE_ECHO,
	MODE_SINK,
};

struct conn {
	int fd;
	enum conn_mode mode;
	size_t matched;   /* bytes of the magic seen while MODE_UNKNOWN */
	char *pend;       /* echo bytes the socket did not take yet */
	size_t pend_len;
	size_t pend_off;
};

static char rbuf[256 * 1024];
static struct conn listener_tag; /* epoll data for the listening socket */

static void conn_close(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	free(c->pend);
	free(c);
}

static int set_events(int ep, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what it can; keeps the rest in c->pend. Returns -1 on a dead socket. */
static int echo_out(struct conn *c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	if (len == 0)
		return 0;
	/* pend is drained before reading again, so it is empty here */
	char *np = realloc(c->pend, len);
	if (np == NULL)
		return -1;
	c->pend = np;
	memcpy(c->pend, p, len);
	c->pend_len = len;
	c->pend_off = 0;
	return 0;
}

/* Consumes one read's worth of bytes according to the connection's mode. */
static int conn_data(struct conn *c, const char *p, size_t len)
{
	if (c->mode == MODE_UNKNOWN) {
		size_t i = 0;
		while (i < len && c->matched < BENCH_SINK_MAGIC_LEN &&
		       p[i] == BENCH_SINK_MAGIC[c->matched]) {
			i++;
			c->matched++;
		}
		if (c->matched == BENCH_SINK_MAGIC_LEN) {
			c->mode = MODE_SINK;
			return 0;
		}
		if (i < len) {
			/* Mismatch: it was an echo connection all along, so the
			 * magic prefix swallowed so far is echoed too. */
			c->mode = MODE_ECHO;
			char tmp[BENCH_SINK_MAGIC_LEN];
			size_t k = c->matched;
			memcpy(tmp, BENCH_SINK_MAGIC, k);
			if (k > 0 && echo_out(c, tmp, k) < 0)
				return -1;
			if (c->pend != NULL && c->pend_len > c->pend_off) {
				/* rare: append the rest behind the prefix */
				char *np = realloc(c->pend, c->pend_len + len);
				if (np == NULL)
					return -1;
				c->pend = np;
				memcpy(c->pend + c->pend_len, p, len);
				c->pend_len += len;
				return 0;
			}
			return echo_out(c, p, len);
		}
		return 0; /* everything matched, still undecided */
	}
	if (c->mode == MODE_SINK)
		return 0;
	return echo_out(c, p, len);
}

static void on_readable(int ep, struct conn *c)
{
	/* A few reads per wakeup: enough for bulk streams, fair to the rest. */
	for (int round = 0; round < 16; round++) {
		ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
		if (n == 0)
			goto dead;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			goto dead;
		}
		if (conn_data(c, rbuf, (size_t)n) < 0)
			goto dead;
		if (c->pend_len > c->pend_off) {
			if (set_events(ep, c, EPOLLOUT) < 0)
				goto dead;
			return;
		}
	}
	return;
dead:
	conn_close(c);
}

static void on_writable(int ep, struct conn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t n = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off,
				 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			conn_close(c);
			return;
		}
		c->pend_off += (size_t)n;
	}
	c->pend_off = c->pend_len = 0;
	if (set_events(ep, c, EPOLLIN) < 0)
		conn_close(c);
}

static void on_accept(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("echo_backend: accept4");
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			conn_close(c);
			continue;
		}
	}
}

int main(int argc, char **argv)
{
	int port = 19100;
	int opt;
	while ((opt = getopt(argc, argv, "p:")) != -1) {
		switch (opt) {
		case 'p':
			port = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-p PORT]\n", argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("echo_backend: socket");
		return 1;
	}
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "echo_backend: bind 127.0.0.1:%d: %s\n", port, strerror(errno));
		return 1;
	}
	if (listen(lfd, 4096) < 0) {
		perror("echo_backend: listen");
		return 1;
	}

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		perror("echo_backend: epoll_create1");
		return 1;
	}
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &listener_tag };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("echo_backend: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == &listener_tag) {
				on_accept(ep, lfd);
				continue;
			}
			/* Errors and hangups surface through recv/send. */
			if (evs[i].events & EPOLLOUT)
				on_writable(ep, c);
			else
				on_readable(ep, c);
		}
	}
}
