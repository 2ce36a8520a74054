/* The HTTP connection manager (Envoy's http_connection_manager filter) as
 * the rest of the proxy sees it: tcp_proxy hands a connection over once its
 * filter chain is chosen, TLS is done and RBAC allowed it; the worker runs
 * the HTTP connections' timers and frees what closed. Inside: http_down.c
 * (server side), http_up.c (client side and pools), http_stream.c (one
 * request: router, load balancing, retries, telemetry). */
#ifndef SKIFF_PROXY_HTTP_H
#define SKIFF_PROXY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"
#include "proxy/transport.h"

struct worker;
struct worker_snap;
struct stats_scope;

/* Hands over an accepted connection whose chain has an HCM (tcp_proxy.c
 * calls it once TLS and RBAC are done). Takes fd, transport, and the
 * session's reference on ws. */
struct http_down_init {
	struct worker *w;
	struct worker_snap *ws;
	const struct listener *listener;
	const struct filter_chain *chain;
	struct stats_scope *lstats;
	uint64_t id;
	uint64_t start_unix_ms;
	int fd;
	struct transport t;
	const char *peer_id;
	const struct sock_addr *peer;
	const struct sock_addr *local;
	const unsigned char *pending; /* bytes already read (sniffing), may be NULL */
	size_t n_pending;
};
void http_down_adopt(const struct http_down_init *init);

/* Sets up and tears down a worker's HTTP state. 0 or -ENOMEM. */
int http_worker_init(struct worker *w);
void http_worker_free(struct worker *w);

/* Runs connections with work left from the last turn, and the retries
 * whose back-off is over. */
void http_worker_run_ready(struct worker *w);
bool http_worker_has_ready(const struct worker *w);

/* When the next retry back-off ends (loop milliseconds), UINT64_MAX if no
 * stream waits: the worker sleeps no longer than that, as the 100 ms sweep
 * is too coarse for 25 ms back-offs. */
uint64_t http_worker_next_retry_ms(const struct worker *w);

/* Enforces timeouts (route, per-try, stream idle, request, connect,
 * connection idle) and winds connections down while the worker drains
 * (GOAWAY, then the HCM's drain_timeout); called every sweep interval. */
void http_worker_sweep(struct worker *w);

/* Frees connections closed during this turn. */
void http_worker_reap(struct worker *w);

/* Closes everything (drain timeout or shutdown). */
void http_worker_abort_all(struct worker *w);

#endif
