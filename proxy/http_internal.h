/* What the HTTP modules share inside proxy/: the downstream connection
 * (http_down.c: the server side, HTTP/1.1 or HTTP/2), the upstream
 * connection and its pools (http_up.c: the client side), and the stream
 * between them (http_stream.c: one request and its response, the router,
 * retries, timeouts, telemetry).
 *
 * A stream is the meeting point. Each side's codec pushes what it parsed
 * into the stream (head, body bytes into a bounded queue, trailers, end or
 * reset) and pulls what it must send from the stream's other queue. When a
 * queue is full the producer stops: an HTTP/1 side stops reading its
 * socket, an HTTP/2 side stops returning flow-control window; bytes are
 * handed back as window (or reading resumes) only once the other side has
 * taken them. Memory per stream is bounded by the queue limit and the
 * HTTP/2 stream window. */
#ifndef SKIFF_PROXY_HTTP_INTERNAL_H
#define SKIFF_PROXY_HTTP_INTERNAL_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>

#include "proxy/buf.h"
#include "proxy/config.h"
#include "proxy/h1_parser.h"
#include "proxy/http_head.h"
#include "proxy/lb.h"
#include "proxy/list.h"
#include "proxy/loop.h"
#include "proxy/stats.h"
#include "proxy/transport.h"
#include "proxy/worker.h"

/* An HTTP/1 side stops reading past this many queued body bytes. */
#define HTTP_QUEUE_LIMIT (256u * 1024u)
/* Bytes a retry can replay: a longer request body is not kept, and the
 * request is not retried (Envoy's per_request_buffer_limit, smaller). */
#define HTTP_REPLAY_LIMIT (64u * 1024u)

/* A FIFO of pool buffers (linked through buf->next_free). */
struct bodyq {
	struct buf *head;
	struct buf *tail;
	uint64_t bytes;
};

void bodyq_free(struct bodyq *q, struct buf_pool *pool);
/* Appends len bytes; -ENOMEM when no buffer could be had. */
int bodyq_append(struct bodyq *q, struct buf_pool *pool, const void *p, size_t len);
/* Copies up to len bytes out (and consumes them); returns the count. */
size_t bodyq_take(struct bodyq *q, struct buf_pool *pool, void *dst, size_t len);
/* Writes the queue to t; returns bytes written, -EAGAIN with *wait, or -errno. */
ssize_t bodyq_write(struct bodyq *q, struct buf_pool *pool, struct transport *t,
		    enum transport_wait *wait);

enum http_proto { HTTP_PROTO_NONE, HTTP_PROTO_H1, HTTP_PROTO_H2 };

/* One socket with the readiness epoll last reported (edge-triggered). */
struct hsock {
	struct io io;
	struct transport t;
	bool readable;
	bool writable;
	bool peer_closed;
};

struct http_stream;
struct http_up;
struct host_pool;

/* ---- downstream (http_down.c) ---- */

struct http_down {
	struct hsock s;
	struct worker *w;
	struct worker_snap *ws;
	const struct listener *listener;
	const struct filter_chain *chain;
	const struct http_conn_manager_config *hcm;
	struct stats_scope *lstats;
	uint64_t id;
	uint64_t start_unix_ms;
	uint64_t last_activity_ms;
	struct sock_addr peer, local;
	const char *peer_id;     /* downstream SPIFFE id, owned by s.t.ssl */
	enum http_proto proto;
	struct buf *in;          /* bytes read, not yet parsed */
	struct bodyq out;        /* bytes to write */
	struct list streams;     /* http_stream.down_link, oldest first */
	unsigned n_streams;
	/* HTTP/1 */
	struct h1_parser parser;
	struct http_stream *parsing; /* the request the parser is in */
	bool h1_close;           /* close once the current response is out */
	bool parse_paused;       /* parser waits (queue full, or one at a time) */
	bool tunnel;             /* after an upgrade: raw bytes both ways */
	/* HTTP/2 */
	nghttp2_session *h2;
	uint32_t header_bytes;   /* of the header block being received */
	uint32_t header_count;
	uint64_t reset_window_ms; /* MadeYouReset budget (HARDENING) */
	uint32_t server_resets;
	uint32_t empty_frames;   /* empty DATA/HEADERS/CONTINUATION in a row */
	uint32_t frames_queued;  /* sent since the peer last took any bytes */
	bool abuse_counted;      /* the connection's one flood/protocol error count */
	bool goaway_sent;
	/* HTTP/2 drain: GOAWAY, then at this time (the HCM's drain_timeout
	 * later) what is still open is cut; 0: not draining */
	uint64_t drain_deadline_ms;
	bool drain_expired;      /* the last GOAWAY is queued; still open a sweep
				  * later: reset */
	/* where the client was going (ORIGINAL_DST clusters), asked for once */
	bool orig_dst_known;
	bool has_orig_dst;
	struct sock_addr orig_dst;
	/* lifecycle */
	bool closing;            /* write what is queued, then close */
	bool dead;
	bool in_ready;
	struct list all;         /* http_worker.downs, then .closed_downs */
	struct list ready;
};


/* The stream has a response head (or data, trailers, end) to send. */
void http_down_response_ready(struct http_stream *s);
/* The stream took request body bytes out of its queue: window or reading
 * may resume. */
void http_down_request_consumed(struct http_stream *s, size_t n);
/* The stream is finished on the upstream side and will not call again;
 * the downstream codec may free it once it is done sending. */
void http_down_stream_abort(struct http_stream *s);
/* The address the client was going to, for ORIGINAL_DST clusters (the
 * listener's use_original_dst, else the socket's local address); NULL when
 * the client dialled the listener itself, where forwarding would loop.
 * Points into d. */
const struct sock_addr *http_down_original_dst(struct http_down *d);

/* ---- upstream (http_up.c) ---- */

struct http_up {
	struct hsock s;
	struct worker *w;
	struct worker_snap *ws;        /* the snapshot c belongs to */
	const struct cluster *c;
	struct host_pool *pool;        /* NULL once its pool is gone */
	size_t host;
	struct sock_addr addr;
	struct stats_scope *cstats;
	enum http_proto proto;
	enum { UP_CONNECTING, UP_HANDSHAKING, UP_READY, UP_CLOSED } state;
	uint64_t connect_start_ms;
	uint64_t idle_since_ms;
	uint32_t requests;             /* sent on this connection */
	struct buf *in;
	struct bodyq out;
	const char *peer_id;           /* upstream SPIFFE id (mTLS) */
	/* HTTP/1: one stream at a time */
	struct h1_parser parser;
	struct http_stream *stream;
	bool keep_alive;
	bool tunnel;
	bool shut_wr;                  /* tunnel: FIN sent */
	/* HTTP/2 */
	nghttp2_session *h2;
	struct list streams;           /* http_stream.up_link */
	uint32_t n_streams;
	uint32_t header_bytes;
	uint32_t header_count;
	bool goaway;
	bool in_ready;
	struct list link;              /* pool's idle/busy list */
	struct list all;               /* http_worker.ups */
	struct list ready;
};

/* Starts stream s's attempt on host `host` of s->rt, or for an
 * ORIGINAL_DST cluster on s->dst (a pooled connection, a new one, or a wait
 * for one). Returns 0, or a response flag string ("UO": overflow) when the
 * attempt cannot start. */
const char *http_up_start(struct http_stream *s, size_t host);
/* Takes s out of the queue of streams waiting for a connection, if it is
 * in one, and gives back its max_pending_requests slot. */
void http_up_unwait(struct http_stream *s);
/* The request queue has new bytes (or ended). */
void http_up_request_ready(struct http_stream *s);
/* The downstream took response bytes: window may open, reading resume. */
void http_up_response_consumed(struct http_stream *s, size_t n);
/* Detaches s from its upstream (reset it if it is still going). */
void http_up_detach(struct http_stream *s, bool reset);

/* ---- the stream (http_stream.c) ---- */

enum stream_phase {
	PHASE_REQUEST_HEAD,   /* receiving the request head */
	PHASE_WAIT_UPSTREAM,  /* routed, waiting for a connection */
	PHASE_UPSTREAM,       /* attempt in progress */
	PHASE_BACKOFF,        /* a retry waits out its back-off (retry_backoff.h) */
	PHASE_RESPONDING,     /* response head sent (or local reply) */
	PHASE_DONE,
};

/* The hosts a request remembers for retry_host_predicate previous_hosts:
 * the last ones it tried (num_retries may be up to 100). */
#define STREAM_TRIED_HOSTS 8

struct http_stream {
	struct http_down *down;
	struct worker_snap *ws;      /* the snapshot its clusters come from: the
				      * newest when the request began */
	int32_t down_id;             /* HTTP/2 stream id downstream */
	struct list down_link;
	enum stream_phase phase;
	uint64_t start_ms;
	uint64_t deadline_ms;        /* route timeout, 0: none */
	uint64_t try_deadline_ms;    /* per-try timeout, 0: none */
	uint64_t request_deadline_ms; /* request_timeout: the whole request by
				      * then, or the response begun; 0: none */
	uint64_t last_active_ms;     /* bytes of either direction last moved */
	uint32_t idle_timeout_ms;    /* stream_idle_timeout, or the route's
				      * idle_timeout; 0: none */
	uint64_t upstream_start_ms;
	uint64_t first_byte_ms;
	/* request */
	struct http_head req;
	struct http_head req_trailers;
	struct bodyq reqq;
	bool req_head_done;
	bool req_end;                /* every request byte is in reqq */
	bool req_sent_end;           /* the upstream codec sent the end */
	uint64_t req_bytes;
	struct bodyq replay;         /* the body so far, while it may be retried */
	bool replayable;
	bool has_content_length;
	uint64_t content_length;
	bool h1_version_10;
	bool expect_continue;
	bool upgrade;
	char *upgrade_proto;         /* the Upgrade value to ask upstream for */
	bool connect;
	char *orig_path;             /* for the access log, before rewrites */
	/* routing */
	const struct route_config *rc;
	const struct virtual_host *vh;
	const struct route *route;
	const struct cluster *cluster;
	const char *cluster_name;
	struct cluster_rt *rt;
	int host;                    /* endpoint index of the current attempt */
	const struct sock_addr *dst; /* ORIGINAL_DST: where attempts go (in down) */
	uint32_t attempts;
	int32_t tried_hosts[STREAM_TRIED_HOSTS]; /* previous_hosts: the last attempted */
	uint32_t n_tried;
	uint64_t retry_at_ms;        /* PHASE_BACKOFF: when the next attempt starts */
	struct list backoff_link;    /* http_worker.backoff, by retry_at_ms */
	bool counted_pending;
	bool counted_active;
	bool counted_retry;
	/* upstream */
	struct http_up *up;
	int32_t up_id;               /* HTTP/2 stream id upstream */
	struct list wait_link;       /* host_pool.waiters */
	struct host_pool *wait_pool; /* the pool wait_link is in */
	struct list up_link;         /* http_up.streams (HTTP/2) */
	char *up_peer;               /* the upstream's SPIFFE id (mTLS), copied */
	char *set_cookie;            /* a hash policy's cookie made for this request:
				      * Set-Cookie on the upstream's response */
	bool req_chunked;            /* HTTP/1 upstream: chunked request framing */
	/* response */
	struct http_head resp;
	struct http_head resp_trailers;
	struct bodyq respq;
	bool resp_head_ready;        /* resp holds the head to send */
	bool resp_head_sent;
	bool resp_end;               /* every response byte is in respq */
	bool resp_sent_end;
	bool resp_chunked;           /* HTTP/1 downstream: chunked framing */
	bool resp_close_delimited;
	uint64_t resp_bytes;
	bool local_reply;            /* the proxy made the response */
	const char *flags;           /* Envoy response flags, "-" none */
	const char *details;         /* response_code_details */
	bool reset;                  /* downstream reset it */
	bool h2_deferred;            /* HTTP/2 downstream: data provider waits */
	bool h2_reset_pending;       /* HTTP/2 downstream: RST_STREAM to send */
	bool up_deferred;            /* HTTP/2 upstream: data provider waits */
	bool logged;
	char request_id[40];
};

/* Bytes of s moved (either direction, either side): the stream is not
 * idle. Called where bytes cross a stream, so it only stores the loop's
 * clock, read once per turn. */
static inline void http_stream_touch(struct http_stream *s)
{
	s->last_active_ms = s->down->w->loop.now_ms;
}

/* Calls from the downstream codec. */
struct http_stream *http_stream_new(struct http_down *d);
void http_stream_request_head(struct http_stream *s);
void http_stream_request_data(struct http_stream *s); /* reqq grew or req_end */
void http_stream_downstream_reset(struct http_stream *s);
/* The downstream codec sent everything (or gave up): log and free. */
void http_stream_finish(struct http_stream *s);

/* Calls from the upstream codec. */
void http_stream_response_head(struct http_stream *s); /* s->resp filled */
void http_stream_response_data(struct http_stream *s); /* respq grew or resp_end */
/* The attempt failed before a response head: retried when allowed, else a
 * local reply (502/503/504 with the flag). */
void http_stream_upstream_failed(struct http_stream *s, const char *flag, const char *details);
/* The upstream reset after the response started: the downstream is reset. */
void http_stream_upstream_reset(struct http_stream *s);
/* A pooled connection is ready for a waiting stream. */
void http_stream_upstream_attached(struct http_stream *s);

/* Calls from the worker: s's retry back-off is over (s left the list). */
void http_stream_backoff_done(struct http_stream *s);

/* A locally generated response (no upstream). Once a head has gone out it
 * is too late for one: the stream is reset instead, with flags. */
void http_stream_local_reply(struct http_stream *s, uint16_t status, const char *flags,
			     const char *details, const char *body);
/* Ends s with a reset toward the client (RST_STREAM; HTTP/1: the
 * connection closes), logged with flags and details. */
void http_stream_reset(struct http_stream *s, const char *flags, const char *details);

/* ---- per worker (http_worker.c) ---- */

struct http_worker {
	struct list downs;
	struct list closed_downs;
	struct list ups;
	struct list closed_ups;
	struct list ready_downs;     /* connections with work left */
	struct list ready_ups;
	struct list backoff;         /* streams waiting to retry, soonest first */
	struct host_pools *pools;
};

struct http_worker *http_worker_of(struct worker *w);

/* What http_worker.c drives in the other files. */
void http_down_run_ready(struct http_down *d);
/* s waits until s->retry_at_ms, then http_stream_backoff_done(s). */
void http_worker_backoff_add(struct worker *w, struct http_stream *s);
void http_down_sweep(struct http_down *d, uint64_t now);
void http_down_abort(struct http_down *d);
void http_down_free(struct http_down *d);
void http_up_run_ready(struct http_up *u);
void http_up_sweep(struct http_up *u, uint64_t now);
void http_up_abort(struct http_up *u);
void http_up_free(struct http_up *u);
struct host_pools *http_pools_new(void);
void http_pools_free(struct worker *w, struct host_pools *t);

/* Between the stream and the downstream codec. */
const char *http_status_reason(uint16_t status);

/* The timeouts a stream can hit, in the order they are checked. */
enum stream_timeout {
	STREAM_TIMEOUT_NONE,
	STREAM_TIMEOUT_REQUEST, /* request_timeout: 408 */
	STREAM_TIMEOUT_ROUTE,   /* the route's timeout: 504 UT, or a reset */
	STREAM_TIMEOUT_PER_TRY, /* per_try_timeout: retried, or 504 UT */
	STREAM_TIMEOUT_IDLE,    /* stream_idle_timeout / idle_timeout: 504 (408 before
				 * the whole request is in) SI, or a reset */
};
/* Which timeout of s has expired at now, if any; looks, changes nothing. */
enum stream_timeout http_stream_due_timeout(const struct http_stream *s, uint64_t now);
/* Acts on the timeout due (the worker's sweep). Returns false when the
 * stream ended. */
bool http_stream_check_timeouts(struct http_stream *s, uint64_t now);

#endif
