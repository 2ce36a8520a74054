/* The tcp_proxy network filter: one downstream connection spliced to one
 * upstream connection, bytes copied both ways through at most one buffer per
 * direction, with half-close, connect and idle timeouts. */
#ifndef SKIFF_PROXY_TCP_PROXY_H
#define SKIFF_PROXY_TCP_PROXY_H

#include "proxy/config.h"
#include "proxy/worker.h"

/* Why a flow ended; the name appears in the access log. Append only. */
enum tcp_termination {
	TERM_CLOSED,            /* both sides finished normally */
	TERM_DOWNSTREAM_RESET,
	TERM_UPSTREAM_RESET,
	TERM_CONNECT_FAILED,
	TERM_CONNECT_TIMEOUT,
	TERM_IDLE_TIMEOUT,
	TERM_NO_DESTINATION,    /* no original destination, or no endpoint */
	TERM_OUT_OF_MEMORY,
	TERM_DRAIN_TIMEOUT,
	TERM_TLS_FAILED,          /* downstream handshake refused or broken */
	TERM_UPSTREAM_TLS_FAILED, /* upstream handshake refused or broken */
	TERM_TLS_TIMEOUT,         /* a handshake (or the first bytes) took too long */
	TERM_PLAINTEXT_REFUSED,   /* plaintext on a TLS-only listener */
	TERM_RBAC_DENIED,
};

const char *tcp_termination_name(enum tcp_termination t);

/* Takes over accepted socket fd (on wl, under w->snap) and starts connecting
 * upstream. On failure the socket is closed and counted. */
void tcp_proxy_accept(struct worker *w, struct worker_listener *wl, int fd);

/* Runs a session that w->ready holds. */
void tcp_proxy_run_ready(struct list *node);

/* Enforces connect and idle timeouts on every session of w. */
void tcp_proxy_sweep(struct worker *w);

/* Closes every session of w (drain timeout or shutdown). */
void tcp_proxy_abort_all(struct worker *w, enum tcp_termination why);

/* Frees sessions closed during this turn. */
void tcp_proxy_reap(struct worker *w);

#endif
