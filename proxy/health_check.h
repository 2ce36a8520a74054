/* Active health checks of cluster endpoints, HTTP/1.1 or TCP, run on one
 * worker's event loop (worker 0's) and fed into the endpoints' shared
 * health (host_health_check_report), which every worker picks by.
 *
 * A tcp_health_check writes its `send` bytes over the same kind of
 * connection (without the ALPN override) and passes once every `receive`
 * block has come, in order, not necessarily adjacent; with none, once the
 * connection (and handshake) is made. A close or the timeout before that
 * fails it.
 *
 * For every cluster with an http_health_check, each host gets
 * "GET <path>" over a fresh connection every interval_ms, counted from the
 * end of the previous check. The connection uses the cluster's transport
 * socket, as Envoy's does: TLS with the cluster's identity and checks of
 * the server's (ALPN http/1.1) when the cluster has one, plain TCP when
 * not. A 2xx status passes (Envoy's default expected_statuses is 200
 * alone; we accept 200-299); any other status, a refused or reset
 * connection, a refused TLS handshake, a close before the status line or
 * no status line within timeout_ms fails. A host sees one check per
 * interval, whatever the number of workers. */
#ifndef SKIFF_PROXY_HEALTH_CHECK_H
#define SKIFF_PROXY_HEALTH_CHECK_H

#include <stdint.h>

#include "proxy/config.h"
#include "proxy/lb.h"
#include "proxy/loop.h"

/* Checks in flight per checker; hosts due past that wait for a free slot. */
#define HC_MAX_PROBES 1024
/* The status line must arrive within this many bytes of response. */
#define HC_RESPONSE_MAX 4096
/* Shortest interval and timeout honoured: a zero or tiny value (which the
 * config should refuse) would otherwise probe in a busy loop. */
#define HC_MIN_INTERVAL_MS 100

struct health_checker;

/* A checker whose connections live on `loop`, which keeps when each check
 * is due in `clusters` (the worker's host state) and records its results in
 * the endpoints' shared health, counted (health_check.attempt / .failure) in
 * worker `stats_worker`'s counters. Both must outlive the checker. NULL
 * when out of memory. */
struct health_checker *health_checker_new(struct loop *loop, struct cluster_rt_table *clusters,
					  unsigned stats_worker);

/* Closes the checks in flight (no result is recorded) and frees hc. NULL is
 * fine, as it is for the two calls below (the workers that do not check). */
void health_checker_free(struct health_checker *hc);

/* Records the results of finished checks, fails those past their timeout,
 * and starts the checks due at now_ms for every cluster of snap with
 * health checking. Call it between loop_run_once() calls, never from an io
 * callback: it frees finished checks, and with them their struct io. snap
 * need only live for the call. */
void health_checker_tick(struct health_checker *hc, const struct snapshot *snap, uint64_t now_ms);

/* When health_checker_tick has work next: the earliest check due or
 * timeout, or 0 when a finished check waits to be recorded. UINT64_MAX when
 * nothing is scheduled. */
uint64_t health_checker_next_ms(const struct health_checker *hc);

#endif
