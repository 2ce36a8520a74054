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

#include "proxy/listener.h"
#include "proxy/log.h"
#include "proxy/snapshot.h"
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

/* Moves the worker to the current snapshot. The listeners keep their
 * sockets and take their new configuration by name. */
static void take_snapshot(struct worker *w)
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
	for (size_t i = 0; i < w->n_listeners; i++) {
		for (size_t j = 0; j < snap->n_listeners; j++)
			if (strcmp(snap->listeners[j].name, w->listeners[i].name) == 0)
				w->listeners[i].cfg = &snap->listeners[j];
	}
	if (old && old->sessions == 0) {
		list_del(&old->link);
		snapshot_unref(old->snap);
		free(old);
	}
}

static void close_listeners(struct worker *w)
{
	for (size_t i = 0; i < w->n_listeners; i++) {
		if (w->listeners[i].io.fd < 0)
			continue;
		loop_del(&w->loop, &w->listeners[i].io);
		close(w->listeners[i].io.fd);
		w->listeners[i].io.fd = -1;
	}
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
			take_snapshot(w);

		/* Sleep without a deadline only when nothing waits for the sweep:
		 * no connection to time out and no access log line to write. */
		bool sweep_due = w->n_sessions || access_log_pending(&w->logs);
		int timeout = !list_empty(&w->ready) ? 0 : sweep_due ? SWEEP_INTERVAL_MS : -1;
		if (loop_run_once(&w->loop, timeout) < 0)
			log_error("epoll_wait: %s", strerror(errno));
		run_ready(w);
		if (w->loop.now_ms >= next_sweep) {
			tcp_proxy_sweep(w);
			access_log_flush(&w->logs);
			next_sweep = w->loop.now_ms + SWEEP_INTERVAL_MS;
		}
		tcp_proxy_reap(w);
	}
	tcp_proxy_abort_all(w, TERM_DRAIN_TIMEOUT);
	tcp_proxy_reap(w);
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
	int rc = loop_init(&w->loop);
	if (rc) {
		snprintf(err, errlen, "epoll_create: %s", strerror(-rc));
		return rc;
	}
	w->wake = (struct io){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), .cb = on_wake };
	if (w->wake.fd < 0 || (rc = loop_add(&w->loop, &w->wake, EPOLLIN)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	w->listeners = calloc(snap->n_listeners, sizeof(*w->listeners));
	if (!w->listeners && snap->n_listeners) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < snap->n_listeners; i++) {
		struct worker_listener *wl = &w->listeners[i];
		const struct listener *l = &snap->listeners[i];
		wl->io = (struct io){ .fd = -1, .cb = on_accept };
		wl->worker = w;
		wl->cfg = l;
		wl->name = strdup(l->name);
		w->n_listeners++;
		if (!wl->name) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		char why[160];
		int fd = listener_open(&l->addr, true, why, sizeof(why));
		if (fd < 0) {
			snprintf(err, errlen, "listener %s: %s", l->name, why);
			return fd;
		}
		wl->io.fd = fd;
		int one = 1; /* inherited by every accepted socket */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((rc = loop_add(&w->loop, &wl->io, EPOLLIN)) < 0) {
			snprintf(err, errlen, "listener %s: epoll: %s", l->name, strerror(-rc));
			return rc;
		}
	}
	take_snapshot(w);
	if (!w->snap) {
		snprintf(err, errlen, "no configuration published");
		return -ENOENT;
	}
	return 0;
}

static void worker_free(struct worker *w)
{
	close_listeners(w);
	for (size_t i = 0; i < w->n_listeners; i++)
		free(w->listeners[i].name);
	free(w->listeners);
	while (!list_empty(&w->snaps)) {
		struct worker_snap *ws = container_of(w->snaps.next, struct worker_snap, link);
		list_del(&ws->link);
		snapshot_unref(ws->snap);
		free(ws);
	}
	buf_pool_drain(&w->bufs);
	tls_session_cache_clear(&w->tls_sessions);
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
