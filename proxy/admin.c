/* Admin server; see admin.h.
 *
 * Requests are small and rare: each connection reads one request head of at
 * most ADMIN_MAX_REQUEST bytes, gets one response and is closed. A bounded
 * number of connections at once keeps a misbehaving scraper from costing
 * more than a few pages. */
#include "proxy/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/config_dump.h"
#include "proxy/list.h"
#include "proxy/listener.h"
#include "proxy/stats_export.h"

#define ADMIN_MAX_REQUEST 8192
#define ADMIN_MAX_CONNS 64
#define ADMIN_MAX_LISTENERS 4

struct admin_listener {
	struct io io;
	struct loop *loop;
	enum admin_role role;
	const struct admin_hooks *hooks;
};

struct admin_conn {
	struct io io;
	struct admin_listener *listener;
	size_t len;
	char req[ADMIN_MAX_REQUEST];
	char *resp;
	size_t resp_len, resp_off;
	struct list link;
};

static struct admin_listener listeners[ADMIN_MAX_LISTENERS];
static unsigned n_listeners;
static struct list conns = { &conns, &conns };
static unsigned n_conns;

struct response {
	int status;
	const char *type;
	char *body; /* malloc'd */
	size_t len;
};

static void conn_close(struct admin_conn *c)
{
	loop_del(c->listener->loop, &c->io);
	close(c->io.fd);
	list_del(&c->link);
	free(c->resp);
	free(c);
	n_conns--;
}

static void text(struct response *r, int status, const char *body)
{
	r->status = status;
	r->type = "text/plain; charset=utf-8";
	r->body = strdup(body);
	r->len = r->body ? strlen(r->body) : 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Appends the process's other metrics to a stats body. */
static void append_extra(struct response *r, const struct admin_hooks *h, bool prometheus)
{
	size_t len = 0;
	char *extra = r->body ? h->extra_metrics(prometheus, &len) : NULL;
	char *joined = extra ? realloc(r->body, r->len + len + 1) : NULL;
	if (joined) {
		memcpy(joined + r->len, extra, len + 1);
		r->body = joined;
		r->len += len;
	}
	free(extra);
}

static void route(const struct admin_listener *l, const char *method, const char *path,
		  struct response *r)
{
	const struct admin_hooks *h = l->hooks;
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool full = l->role == ADMIN_FULL;
	bool ready = !h->draining();
	if ((full || l->role == ADMIN_PROMETHEUS) && strcmp(path, "/stats/prometheus") == 0) {
		if (!get)
			return text(r, 405, "use GET\n");
		r->status = 200;
		r->type = "text/plain; version=0.0.4";
		r->body = stats_export_prometheus(&r->len);
		append_extra(r, h, true);
	} else if (l->role == ADMIN_HEALTH && strcmp(path, "/healthz/ready") == 0) {
		text(r, ready ? 200 : 503, ready ? "\n" : "draining\n");
	} else if (full && strcmp(path, "/ready") == 0) {
		text(r, ready ? 200 : 503, ready ? "LIVE\n" : "DRAINING\n");
	} else if (full && strcmp(path, "/stats") == 0) {
		r->status = 200;
		r->type = "text/plain; charset=utf-8";
		r->body = stats_export_text(&r->len);
		append_extra(r, h, false);
	} else if (full && strcmp(path, "/config_dump") == 0) {
		r->status = 200;
		r->type = "application/json";
		r->body = h->config_dump ? h->config_dump(h->snapshot(), &r->len)
					 : config_dump_json(h->snapshot(), &r->len);
	} else if (full && strcmp(path, "/quitquitquit") == 0) {
		/* A state change: Envoy takes it by POST only, so a stray GET from a
		 * browser or a crawler cannot stop the proxy. */
		if (strcmp(method, "POST") != 0)
			return text(r, 405, "use POST\n");
		h->quit();
		text(r, 200, "OK\n");
	} else {
		text(r, 404, "not found\n");
	}
	if (!r->body) {
		r->status = 500;
		r->len = 0;
	}
}

/* Parses "METHOD SP PATH SP HTTP/1.x" off the request head. */
static int parse_request_line(char *req, const char **method, const char **path)
{
	char *eol = strstr(req, "\r\n");
	if (!eol)
		return -EINVAL;
	*eol = '\0';
	char *sp1 = strchr(req, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return -EINVAL;
	*sp1 = *sp2 = '\0';
	char *query = strchr(sp1 + 1, '?');
	if (query)
		*query = '\0';
	*method = req;
	*path = sp1 + 1;
	return 0;
}

static void build_response(struct admin_conn *c, int status_override)
{
	struct response r = { 0 };
	const char *method = "", *path = "";
	if (status_override)
		text(&r, status_override, status_override == 431 ? "request too large\n" : "bad request\n");
	else if (parse_request_line(c->req, &method, &path) < 0)
		text(&r, 400, "bad request\n");
	else
		route(c->listener, method, path, &r);
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 r.status, reason(r.status), r.type ? r.type : "text/plain", r.len);
	size_t body_len = strcmp(method, "HEAD") == 0 ? 0 : r.len;
	c->resp = malloc((size_t)n + body_len);
	if (c->resp) {
		memcpy(c->resp, head, (size_t)n);
		if (body_len)
			memcpy(c->resp + n, r.body, body_len);
		c->resp_len = (size_t)n + body_len;
	}
	free(r.body);
}

static void conn_write(struct admin_conn *c)
{
	while (c->resp_off < c->resp_len) {
		ssize_t n = send(c->io.fd, c->resp + c->resp_off, c->resp_len - c->resp_off,
				 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0)
			break;
		c->resp_off += (size_t)n;
	}
	conn_close(c);
}

static void on_conn_event(struct io *io, uint32_t events)
{
	struct admin_conn *c = container_of(io, struct admin_conn, io);
	if (c->resp)
		return (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) ? conn_write(c) : (void)0;
	for (;;) {
		ssize_t n = recv(c->io.fd, c->req + c->len, sizeof(c->req) - 1 - c->len, 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			return conn_close(c);
		c->len += (size_t)n;
		c->req[c->len] = '\0';
		if (strstr(c->req, "\r\n\r\n")) {
			build_response(c, 0);
			break;
		}
		if (c->len == sizeof(c->req) - 1) {
			build_response(c, 431);
			break;
		}
	}
	if (!c->resp)
		return conn_close(c);
	conn_write(c);
}

static void on_accept(struct io *io, uint32_t events)
{
	(void)events;
	struct admin_listener *l = container_of(io, struct admin_listener, io);
	for (;;) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct admin_conn *c = n_conns < ADMIN_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			close(fd);
			continue;
		}
		c->io = (struct io){ .fd = fd, .cb = on_conn_event };
		c->listener = l;
		if (loop_add(l->loop, &c->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0) {
			close(fd);
			free(c);
			continue;
		}
		list_add_tail(&conns, &c->link);
		n_conns++;
	}
}

int admin_listen(struct loop *loop, const struct sock_addr *addr, enum admin_role role,
		 const struct admin_hooks *hooks, char *err, size_t errlen)
{
	if (n_listeners == ADMIN_MAX_LISTENERS) {
		snprintf(err, errlen, "too many admin listeners");
		return -ENOSPC;
	}
	int fd = listener_open(addr, false, err, errlen);
	if (fd < 0)
		return fd;
	struct admin_listener *l = &listeners[n_listeners];
	*l = (struct admin_listener){ .io = { .fd = fd, .cb = on_accept }, .loop = loop,
				      .role = role, .hooks = hooks };
	int rc = loop_add(loop, &l->io, EPOLLIN);
	if (rc < 0) {
		close(fd);
		snprintf(err, errlen, "epoll: %s", strerror(-rc));
		return rc;
	}
	n_listeners++;
	return 0;
}

void admin_close_all(struct loop *loop)
{
	while (!list_empty(&conns))
		conn_close(container_of(conns.next, struct admin_conn, link));
	for (unsigned i = 0; i < n_listeners; i++) {
		loop_del(loop, &listeners[i].io);
		close(listeners[i].io.fd);
	}
	n_listeners = 0;
}
