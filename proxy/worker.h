/* Worker threads: one epoll loop each, with its own SO_REUSEPORT listening
 * sockets, so a connection lives and dies on the worker that accepted it and
 * the data path shares nothing with other threads. */
#ifndef SKIFF_PROXY_WORKER_H
#define SKIFF_PROXY_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "proxy/access_log.h"
#include "proxy/buf.h"
#include "proxy/config.h"
#include "proxy/lb.h"
#include "proxy/list.h"
#include "proxy/loop.h"
#include "proxy/tls_session_cache.h"

/* A snapshot as a worker holds it: connections count against the one they
 * started under, which stays alive until the last of them closes. */
struct worker_snap {
	struct snapshot *snap;
	unsigned sessions;
	struct list link; /* worker.snaps */
};

struct worker;

/* One listening socket of one worker. */
struct worker_listener {
	struct io io;
	struct worker *worker;
	char *name;                  /* finds the listener again in a new snapshot */
	const struct listener *cfg;  /* in worker->snap */
};

enum worker_state { WORKER_RUNNING, WORKER_DRAINING, WORKER_STOPPING };

struct worker {
	unsigned index;
	pthread_t thread;
	struct loop loop;
	struct io wake;                 /* eventfd: the main thread has news */
	_Atomic int state;              /* enum worker_state, set by the main thread */
	_Atomic unsigned live_sessions; /* read by the main thread while draining */
	struct worker_snap *snap;       /* current */
	struct list snaps;              /* every worker_snap still referenced */
	struct worker_listener **listeners; /* each allocated: epoll holds its address */
	size_t n_listeners;
	size_t cap_listeners;
	struct buf_pool bufs;
	struct access_log_set logs;
	struct tls_session_cache tls_sessions; /* upstream tickets, to resume */
	uint64_t next_conn_seq;
	uint32_t rr;                    /* round-robin position, shared by clusters */
	unsigned n_workers;
	/* Connections: all of them, those with work left after their budget, and
	 * those closed this turn (freed at its end: later events of the same
	 * epoll batch may still name them). */
	struct list sessions;
	struct list ready;
	struct list closed;
	unsigned n_sessions;
	/* HTTP: per-cluster endpoint state (lb.h), the HTTP connections and
	 * pools (http.h) and active health checks (health_check.h). */
	struct cluster_rt_table clusters;
	struct http_worker *http;
	struct health_checker *health;
};

/* Opens every listener of snap for n workers (SO_REUSEPORT: one socket per
 * worker per listener) and starts the threads. On failure nothing is left
 * running and err says which listener failed. Returns 0 or -errno. */
int workers_start(struct snapshot *snap, unsigned n, char *err, size_t errlen);

/* Tells every worker that a new snapshot is current. */
void workers_notify(void);

/* Stops accepting; open connections go on. */
void workers_drain(void);

/* Connections still open on all workers. */
unsigned workers_live_sessions(void);

/* Closes whatever is still open, joins the threads, frees the workers. */
void workers_stop(void);

/* A new connection id, unique across workers. */
uint64_t worker_next_conn_id(struct worker *w);

/* Drops one connection's (or stream's) hold on ws; the last one off a
 * snapshot that is no longer current frees it. */
void worker_snap_release(struct worker *w, struct worker_snap *ws);

/* Adds w's ready work to the next turn (the session ran out of budget). */
void worker_mark_ready(struct worker *w, struct list *node);

#endif
