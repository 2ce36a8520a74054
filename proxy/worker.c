/* Worker threads; see worker.h.
 *
 * A turn of the loop: take up a newer snapshot if one was published, wait
 * for events (not at all if connections have budgeted work left), run the
 * ready connections, enforce timeouts, free what closed. */
#include "proxy/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "proxy/health_check.h"
#include "proxy/http.h"
#include "proxy/http_head.h"
#include "proxy/log.h"
#include "proxy/netns.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"
#include "proxy/tcp_proxy.h"

#define SWEEP_INTERVAL_MS 100
#define ACCEPT_BATCH 64
#define BUF_POOL_KEEP 64 /* free buffers a worker keeps: 4 MiB */

static struct worker *workers;
static unsigned n_workers; /* initialised (to free) */
static unsigned n_started; /* running threads (to join) */

uint64_t worker_next_conn_id(struct worker *w)
{
	return ++w->next_conn_seq * w->n_workers + w->index;
}

void worker_snap_release(struct worker *w, struct worker_snap *ws)
{
	if (--ws->sessions == 0 && ws != w->snap) {
		list_del(&ws->link);
		snapshot_unref(ws->snap);
		free(ws);
	}
}

void worker_mark_ready(struct worker *w, struct list *node)
{
	list_add_tail(&w->ready, node);
}

static void on_accept(struct io *io, uint32_t events)
{
	(void)events;
	struct worker_listener *wl = container_of(io, struct worker_listener, io);
	struct worker *w = wl->worker;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			tcp_proxy_accept(w, wl, fd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			stats_add(stats_scope(w->index, wl->cfg->stats_id), STAT_OVERFLOW, 1);
			log_warn("listener %s: accept: %s", wl->name, strerror(errno));
		}
		return; /* EAGAIN, or an error the next turn retries */
	}
}

static void on_wake(struct io *io, uint32_t events)
{
	(void)events;
	uint64_t v;
	ssize_t unused = read(io->fd, &v, sizeof(v));
	(void)unused;
}

static void listener_free(struct worker *w, struct worker_listener *wl)
{
	if (wl->io.fd >= 0) {
		loop_del(&w->loop, &wl->io);
		close(wl->io.fd);
	}
	free(wl->name);
	free(wl);
}

/* Opens this worker's socket for l. Returns 0, or -errno with err set. */
static int listener_add(struct worker *w, const struct listener *l, char *err, size_t errlen)
{
	if (w->n_listeners == w->cap_listeners) {
		size_t cap = w->cap_listeners ? w->cap_listeners * 2 : 8;
		struct worker_listener **grown = realloc(w->listeners, cap * sizeof(*grown));
		if (!grown)
			goto nomem;
		w->listeners = grown;
		w->cap_listeners = cap;
	}
	struct worker_listener *wl = calloc(1, sizeof(*wl));
	if (!wl || !(wl->name = strdup(l->name))) {
		free(wl);
		goto nomem;
	}
	wl->io = (struct io){ .fd = -1, .cb = on_accept };
	wl->worker = w;
	wl->cfg = l;
	char why[160];
	int rc = netns_listener_open(l->netns, &l->addr, true, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "listener %s: %s", l->name, why);
		listener_free(w, wl);
		return rc;
	}
	wl->io.fd = rc;
	int one = 1; /* inherited by every accepted socket */
	setsockopt(rc, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((rc = loop_add(&w->loop, &wl->io, EPOLLIN)) < 0) {
		snprintf(err, errlen, "listener %s: epoll: %s", l->name, strerror(-rc));
		listener_free(w, wl);
		return rc;
	}
	w->listeners[w->n_listeners++] = wl;
	return 0;
nomem:
	snprintf(err, errlen, "listener %s: out of memory", l->name);
	return -ENOMEM;
}

static const struct listener *find_listener(const struct snapshot *snap, const char *name)
{
	for (size_t i = 0; i < snap->n_listeners; i++)
		if (strcmp(snap->listeners[i].name, name) == 0)
			return &snap->listeners[i];
	return NULL;
}

static bool same_netns(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* Brings the worker's listening sockets in line with snap: a listener kept
 * by name, address and network namespace keeps its socket and takes its new settings; one gone
 * or moved closes (its open connections carry on under their snapshot); a
 * new one opens. */
static void reconcile_listeners(struct worker *w, const struct snapshot *snap, bool listening)
{
	size_t kept = 0;
	for (size_t i = 0; i < w->n_listeners; i++) {
		struct worker_listener *wl = w->listeners[i];
		const struct listener *l = find_listener(snap, wl->name);
		if (l && sock_addr_equal(&l->addr, &wl->cfg->addr) &&
		    same_netns(l->netns, wl->cfg->netns)) {
			wl->cfg = l;
			w->listeners[kept++] = wl;
		} else {
			log_info("listener %s: closed", wl->name);
			listener_free(w, wl);
		}
	}
	w->n_listeners = kept;
	for (size_t i = 0; listening && i < snap->n_listeners; i++) {
		bool have = false;
		for (size_t j = 0; j < w->n_listeners && !have; j++)
			have = w->listeners[j]->cfg == &snap->listeners[i];
		if (have)
			continue;
		char err[256];
		if (listener_add(w, &snap->listeners[i], err, sizeof(err)) < 0)
			log_error("%s", err);
		else
			log_info("listener %s: listening", snap->listeners[i].name);
	}
}

/* Moves the worker to the current snapshot. */
static void take_snapshot(struct worker *w, bool listening)
{
	struct snapshot *snap = snapshot_acquire(w->index);
	if (!snap)
		return;
	struct worker_snap *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		snapshot_unref(snap);
		return; /* stay on the old one; the next turn tries again */
	}
	ws->snap = snap;
	list_add_tail(&w->snaps, &ws->link);
	struct worker_snap *old = w->snap;
	w->snap = ws;
	if (old)
		reconcile_listeners(w, snap, listening);
	if (old && old->sessions == 0) {
		list_del(&old->link);
		snapshot_unref(old->snap);
		free(old);
	}
}

static void close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++)
		listener_free(w, w->listeners[i]);
	w->n_listeners = 0;
}

static void run_ready(struct worker *w)
{
	struct list batch;
	list_init(&batch);
	list_splice_tail(&batch, &w->ready);
	while (!list_empty(&batch)) {
		struct list *node = batch.next;
		list_del(node);
		tcp_proxy_run_ready(node);
	}
}

/* The epoll timeout that also wakes at `at` (loop milliseconds; UINT64_MAX:
 * never), capped at a minute. */
static int sooner(int timeout, uint64_t at)
{
	if (at == UINT64_MAX)
		return timeout;
	uint64_t now = loop_now_ms();
	int until = at <= now ? 0 : (int)(at - now < 60000 ? at - now : 60000);
	return timeout < 0 || until < timeout ? until : timeout;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[24];
	snprintf(name, sizeof(name), "worker %u", w->index);
	log_set_thread_name(name);
	uint64_t next_sweep = 0;
	bool listening = true;
	for (;;) {
		int state = atomic_load_explicit(&w->state, memory_order_acquire);
		if (state == WORKER_STOPPING)
			break;
		if (state == WORKER_DRAINING && listening) {
			close_listeners(w);
			listening = false;
		}
		if (!listening && w->n_sessions == 0)
			break;
		if (snapshot_current_version() != w->snap->snap->version)
			take_snapshot(w, listening);

		/* Sleep without a deadline only when nothing waits for the sweep:
		 * no connection to time out and no access log line to write. */
		bool sweep_due = w->n_sessions || access_log_pending(&w->logs);
		/* Active health checks: record what finished, start what is due
		 * (never from inside an event callback: it frees finished probes). */
		health_checker_tick(w->health, w->snap->snap, loop_now_ms());
		bool ready = !list_empty(&w->ready) || http_worker_has_ready(w);
		int timeout = ready ? 0 : sweep_due ? SWEEP_INTERVAL_MS : -1;
		timeout = sooner(timeout, health_checker_next_ms(w->health));
		timeout = sooner(timeout, http_worker_next_retry_ms(w));
		if (loop_run_once(&w->loop, timeout) < 0)
			log_error("epoll_wait: %s", strerror(errno));
		run_ready(w);
		http_worker_run_ready(w);
		if (w->loop.now_ms >= next_sweep) {
			tcp_proxy_sweep(w);
			http_worker_sweep(w);
			access_log_flush(&w->logs);
			next_sweep = w->loop.now_ms + SWEEP_INTERVAL_MS;
		}
		tcp_proxy_reap(w);
		http_worker_reap(w);
	}
	tcp_proxy_abort_all(w, TERM_DRAIN_TIMEOUT);
	tcp_proxy_reap(w);
	http_worker_abort_all(w);
	http_head_recycled_free(); /* this thread's cache */
	access_log_close(&w->logs);
	close_listeners(w);
	return NULL;
}

static int worker_init(struct worker *w, unsigned index, unsigned n, struct snapshot *snap,
		       char *err, size_t errlen)
{
	w->index = index;
	w->n_workers = n;
	list_init(&w->snaps);
	list_init(&w->sessions);
	list_init(&w->ready);
	list_init(&w->closed);
	buf_pool_init(&w->bufs, BUF_POOL_KEEP);
	w->wake.fd = -1;
	if (http_worker_init(w) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = loop_init(&w->loop);
	if (rc) {
		snprintf(err, errlen, "epoll_create: %s", strerror(-rc));
		return rc;
	}
	/* One worker checks, for all: the verdicts are shared (host_health.h),
	 * and an endpoint gets one check per interval, as from Envoy. */
	if (index == 0 && !(w->health = health_checker_new(&w->loop, &w->clusters, index))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	w->wake = (struct io){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_wake };
	if (w->wake.fd < 0 || (rc = loop_add(&w->loop, &w->wake, EPOLLIN)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < snap->n_listeners; i++)
		if ((rc = listener_add(w, &snap->listeners[i], err, errlen)) < 0)
			return rc;
	take_snapshot(w, true);
	if (!w->snap) {
		snprintf(err, errlen, "no configuration published");
		return -ENOENT;
	}
	return 0;
}

static void worker_free(struct worker *w)
{
	close_listeners(w);
	http_worker_free(w);
	health_checker_free(w->health);
	cluster_rt_table_free(&w->clusters);
	free(w->listeners);
	while (!list_empty(&w->snaps)) {
		struct worker_snap *ws = container_of(w->snaps.next, struct worker_snap, link);
		list_del(&ws->link);
		snapshot_unref(ws->snap);
		free(ws);
	}
	buf_pool_drain(&w->bufs);
	tls_session_cache_clear(&w->tls_sessions);
	http_head_recycled_free(); /* what the cleanup above put in this thread's */
	if (w->wake.fd >= 0)
		close(w->wake.fd);
	loop_close(&w->loop);
}

int workers_start(struct snapshot *snap, unsigned n, char *err, size_t errlen)
{
	workers = calloc(n, sizeof(*workers));
	if (!workers) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	/* Every socket is bound before any thread starts: a port in use fails
	 * start-up as a whole, before anything is served. */
	for (unsigned i = 0; i < n && rc == 0; i++, n_workers++)
		rc = worker_init(&workers[i], i, n, snap, err, errlen);
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = -pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (rc)
			snprintf(err, errlen, "pthread_create: %s", strerror(-rc));
		else
			n_started++;
	}
	if (rc)
		workers_stop();
	return rc;
}

static void wake_all(void)
{
	uint64_t one = 1;
	for (unsigned i = 0; i < n_workers; i++) {
		ssize_t unused = write(workers[i].wake.fd, &one, sizeof(one));
		(void)unused;
	}
}

void workers_notify(void)
{
	wake_all();
}

void workers_drain(void)
{
	for (unsigned i = 0; i < n_workers; i++)
		atomic_store_explicit(&workers[i].state, WORKER_DRAINING, memory_order_release);
	wake_all();
}

unsigned workers_live_sessions(void)
{
	unsigned sum = 0;
	for (unsigned i = 0; i < n_workers; i++)
		sum += atomic_load_explicit(&workers[i].live_sessions, memory_order_relaxed);
	return sum;
}

void workers_stop(void)
{
	if (!workers)
		return;
	for (unsigned i = 0; i < n_workers; i++)
		atomic_store_explicit(&workers[i].state, WORKER_STOPPING, memory_order_release);
	wake_all();
	for (unsigned i = 0; i < n_started; i++)
		pthread_join(workers[i].thread, NULL);
	for (unsigned i = 0; i < n_workers; i++)
		worker_free(&workers[i]);
	free(workers);
	workers = NULL;
	n_workers = n_started = 0;
}
