/* Per-worker counters; see stats.h.
 *
 * Scopes live in chunks of STATS_CHUNK ids. The main thread allocates a
 * chunk for every worker before it hands out an id in it, and publishes the
 * id to workers only through a snapshot (an acquire/release pair), so a
 * worker never sees an id whose storage is missing. */
#include "proxy/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STATS_CHUNK 256u
#define STATS_MAX_CHUNKS (STATS_MAX_SCOPES / STATS_CHUNK)

struct scope_info {
	enum stats_kind kind;
	char *name;
};

struct stats_worker {
	struct stats_scope *chunks[STATS_MAX_CHUNKS];
};

static struct stats_worker *workers;
static unsigned n_workers;
static struct scope_info *infos; /* grows with the number of scopes */
static _Atomic uint32_t n_scopes;
static uint32_t infos_cap;

int stats_init(unsigned n)
{
	workers = calloc(n, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	n_workers = n;
	return 0;
}

void stats_shutdown(void)
{
	for (unsigned w = 0; w < n_workers; w++)
		for (unsigned c = 0; c < STATS_MAX_CHUNKS; c++)
			free(workers[w].chunks[c]);
	for (uint32_t i = 0; i < n_scopes; i++)
		free(infos[i].name);
	free(workers);
	free(infos);
	workers = NULL;
	infos = NULL;
	n_workers = 0;
	n_scopes = 0;
	infos_cap = 0;
}

static int ensure_chunk(uint32_t id)
{
	unsigned c = id / STATS_CHUNK;
	for (unsigned w = 0; w < n_workers; w++) {
		if (workers[w].chunks[c])
			continue;
		workers[w].chunks[c] = calloc(STATS_CHUNK, sizeof(struct stats_scope));
		if (!workers[w].chunks[c])
			return -ENOMEM;
	}
	return 0;
}

int stats_scope_id(enum stats_kind kind, const char *name)
{
	uint32_t n = n_scopes;
	for (uint32_t i = 0; i < n; i++)
		if (infos[i].kind == kind && strcmp(infos[i].name, name) == 0)
			return (int)i;
	if (n >= STATS_MAX_SCOPES)
		return -ENOSPC;
	if (n == infos_cap) {
		uint32_t cap = infos_cap ? infos_cap * 2 : 64;
		struct scope_info *grown = realloc(infos, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		infos = grown;
		infos_cap = cap;
	}
	int err = ensure_chunk(n);
	if (err)
		return err;
	infos[n].kind = kind;
	infos[n].name = strdup(name);
	if (!infos[n].name)
		return -ENOMEM;
	n_scopes = n + 1;
	return (int)n;
}

struct stats_scope *stats_scope(unsigned w, uint32_t id)
{
	return &workers[w].chunks[id / STATS_CHUNK][id % STATS_CHUNK];
}

uint64_t stats_sum(uint32_t id, enum stats_counter c)
{
	uint64_t sum = 0;
	for (unsigned w = 0; w < n_workers; w++)
		sum += atomic_load_explicit(&stats_scope(w, id)->c[c], memory_order_relaxed);
	return sum;
}

/* Envoy's names where Envoy has the counter, skiff's beside them. */
#define SSL_COUNTER_NAMES                                              \
	[STAT_SSL_HANDSHAKE] = "ssl.handshake",                        \
	[STAT_SSL_SESSION_REUSED] = "ssl.session_reused",              \
	[STAT_SSL_UNTRUSTED] = "ssl.fail_verify_error",                \
	[STAT_SSL_EXPIRED] = "ssl.fail_verify_expired",                \
	[STAT_SSL_NOT_YET_VALID] = "ssl.fail_verify_not_yet_valid",    \
	[STAT_SSL_BAD_SVID] = "ssl.fail_verify_svid",                  \
	[STAT_SSL_ID_MISMATCH] = "ssl.fail_verify_san",                \
	[STAT_SSL_NO_ALPN] = "ssl.fail_no_alpn",                       \
	[STAT_SSL_ERROR] = "ssl.connection_error",                     \
	[STAT_SSL_TIMEOUT] = "ssl.handshake_timeout"

/* Response classes; stats_export_prometheus folds the five into one family
 * with Envoy's envoy_response_code_class label. */
#define RESPONSE_CLASS_NAMES(side)                                     \
	[STAT_RQ_1XX] = side "_rq_1xx", [STAT_RQ_2XX] = side "_rq_2xx", \
	[STAT_RQ_3XX] = side "_rq_3xx", [STAT_RQ_4XX] = side "_rq_4xx", \
	[STAT_RQ_5XX] = side "_rq_5xx"

const char *stats_counter_name(enum stats_kind kind, enum stats_counter c)
{
	static const char *const listener[STAT__COUNT] = {
		[STAT_CX_TOTAL] = "downstream_cx_total",
		[STAT_CX_DESTROY] = "downstream_cx_destroy",
		[STAT_RX_BYTES] = "downstream_cx_rx_bytes_total",
		[STAT_TX_BYTES] = "downstream_cx_tx_bytes_total",
		[STAT_IDLE_TIMEOUT] = "downstream_cx_idle_timeout",
		[STAT_NO_DESTINATION] = "downstream_cx_no_destination",
		[STAT_OVERFLOW] = "downstream_cx_overflow",
		SSL_COUNTER_NAMES,
		[STAT_SSL_NO_CERT] = "ssl.fail_verify_no_cert",
		[STAT_PLAINTEXT] = "downstream_cx_plaintext",
		[STAT_PLAINTEXT_REFUSED] = "downstream_cx_plaintext_refused",
		[STAT_RBAC_ALLOWED] = "rbac.allowed",
		[STAT_RBAC_DENIED] = "rbac.denied",
		/* Envoy keeps these under http.<stat_prefix>.*; skiff's scope is
		 * the listener, so they take the listener's form. */
		[STAT_HTTP1_CX] = "downstream_cx_http1_total",
		[STAT_HTTP2_CX] = "downstream_cx_http2_total",
		[STAT_RQ_TOTAL] = "downstream_rq_total",
		RESPONSE_CLASS_NAMES("downstream"),
		[STAT_RQ_TIMEOUT] = "downstream_rq_timeout",
		[STAT_RQ_RESET] = "downstream_rq_rx_reset",
		[STAT_RQ_NO_ROUTE] = "no_route",
		[STAT_RQ_NO_CLUSTER] = "no_cluster",
		[STAT_PROTOCOL_ERROR] = "downstream_cx_protocol_error",
		[STAT_H2_FLOOD] = "http2.outbound_flood",
		[STAT_RQ_IDLE_TIMEOUT] = "downstream_rq_idle_timeout",
	};
	static const char *const cluster[STAT__COUNT] = {
		[STAT_CX_TOTAL] = "upstream_cx_total",
		[STAT_CX_DESTROY] = "upstream_cx_destroy",
		[STAT_RX_BYTES] = "upstream_cx_rx_bytes_total",
		[STAT_TX_BYTES] = "upstream_cx_tx_bytes_total",
		[STAT_CONNECT_FAIL] = "upstream_cx_connect_fail",
		[STAT_CONNECT_TIMEOUT] = "upstream_cx_connect_timeout",
		SSL_COUNTER_NAMES,
		[STAT_HTTP1_CX] = "upstream_cx_http1_total",
		[STAT_HTTP2_CX] = "upstream_cx_http2_total",
		[STAT_RQ_TOTAL] = "upstream_rq_total",
		RESPONSE_CLASS_NAMES("upstream"),
		[STAT_RQ_TIMEOUT] = "upstream_rq_timeout",
		[STAT_RQ_PER_TRY_TIMEOUT] = "upstream_rq_per_try_timeout",
		[STAT_RQ_RETRY] = "upstream_rq_retry",
		[STAT_RQ_RETRY_OVERFLOW] = "upstream_rq_retry_overflow",
		[STAT_RQ_RETRY_BACKOFF] = "upstream_rq_retry_backoff_exponential",
		[STAT_RQ_PENDING_OVERFLOW] = "upstream_rq_pending_overflow",
		[STAT_CX_OVERFLOW] = "upstream_cx_overflow",
		[STAT_RQ_RESET] = "upstream_rq_rx_reset",
		[STAT_RQ_NO_HEALTHY] = "upstream_cx_none_healthy",
		[STAT_PROTOCOL_ERROR] = "upstream_cx_protocol_error",
		[STAT_OUTLIER_EJECTED] = "outlier_detection.ejections_enforced_total",
		[STAT_HC_ATTEMPT] = "health_check.attempt",
		[STAT_HC_FAILURE] = "health_check.failure",
		[STAT_CX_POOL_REUSE] = "upstream_cx_pool_reuse",
		[STAT_H2_FLOOD] = "http2.outbound_flood",
	};
	return kind == STATS_LISTENER ? listener[c] : cluster[c];
}

uint32_t stats_scope_count(void)
{
	return n_scopes;
}

int stats_scope_info(uint32_t id, enum stats_kind *kind, const char **name)
{
	if (id >= n_scopes)
		return -ENOENT;
	*kind = infos[id].kind;
	*name = infos[id].name;
	return 0;
}
