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

#include "proxy/log.h"
#include "proxy/orig_dst.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

/* Buffers moved per side per turn before other connections get theirs. */
#define PUMP_BUDGET 16

struct side {
	struct io io;
	bool readable;
	bool writable;
	bool peer_closed; /* epoll said EPOLLRDHUP: a read will meet EOF */
	bool read_eof;   /* the peer sent FIN */
	bool shut_wr;    /* we sent FIN */
	struct buf *pending; /* read from this side, not yet written to the other */
	uint64_t bytes_in;
};

enum session_state { CONNECTING, ESTABLISHED, DONE };

struct session {
	struct side down;
	struct side up;
	enum session_state state;
	struct worker *w;
	struct worker_snap *ws;
	const struct listener *listener;
	const struct cluster *cluster;
	struct stats_scope *lstats;
	struct stats_scope *cstats; /* NULL until an upstream connect starts */
	uint64_t id;
	uint64_t start_ms;      /* monotonic */
	uint64_t start_unix_ms;
	uint64_t last_activity_ms;
	bool has_orig_dst;
	bool has_upstream;
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

static void write_access_log(struct session *s, enum tcp_termination why)
{
	const char *path = s->listener->access_log.path;
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
		.response_flags = termination_flags[why],
		.termination = termination_names[why],
	};
	access_log_tcp(&s->w->logs, access_log_open(&s->w->logs, path), &rec);
}

/* Ends the flow: closes both sockets (resetting the side that has not
 * finished when the flow failed), counts, logs, and queues the memory for
 * the end of the turn. */
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
	s->state = DONE;
	if (list_linked(&s->ready))
		list_del(&s->ready);
	list_del(&s->all);
	list_add_tail(&s->w->closed, &s->all);
	s->w->n_sessions--;
	atomic_store_explicit(&s->w->live_sessions, s->w->n_sessions, memory_order_relaxed);
}

static void session_free(struct session *s)
{
	struct worker *w = s->w;
	buf_pool_put(&w->bufs, s->down.pending);
	buf_pool_put(&w->bufs, s->up.pending);
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

static bool would_block(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK;
}

/* Moves bytes from src to dst until src has none, dst takes no more, or the
 * budget is spent. Returns 0, 1 when budget ran out with work left, or a
 * termination reason + 2 when the flow must end. */
static int pump(struct session *s, struct side *src, struct side *dst, bool src_is_down)
{
	struct worker *w = s->w;
	struct stats_scope *src_stats = src_is_down ? s->lstats : s->cstats;
	struct stats_scope *dst_stats = src_is_down ? s->cstats : s->lstats;
	for (int budget = PUMP_BUDGET; budget > 0; budget--) {
		if ((!src->pending || buf_len(src->pending) == 0) && src->readable && !src->read_eof) {
			if (!src->pending && !(src->pending = buf_pool_get(&w->bufs)))
				return TERM_OUT_OF_MEMORY + 2;
			ssize_t n = read(src->io.fd, src->pending->data + src->pending->end,
					 buf_space(src->pending));
			if (n > 0) {
				/* A short read emptied the socket: with edge-triggered
				 * epoll, more data brings a new event, so skip the read
				 * that would only say EAGAIN. Not once the peer has
				 * closed: its FIN raised no event of its own. */
				if ((size_t)n < buf_space(src->pending) && !src->peer_closed)
					src->readable = false;
				src->pending->end += (uint32_t)n;
				src->bytes_in += (uint64_t)n;
				stats_add(src_stats, STAT_RX_BYTES, (uint64_t)n);
				s->last_activity_ms = w->loop.now_ms;
			} else if (n == 0) {
				src->read_eof = true;
			} else if (would_block(errno)) {
				src->readable = false;
			} else if (errno != EINTR) {
				return (src_is_down ? TERM_DOWNSTREAM_RESET : TERM_UPSTREAM_RESET) + 2;
			}
		}
		if (src->pending && buf_len(src->pending) > 0) {
			if (s->state != ESTABLISHED || !dst->writable)
				return 0;
			ssize_t m = send(dst->io.fd, src->pending->data + src->pending->start,
					 buf_len(src->pending), MSG_NOSIGNAL);
			if (m > 0) {
				buf_consume(src->pending, (uint32_t)m);
				stats_add(dst_stats, STAT_TX_BYTES, (uint64_t)m);
				s->last_activity_ms = w->loop.now_ms;
			} else if (m < 0 && would_block(errno)) {
				dst->writable = false;
				return 0;
			} else if (m < 0 && errno != EINTR) {
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
				shutdown(dst->io.fd, SHUT_WR);
				dst->shut_wr = true;
			}
			return 0;
		}
		if (!src->readable && !src->pending)
			return 0;
	}
	return 1;
}

static void session_run(struct session *s)
{
	if (s->state == DONE)
		return;
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

static void on_up_event(struct io *io, uint32_t events)
{
	struct session *s = container_of(io, struct session, up.io);
	if (s->state == DONE)
		return;
	if (s->state == CONNECTING) {
		/* Linux reports a failed connect with EPOLLERR; only then is the
		 * error worth a getsockopt. */
		int err = events & (EPOLLERR | EPOLLHUP) ? socket_error(io->fd) : 0;
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			err = err ? err : ECONNRESET;
			stats_add(s->cstats, STAT_CONNECT_FAIL, 1);
			log_debug("conn=%llu upstream connect failed: %s", (unsigned long long)s->id,
				  strerror(err));
			return session_finish(s, TERM_CONNECT_FAILED);
		}
		if (!(events & EPOLLOUT))
			return;
		s->state = ESTABLISHED;
		s->last_activity_ms = s->w->loop.now_ms;
	}
	note_events(&s->up, events);
	session_run(s);
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
		s->upstream = c->endpoints[s->w->rr++ % c->n_endpoints].addr;
	}
	s->has_upstream = true;
	return 0;
}

static int open_upstream(struct session *s)
{
	const struct cluster *c = s->cluster;
	int fd = socket(s->upstream.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	s->up.io.fd = fd;
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

static struct session *session_new(struct worker *w, struct worker_listener *wl, int fd)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->w = w;
	s->ws = w->snap;
	s->ws->sessions++;
	s->listener = wl->cfg;
	s->cluster = wl->cfg->cluster;
	s->lstats = stats_scope(w->index, wl->cfg->stats_id);
	s->id = worker_next_conn_id(w);
	s->start_ms = s->last_activity_ms = w->loop.now_ms;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->start_unix_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	s->down.io = (struct io){ .fd = fd, .cb = on_down_event };
	s->up.io = (struct io){ .fd = -1, .cb = on_up_event };
	s->state = CONNECTING;
	list_init(&s->ready);
	list_add_tail(&w->sessions, &s->all);
	w->n_sessions++;
	atomic_store_explicit(&w->live_sessions, w->n_sessions, memory_order_relaxed);
	stats_add(s->lstats, STAT_CX_TOTAL, 1);
	return s;
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
	 * accepted socket. Addresses cost a syscall each: ask only when someone
	 * will read them. */
	bool logged = s->listener->access_log.path || log_min_level <= LOG_DEBUG;
	if (logged) {
		s->peer.len = sizeof(s->peer.ss);
		getpeername(fd, (struct sockaddr *)&s->peer.ss, &s->peer.len);
		s->local.len = sizeof(s->local.ss);
		getsockname(fd, (struct sockaddr *)&s->local.ss, &s->local.len);
	}
	if (logged || s->cluster->type == CLUSTER_ORIGINAL_DST)
		s->has_orig_dst = orig_dst_get(fd, &s->listener->addr,
					       s->listener->use_original_dst, &s->orig_dst) == 0;
	if (loop_add(&w->loop, &s->down.io, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) < 0)
		return session_finish(s, TERM_OUT_OF_MEMORY);
	if (pick_upstream(s) < 0) {
		stats_add(s->lstats, STAT_NO_DESTINATION, 1);
		return session_finish(s, TERM_NO_DESTINATION);
	}
	s->cstats = stats_scope(w->index, s->cluster->stats_id);
	stats_add(s->cstats, STAT_CX_TOTAL, 1);
	int err = open_upstream(s);
	if (err) {
		stats_add(s->cstats, STAT_CONNECT_FAIL, 1);
		log_debug("conn=%llu upstream connect failed: %s", (unsigned long long)s->id,
			  strerror(-err));
		return session_finish(s, TERM_CONNECT_FAILED);
	}
	char peer[64], dst[64];
	if (log_min_level <= LOG_DEBUG) {
		sock_addr_format(&s->peer, peer, sizeof(peer));
		sock_addr_format(&s->upstream, dst, sizeof(dst));
		log_debug("conn=%llu accepted from %s on %s, upstream %s", (unsigned long long)s->id,
			  peer, s->listener->name, dst);
	}
}

void tcp_proxy_sweep(struct worker *w)
{
	struct list *n, *next;
	for (n = w->sessions.next; n != &w->sessions; n = next) {
		next = n->next;
		struct session *s = container_of(n, struct session, all);
		if (s->state == CONNECTING &&
		    w->loop.now_ms - s->start_ms >= s->cluster->connect_timeout_ms) {
			stats_add(s->cstats, STAT_CONNECT_TIMEOUT, 1);
			session_finish(s, TERM_CONNECT_TIMEOUT);
		} else if (s->state == ESTABLISHED && s->listener->idle_timeout_ms &&
			   w->loop.now_ms - s->last_activity_ms >= s->listener->idle_timeout_ms) {
			session_finish(s, TERM_IDLE_TIMEOUT);
		}
	}
}

void tcp_proxy_abort_all(struct worker *w, enum tcp_termination why)
{
	while (!list_empty(&w->sessions))
		session_finish(container_of(w->sessions.next, struct session, all), why);
}
