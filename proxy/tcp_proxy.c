/* The tcp_proxy filter; see tcp_proxy.h.
 *
 * Each side's socket is registered once, edge-triggered, for input, output
 * and peer half-close; the side remembers what epoll said (readable,
 * writable) until a syscall says EAGAIN. A pump moves bytes from one side to
 * the other through that side's one buffer and stops reading while the
 * buffer is not drained: backpressure is the peer's socket buffer. */
#include "proxy/tcp_proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/http.h"
#include "proxy/istio_metrics.h"
#include "proxy/lb.h"
#include "proxy/log.h"
#include "proxy/netns.h"
#include "proxy/orig_dst.h"
#include "proxy/rbac.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"
#include "proxy/tls_session_cache.h"
#include "proxy/transport.h"

/* Buffers moved per side per turn before other connections get theirs. */
#define PUMP_BUDGET 16
/* A downstream TLS handshake must finish within this. */
#define HANDSHAKE_TIMEOUT_MS 10000
/* How long a permissive listener waits for a client's first bytes before
 * taking it for a server-first protocol and choosing the plaintext chain. */
#define SNIFF_TIMEOUT_MS 1000
#define TLS_CONTENT_HANDSHAKE 0x16

struct side {
	struct io io;
	struct transport t;
	bool readable;
	bool writable;
	bool peer_closed; /* epoll said EPOLLRDHUP: a read will meet EOF */
	bool read_eof;   /* the peer sent FIN */
	bool shut_wr;    /* we sent FIN */
	struct buf *pending; /* read from this side, not yet written to the other */
	uint64_t bytes_in;
};

enum session_state {
	SNIFFING,       /* waiting for the first bytes to choose a filter chain */
	HANDSHAKING,    /* downstream TLS handshake */
	CONNECTING,     /* upstream TCP connect */
	UP_HANDSHAKING, /* upstream TLS handshake */
	ESTABLISHED,
	DONE,
};

struct session {
	struct side down;
	struct side up;
	enum session_state state;
	struct worker *w;
	struct worker_snap *ws;
	const struct listener *listener;
	const struct filter_chain *chain; /* NULL while sniffing */
	const struct cluster *cluster;
	int host;               /* endpoint of `cluster` picked (-1: none), for outlier detection */
	struct stats_scope *lstats;
	struct stats_scope *cstats; /* NULL until an upstream connect starts */
	uint64_t id;
	uint64_t start_ms;      /* monotonic */
	uint64_t connect_start_ms;
	uint64_t start_unix_ms;
	uint64_t last_activity_ms;
	bool has_orig_dst;
	bool has_upstream;
	bool has_addresses;
	const char *peer_id;    /* downstream SPIFFE id, owned by down.t.ssl */
	struct istio_series *istio; /* its opened series (flags "-"), once counted */
	const char *tls_failure; /* verdict name for the access log, or NULL */
	struct sock_addr peer, local, orig_dst, upstream;
	struct list all;        /* w->sessions, then w->closed */
	struct list ready;      /* w->ready while it has budgeted work left */
};

static const char *const termination_names[] = {
	[TERM_CLOSED] = "closed",
	[TERM_DOWNSTREAM_RESET] = "downstream_reset",
	[TERM_UPSTREAM_RESET] = "upstream_reset",
	[TERM_CONNECT_FAILED] = "connect_failed",
	[TERM_CONNECT_TIMEOUT] = "connect_timeout",
	[TERM_IDLE_TIMEOUT] = "idle_timeout",
	[TERM_NO_DESTINATION] = "no_destination",
	[TERM_OUT_OF_MEMORY] = "out_of_memory",
	[TERM_DRAIN_TIMEOUT] = "drain_timeout",
	[TERM_TLS_FAILED] = "tls_failed",
	[TERM_UPSTREAM_TLS_FAILED] = "upstream_tls_failed",
	[TERM_TLS_TIMEOUT] = "tls_timeout",
	[TERM_PLAINTEXT_REFUSED] = "plaintext_refused",
	[TERM_RBAC_DENIED] = "rbac_denied",
};

/* Envoy's response flags for the same events. */
static const char *const termination_flags[] = {
	[TERM_CLOSED] = "-",
	[TERM_DOWNSTREAM_RESET] = "DC",
	[TERM_UPSTREAM_RESET] = "UC",
	[TERM_CONNECT_FAILED] = "UF",
	[TERM_CONNECT_TIMEOUT] = "UF",
	[TERM_IDLE_TIMEOUT] = "-",
	[TERM_NO_DESTINATION] = "UH",
	[TERM_OUT_OF_MEMORY] = "UO",
	[TERM_DRAIN_TIMEOUT] = "-",
	[TERM_TLS_FAILED] = "-",
	[TERM_UPSTREAM_TLS_FAILED] = "UF",
	[TERM_TLS_TIMEOUT] = "-",
	[TERM_PLAINTEXT_REFUSED] = "-",
	[TERM_RBAC_DENIED] = "-",
};

const char *tcp_termination_name(enum tcp_termination t)
{
	return termination_names[t];
}

static void on_down_event(struct io *io, uint32_t events);
static void on_up_event(struct io *io, uint32_t events);
static void session_run(struct session *s);

static void close_fd(int fd, bool reset)
{
	if (fd < 0)
		return;
	if (reset) {
		/* A zero linger turns close into RST: the peer learns at once that
		 * its bytes were not delivered, as it would without a proxy. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
}

/* The chain whose settings (access log, timeouts) apply: the chosen one,
 * or while sniffing the listener's first. */
static const struct filter_chain *session_chain(const struct session *s)
{
	return s->chain ? s->chain : &s->listener->chains[0];
}

static void write_access_log(struct session *s, enum tcp_termination why)
{
	const char *path = session_chain(s)->tcp_proxy.access_log.path;
	if (!path)
		return;
	struct tcp_flow_record rec = {
		.connection_id = s->id,
		.start_unix_ms = s->start_unix_ms,
		.duration_ms = s->w->loop.now_ms - s->start_ms,
		.bytes_received = s->down.bytes_in,
		.bytes_sent = s->up.bytes_in,
		.listener = s->listener->name,
		.cluster = s->cluster ? s->cluster->name : NULL,
		.downstream_remote = &s->peer,
		.downstream_local = &s->local,
		.original_dst = s->has_orig_dst ? &s->orig_dst : NULL,
		.upstream_host = s->has_upstream ? &s->upstream : NULL,
		.peer_principal = s->peer_id,
		.transport_failure = s->tls_failure,
		.response_flags = termination_flags[why],
		.termination = termination_names[why],
	};
	access_log_tcp(&s->w->logs, access_log_open(&s->w->logs, path), &rec);
}

/* The Istio label set of this flow, with the given response flags. The
 * principals are the two ends of the mTLS hop this proxy is part of. */
static struct istio_series *istio_series_of(struct session *s, const char *flags)
{
	bool inbound = s->listener->direction == DIRECTION_INBOUND;
	const char *ours = NULL, *theirs = NULL;
	if (inbound && s->chain && s->chain->tls && s->chain->tls->identity)
		ours = s->chain->tls->identity->spiffe_id;
	if (!inbound && s->up.t.ssl && SSL_is_init_finished(s->up.t.ssl)) {
		ours = s->cluster->tls->identity->spiffe_id;
		theirs = tls_peer_spiffe_id(s->up.t.ssl, NULL);
	}
	struct istio_tcp_labels l = {
		.inbound = inbound,
		.source_principal = inbound ? s->peer_id : ours,
		.destination_principal = inbound ? ours : theirs,
		.destination_service = s->cluster ? s->cluster->name : NULL,
		.mutual_tls = inbound ? s->peer_id != NULL : theirs != NULL,
		.response_flags = flags,
	};
	return istio_series_get(s->w->index, &l);
}

static void istio_open(struct session *s)
{
	s->istio = istio_series_of(s, "-");
	istio_tcp_opened(s->istio);
}

/* Ends the flow: closes both sockets (resetting them when the flow failed),
 * counts, logs, and queues the memory for the end of the turn. */
static void session_finish(struct session *s, enum tcp_termination why)
{
	if (s->state == DONE)
		return;
	bool failed = why != TERM_CLOSED && why != TERM_IDLE_TIMEOUT && why != TERM_DRAIN_TIMEOUT;
	close_fd(s->down.io.fd, failed);
	close_fd(s->up.io.fd, failed);
	stats_add(s->lstats, STAT_CX_DESTROY, 1);
	if (s->cstats)
		stats_add(s->cstats, STAT_CX_DESTROY, 1);
	if (why == TERM_IDLE_TIMEOUT)
		stats_add(s->lstats, STAT_IDLE_TIMEOUT, 1);
	log_debug("conn=%llu closed: %s, %llu bytes in, %llu bytes out", (unsigned long long)s->id,
		  termination_names[why], (unsigned long long)s->down.bytes_in,
		  (unsigned long long)s->up.bytes_in);
	write_access_log(s, why);
	if (!s->istio)
		istio_open(s);
	/* A clean close has the labels of the open: no second lookup. */
	const char *flags = termination_flags[why];
	istio_tcp_closed(strcmp(flags, "-") == 0 ? s->istio : istio_series_of(s, flags),
			 s->up.bytes_in, s->down.bytes_in);
	s->state = DONE;
	if (list_linked(&s->ready))
		list_del(&s->ready);
	list_del(&s->all);
	list_add_tail(&s->w->closed, &s->all);
	s->w->n_sessions--;
	atomic_store_explicit(&s->w->live_sessions, s->w->n_sessions, memory_order_relaxed);
}

/* Keeps the upstream's newest ticket for the next connection to the same
 * endpoint (sidecar to sidecar, resumption saves the certificate checks). */
static void keep_upstream_session(struct session *s)
{
	if (s->up.t.ssl)
		tls_session_cache_keep(&s->w->tls_sessions, s->cluster->stats_id, &s->upstream,
				       s->up.t.ssl);
}

static void session_free(struct session *s)
{
	struct worker *w = s->w;
	keep_upstream_session(s);
	buf_pool_put(&w->bufs, s->down.pending);
	buf_pool_put(&w->bufs, s->up.pending);
	s->down.t.ops->release(&s->down.t);
	s->up.t.ops->release(&s->up.t);
	if (--s->ws->sessions == 0 && s->ws != w->snap) {
		list_del(&s->ws->link);
		snapshot_unref(s->ws->snap);
		free(s->ws);
	}
	free(s);
}

void tcp_proxy_reap(struct worker *w)
{
	while (!list_empty(&w->closed)) {
		struct session *s = container_of(w->closed.next, struct session, all);
		list_del(&s->all);
		session_free(s);
	}
}

/* Records that a transport is waiting for readiness it does not have. */
static void side_wait(struct side *side, enum transport_wait wait)
{
	if (wait == TRANSPORT_WAIT_READ)
		side->readable = false;
	else
		side->writable = false;
}

/* Moves bytes from src to dst until src has none, dst takes no more, or the
 * budget is spent. Returns 0, 1 when budget ran out with work left, or a
 * termination reason + 2 when the flow must end. */
static int pump(struct session *s, struct side *src, struct side *dst, bool src_is_down)
{
	struct worker *w = s->w;
	struct stats_scope *src_stats = src_is_down ? s->lstats : s->cstats;
	struct stats_scope *dst_stats = src_is_down ? s->cstats : s->lstats;
	enum transport_wait wait;
	for (int budget = PUMP_BUDGET; budget > 0; budget--) {
		if ((!src->pending || buf_len(src->pending) == 0) && src->readable && !src->read_eof) {
			if (!src->pending && !(src->pending = buf_pool_get(&w->bufs)))
				return TERM_OUT_OF_MEMORY + 2;
			bool drained = false;
			ssize_t n = src->t.ops->read(&src->t, src->pending->data + src->pending->end,
						     buf_space(src->pending), &wait, &drained);
			if (n > 0) {
				/* Drained: with edge-triggered epoll more data brings a new
				 * event, so skip the read that would only say EAGAIN. Not
				 * once the peer has closed: its FIN raised no event of its
				 * own. */
				if (drained && !src->peer_closed)
					src->readable = false;
				src->pending->end += (uint32_t)n;
				src->bytes_in += (uint64_t)n;
				stats_add(src_stats, STAT_RX_BYTES, (uint64_t)n);
				s->last_activity_ms = w->loop.now_ms;
			} else if (n == 0) {
				src->read_eof = true;
			} else if (n == -EAGAIN) {
				side_wait(src, wait);
				/* TLS can need to write before it reads on: wait for
				 * EPOLLOUT rather than ask again in a loop. */
				if (wait == TRANSPORT_WAIT_WRITE)
					return 0;
			} else {
				return (src_is_down ? TERM_DOWNSTREAM_RESET : TERM_UPSTREAM_RESET) + 2;
			}
		}
		if (src->pending && buf_len(src->pending) > 0) {
			if (s->state != ESTABLISHED || !dst->writable)
				return 0;
			ssize_t m = dst->t.ops->write(&dst->t, src->pending->data + src->pending->start,
						      buf_len(src->pending), &wait);
			if (m > 0) {
				buf_consume(src->pending, (uint32_t)m);
				stats_add(dst_stats, STAT_TX_BYTES, (uint64_t)m);
				s->last_activity_ms = w->loop.now_ms;
			} else if (m == -EAGAIN) {
				side_wait(dst, wait);
				return 0;
			} else {
				return (src_is_down ? TERM_UPSTREAM_RESET : TERM_DOWNSTREAM_RESET) + 2;
			}
		}
		if (src->pending && buf_len(src->pending) == 0) {
			buf_pool_put(&w->bufs, src->pending);
			src->pending = NULL;
		}
		if (!src->pending && src->read_eof) {
			if (!dst->shut_wr && s->state == ESTABLISHED) {
				/* Half-close: pass the FIN on once every byte before it is. */
				if (dst->t.ops->shutdown_write(&dst->t, &wait) == -EAGAIN) {
					side_wait(dst, wait);
					return 0;
				}
				dst->shut_wr = true;
			}
			return 0;
		}
		if (!src->readable && !src->pending)
			return 0;
	}
	return 1;
}

/* Feeds the picked endpoint's outlier detection, as Envoy's tcp_proxy does:
 * a connection that could not be made (refused, timed out, TLS refused)
 * counts as a gateway failure, one that was made resets the streaks. */
static void report_upstream(struct session *s, bool connected)
{
	host_health_attempt(s->cluster, s->host,
			    connected ? OUTLIER_SUCCESS : OUTLIER_CONNECT_FAILURE, s->w->loop.now_ms,
			    s->w->index);
}

static int pick_upstream(struct session *s)
{
	const struct cluster *c = s->cluster;
	if (c->type == CLUSTER_ORIGINAL_DST) {
		if (!s->has_orig_dst)
			return -ENOENT;
		s->upstream = s->orig_dst;
	} else {
		if (c->n_endpoints == 0)
			return -ENOENT;
		/* The cluster's lb_policy and weights, skipping ejected and
		 * unhealthy endpoints, as for HTTP; plain round robin only when
		 * the worker has no memory for the cluster's state. */
		struct cluster_rt *rt = cluster_rt_get(&s->w->clusters, c);
		s->host = rt ? lb_pick(rt, s->w->loop.now_ms, false, 0) : -1;
		int i = s->host >= 0 ? s->host : (int)(s->w->rr++ % c->n_endpoints);
		s->upstream = c->endpoints[i].addr;
	}
	s->has_upstream = true;
	return 0;
}

static int open_upstream(struct session *s)
{
	const struct cluster *c = s->cluster;
	/* Node shape: the connection leaves from the pod's network namespace. */
	int fd = netns_socket(c->netns, s->upstream.ss.ss_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return fd;
	s->up.io.fd = fd;
	transport_init_raw(&s->up.t, fd);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->has_source_address) {
		/* Many flows share one source address (127.0.0.6): pick the port at
		 * connect() time, when the 4-tuple is known. */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&c->source_address.ss, c->source_address.len) < 0)
			return -errno;
	}
	int err = loop_add(&s->w->loop, &s->up.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
	if (err)
		return err;
	if (connect(fd, (const struct sockaddr *)&s->upstream.ss, s->upstream.len) < 0 &&
	    errno != EINPROGRESS)
		return -errno;
	return 0;
}

/* The port the client was going to, for RBAC's destination_port. */
static uint16_t destination_port(const struct session *s)
{
	if (s->has_orig_dst)
		return sock_addr_port(&s->orig_dst);
	return sock_addr_port(&s->listener->addr);
}

/* The chain is an http_connection_manager: the connection (socket, TLS
 * state, addresses) moves to http_down.c and this session ends quietly. */
static void hand_over_to_http(struct session *s)
{
	struct worker *w = s->w;
	s->ws->sessions++; /* the HTTP connection's own hold */
	struct http_down_init in = {
		.w = w,
		.ws = s->ws,
		.listener = s->listener,
		.chain = s->chain,
		.lstats = s->lstats,
		.id = s->id,
		.start_unix_ms = s->start_unix_ms,
		.fd = s->down.io.fd,
		.t = s->down.t,
		.peer_id = s->peer_id,
		.peer = &s->peer,
		.local = &s->local,
	};
	s->down.io.fd = -1;
	transport_init_raw(&s->down.t, -1);
	s->state = DONE;
	if (list_linked(&s->ready))
		list_del(&s->ready);
	list_del(&s->all);
	list_add_tail(&w->closed, &s->all);
	w->n_sessions--;
	http_down_adopt(&in);
}

/* Authorizes the downstream peer, then starts the upstream connection.
 * Returns false when the flow ended. */
static bool authorize_and_connect(struct session *s)
{
	const struct rbac_config *rbac = s->chain->rbac;
	if (rbac) {
		const char *policy;
		if (!rbac_allows(rbac, s->peer_id, destination_port(s), &policy)) {
			stats_add(s->lstats, STAT_RBAC_DENIED, 1);
			log_info("conn=%llu denied by %s%s%s: principal %s, port %u",
				 (unsigned long long)s->id, rbac->stat_prefix,
				 policy ? " policy " : " (no policy matched)", policy ? policy : "",
				 s->peer_id ? s->peer_id : "(none: plaintext)", destination_port(s));
			session_finish(s, TERM_RBAC_DENIED);
			return false;
		}
		stats_add(s->lstats, STAT_RBAC_ALLOWED, 1);
	}
	if (s->chain->http) {
		hand_over_to_http(s);
		return false;
	}
	s->cluster = s->chain->tcp_proxy.cluster;
	if (pick_upstream(s) < 0) {
		stats_add(s->lstats, STAT_NO_DESTINATION, 1);
		session_finish(s, TERM_NO_DESTINATION);
		return false;
	}
	s->cstats = stats_scope(s->w->index, s->cluster->stats_id);
	stats_add(s->cstats, STAT_CX_TOTAL, 1);
	s->state = CONNECTING;
	s->connect_start_ms = s->w->loop.now_ms;
	int err = open_upstream(s);
	if (err) {
		stats_add(s->cstats, STAT_CONNECT_FAIL, 1);
		report_upstream(s, false);
		log_debug("conn=%llu upstream connect failed: %s", (unsigned long long)s->id,
			  strerror(-err));
		session_finish(s, TERM_CONNECT_FAILED);
		return false;
	}
	if (log_min_level <= LOG_DEBUG) {
		char dst[SOCK_ADDR_STRLEN];
		log_debug("conn=%llu on %s, upstream %s (%s)", (unsigned long long)s->id,
			  s->listener->name, sock_addr_format(&s->upstream, dst, sizeof(dst)),
			  s->cluster->name);
	}
	return true;
}

/* Counts a refused or broken handshake under the verdict's own counter. */
static void count_tls_failure(struct stats_scope *scope, enum tls_verdict v)
{
	static const enum stats_counter by_verdict[] = {
		[TLS_VERDICT_NO_PEER_CERT] = STAT_SSL_NO_CERT,
		[TLS_VERDICT_UNTRUSTED] = STAT_SSL_UNTRUSTED,
		[TLS_VERDICT_EXPIRED] = STAT_SSL_EXPIRED,
		[TLS_VERDICT_NOT_YET_VALID] = STAT_SSL_NOT_YET_VALID,
		[TLS_VERDICT_BAD_SVID] = STAT_SSL_BAD_SVID,
		[TLS_VERDICT_ID_MISMATCH] = STAT_SSL_ID_MISMATCH,
		[TLS_VERDICT_NO_ALPN] = STAT_SSL_NO_ALPN,
	};
	enum stats_counter c = STAT_SSL_ERROR;
	if ((size_t)v < sizeof(by_verdict) / sizeof(by_verdict[0]) && by_verdict[v])
		c = by_verdict[v];
	stats_add(scope, c, 1);
}

/* Drives a handshake on side; returns its verdict. */
static enum tls_verdict handshake(struct session *s, struct side *side, struct stats_scope *scope,
				  const char *who)
{
	enum transport_wait wait;
	enum tls_verdict v = (enum tls_verdict)transport_tls_handshake(&side->t, &wait);
	if (v == TLS_VERDICT_PENDING) {
		side_wait(side, wait);
		return v;
	}
	if (v == TLS_VERDICT_OK) {
		stats_add(scope, STAT_SSL_HANDSHAKE, 1);
		if (SSL_session_reused(side->t.ssl))
			stats_add(scope, STAT_SSL_SESSION_REUSED, 1);
		return v;
	}
	count_tls_failure(scope, v);
	s->tls_failure = tls_verdict_str(v);
	const char *refused = tls_refused_peer_id(side->t.ssl, NULL);
	log_info("conn=%llu %s TLS handshake refused: %s (%s)%s%s", (unsigned long long)s->id, who,
		 tls_verdict_str(v), tls_verdict_detail(side->t.ssl), refused ? ", peer " : "",
		 refused ? refused : "");
	return v;
}

/* Returns true when the session moved past its downstream handshake. */
static bool downstream_handshake(struct session *s)
{
	enum tls_verdict v = handshake(s, &s->down, s->lstats, "downstream");
	if (v == TLS_VERDICT_PENDING)
		return false;
	if (v != TLS_VERDICT_OK) {
		session_finish(s, TERM_TLS_FAILED);
		return false;
	}
	s->peer_id = tls_peer_spiffe_id(s->down.t.ssl, NULL);
	log_debug("conn=%llu downstream TLS peer %s", (unsigned long long)s->id, s->peer_id);
	return authorize_and_connect(s);
}

static bool upstream_handshake(struct session *s)
{
	enum tls_verdict v = handshake(s, &s->up, s->cstats, "upstream");
	if (v == TLS_VERDICT_PENDING)
		return false;
	if (v != TLS_VERDICT_OK) {
		report_upstream(s, false);
		session_finish(s, TERM_UPSTREAM_TLS_FAILED);
		return false;
	}
	report_upstream(s, true);
	s->state = ESTABLISHED;
	istio_open(s);
	return true;
}

/* Starts the TLS transport on side over ctx. Returns false when out of
 * memory (the flow is ended). */
static bool start_tls(struct session *s, struct side *side, const struct tls_config *tls,
		      bool server)
{
	SSL *ssl = SSL_new(tls->ctx);
	if (!ssl) {
		ERR_clear_error();
		session_finish(s, TERM_OUT_OF_MEMORY);
		return false;
	}
	transport_init_tls(&side->t, side->io.fd, ssl);
	if (server) {
		SSL_set_accept_state(ssl);
	} else {
		SSL_set_connect_state(ssl);
		if (tls->sni)
			SSL_set_tlsext_host_name(ssl, tls->sni);
		tls_session_cache_resume(&s->w->tls_sessions, s->cluster->stats_id, &s->upstream,
					 ssl);
	}
	return true;
}

/* Continues the flow on chain c. Returns false when the flow ended or must
 * wait. */
static bool enter_chain(struct session *s, const struct filter_chain *c, bool sniffed_plaintext)
{
	s->chain = c;
	if (c->tls) {
		if (!start_tls(s, &s->down, c->tls, true))
			return false;
		s->state = HANDSHAKING;
		return downstream_handshake(s);
	}
	if (sniffed_plaintext)
		stats_add(s->lstats, STAT_PLAINTEXT, 1);
	return authorize_and_connect(s);
}

static const struct filter_chain *find_chain(const struct listener *l, bool tls)
{
	for (size_t i = 0; i < l->n_chains; i++) {
		enum chain_match m = l->chains[i].match;
		if (m == CHAIN_MATCH_ANY || m == (tls ? CHAIN_MATCH_TLS : CHAIN_MATCH_RAW_BUFFER))
			if (!l->chains[i].tls == !tls)
				return &l->chains[i];
	}
	return NULL;
}

/* Peeks at the first byte without taking it: a TLS record starts with the
 * handshake content type. Returns true when a chain was entered. */
static bool sniff(struct session *s, bool timed_out)
{
	unsigned char first;
	bool tls = false;
	if (!timed_out) {
		ssize_t n = recv(s->down.io.fd, &first, 1, MSG_PEEK);
		if (n == 0) {
			session_finish(s, TERM_CLOSED);
			return false;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				s->down.readable = false;
				return false;
			}
			session_finish(s, TERM_DOWNSTREAM_RESET);
			return false;
		}
		tls = first == TLS_CONTENT_HANDSHAKE;
	}
	const struct filter_chain *c = find_chain(s->listener, tls);
	if (!c && timed_out) {
		stats_add(s->lstats, STAT_SSL_TIMEOUT, 1);
		session_finish(s, TERM_TLS_TIMEOUT);
		return false;
	}
	if (!c) {
		stats_add(s->lstats, tls ? STAT_SSL_ERROR : STAT_PLAINTEXT_REFUSED, 1);
		if (!tls)
			log_info("conn=%llu plaintext refused: %s accepts mutual TLS only",
				 (unsigned long long)s->id, s->listener->name);
		session_finish(s, tls ? TERM_TLS_FAILED : TERM_PLAINTEXT_REFUSED);
		return false;
	}
	return enter_chain(s, c, !tls);
}

static void session_run(struct session *s)
{
	if (s->state == SNIFFING && !sniff(s, false))
		return;
	if (s->state == HANDSHAKING && !downstream_handshake(s))
		return;
	if (s->state == UP_HANDSHAKING && !upstream_handshake(s) && s->state == DONE)
		return;
	if (s->state == DONE)
		return;
	/* Connecting: downstream bytes may already be read, not yet sent. */
	int a = pump(s, &s->down, &s->up, true);
	if (a >= 2)
		return session_finish(s, (enum tcp_termination)(a - 2));
	int b = s->state == ESTABLISHED ? pump(s, &s->up, &s->down, false) : 0;
	if (b >= 2)
		return session_finish(s, (enum tcp_termination)(b - 2));
	if (s->down.shut_wr && s->up.shut_wr)
		return session_finish(s, TERM_CLOSED);
	if ((a == 1 || b == 1) && !list_linked(&s->ready))
		worker_mark_ready(s->w, &s->ready);
}

void tcp_proxy_run_ready(struct list *node)
{
	session_run(container_of(node, struct session, ready));
}

static void note_events(struct side *side, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		side->readable = true; /* read() reports EOF or the error */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		side->peer_closed = true;
	if (events & EPOLLOUT)
		side->writable = true;
}

static void on_down_event(struct io *io, uint32_t events)
{
	struct session *s = container_of(io, struct session, down.io);
	if (s->state == DONE)
		return;
	note_events(&s->down, events);
	session_run(s);
}

static int socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* The upstream socket connected: on to TLS or straight to bytes. */
static void upstream_connected(struct session *s)
{
	s->last_activity_ms = s->w->loop.now_ms;
	if (!s->cluster->tls) {
		report_upstream(s, true);
		s->state = ESTABLISHED;
		istio_open(s);
		return;
	}
	if (start_tls(s, &s->up, s->cluster->tls, false))
		s->state = UP_HANDSHAKING;
}

static void on_up_event(struct io *io, uint32_t events)
{
	struct session *s = container_of(io, struct session, up.io);
	if (s->state == DONE)
		return;
	if (s->state == CONNECTING) {
		/* Linux reports a failed connect with EPOLLERR; only then is the
		 * error worth a getsockopt. */
		if (events & (EPOLLERR | EPOLLHUP)) {
			int err = socket_error(io->fd);
			stats_add(s->cstats, STAT_CONNECT_FAIL, 1);
			report_upstream(s, false);
			log_debug("conn=%llu upstream connect failed: %s", (unsigned long long)s->id,
				  strerror(err ? err : ECONNRESET));
			return session_finish(s, TERM_CONNECT_FAILED);
		}
		if (!(events & EPOLLOUT))
			return;
		upstream_connected(s);
		if (s->state == DONE)
			return;
	}
	note_events(&s->up, events);
	session_run(s);
}

static struct session *session_new(struct worker *w, struct worker_listener *wl, int fd)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->w = w;
	s->ws = w->snap;
	s->ws->sessions++;
	s->host = -1;
	s->listener = wl->cfg;
	s->lstats = stats_scope(w->index, wl->cfg->stats_id);
	s->id = worker_next_conn_id(w);
	s->start_ms = s->last_activity_ms = w->loop.now_ms;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->start_unix_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	s->down.io = (struct io){ .fd = fd, .cb = on_down_event };
	s->up.io = (struct io){ .fd = -1, .cb = on_up_event };
	transport_init_raw(&s->down.t, fd);
	transport_init_raw(&s->up.t, -1);
	list_init(&s->ready);
	list_add_tail(&w->sessions, &s->all);
	w->n_sessions++;
	atomic_store_explicit(&w->live_sessions, w->n_sessions, memory_order_relaxed);
	stats_add(s->lstats, STAT_CX_TOTAL, 1);
	return s;
}

/* Whether anything about this listener needs the connection's addresses:
 * each costs a syscall, so they are asked only when someone will read them. */
static bool needs_addresses(const struct listener *l)
{
	if (log_min_level <= LOG_DEBUG)
		return true;
	for (size_t i = 0; i < l->n_chains; i++) {
		const struct filter_chain *c = &l->chains[i];
		if (c->rbac || (c->http && c->http->access_log.path))
			return true;
		if (!c->http && (c->tcp_proxy.access_log.path ||
				 c->tcp_proxy.cluster->type == CLUSTER_ORIGINAL_DST))
			return true;
	}
	return false;
}

static bool has_tls_chain(const struct listener *l)
{
	for (size_t i = 0; i < l->n_chains; i++)
		if (l->chains[i].tls)
			return true;
	return false;
}

void tcp_proxy_accept(struct worker *w, struct worker_listener *wl, int fd)
{
	struct session *s = session_new(w, wl, fd);
	if (!s) {
		stats_add(stats_scope(w->index, wl->cfg->stats_id), STAT_OVERFLOW, 1);
		close_fd(fd, true);
		return;
	}
	/* TCP_NODELAY comes from the listening socket: Linux copies it to every
	 * accepted socket. */
	if (needs_addresses(s->listener)) {
		s->peer.len = sizeof(s->peer.ss);
		getpeername(fd, (struct sockaddr *)&s->peer.ss, &s->peer.len);
		s->local.len = sizeof(s->local.ss);
		getsockname(fd, (struct sockaddr *)&s->local.ss, &s->local.len);
		s->has_orig_dst = orig_dst_get(fd, &s->listener->addr,
					       s->listener->use_original_dst, &s->orig_dst) == 0;
	}
	if (loop_add(&w->loop, &s->down.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0)
		return session_finish(s, TERM_OUT_OF_MEMORY);
	if (log_min_level <= LOG_DEBUG) {
		char peer[SOCK_ADDR_STRLEN];
		log_debug("conn=%llu accepted from %s on %s", (unsigned long long)s->id,
			  sock_addr_format(&s->peer, peer, sizeof(peer)), s->listener->name);
	}
	if (has_tls_chain(s->listener)) {
		/* The first bytes pick the chain; epoll reports them (already
		 * there or still to come) as the first event. */
		s->state = SNIFFING;
		s->down.readable = true;
		return;
	}
	enter_chain(s, &s->listener->chains[0], false);
}

void tcp_proxy_sweep(struct worker *w)
{
	struct list *n, *next;
	uint64_t now = w->loop.now_ms;
	for (n = w->sessions.next; n != &w->sessions; n = next) {
		next = n->next;
		struct session *s = container_of(n, struct session, all);
		switch (s->state) {
		case SNIFFING:
			if (now - s->start_ms >= SNIFF_TIMEOUT_MS)
				sniff(s, true); /* a server-first protocol, or nothing */
			break;
		case HANDSHAKING:
			if (now - s->start_ms >= HANDSHAKE_TIMEOUT_MS) {
				stats_add(s->lstats, STAT_SSL_TIMEOUT, 1);
				session_finish(s, TERM_TLS_TIMEOUT);
			}
			break;
		case CONNECTING:
		case UP_HANDSHAKING:
			if (now - s->connect_start_ms >= s->cluster->connect_timeout_ms) {
				bool tcp = s->state == CONNECTING;
				stats_add(s->cstats, tcp ? STAT_CONNECT_TIMEOUT : STAT_SSL_TIMEOUT, 1);
				report_upstream(s, false);
				session_finish(s, tcp ? TERM_CONNECT_TIMEOUT : TERM_TLS_TIMEOUT);
			}
			break;
		case ESTABLISHED: {
			uint32_t idle = s->chain->tcp_proxy.idle_timeout_ms;
			if (idle && now - s->last_activity_ms >= idle)
				session_finish(s, TERM_IDLE_TIMEOUT);
			break;
		}
		case DONE:
			break;
		}
	}
}

void tcp_proxy_abort_all(struct worker *w, enum tcp_termination why)
{
	while (!list_empty(&w->sessions))
		session_finish(container_of(w->sessions.next, struct session, all), why);
}
