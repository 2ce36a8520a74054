/* Active HTTP/1.1 health checks; see health_check.h.
 *
 * A check in flight must not touch the snapshot it started under: that one
 * may be freed before the check ends. So a check copies what it needs (the
 * request, the endpoint's address, the cluster's stats id) and, when it
 * ends, only closes its socket and waits on the `done` list. The next tick,
 * having bound every cluster's state to the current snapshot, records the
 * result on the host with the same address, if there still is one. */
#include "proxy/health_check.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/h1_parser.h"
#include "proxy/list.h"
#include "proxy/log.h"
#include "proxy/stats.h"
#include "proxy/transport.h"

/* hc_due_ms of a host whose check is in flight: never due again until the
 * result is recorded. */
#define DUE_IN_FLIGHT UINT64_MAX

struct hc_probe {
	struct io io;                /* fd -1 once finished */
	struct transport t;          /* raw, or TLS with the cluster's context */
	bool handshaking;            /* TLS: the handshake is not done yet */
	struct health_checker *hc;
	struct list link;            /* hc->probes, then hc->done */
	uint32_t stats_id;
	size_t host;                 /* the index when started: a hint */
	struct sock_addr addr;
	uint32_t interval_ms;
	uint64_t deadline_ms;
	uint64_t finished_ms;
	bool connected;
	bool ok;
	uint16_t status;             /* final status, once seen */
	char *req;                   /* HTTP: the request; TCP: the send payload */
	size_t req_len, sent;
	bool tcp;                    /* tcp_health_check */
	struct hc_payload *expect;   /* TCP: the receive blocks (copies), in order */
	size_t n_expect, found;      /* how many, how many found so far */
	struct h1_parser parser;
	size_t in_len;
	char in[HC_RESPONSE_MAX];
};

struct health_checker {
	struct loop *loop;
	struct cluster_rt_table *clusters;
	unsigned stats_worker;
	struct list probes;          /* in flight */
	struct list done;            /* finished, result not recorded yet */
	size_t n_probes;             /* both lists */
	uint64_t next_ms;
	/* Tick number in which each stats id was seen with health checking in
	 * the current snapshot: only then is its cluster_rt's c alive. */
	uint64_t tick;
	uint64_t *seen;
	size_t seen_cap;
};

struct health_checker *health_checker_new(struct loop *loop, struct cluster_rt_table *clusters,
					  unsigned stats_worker)
{
	struct health_checker *hc = calloc(1, sizeof(*hc));
	if (!hc)
		return NULL;
	hc->loop = loop;
	hc->clusters = clusters;
	hc->stats_worker = stats_worker;
	list_init(&hc->probes);
	list_init(&hc->done);
	hc->next_ms = UINT64_MAX;
	return hc;
}

static void probe_close(struct hc_probe *p)
{
	if (p->io.fd < 0)
		return;
	loop_del(p->hc->loop, &p->io);
	p->t.ops->release(&p->t);
	close(p->io.fd);
	p->io.fd = -1;
}

static void probe_free(struct hc_probe *p)
{
	probe_close(p);
	list_del(&p->link);
	p->hc->n_probes--;
	free(p->req);
	for (size_t i = 0; i < p->n_expect; i++)
		free(p->expect[i].data);
	free(p->expect);
	free(p);
}

void health_checker_free(struct health_checker *hc)
{
	if (!hc)
		return;
	while (!list_empty(&hc->probes))
		probe_free(container_of(hc->probes.next, struct hc_probe, link));
	while (!list_empty(&hc->done))
		probe_free(container_of(hc->done.next, struct hc_probe, link));
	free(hc->seen);
	free(hc);
}

uint64_t health_checker_next_ms(const struct health_checker *hc)
{
	if (!hc)
		return UINT64_MAX;
	return hc->next_ms;
}

/* ---- one check ---- */

static void probe_finish(struct hc_probe *p, bool ok, uint64_t now_ms)
{
	struct health_checker *hc = p->hc;
	probe_close(p);
	p->ok = ok;
	p->finished_ms = now_ms;
	list_del(&p->link);
	list_add_tail(&hc->done, &p->link);
	hc->next_ms = 0;
	if (!ok)
		stats_add(stats_scope(hc->stats_worker, p->stats_id), STAT_HC_FAILURE, 1);
}

static int on_status_line(void *user, const struct h1_status_line *sl)
{
	struct hc_probe *p = user;
	if (sl->status < 200) /* 100 Continue and friends: the final one follows */
		return 0;
	p->status = sl->status;
	return H1_PAUSE;
}

static const struct h1_callbacks probe_callbacks = {
	.on_status_line = on_status_line,
};

/* Drives the TLS handshake. False when the check cannot go on now: it
 * waits for the socket, or the handshake failed (the server's identity
 * is checked as for traffic: a refused one fails the check). */
static bool probe_handshake(struct hc_probe *p)
{
	enum transport_wait wait;
	enum tls_verdict v = (enum tls_verdict)transport_tls_handshake(&p->t, &wait);
	if (v == TLS_VERDICT_PENDING)
		return false;
	if (v != TLS_VERDICT_OK) {
		log_debug("health check: TLS handshake refused: %s (%s)", tls_verdict_str(v),
			  tls_verdict_detail(p->t.ssl));
		probe_finish(p, false, p->hc->loop->now_ms);
		return false;
	}
	p->handshaking = false;
	return true;
}

/* Sends what is left of the request. False when the check cannot go on
 * now: it waits for EPOLLOUT, or it has failed. */
static bool probe_write(struct hc_probe *p)
{
	while (p->sent < p->req_len) {
		enum transport_wait wait;
		ssize_t n = p->t.ops->write(&p->t, p->req + p->sent, p->req_len - p->sent, &wait);
		if (n > 0) {
			p->sent += (size_t)n;
			continue;
		}
		if (n != -EAGAIN)
			probe_finish(p, false, p->hc->loop->now_ms);
		return false;
	}
	return true;
}

/* TCP: finds the expected blocks in order in what came, as Envoy's
 * "fuzzy" match: each must appear, after the one before, not necessarily
 * right after it. Keeps only what a later block could still start in.
 * True when all are found. */
static bool tcp_match(struct hc_probe *p)
{
	while (p->found < p->n_expect) {
		const struct hc_payload *want = &p->expect[p->found];
		const char *at = memmem(p->in, p->in_len, want->data, want->len);
		if (!at) {
			/* a block may straddle this read and the next */
			size_t keep = want->len - 1 < p->in_len ? want->len - 1 : p->in_len;
			memmove(p->in, p->in + p->in_len - keep, keep);
			p->in_len = keep;
			return false;
		}
		size_t used = (size_t)(at - p->in) + want->len;
		memmove(p->in, p->in + used, p->in_len - used);
		p->in_len -= used;
		p->found++;
	}
	return true;
}

/* Reads until the final status line (TCP: every expected block), EOF, an
 * error or EAGAIN. */
static void probe_read(struct hc_probe *p)
{
	uint64_t now = p->hc->loop->now_ms;
	for (;;) {
		if (p->in_len == sizeof(p->in)) {
			probe_finish(p, false, now);
			return;
		}
		enum transport_wait wait;
		bool drained;
		ssize_t n = p->t.ops->read(&p->t, p->in + p->in_len, sizeof(p->in) - p->in_len,
					   &wait, &drained);
		if (n == 0) { /* closed before a final status */
			probe_finish(p, false, now);
			return;
		}
		if (n < 0) {
			if (n != -EAGAIN)
				probe_finish(p, false, now);
			return;
		}
		p->in_len += (size_t)n;
		if (p->tcp) {
			if (tcp_match(p)) {
				probe_finish(p, true, now);
				return;
			}
			continue;
		}
		size_t used = 0;
		int rc = h1_parse(&p->parser, p->in, p->in_len, &used);
		if (p->status) {
			probe_finish(p, p->status >= 200 && p->status <= 299, now);
			return;
		}
		if (rc == H1_PARSE_ERROR || rc == H1_PARSE_TUNNEL) {
			probe_finish(p, false, now);
			return;
		}
		memmove(p->in, p->in + used, p->in_len - used);
		p->in_len -= used;
	}
}

static void probe_on_event(struct io *io, uint32_t events)
{
	struct hc_probe *p = container_of(io, struct hc_probe, io);
	if (!p->connected) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			probe_finish(p, false, p->hc->loop->now_ms);
			return;
		}
		p->connected = true;
	}
	if (p->handshaking && !probe_handshake(p))
		return;
	if (!probe_write(p))
		return;
	if (p->tcp && p->n_expect == 0) /* connected (and sent): that is all */
		probe_finish(p, true, p->hc->loop->now_ms);
	else
		probe_read(p);
}

/* Path and host go into the request line and a header as they are: refuse
 * anything that could end the line or split the request (CR, LF, space,
 * other controls). */
static bool request_token_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static char *request_new(const struct cluster *c, size_t *len)
{
	if (c->health.tcp) {
		char *send = malloc(c->health.send.len ? c->health.send.len : 1);
		if (send && c->health.send.len)
			memcpy(send, c->health.send.data, c->health.send.len);
		*len = c->health.send.len;
		return send;
	}
	const char *path = c->health.path ? c->health.path : "/";
	const char *host = c->health.host ? c->health.host : c->name;
	if (path[0] != '/' || !request_token_ok(path) || !host[0] || !request_token_ok(host))
		return NULL;
	char *req = NULL;
	int n = asprintf(&req,
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: skiff-health-check\r\n"
			 "Connection: close\r\n\r\n",
			 path, host);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return req;
}

/* The cluster's transport socket, as Envoy's health checker uses it: the
 * same client context (identity, CA, SPIFFE ids accepted) and SNI; for an
 * HTTP check ALPN http/1.1 alone, since the check speaks HTTP/1.1, for a
 * TCP check the context's own. The SSL holds a reference to the context,
 * so the snapshot may go before the check. */
static int probe_tls(struct hc_probe *p, const struct tls_config *tls)
{
	static const unsigned char h1[] = "\x08http/1.1";
	SSL *ssl = SSL_new(tls->ctx);
	if (!ssl) {
		ERR_clear_error();
		return -ENOMEM;
	}
	transport_init_tls(&p->t, p->io.fd, ssl);
	SSL_set_connect_state(ssl);
	if (tls->sni)
		SSL_set_tlsext_host_name(ssl, tls->sni);
	if (!p->tcp)
		SSL_set_alpn_protos(ssl, h1, sizeof(h1) - 1);
	p->handshaking = true;
	return 0;
}

static int probe_connect(struct hc_probe *p, const struct cluster *c)
{
	int fd = socket(p->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (c->has_source_address) {
		/* The same source as traffic (127.0.0.6 keeps it out of capture);
		 * the port is chosen at connect time, as for tcp_proxy. */
		int one = 1;
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&c->source_address.ss,
			 c->source_address.len) < 0)
			rc = -errno;
	}
	if (!rc && connect(fd, (const struct sockaddr *)&p->addr.ss, p->addr.len) < 0 &&
	    errno != EINPROGRESS)
		rc = -errno;
	p->io.fd = fd;
	p->io.cb = probe_on_event;
	transport_init_raw(&p->t, fd);
	if (!rc && c->tls && c->tls->ctx)
		rc = probe_tls(p, c->tls);
	if (!rc)
		rc = loop_add(p->hc->loop, &p->io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (rc) {
		p->t.ops->release(&p->t);
		close(fd);
		p->io.fd = -1;
	}
	return rc;
}

static uint32_t at_least_min(uint32_t ms)
{
	return ms < HC_MIN_INTERVAL_MS ? HC_MIN_INTERVAL_MS : ms;
}

/* Starts checking host i of c. The host is in flight from here on, even
 * when the connection could not be opened (that is a failed check). */
static int probe_start(struct health_checker *hc, struct cluster_rt *rt, size_t i,
		       const char *req, size_t req_len, uint64_t now_ms)
{
	const struct cluster *c = rt->c;
	struct hc_probe *p = calloc(1, sizeof(*p));
	char *copy = malloc(req_len ? req_len : 1);
	size_t n_expect = c->health.tcp ? c->health.n_receive : 0;
	struct hc_payload *expect = n_expect ? calloc(n_expect, sizeof(*expect)) : NULL;
	bool ok = p && copy && (!n_expect || expect);
	for (size_t k = 0; ok && k < n_expect; k++) {
		const struct hc_payload *r = &c->health.receive[k];
		ok = r->len && (expect[k].data = malloc(r->len));
		if (ok) {
			memcpy(expect[k].data, r->data, r->len);
			expect[k].len = r->len;
		}
	}
	if (!ok) {
		for (size_t k = 0; expect && k < n_expect; k++)
			free(expect[k].data);
		free(expect);
		free(p);
		free(copy);
		return -ENOMEM;
	}
	memcpy(copy, req, req_len);
	p->tcp = c->health.tcp;
	p->expect = expect;
	p->n_expect = n_expect;
	p->hc = hc;
	p->io.fd = -1;
	p->stats_id = c->stats_id;
	p->host = i;
	p->addr = c->endpoints[i].addr;
	p->interval_ms = at_least_min(c->health.interval_ms);
	p->deadline_ms = now_ms + at_least_min(c->health.timeout_ms);
	p->req = copy;
	p->req_len = req_len;
	h1_parser_init(&p->parser, H1_RESPONSE, &probe_callbacks, p, NULL);
	list_add_tail(&hc->probes, &p->link);
	hc->n_probes++;
	rt->hc_due_ms[i] = DUE_IN_FLIGHT;
	stats_add(stats_scope(hc->stats_worker, p->stats_id), STAT_HC_ATTEMPT, 1);
	if (probe_connect(p, c) < 0)
		probe_finish(p, false, now_ms);
	return 0;
}

/* ---- the tick ---- */

static size_t host_by_addr(const struct cluster_rt *rt, size_t hint, const struct sock_addr *a)
{
	for (size_t k = 0; k < rt->n_hosts; k++) {
		size_t i = (hint + k) % rt->n_hosts;
		if (rt->addrs[i].len == a->len && memcmp(&rt->addrs[i].ss, &a->ss, a->len) == 0)
			return i;
	}
	return SIZE_MAX;
}

static int mark_seen(struct health_checker *hc, uint32_t id)
{
	if (id >= hc->seen_cap) {
		size_t cap = hc->seen_cap ? hc->seen_cap : 64;
		while (cap <= id)
			cap *= 2;
		uint64_t *grown = realloc(hc->seen, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		memset(grown + hc->seen_cap, 0, (cap - hc->seen_cap) * sizeof(*grown));
		hc->seen = grown;
		hc->seen_cap = cap;
	}
	hc->seen[id] = hc->tick;
	return 0;
}

/* The host's state lives on where its address does: the next check is due
 * an interval after this one ended, and the result counts only while the
 * cluster (still) has health checking in the current snapshot. */
static void probe_record(struct health_checker *hc, struct hc_probe *p)
{
	uint32_t id = p->stats_id;
	struct cluster_rt *rt = id < hc->clusters->cap ? hc->clusters->by_id[id] : NULL;
	size_t i = rt ? host_by_addr(rt, p->host, &p->addr) : SIZE_MAX;
	if (i == SIZE_MAX)
		return;
	rt->hc_due_ms[i] = p->finished_ms + p->interval_ms;
	if (id < hc->seen_cap && hc->seen[id] == hc->tick)
		host_health_check_report(rt->c, i, p->ok);
}

static void expire_probes(struct health_checker *hc, uint64_t now_ms)
{
	struct list *n, *next;
	for (n = hc->probes.next; n != &hc->probes; n = next) {
		next = n->next;
		struct hc_probe *p = container_of(n, struct hc_probe, link);
		if (now_ms >= p->deadline_ms)
			probe_finish(p, false, now_ms);
	}
}

/* Starts the due checks of one cluster; lowers *next to its next due time. */
static void start_due(struct health_checker *hc, struct cluster_rt *rt, uint64_t now_ms,
		      uint64_t *next)
{
	const struct cluster *c = rt->c;
	char *req = NULL;
	size_t req_len = 0;
	for (size_t i = 0; i < rt->n_hosts; i++) {
		uint64_t due = rt->hc_due_ms[i];
		if (due == DUE_IN_FLIGHT)
			continue;
		if (due > now_ms || hc->n_probes >= HC_MAX_PROBES) {
			/* full: a finishing check wakes the tick anyway */
			if (due > now_ms && due < *next)
				*next = due;
			continue;
		}
		if (!req) {
			req = request_new(c, &req_len);
			if (!req) { /* the same next interval: one warning each */
				log_warn("cluster %s: health check path or host is not a valid "
					 "request target/host, or out of memory: not checked",
					 c->name);
				uint64_t later = now_ms + at_least_min(c->health.interval_ms);
				for (size_t k = 0; k < rt->n_hosts; k++)
					if (rt->hc_due_ms[k] != DUE_IN_FLIGHT)
						rt->hc_due_ms[k] = later;
				if (later < *next)
					*next = later;
				return;
			}
		}
		if (probe_start(hc, rt, i, req, req_len, now_ms) < 0)
			break;
	}
	free(req);
}

void health_checker_tick(struct health_checker *hc, const struct snapshot *snap, uint64_t now_ms)
{
	if (!hc)
		return;
	hc->tick++;
	expire_probes(hc, now_ms);
	/* Bind each checked cluster's state to the snapshot (cluster_rt_get),
	 * so that recording a result reads live configuration. */
	for (size_t k = 0; snap && k < snap->n_clusters; k++) {
		const struct cluster *c = &snap->clusters[k];
		if (c->health.enabled && cluster_rt_get(hc->clusters, c))
			mark_seen(hc, c->stats_id);
	}
	while (!list_empty(&hc->done)) {
		struct hc_probe *p = container_of(hc->done.next, struct hc_probe, link);
		probe_record(hc, p);
		probe_free(p);
	}
	uint64_t next = UINT64_MAX;
	for (size_t k = 0; snap && k < snap->n_clusters; k++) {
		const struct cluster *c = &snap->clusters[k];
		if (c->stats_id < hc->seen_cap && hc->seen[c->stats_id] == hc->tick)
			start_due(hc, hc->clusters->by_id[c->stats_id], now_ms, &next);
	}
	struct list *n;
	for (n = hc->probes.next; n != &hc->probes; n = n->next) {
		struct hc_probe *p = container_of(n, struct hc_probe, link);
		if (p->deadline_ms < next)
			next = p->deadline_ms;
	}
	hc->next_ms = list_empty(&hc->done) ? next : 0;
}
