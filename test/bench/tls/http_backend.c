/*
 * http_backend: the smallest HTTP/1.1 origin the TLS benchmark needs behind
 * nghttpx (an HTTP proxy, which cannot forward raw TCP to echo_backend).
 * One thread, epoll, keep-alive, pipelining-safe:
 *
 *   http_backend -p PORT [-s BODY]
 *
 * Each request's headers are read to the blank line; a Content-Length body
 * is read and discarded (tlsload's bulk mode sends one with a huge length
 * and streams into it); then the reply is `200 OK` with a BODY-byte body
 * (default 64). Chunked request bodies are not understood: such a
 * connection is discarded to its end. Listens on 127.0.0.1 only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define HDR_MAX 16384

struct conn {
	int fd;
	size_t hlen;             /* header bytes buffered */
	unsigned long long body; /* body bytes still to discard */
	bool in_body, sink;
	char *out;               /* pending reply bytes */
	size_t out_len, out_off;
	char hbuf[HDR_MAX];
};

static char *reply;
static size_t reply_len;
static int ep;

static void conn_free(struct conn *c)
{
	close(c->fd);
	free(c->out);
	free(c);
}

static bool flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				return true;
			}
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	return true;
}

static bool queue_reply(struct conn *c)
{
	char *o = realloc(c->out, c->out_len + reply_len);
	if (o == NULL)
		return false;
	c->out = o;
	memcpy(c->out + c->out_len, reply, reply_len);
	c->out_len += reply_len;
	return true;
}

/* Consumes data[0..n). Returns false to drop the connection. */
static bool consume(struct conn *c, const char *data, size_t n)
{
	while (n > 0) {
		if (c->sink)
			return true;
		if (c->in_body) {
			size_t k = (unsigned long long)n < c->body ? n : (size_t)c->body;
			c->body -= k;
			data += k;
			n -= k;
			if (c->body == 0) {
				c->in_body = false;
				if (!queue_reply(c))
					return false;
			}
			continue;
		}
		size_t room = HDR_MAX - 1 - c->hlen;
		size_t k = n < room ? n : room;
		memcpy(c->hbuf + c->hlen, data, k);
		size_t before = c->hlen;
		c->hlen += k;
		c->hbuf[c->hlen] = '\0';
		char *end = strstr(c->hbuf, "\r\n\r\n");
		if (end == NULL) {
			if (c->hlen == HDR_MAX - 1)
				return false;
			data += k;
			n -= k;
			continue;
		}
		size_t used = (size_t)(end + 4 - c->hbuf) - before; /* of this chunk */
		unsigned long long clen = 0;
		for (char *h = strstr(c->hbuf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
			if (strncasecmp(h + 2, "content-length:", 15) == 0)
				clen = strtoull(h + 17, NULL, 10);
			else if (strncasecmp(h + 2, "transfer-encoding:", 18) == 0)
				c->sink = true;
		}
		c->hlen = 0;
		data += used;
		n -= used;
		if (c->sink)
			return true;
		if (clen > 0) {
			c->in_body = true;
			c->body = clen;
		} else if (!queue_reply(c)) {
			return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	int port = 0, opt;
	size_t body = 64;
	while ((opt = getopt(argc, argv, "p:s:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 's': body = (size_t)strtoul(optarg, NULL, 10); break;
		default: goto usage;
		}
	}
	if (port <= 0 || port > 65535 || body > (1u << 20)) {
	usage:
		fprintf(stderr, "usage: %s -p PORT [-s BODY]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	reply = malloc(128 + body);
	if (reply == NULL)
		return 1;
	reply_len = (size_t)sprintf(reply, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
				    "Content-Length: %zu\r\n\r\n", body);
	memset(reply + reply_len, 'x', body);
	reply_len += body;

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("http_backend: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

	static char buf[65536];
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("http_backend: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				for (;;) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					struct conn *nc = calloc(1, sizeof(*nc));
					if (nc == NULL) {
						close(fd);
						continue;
					}
					nc->fd = fd;
					struct epoll_event ev = { .events = EPOLLIN, .data.ptr = nc };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
						conn_free(nc);
				}
				continue;
			}
			bool alive = true;
			if (evs[i].events & EPOLLOUT)
				alive = flush_out(c);
			if (alive && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
				for (int rounds = 0; rounds < 16 && alive; rounds++) {
					ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
					if (r == 0) {
						alive = false;
					} else if (r < 0) {
						if (errno != EAGAIN && errno != EINTR)
							alive = false;
						break;
					} else {
						alive = consume(c, buf, (size_t)r);
					}
				}
				if (alive && c->out_len > c->out_off)
					alive = flush_out(c);
			}
			if (!alive)
				conn_free(c);
		}
	}
}
