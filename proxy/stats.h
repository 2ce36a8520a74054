/* Counters per listener and per cluster, kept per worker and summed only when
 * read. A scope (one listener or one cluster, by name) keeps its id across
 * snapshots, so counters survive a configuration change. Each worker writes
 * only its own counters, with relaxed atomics: no lock and no shared cache
 * line on the data path. */
#ifndef SKIFF_PROXY_STATS_H
#define SKIFF_PROXY_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum stats_kind { STATS_LISTENER, STATS_CLUSTER };

/* One counter set serves both kinds; stats_counter_name() gives the Envoy
 * name for each kind. Append only: names appear on dashboards. */
enum stats_counter {
	STAT_CX_TOTAL,          /* connections opened */
	STAT_CX_DESTROY,        /* connections closed (active = total - destroy) */
	STAT_RX_BYTES,          /* bytes read from this side's peer */
	STAT_TX_BYTES,          /* bytes written to this side's peer */
	STAT_CONNECT_FAIL,      /* cluster: upstream refused, reset or unreachable */
	STAT_CONNECT_TIMEOUT,   /* cluster: connect_timeout expired */
	STAT_IDLE_TIMEOUT,      /* listener: tcp_proxy idle_timeout expired */
	STAT_NO_DESTINATION,    /* listener: no original destination / no endpoint */
	STAT_OVERFLOW,          /* listener: accept failed for lack of fds or memory */
	/* TLS handshakes, one counter per outcome (certs/tls_context.h) */
	STAT_SSL_HANDSHAKE,     /* completed and the peer accepted */
	STAT_SSL_SESSION_REUSED,
	STAT_SSL_NO_CERT,       /* listener: the client sent no certificate */
	STAT_SSL_UNTRUSTED,     /* chain does not verify against the bundle */
	STAT_SSL_EXPIRED,
	STAT_SSL_NOT_YET_VALID,
	STAT_SSL_BAD_SVID,      /* not an X.509-SVID */
	STAT_SSL_ID_MISMATCH,   /* an SVID, but not an id this side accepts */
	STAT_SSL_NO_ALPN,
	STAT_SSL_ERROR,         /* protocol error, peer refused us, peer went away */
	STAT_SSL_TIMEOUT,       /* handshake did not finish in time */
	STAT_PLAINTEXT,         /* listener: plaintext accepted (permissive) */
	STAT_PLAINTEXT_REFUSED, /* listener: plaintext on a TLS-only (strict) port */
	STAT_RBAC_ALLOWED,
	STAT_RBAC_DENIED,
	/* HTTP (http_connection_manager on a listener, router on a cluster) */
	STAT_HTTP1_CX,          /* connections speaking HTTP/1.x */
	STAT_HTTP2_CX,          /* connections speaking HTTP/2 */
	STAT_RQ_TOTAL,          /* requests */
	STAT_RQ_1XX,
	STAT_RQ_2XX,
	STAT_RQ_3XX,
	STAT_RQ_4XX,
	STAT_RQ_5XX,
	STAT_RQ_TIMEOUT,        /* listener: request_timeout; cluster: route timeout */
	STAT_RQ_PER_TRY_TIMEOUT,
	STAT_RQ_RETRY,          /* cluster: retries sent */
	STAT_RQ_RETRY_OVERFLOW, /* cluster: retry refused by circuit breaker / budget */
	STAT_RQ_RETRY_BACKOFF,  /* cluster: retries that waited out a back-off */
	STAT_RQ_PENDING_OVERFLOW, /* cluster: 503 UO: pending or request limit */
	STAT_CX_OVERFLOW,       /* cluster: connection limit reached */
	STAT_RQ_RESET,          /* stream reset (either side) */
	STAT_RQ_NO_ROUTE,       /* listener: 404 NR */
	STAT_RQ_NO_CLUSTER,     /* listener: 503 NC */
	STAT_RQ_NO_HEALTHY,     /* cluster: 503 UH */
	STAT_PROTOCOL_ERROR,    /* listener/cluster: malformed HTTP (400/431/502) */
	STAT_OUTLIER_EJECTED,   /* cluster: outlier_detection.ejections_enforced_total */
	STAT_HC_ATTEMPT,        /* cluster: health_check.attempt */
	STAT_HC_FAILURE,        /* cluster: health_check.failure */
	STAT_CX_POOL_REUSE,     /* cluster: a request took a pooled connection */
	STAT_H2_FLOOD,          /* listener/cluster: connection closed for an HTTP/2 flood */
	STAT_RQ_IDLE_TIMEOUT,   /* listener: stream_idle_timeout (or a route's idle_timeout) expired */
	STAT__COUNT
};

#define STATS_MAX_SCOPES 65536u

struct stats_scope {
	atomic_uint_least64_t c[STAT__COUNT];
};

/* Per-worker counter storage, allocated by the main thread. */
struct stats_worker;

/* Creates storage for n_workers; returns 0 or -ENOMEM. Main thread. */
int stats_init(unsigned n_workers);
void stats_shutdown(void);

/* The id of scope (kind, name), registering it on first use; allocates every
 * worker's counters for it before returning. Returns the id (>= 0), -ENOSPC
 * past STATS_MAX_SCOPES, or -ENOMEM. Main thread. */
int stats_scope_id(enum stats_kind kind, const char *name);

/* Worker `w`'s counters of scope `id`. The pointer stays valid until
 * stats_shutdown. */
struct stats_scope *stats_scope(unsigned w, uint32_t id);

/* Owner-only increment: one worker writes a scope's counters, others read. */
static inline void stats_add(struct stats_scope *s, enum stats_counter c, uint64_t n)
{
	atomic_store_explicit(&s->c[c], atomic_load_explicit(&s->c[c], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* Sum of counter c of scope id over all workers. */
uint64_t stats_sum(uint32_t id, enum stats_counter c);

/* Envoy's name of counter c for kind (e.g. "upstream_cx_total"), or NULL if
 * that counter does not exist for that kind. */
const char *stats_counter_name(enum stats_kind kind, enum stats_counter c);

/* Iterates registered scopes: returns 0 and fills kind/name for id < count. */
uint32_t stats_scope_count(void);
int stats_scope_info(uint32_t id, enum stats_kind *kind, const char **name);

#endif
