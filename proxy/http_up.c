/* The upstream side of the HTTP connection manager: connections to a
 * cluster's endpoints, pooled per worker per endpoint, speaking HTTP/1.1
 * (one request at a time, kept alive) or HTTP/2 (many streams on one
 * connection), plaintext or over TLS. See http_internal.h. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/breakers.h"
#include "proxy/h2_limits.h"
#include "proxy/http.h"
#include "proxy/http_internal.h"
#include "proxy/log.h"
#include "proxy/netns.h"
#include "proxy/sock_addr.h"
#include "proxy/tls_session_cache.h"

#define UP_BUDGET 16
#define OUT_LIMIT (128u * 1024u)

/* The host of a pool made for one original destination (ORIGINAL_DST). */
#define HOST_DYNAMIC SIZE_MAX
/* Buckets of an ORIGINAL_DST cluster's pools by destination. How many
 * pools there are is bounded by the circuit breakers: a destination's pool
 * lives only while it has a connection (max_connections) or a waiter
 * (max_pending_requests), and an idle connection closes after the
 * cluster's idle_timeout. */
#define DYN_BUCKETS 64

/* Connections to one endpoint of one cluster version, or for an
 * ORIGINAL_DST cluster to one original destination. */
struct host_pool {
	struct cluster_pools *cp;
	size_t host;         /* endpoint index, or HOST_DYNAMIC */
	struct sock_addr addr; /* where its connections go */
	struct list idle;    /* HTTP/1: free connections; HTTP/2: ready ones */
	struct list busy;    /* HTTP/1 connections with a stream; connecting ones */
	struct list waiters; /* streams waiting for a connection (wait_link) */
	uint32_t n_conns;
	uint32_t holds;      /* a caller walks its lists: not freed under it */
	struct list dyn_link; /* HOST_DYNAMIC: in cluster_pools.dyn */
};

/* The pools of one cluster version; retired when a newer version of the
 * cluster shows up, freed once its last connection and waiter are gone. */
struct cluster_pools {
	const struct cluster *c;
	struct worker_snap *ws; /* keeps c alive */
	struct host_pool *hosts;
	size_t n_hosts;
	struct list *dyn;       /* ORIGINAL_DST: DYN_BUCKETS lists of host_pool */
	uint32_t n_dyn;
	bool retired;
	struct list retired_link;
};

struct host_pools {
	struct cluster_pools **by_id;
	size_t cap;
	struct list retired;
};

static void up_run(struct http_up *u);
static void serve_waiters(struct host_pool *hp);

static struct http_worker *hw_of(struct http_up *u)
{
	return http_worker_of(u->w);
}

static void up_schedule(struct http_up *u)
{
	if (u->state != UP_CLOSED && !list_linked(&u->ready))
		list_add_tail(&hw_of(u)->ready_ups, &u->ready);
}

/* ------------------------------------------------------------- the pools */

static bool pool_unused(const struct host_pool *hp)
{
	return !hp->n_conns && list_empty(&hp->waiters) && !hp->holds;
}

/* Frees an original destination's pool once nothing uses it: the next
 * request there makes a new one. */
static void dyn_pool_maybe_free(struct host_pool *hp)
{
	if (hp->host != HOST_DYNAMIC || !pool_unused(hp))
		return;
	list_del(&hp->dyn_link);
	hp->cp->n_dyn--;
	free(hp);
}

static void cluster_pools_destroy(struct worker *w, struct cluster_pools *cp)
{
	for (size_t b = 0; cp->dyn && b < DYN_BUCKETS; b++)
		while (!list_empty(&cp->dyn[b])) {
			struct host_pool *hp = container_of(cp->dyn[b].next, struct host_pool, dyn_link);
			list_del(&hp->dyn_link);
			free(hp);
		}
	free(cp->dyn);
	worker_snap_release(w, cp->ws);
	free(cp->hosts);
	free(cp);
}

static void cluster_pools_maybe_free(struct worker *w, struct cluster_pools *cp)
{
	if (!cp->retired || cp->n_dyn)
		return;
	for (size_t i = 0; i < cp->n_hosts; i++)
		if (!pool_unused(&cp->hosts[i]))
			return;
	list_del(&cp->retired_link);
	cluster_pools_destroy(w, cp);
}

static void up_close(struct http_up *u, bool reset);

/* Closes p's idle connections; HTTP/2 ones with streams become busy. */
static void pool_close_idle(struct host_pool *p)
{
	p->holds++;
	while (!list_empty(&p->idle)) {
		struct http_up *u = container_of(p->idle.next, struct http_up, link);
		if (u->proto == HTTP_PROTO_H2 && u->n_streams) {
			list_del(&u->link);
			list_add_tail(&p->busy, &u->link);
			continue;
		}
		up_close(u, false);
	}
	p->holds--;
}

/* Retires cp: idle connections close, busy ones finish their stream. */
static void cluster_pools_retire(struct worker *w, struct cluster_pools *cp)
{
	struct host_pools *hp = http_worker_of(w)->pools;
	/* Marked retired only once its idle connections are closed: each
	 * close would otherwise try to free cp under this loop. */
	for (size_t i = 0; i < cp->n_hosts; i++)
		pool_close_idle(&cp->hosts[i]);
	for (size_t b = 0; cp->dyn && b < DYN_BUCKETS; b++) {
		struct list *n, *next;
		for (n = cp->dyn[b].next; n != &cp->dyn[b]; n = next) {
			next = n->next;
			struct host_pool *p = container_of(n, struct host_pool, dyn_link);
			pool_close_idle(p);
			dyn_pool_maybe_free(p);
		}
	}
	cp->retired = true;
	list_add_tail(&hp->retired, &cp->retired_link);
	cluster_pools_maybe_free(w, cp);
}

/* The pools of s->cluster's version on this worker, made on first use (a
 * pool of an older version of the cluster is retired then). NULL when out
 * of memory. */
static struct cluster_pools *cluster_pools_get(struct http_stream *s)
{
	struct worker *w = s->down->w;
	struct host_pools *t = http_worker_of(w)->pools;
	const struct cluster *c = s->cluster;
	if (c->stats_id >= t->cap) {
		size_t cap = t->cap ? t->cap : 16;
		while (cap <= c->stats_id)
			cap *= 2;
		struct cluster_pools **n = realloc(t->by_id, cap * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + t->cap, 0, (cap - t->cap) * sizeof(*n));
		t->by_id = n;
		t->cap = cap;
	}
	struct cluster_pools *cp = t->by_id[c->stats_id];
	if (cp && cp->c != c) {
		t->by_id[c->stats_id] = NULL;
		cluster_pools_retire(w, cp);
		cp = NULL;
	}
	if (cp)
		return cp;
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return NULL;
	cp->hosts = calloc(c->n_endpoints ? c->n_endpoints : 1, sizeof(*cp->hosts));
	if (c->type == CLUSTER_ORIGINAL_DST)
		cp->dyn = calloc(DYN_BUCKETS, sizeof(*cp->dyn));
	if (!cp->hosts || (c->type == CLUSTER_ORIGINAL_DST && !cp->dyn)) {
		free(cp->hosts);
		free(cp->dyn);
		free(cp);
		return NULL;
	}
	cp->c = c;
	cp->n_hosts = c->n_endpoints;
	cp->ws = s->ws;
	cp->ws->sessions++;
	list_init(&cp->retired_link);
	for (size_t b = 0; cp->dyn && b < DYN_BUCKETS; b++)
		list_init(&cp->dyn[b]);
	for (size_t i = 0; i < cp->n_hosts; i++) {
		struct host_pool *p = &cp->hosts[i];
		p->cp = cp;
		p->host = i;
		p->addr = c->endpoints[i].addr;
		list_init(&p->idle);
		list_init(&p->busy);
		list_init(&p->waiters);
		list_init(&p->dyn_link);
	}
	t->by_id[c->stats_id] = cp;
	return cp;
}

static size_t dyn_bucket(const struct sock_addr *a)
{
	unsigned char key[sizeof(struct in6_addr) + sizeof(in_port_t)];
	size_t n;
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)&a->ss;
		memcpy(key, &in6->sin6_addr, sizeof(in6->sin6_addr));
		memcpy(key + sizeof(in6->sin6_addr), &in6->sin6_port, sizeof(in_port_t));
		n = sizeof(in6->sin6_addr) + sizeof(in_port_t);
	} else {
		const struct sockaddr_in *in = (const void *)&a->ss;
		memcpy(key, &in->sin_addr, sizeof(in->sin_addr));
		memcpy(key + sizeof(in->sin_addr), &in->sin_port, sizeof(in_port_t));
		n = sizeof(in->sin_addr) + sizeof(in_port_t);
	}
	return (size_t)(lb_hash(key, n) % DYN_BUCKETS);
}

/* The pool of original destination addr, made when first asked for. */
static struct host_pool *dyn_pool_get(struct cluster_pools *cp, const struct sock_addr *addr)
{
	struct list *bucket = &cp->dyn[dyn_bucket(addr)];
	for (struct list *n = bucket->next; n != bucket; n = n->next) {
		struct host_pool *hp = container_of(n, struct host_pool, dyn_link);
		if (sock_addr_equal(&hp->addr, addr))
			return hp;
	}
	struct host_pool *hp = calloc(1, sizeof(*hp));
	if (!hp)
		return NULL;
	hp->cp = cp;
	hp->host = HOST_DYNAMIC;
	hp->addr = *addr;
	list_init(&hp->idle);
	list_init(&hp->busy);
	list_init(&hp->waiters);
	list_add_tail(bucket, &hp->dyn_link);
	cp->n_dyn++;
	return hp;
}

/* The pool stream s's attempt goes to: endpoint `host`, or s->dst. */
static struct host_pool *pool_get(struct http_stream *s, size_t host)
{
	struct cluster_pools *cp = cluster_pools_get(s);
	if (!cp)
		return NULL;
	if (cp->dyn)
		return s->dst ? dyn_pool_get(cp, s->dst) : NULL;
	return host < cp->n_hosts ? &cp->hosts[host] : NULL;
}

/* ------------------------------------------------------- the connection */

static void up_free(struct http_up *u)
{
	if (u->h2)
		nghttp2_session_del(u->h2);
	buf_pool_put(&u->w->bufs, u->in);
	bodyq_free(&u->out, &u->w->bufs);
	u->s.t.ops->release(&u->s.t);
	free(u);
}

void http_up_free(struct http_up *u)
{
	up_free(u);
}

void http_up_abort(struct http_up *u)
{
	up_close(u, true);
}

/* Keeps the upstream's newest ticket for the next connection to the same
 * endpoint (as tcp_proxy does). */
static void keep_tls_session(struct http_up *u)
{
	if (u->s.t.ssl)
		tls_session_cache_keep(&u->w->tls_sessions, u->c->stats_id, &u->addr, u->s.t.ssl);
}

static void up_close(struct http_up *u, bool reset)
{
	if (u->state == UP_CLOSED)
		return;
	bool connected = u->state == UP_READY;
	u->state = UP_CLOSED;
	/* Streams still on it learn the connection is gone. */
	if (u->proto == HTTP_PROTO_H1 && u->stream) {
		struct http_stream *s = u->stream;
		u->stream = NULL;
		s->up = NULL;
		if (!s->resp_head_ready)
			http_stream_upstream_failed(s, connected ? "UC" : "UF",
						    connected ? "upstream_reset_before_response_started"
							      : "upstream_connect_failed");
		else if (!s->resp_end)
			http_stream_upstream_reset(s);
	}
	while (!list_empty(&u->streams)) {
		struct http_stream *s = container_of(u->streams.next, struct http_stream, up_link);
		list_del(&s->up_link);
		nghttp2_session_set_stream_user_data(u->h2, s->up_id, NULL);
		s->up = NULL;
		if (!s->resp_head_ready)
			http_stream_upstream_failed(s, connected ? "UC" : "UF",
						    connected ? "upstream_reset_before_response_started"
							      : "upstream_connect_failed");
		else if (!s->resp_end)
			http_stream_upstream_reset(s);
	}
	u->n_streams = 0;
	keep_tls_session(u);
	if (reset) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(u->s.io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else if (u->s.t.ssl && connected) {
		enum transport_wait wait; /* closing now: no second try */
		u->s.t.ops->shutdown_write(&u->s.t, &wait); /* close_notify */
	}
	if (u->s.io.fd >= 0)
		close(u->s.io.fd);
	u->s.io.fd = -1;
	stats_add(u->cstats, STAT_CX_DESTROY, 1);
	breaker_release(u->c->stats_id, BREAKER_CONNECTIONS);
	struct cluster_rt *rt = cluster_rt_get(&u->w->clusters, u->c);
	if (rt && rt->c == u->c && u->host < rt->n_hosts && rt->hosts[u->host].active_cx)
		rt->hosts[u->host].active_cx--;
	list_del(&u->link);
	if (list_linked(&u->ready))
		list_del(&u->ready);
	list_del(&u->all);
	list_add_tail(&hw_of(u)->closed_ups, &u->all);
	struct host_pool *hp = u->pool;
	u->pool = NULL;
	if (hp) {
		hp->n_conns--;
		/* What the waiters do may close other connections of hp, whose
		 * up_close must not free hp under this loop. */
		hp->holds++;
		if (!list_empty(&hp->waiters)) {
			if (!connected && hp->n_conns == 0) {
				/* The endpoint is unreachable: its waiters try again
				 * (another endpoint, a retry) or fail. */
				while (!list_empty(&hp->waiters)) {
					struct http_stream *s =
						container_of(hp->waiters.next, struct http_stream, wait_link);
					http_up_unwait(s);
					http_stream_upstream_failed(s, "UF", "upstream_connect_failed");
				}
			} else {
				serve_waiters(hp);
			}
		}
		hp->holds--;
		struct cluster_pools *cp = hp->cp;
		dyn_pool_maybe_free(hp);
		cluster_pools_maybe_free(u->w, cp);
	}
	worker_snap_release(u->w, u->ws);
}

static void on_up_event(struct io *io, uint32_t events);

static int socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

static struct http_up *up_open(struct http_stream *s, struct host_pool *hp)
{
	struct worker *w = s->down->w;
	const struct cluster *c = s->cluster;
	struct http_up *u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->w = w;
	u->ws = hp->cp->ws;
	u->ws->sessions++;
	u->c = c;
	u->pool = hp;
	u->host = hp->host;
	u->addr = hp->addr;
	u->cstats = stats_scope(w->index, c->stats_id);
	u->proto = c->protocol == UPSTREAM_HTTP2 ? HTTP_PROTO_H2 : HTTP_PROTO_H1;
	u->state = UP_CONNECTING;
	u->connect_start_ms = w->loop.now_ms;
	list_init(&u->ready);
	list_init(&u->link);
	list_init(&u->streams);
	list_add_tail(&hw_of(u)->ups, &u->all);
	list_add_tail(&hp->busy, &u->link);
	hp->n_conns++;
	breaker_add(c->stats_id, BREAKER_CONNECTIONS);
	if (hp->host < s->rt->n_hosts)
		s->rt->hosts[hp->host].active_cx++;
	stats_add(u->cstats, STAT_CX_TOTAL, 1);
	int fd = netns_socket(c->netns, u->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
	u->s.io = (struct io){ .fd = fd, .cb = on_up_event };
	transport_init_raw(&u->s.t, fd);
	if (fd < 0)
		return u; /* up_run fails it */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->has_source_address) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&c->source_address.ss, c->source_address.len) < 0)
			goto fail;
	}
	if (loop_add(&w->loop, &u->s.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0)
		goto fail;
	if (connect(fd, (const struct sockaddr *)&u->addr.ss, u->addr.len) < 0 && errno != EINPROGRESS)
		goto fail;
	return u;
fail:
	close(fd);
	u->s.io.fd = -1;
	return u;
}

/* ------------------------------------------------------------ HTTP/1 out */

static int out(struct http_up *u, const char *p, size_t len)
{
	return bodyq_append(&u->out, &u->w->bufs, p, len);
}

static bool method_is(const struct http_head *h, const char *m)
{
	return h->method.p && strcmp(h->method.p, m) == 0;
}

static int h1_write_head(struct http_up *u, struct http_stream *s)
{
	const struct http_head *r = &s->req;
	int rc = 0;
	rc |= out(u, r->method.p, r->method.len);
	rc |= out(u, " ", 1);
	if (s->connect)
		rc |= out(u, r->authority.p, r->authority.len);
	else
		rc |= out(u, r->path.p ? r->path.p : "/", r->path.p ? r->path.len : 1);
	rc |= out(u, " HTTP/1.1\r\nhost: ", 17);
	if (r->authority.p)
		rc |= out(u, r->authority.p, r->authority.len);
	rc |= out(u, "\r\n", 2);
	bool has_cl = false;
	for (uint32_t i = 0; i < r->n_fields; i++) {
		const struct http_field *f = &r->fields[i];
		if (f->name.len == 2 && memcmp(f->name.p, "te", 2) == 0)
			continue; /* hop-by-hop ("trailers" is HTTP/2's business) */
		if (f->name.len == 14 && memcmp(f->name.p, "content-length", 14) == 0)
			has_cl = true;
		rc |= out(u, f->name.p, f->name.len);
		rc |= out(u, ": ", 2);
		rc |= out(u, f->value.p, f->value.len);
		rc |= out(u, "\r\n", 2);
	}
	s->req_chunked = false;
	if (s->upgrade) {
		rc |= out(u, "connection: upgrade\r\nupgrade: ", 30);
		rc |= out(u, s->upgrade_proto, strlen(s->upgrade_proto));
		rc |= out(u, "\r\n", 2);
	} else if (!has_cl && !s->connect) {
		if (!s->req_end || s->reqq.bytes) {
			s->req_chunked = true;
			rc |= out(u, "transfer-encoding: chunked\r\n", 28);
		} else if (method_is(r, "POST") || method_is(r, "PUT") || method_is(r, "PATCH")) {
			rc |= out(u, "content-length: 0\r\n", 19);
		}
	}
	rc |= out(u, "\r\n", 2);
	return rc ? -ENOMEM : 0;
}

/* Moves request body bytes (and the end) to the output. */
static int h1_write_body(struct http_up *u, struct http_stream *s)
{
	while (s->reqq.bytes && u->out.bytes < OUT_LIMIT) {
		char chunk[16384];
		size_t n = bodyq_take(&s->reqq, &u->w->bufs, chunk, sizeof(chunk));
		if (s->req_chunked) {
			char hdr[24];
			int h = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
			if (out(u, hdr, (size_t)h) < 0)
				return -ENOMEM;
		}
		if (out(u, chunk, n) < 0 || (s->req_chunked && out(u, "\r\n", 2) < 0))
			return -ENOMEM;
		http_down_request_consumed(s, n);
	}
	if (s->req_end && !s->reqq.bytes && !s->req_sent_end) {
		s->req_sent_end = true;
		if (s->req_chunked) {
			int rc = out(u, "0\r\n", 3);
			for (uint32_t i = 0; i < s->req_trailers.n_fields; i++) {
				const struct http_field *f = &s->req_trailers.fields[i];
				rc |= out(u, f->name.p, f->name.len);
				rc |= out(u, ": ", 2);
				rc |= out(u, f->value.p, f->value.len);
				rc |= out(u, "\r\n", 2);
			}
			rc |= out(u, "\r\n", 2);
			if (rc)
				return -ENOMEM;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- HTTP/1 in */

static int h1r_on_message_begin(void *user)
{
	struct http_up *u = user;
	struct http_stream *s = u->stream;
	if (!s)
		return -1;
	enum h1_method m = method_is(&s->req, "HEAD")      ? H1_METHOD_HEAD
			   : s->connect			 ? H1_METHOD_CONNECT
							 : H1_METHOD_GET;
	h1_parser_set_request_method(&u->parser, m);
	return 0;
}

static int h1r_on_status_line(void *user, const struct h1_status_line *sl)
{
	struct http_up *u = user;
	if (!u->stream)
		return -1;
	u->stream->resp.status = sl->status;
	return 0;
}

static int h1r_on_header(void *user, struct h1_slice name, struct h1_slice value)
{
	struct http_up *u = user;
	if (!u->stream)
		return -1;
	return http_head_add(&u->stream->resp, name.p, name.len, value.p, value.len);
}

static int h1r_on_headers_complete(void *user, const struct h1_head *head)
{
	struct http_up *u = user;
	struct http_stream *s = u->stream;
	if (!s)
		return -1;
	if (head->interim) {
		/* 100 Continue and friends: the client had its own already. */
		http_head_clear(&s->resp);
		return 0;
	}
	u->keep_alive = head->keep_alive;
	if (head->tunnel)
		u->tunnel = true;
	if (head->framing == H1_FRAMING_NONE && !head->tunnel)
		s->resp_end = true;
	http_stream_response_head(s);
	if (u->stream != s)
		return H1_PAUSE; /* the stream left (a retry): stop here */
	if (s->resp_end) {
		http_stream_response_data(s);
	}
	return 0;
}

static int h1r_on_body(void *user, const char *data, size_t len)
{
	struct http_up *u = user;
	struct http_stream *s = u->stream;
	if (!s)
		return -1;
	if (bodyq_append(&s->respq, &u->w->bufs, data, len) < 0)
		return -1;
	http_stream_response_data(s);
	if (s->respq.bytes >= HTTP_QUEUE_LIMIT)
		return H1_PAUSE;
	return 0;
}

static int h1r_on_trailer(void *user, struct h1_slice name, struct h1_slice value)
{
	struct http_up *u = user;
	if (!u->stream)
		return -1;
	return http_head_add(&u->stream->resp_trailers, name.p, name.len, value.p, value.len);
}

static void release_h1(struct http_up *u);

static int h1r_on_message_complete(void *user)
{
	struct http_up *u = user;
	struct http_stream *s = u->stream;
	if (!s)
		return -1;
	if (u->tunnel)
		return H1_PAUSE; /* the head of a tunnel: its bytes follow */
	if (!s->resp_end) {
		s->resp_end = true;
		http_stream_response_data(s);
	}
	return H1_PAUSE; /* release_h1 runs once the parse call returns */
}

static const struct h1_callbacks h1_response_callbacks = {
	.on_message_begin = h1r_on_message_begin,
	.on_status_line = h1r_on_status_line,
	.on_header = h1r_on_header,
	.on_headers_complete = h1r_on_headers_complete,
	.on_body = h1r_on_body,
	.on_trailer = h1r_on_trailer,
	.on_message_complete = h1r_on_message_complete,
};

/* The HTTP/1 exchange is over: back to the pool, or closed. */
static void release_h1(struct http_up *u)
{
	struct http_stream *s = u->stream;
	bool reusable = u->keep_alive && s && s->req_sent_end && !u->tunnel && u->pool &&
			!u->pool->cp->retired && u->out.bytes == 0 && (!u->in || !buf_len(u->in)) &&
			(!u->c->max_requests_per_connection ||
			 u->requests < u->c->max_requests_per_connection);
	if (s) {
		s->up = NULL;
		u->stream = NULL;
	}
	if (!reusable)
		return up_close(u, false);
	h1_parser_init(&u->parser, H1_RESPONSE, &h1_response_callbacks, u, NULL);
	u->idle_since_ms = u->w->loop.now_ms;
	list_del(&u->link);
	list_add_tail(&u->pool->idle, &u->link);
	serve_waiters(u->pool);
}

/* ---------------------------------------------------------------- HTTP/2 */

static ssize_t h2_read_request(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t len,
			       uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct http_up *u = user;
	struct http_stream *s = src->ptr;
	if (!s || s->up != u)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = bodyq_take(&s->reqq, &u->w->bufs, buf, len);
	if (n)
		http_down_request_consumed(s, n);
	if (s->reqq.bytes == 0 && s->req_end) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		s->req_sent_end = true;
		if (s->req_trailers.n_fields) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_nv nva[64];
			size_t k = 0;
			for (uint32_t i = 0; i < s->req_trailers.n_fields && k < 64; i++) {
				const struct http_field *f = &s->req_trailers.fields[i];
				nva[k++] = (nghttp2_nv){ (uint8_t *)f->name.p, (uint8_t *)f->value.p,
							 f->name.len, f->value.len,
							 NGHTTP2_NV_FLAG_NO_COPY_NAME |
								 NGHTTP2_NV_FLAG_NO_COPY_VALUE };
			}
			nghttp2_submit_trailer(h2, id, nva, k);
		}
		return (ssize_t)n;
	}
	if (n == 0) {
		s->up_deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

static int h2_submit(struct http_up *u, struct http_stream *s)
{
	const struct http_head *r = &s->req;
	nghttp2_nv nva[140];
	size_t k = 0;
#define NV(n, nl, v, vl)                                                                      \
	(nghttp2_nv)                                                                          \
	{                                                                                     \
		(uint8_t *)(n), (uint8_t *)(v), (nl), (vl),                                   \
			NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE          \
	}
	nva[k++] = NV(":method", 7, r->method.p, r->method.len);
	if (!s->connect) {
		const char *scheme = u->s.t.ssl ? "https" : "http";
		nva[k++] = NV(":scheme", 7, scheme, strlen(scheme));
		nva[k++] = NV(":path", 5, r->path.p ? r->path.p : "/", r->path.p ? r->path.len : 1);
	}
	if (r->authority.p)
		nva[k++] = NV(":authority", 10, r->authority.p, r->authority.len);
	for (uint32_t i = 0; i < r->n_fields && k < 140; i++) {
		const struct http_field *f = &r->fields[i];
		if (f->name.len == 2 && memcmp(f->name.p, "te", 2) == 0 &&
		    !(f->value.len == 8 && memcmp(f->value.p, "trailers", 8) == 0))
			continue; /* HTTP/2 allows TE: trailers only */
		nva[k++] = NV(f->name.p, f->name.len, f->value.p, f->value.len);
	}
#undef NV
	nghttp2_data_provider prd = { .source.ptr = s, .read_callback = h2_read_request };
	bool no_body = s->req_end && s->reqq.bytes == 0 && s->req_trailers.n_fields == 0;
	int32_t id = nghttp2_submit_request(u->h2, NULL, nva, k, no_body ? NULL : &prd, s);
	if (id < 0)
		return -1;
	if (no_body)
		s->req_sent_end = true;
	s->up_id = id;
	u->n_streams++;
	list_add_tail(&u->streams, &s->up_link);
	return 0;
}

static struct http_stream *h2_stream(struct http_up *u, int32_t id)
{
	struct http_stream *s = nghttp2_session_get_stream_user_data(u->h2, id);
	return s && s->up == u ? s : NULL;
}

static int h2_on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	(void)h2;
	(void)frame;
	struct http_up *u = user;
	u->header_bytes = u->header_count = 0;
	return 0;
}

static int h2_on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
			size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	(void)h2;
	(void)flags;
	struct http_up *u = user;
	struct http_stream *s = h2_stream(u, frame->hd.stream_id);
	if (!s)
		return 0;
	u->header_bytes += (uint32_t)(namelen + valuelen + 32);
	if (++u->header_count > 200 || u->header_bytes > u->c->http2.max_header_list_bytes) {
		stats_add(u->cstats, STAT_PROTOCOL_ERROR, 1);
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	const char *n = (const char *)name, *v = (const char *)value;
	if (s->resp_head_ready)
		return http_head_add(&s->resp_trailers, n, namelen, v, valuelen) < 0
			       ? NGHTTP2_ERR_CALLBACK_FAILURE
			       : 0;
	if (namelen == 7 && memcmp(n, ":status", 7) == 0) {
		s->resp.status = (uint16_t)atoi(v);
		return 0;
	}
	if (namelen && n[0] == ':')
		return 0;
	return http_head_add(&s->resp, n, namelen, v, valuelen) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE
								    : 0;
}

static int h2_on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
	(void)h2;
	struct http_up *u = user;
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		u->goaway = true;
		if (u->pool) {
			list_del(&u->link);
			list_add_tail(&u->pool->busy, &u->link);
		}
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	struct http_stream *s = h2_stream(u, frame->hd.stream_id);
	if (!s)
		return 0;
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (frame->hd.type == NGHTTP2_HEADERS && !s->resp_head_ready) {
		if (s->resp.status >= 100 && s->resp.status < 200) {
			http_head_clear(&s->resp); /* interim */
			return 0;
		}
		s->resp_end = end;
		http_stream_response_head(s);
		if (end && s->up == u)
			http_stream_response_data(s);
		return 0;
	}
	if (end) {
		s->resp_end = true;
		http_stream_response_data(s);
	}
	return 0;
}

static int h2_on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data,
			    size_t len, void *user)
{
	(void)flags;
	struct http_up *u = user;
	struct http_stream *s = h2_stream(u, id);
	if (!s) {
		nghttp2_session_consume(h2, id, len);
		return 0;
	}
	if (bodyq_append(&s->respq, &u->w->bufs, data, len) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	http_stream_response_data(s);
	return 0;
}

static int h2_on_stream_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user)
{
	struct http_up *u = user;
	struct http_stream *s = nghttp2_session_get_stream_user_data(h2, id);
	if (u->n_streams)
		u->n_streams--;
	if (s && s->up == u) {
		nghttp2_session_set_stream_user_data(h2, id, NULL);
		list_del(&s->up_link);
		/* Bytes still queued for the client were never consumed: hand the
		 * connection its window back now that the stream cannot. */
		if (s->respq.bytes)
			nghttp2_session_consume_connection(h2, s->respq.bytes);
		s->up = NULL;
		if (!s->resp_head_ready) {
			bool refused = error_code == NGHTTP2_REFUSED_STREAM;
			http_stream_upstream_failed(s, refused ? "URS" : "UR",
						    "upstream_reset_before_response_started");
		} else if (!s->resp_end) {
			http_stream_upstream_reset(s);
		}
	}
	if (u->pool && !u->goaway && u->state == UP_READY) {
		/* A slot opened: back on the ready list, and waiters get it. */
		list_del(&u->link);
		list_add_tail(&u->pool->idle, &u->link);
		if (u->n_streams == 0)
			u->idle_since_ms = u->w->loop.now_ms;
		serve_waiters(u->pool);
	}
	return 0;
}

static int h2_start(struct http_up *u)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
	nghttp2_option *opt;
	int rc = h2_options_new(&opt, &u->c->http2);
	if (rc == 0) {
		rc = nghttp2_session_client_new2(&u->h2, cb, u, opt) ? -ENOMEM : 0;
		nghttp2_option_del(opt);
	}
	nghttp2_session_callbacks_del(cb);
	if (rc)
		return rc;
	return h2_submit_settings(u->h2, &u->c->http2, false) ? -ENOMEM : 0;
}

/* How many more streams the peer lets us open. */
static bool h2_has_room(struct http_up *u)
{
	if (u->goaway || u->state != UP_READY)
		return false;
	uint32_t max = nghttp2_session_get_remote_settings(u->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	if (max > u->c->http2.max_concurrent_streams)
		max = u->c->http2.max_concurrent_streams;
	return u->n_streams < max;
}

/* ------------------------------------------------------- attaching streams */

/* Puts s on connection u and starts sending. */
static void attach(struct http_up *u, struct http_stream *s)
{
	s->up = u;
	u->requests++;
	http_stream_upstream_attached(s);
	if (u->proto == HTTP_PROTO_H1) {
		u->stream = s;
		u->keep_alive = true;
		u->tunnel = false;
		if (h1_write_head(u, s) < 0 || h1_write_body(u, s) < 0)
			return up_close(u, true);
	} else if (h2_submit(u, s) < 0) {
		s->up = NULL;
		return http_stream_upstream_failed(s, "UR", "upstream_reset_before_response_started");
	}
	up_schedule(u);
}

static void serve_waiters(struct host_pool *hp)
{
	while (!list_empty(&hp->waiters)) {
		struct http_up *u = NULL;
		struct list *n;
		for (n = hp->idle.next; n != &hp->idle; n = n->next) {
			struct http_up *c = container_of(n, struct http_up, link);
			if (c->proto == HTTP_PROTO_H1 ? c->stream == NULL : h2_has_room(c)) {
				u = c;
				break;
			}
		}
		if (!u)
			return;
		struct http_stream *s = container_of(hp->waiters.next, struct http_stream, wait_link);
		http_up_unwait(s);
		if (u->proto == HTTP_PROTO_H1) {
			list_del(&u->link);
			list_add_tail(&hp->busy, &u->link);
		}
		attach(u, s);
	}
}

const char *http_up_start(struct http_stream *s, size_t host)
{
	struct host_pool *hp = pool_get(s, host);
	if (!hp)
		return "UF";
	const struct cluster *c = s->cluster;
	bool h2 = c->protocol == UPSTREAM_HTTP2;
	bool dedicated = s->upgrade || s->connect; /* tunnels never share */
	if (!dedicated) {
		struct list *n;
		for (n = hp->idle.next; n != &hp->idle; n = n->next) {
			struct http_up *u = container_of(n, struct http_up, link);
			if (u->proto == HTTP_PROTO_H1 ? u->stream == NULL : h2_has_room(u)) {
				if (u->proto == HTTP_PROTO_H1) {
					list_del(&u->link);
					list_add_tail(&hp->busy, &u->link);
				}
				stats_add(stats_scope(s->down->w->index, c->stats_id), STAT_CX_POOL_REUSE, 1);
				attach(u, s);
				return NULL;
			}
		}
		/* HTTP/2: a connection on its way will have room. */
		if (h2)
			for (n = hp->busy.next; n != &hp->busy; n = n->next) {
				struct http_up *u = container_of(n, struct http_up, link);
				if (u->state != UP_READY && u->state != UP_CLOSED && !u->goaway)
					goto wait;
			}
	}
	if (breaker_count(c->stats_id, BREAKER_CONNECTIONS) >= c->breakers.max_connections) {
		stats_add(stats_scope(s->down->w->index, c->stats_id), STAT_CX_OVERFLOW, 1);
		/* As Envoy: a pool without a connection opens one anyway. Its
		 * waiters would otherwise wait on other pools' connections (other
		 * endpoints, other original destinations), and nothing hands
		 * those over. */
		if (hp->n_conns)
			goto wait;
	}
	struct http_up *u = up_open(s, hp);
	if (!u) {
		dyn_pool_maybe_free(hp);
		return "UF";
	}
	if (dedicated) {
		/* Tunnels speak HTTP/1.1 even toward an HTTP/2 cluster: the
		 * upgrade is a property of one HTTP/1 connection. */
		u->proto = HTTP_PROTO_H1;
	}
	if (u->proto == HTTP_PROTO_H1) {
		/* The stream rides this connection from the start. */
		u->stream = s;
		s->up = u;
		u->requests++;
		u->keep_alive = !dedicated;
		h1_parser_init(&u->parser, H1_RESPONSE, &h1_response_callbacks, u, NULL);
		if (u->s.io.fd < 0) {
			up_close(u, false);
			return NULL; /* up_close failed the stream (and maybe retried it) */
		}
		return NULL;
	}
	if (u->s.io.fd < 0) {
		up_close(u, false);
		return "UF";
	}
wait:
	if (!breaker_acquire(c->stats_id, BREAKER_PENDING, c->breakers.max_pending_requests)) {
		stats_add(stats_scope(s->down->w->index, c->stats_id), STAT_RQ_PENDING_OVERFLOW, 1);
		dyn_pool_maybe_free(hp);
		return "UO";
	}
	s->counted_pending = true;
	list_add_tail(&hp->waiters, &s->wait_link);
	s->wait_pool = hp;
	return NULL;
}

void http_up_unwait(struct http_stream *s)
{
	struct host_pool *hp = s->wait_pool;
	if (!hp)
		return;
	list_del(&s->wait_link);
	s->wait_pool = NULL;
	if (s->counted_pending) {
		breaker_release(s->cluster->stats_id, BREAKER_PENDING);
		s->counted_pending = false;
	}
	struct cluster_pools *cp = hp->cp;
	dyn_pool_maybe_free(hp);
	cluster_pools_maybe_free(s->down->w, cp);
}

void http_up_request_ready(struct http_stream *s)
{
	struct http_up *u = s->up;
	if (!u || u->state != UP_READY)
		return;
	if (u->proto == HTTP_PROTO_H2) {
		if (s->up_deferred) {
			s->up_deferred = false;
			nghttp2_session_resume_data(u->h2, s->up_id);
		}
	} else if (u->tunnel || s->resp_head_ready || !s->req_sent_end) {
		if (h1_write_body(u, s) < 0)
			return up_close(u, true);
	}
	up_schedule(u);
}

void http_up_response_consumed(struct http_stream *s, size_t n)
{
	struct http_up *u = s->up;
	http_stream_touch(s);
	if (!u)
		return;
	if (u->proto == HTTP_PROTO_H2) {
		nghttp2_session_consume(u->h2, s->up_id, n);
		up_schedule(u);
	} else if (s->respq.bytes < HTTP_QUEUE_LIMIT / 2) {
		up_schedule(u); /* reading may resume */
	}
}

void http_up_detach(struct http_stream *s, bool reset)
{
	struct http_up *u = s->up;
	if (!u)
		return;
	s->up = NULL;
	if (u->proto == HTTP_PROTO_H1) {
		u->stream = NULL;
		if (reset || !s->resp_end || !s->req_sent_end)
			up_close(u, reset);
		else
			release_h1(u);
		return;
	}
	nghttp2_session_set_stream_user_data(u->h2, s->up_id, NULL);
	if (list_linked(&s->up_link)) {
		list_del(&s->up_link);
		if (s->respq.bytes)
			nghttp2_session_consume(u->h2, s->up_id, s->respq.bytes);
	}
	if (reset && u->state == UP_READY) {
		nghttp2_submit_rst_stream(u->h2, NGHTTP2_FLAG_NONE, s->up_id, NGHTTP2_CANCEL);
		up_schedule(u);
	}
}

/* --------------------------------------------------------------- driving */

static bool handshake(struct http_up *u)
{
	enum transport_wait wait;
	enum tls_verdict v = (enum tls_verdict)transport_tls_handshake(&u->s.t, &wait);
	if (v == TLS_VERDICT_PENDING) {
		if (wait == TRANSPORT_WAIT_READ)
			u->s.readable = false;
		else
			u->s.writable = false;
		return false;
	}
	if (v != TLS_VERDICT_OK) {
		stats_add(u->cstats, STAT_SSL_ERROR, 1);
		log_info("upstream %s: TLS handshake refused: %s (%s)", u->c->name, tls_verdict_str(v),
			 tls_verdict_detail(u->s.t.ssl));
		up_close(u, true);
		return false;
	}
	stats_add(u->cstats, STAT_SSL_HANDSHAKE, 1);
	if (SSL_session_reused(u->s.t.ssl))
		stats_add(u->cstats, STAT_SSL_SESSION_REUSED, 1);
	u->peer_id = tls_peer_spiffe_id(u->s.t.ssl, NULL);
	const unsigned char *alpn = NULL;
	unsigned alen = 0;
	SSL_get0_alpn_selected(u->s.t.ssl, &alpn, &alen);
	if (alen == 8 && memcmp(alpn, "http/1.1", 8) == 0)
		u->proto = HTTP_PROTO_H1;
	return true;
}

static bool start_tls(struct http_up *u)
{
	const struct tls_config *tls = u->c->tls;
	SSL *ssl = SSL_new(tls->ctx);
	if (!ssl) {
		ERR_clear_error();
		return false;
	}
	transport_init_tls(&u->s.t, u->s.io.fd, ssl);
	SSL_set_connect_state(ssl);
	if (tls->sni)
		SSL_set_tlsext_host_name(ssl, tls->sni);
	if (u->proto == HTTP_PROTO_H1 && u->stream && (u->stream->upgrade || u->stream->connect)) {
		static const unsigned char h1[] = "\x08http/1.1";
		SSL_set_alpn_protos(ssl, h1, sizeof(h1) - 1);
	}
	tls_session_cache_resume(&u->w->tls_sessions, u->c->stats_id, &u->addr, ssl);
	return true;
}

/* The connection is up (TCP, and TLS when asked for): start the codec and
 * take streams. */
static void connected(struct http_up *u)
{
	u->state = UP_READY;
	stats_add(u->cstats, u->proto == HTTP_PROTO_H2 ? STAT_HTTP2_CX : STAT_HTTP1_CX, 1);
	if (u->proto == HTTP_PROTO_H2) {
		if (h2_start(u) < 0)
			return up_close(u, true);
		if (u->pool) {
			list_del(&u->link);
			list_add_tail(&u->pool->idle, &u->link);
			serve_waiters(u->pool);
		}
		return;
	}
	if (u->stream) {
		struct http_stream *s = u->stream;
		http_stream_upstream_attached(s);
		if (h1_write_head(u, s) < 0 || h1_write_body(u, s) < 0)
			return up_close(u, true);
	} else if (u->pool) {
		list_del(&u->link);
		list_add_tail(&u->pool->idle, &u->link);
		serve_waiters(u->pool);
	}
}

static bool flush(struct http_up *u)
{
	while (u->out.bytes && u->s.writable) {
		enum transport_wait wait;
		ssize_t n = bodyq_write(&u->out, &u->w->bufs, &u->s.t, &wait);
		if (n == -EAGAIN) {
			if (wait == TRANSPORT_WAIT_READ)
				u->s.readable = false;
			else
				u->s.writable = false;
			return true;
		}
		if (n < 0)
			return false;
		stats_add(u->cstats, STAT_TX_BYTES, (uint64_t)n);
	}
	return true;
}

static void h1_feed(struct http_up *u)
{
	while (u->state == UP_READY) {
		uint32_t have = u->in ? buf_len(u->in) : 0;
		struct http_stream *s = u->stream;
		if (!s) {
			if (!have)
				return;
			/* Bytes nobody asked for on an idle connection. */
			stats_add(u->cstats, STAT_PROTOCOL_ERROR, 1);
			return up_close(u, true);
		}
		if (s->respq.bytes >= HTTP_QUEUE_LIMIT)
			return; /* the client is slow: wait */
		if (u->tunnel && s->resp_head_ready) {
			if (!have)
				return;
			if (bodyq_append(&s->respq, &u->w->bufs, u->in->data + u->in->start, have) < 0)
				return up_close(u, true);
			buf_consume(u->in, have);
			http_stream_response_data(s);
			return;
		}
		/* Called with no bytes too: a parser paused right after the last
		 * body byte still owes on_message_complete. */
		size_t used = 0;
		int rc = h1_parse(&u->parser, have ? u->in->data + u->in->start : "", have, &used);
		if (used)
			buf_consume(u->in, (uint32_t)used);
		if (rc == H1_PARSE_ERROR) {
			stats_add(u->cstats, STAT_PROTOCOL_ERROR, 1);
			log_debug("upstream %s: bad response: %s", u->c->name,
				  h1_error_name(h1_parser_error(&u->parser)));
			if (u->stream && !u->stream->resp_head_ready) {
				struct http_stream *st = u->stream;
				u->stream = NULL;
				st->up = NULL;
				up_close(u, true);
				http_stream_upstream_failed(st, "UPE", "upstream_protocol_error");
				return;
			}
			return up_close(u, true);
		}
		if (rc == H1_PARSE_TUNNEL)
			continue; /* the tunnel branch above takes the rest */
		if (rc == H1_PARSE_OK)
			return; /* all used, or an unfinished line: more bytes needed */
		/* Paused: the message is complete, or the client's queue is full. */
		if (u->stream && u->stream->resp_end && !u->tunnel) {
			if (u->stream->req_sent_end) {
				release_h1(u);
			} else {
				/* The response came before the request was out (an
				 * early error reply): the connection cannot be reused,
				 * but the stream keeps its response. */
				u->stream->up = NULL;
				u->stream = NULL;
				up_close(u, false);
			}
			return;
		}
		if (u->stream != s)
			return;
	}
}

static void h2_feed(struct http_up *u)
{
	if (!u->in || !buf_len(u->in))
		return;
	ssize_t n = nghttp2_session_mem_recv(u->h2, (const uint8_t *)u->in->data + u->in->start,
					     buf_len(u->in));
	if (n < 0) {
		stats_add(u->cstats, n == NGHTTP2_ERR_FLOODED ? STAT_H2_FLOOD : STAT_PROTOCOL_ERROR, 1);
		log_debug("upstream %s: http2: %s", u->c->name, nghttp2_strerror((int)n));
		return up_close(u, true);
	}
	buf_consume(u->in, (uint32_t)n);
}

static void h2_produce(struct http_up *u)
{
	while (u->out.bytes < OUT_LIMIT) {
		const uint8_t *data;
		ssize_t len = nghttp2_session_mem_send(u->h2, &data);
		if (len < 0)
			return up_close(u, true);
		if (len == 0)
			break;
		if (out(u, (const char *)data, (size_t)len) < 0)
			return up_close(u, true);
	}
	if (u->goaway && u->n_streams == 0 && u->out.bytes == 0)
		up_close(u, false);
}

static void up_run(struct http_up *u)
{
	for (int budget = UP_BUDGET; budget > 0 && u->state != UP_CLOSED; budget--) {
		if (u->state == UP_CONNECTING) {
			if (u->s.io.fd < 0)
				return up_close(u, false);
			if (!u->s.writable)
				return;
			int err = socket_error(u->s.io.fd);
			if (err) {
				stats_add(u->cstats, STAT_CONNECT_FAIL, 1);
				log_debug("upstream %s: connect failed: %s", u->c->name, strerror(err));
				return up_close(u, false);
			}
			if (u->c->tls) {
				if (!start_tls(u))
					return up_close(u, true);
				u->state = UP_HANDSHAKING;
			} else {
				connected(u);
			}
		}
		if (u->state == UP_HANDSHAKING) {
			if (!handshake(u))
				return;
			connected(u);
		}
		if (u->state != UP_READY)
			return;
		bool progress = false;
		/* Read unless the stream's response queue is full (HTTP/1). */
		bool want_read = u->proto == HTTP_PROTO_H2 ||
				 !(u->stream && u->stream->respq.bytes >= HTTP_QUEUE_LIMIT);
		if (u->s.readable && want_read && (!u->in || buf_space(u->in))) {
			if (!u->in && !(u->in = buf_pool_get(&u->w->bufs)))
				return up_close(u, true);
			enum transport_wait wait;
			bool drained = false;
			ssize_t n = u->s.t.ops->read(&u->s.t, u->in->data + u->in->end, buf_space(u->in),
						     &wait, &drained);
			if (n > 0) {
				u->in->end += (uint32_t)n;
				stats_add(u->cstats, STAT_RX_BYTES, (uint64_t)n);
				if (drained && !u->s.peer_closed)
					u->s.readable = false;
				progress = true;
			} else if (n == 0) {
				if (u->proto == HTTP_PROTO_H1 && u->stream) {
					struct http_stream *s = u->stream;
					if (u->tunnel && s->resp_head_ready) {
						s->resp_end = true;
						http_stream_response_data(s);
					} else if (h1_parse_eof(&u->parser, buf_len(u->in)) == H1_PARSE_OK &&
						   s->resp_end) {
						http_stream_response_data(s);
					}
				}
				return up_close(u, false);
			} else if (n == -EAGAIN) {
				if (wait == TRANSPORT_WAIT_READ)
					u->s.readable = false;
				else
					u->s.writable = false;
			} else {
				return up_close(u, true);
			}
		}
		uint32_t unparsed = u->in ? buf_len(u->in) : 0;
		if (u->proto == HTTP_PROTO_H1)
			h1_feed(u);
		else
			h2_feed(u);
		if (u->state != UP_READY)
			return;
		if (u->in && buf_len(u->in) < unparsed)
			progress = true; /* room to read again */
		if (u->proto == HTTP_PROTO_H2) {
			h2_produce(u);
		} else if (u->stream && (u->tunnel || !u->stream->req_sent_end) &&
			   u->out.bytes < OUT_LIMIT) {
			/* More of the request body, as the output drains. */
			if (h1_write_body(u, u->stream) < 0)
				return up_close(u, true);
		}
		if (u->state != UP_READY)
			return;
		uint64_t before = u->out.bytes;
		if (!flush(u))
			return up_close(u, true);
		if (u->out.bytes < before)
			progress = true;
		if (u->tunnel && u->stream && u->stream->req_sent_end && !u->out.bytes &&
		    !u->shut_wr) {
			/* The client finished its side of the tunnel: pass the FIN on,
			 * on the next EPOLLOUT if the close_notify found no room. */
			enum transport_wait wait;
			if (u->s.t.ops->shutdown_write(&u->s.t, &wait) == 0)
				u->shut_wr = true;
			else
				u->s.writable = false;
		}
		if (!progress)
			return;
	}
	up_schedule(u);
}

void http_up_run_ready(struct http_up *u)
{
	up_run(u);
}

static void on_up_event(struct io *io, uint32_t events)
{
	struct http_up *u = container_of(io, struct http_up, s.io);
	if (u->state == UP_CLOSED)
		return;
	if (u->state == UP_CONNECTING && (events & (EPOLLERR | EPOLLHUP))) {
		int err = socket_error(io->fd);
		stats_add(u->cstats, STAT_CONNECT_FAIL, 1);
		log_debug("upstream %s: connect failed: %s", u->c->name,
			  strerror(err ? err : ECONNRESET));
		return up_close(u, false);
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		u->s.readable = true;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		u->s.peer_closed = true;
	if (events & EPOLLOUT)
		u->s.writable = true;
	up_run(u);
}

/* Connect timeouts and idle pooled connections; the worker's sweep. */
void http_up_sweep(struct http_up *u, uint64_t now)
{
	if ((u->state == UP_CONNECTING || u->state == UP_HANDSHAKING) &&
	    now - u->connect_start_ms >= u->c->connect_timeout_ms) {
		stats_add(u->cstats, u->state == UP_CONNECTING ? STAT_CONNECT_TIMEOUT : STAT_SSL_TIMEOUT, 1);
		return up_close(u, true);
	}
	bool idle = u->state == UP_READY &&
		    (u->proto == HTTP_PROTO_H1 ? u->stream == NULL : u->n_streams == 0);
	if (idle && u->c->idle_timeout_ms && now - u->idle_since_ms >= u->c->idle_timeout_ms)
		up_close(u, false);
}

struct host_pools *http_pools_new(void)
{
	struct host_pools *t = calloc(1, sizeof(*t));
	if (t)
		list_init(&t->retired);
	return t;
}

/* Retires every pool (shutdown: connections are closed by the caller). */
void http_pools_free(struct worker *w, struct host_pools *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		if (t->by_id[i]) {
			struct cluster_pools *cp = t->by_id[i];
			t->by_id[i] = NULL;
			cluster_pools_retire(w, cp);
		}
	/* Whatever is left has no connection now: free it. */
	while (!list_empty(&t->retired)) {
		struct cluster_pools *cp = container_of(t->retired.next, struct cluster_pools,
							retired_link);
		list_del(&cp->retired_link);
		cluster_pools_destroy(w, cp);
	}
	free(t->by_id);
	free(t);
}
