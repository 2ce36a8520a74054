/* A worker's HTTP state: its downstream and upstream connections, their
 * ready and closed lists, the pools; see http.h. */
#include <errno.h>
#include <stdlib.h>

#include "proxy/http.h"
#include "proxy/http_internal.h"

struct http_worker *http_worker_of(struct worker *w)
{
	return w->http;
}

int http_worker_init(struct worker *w)
{
	struct http_worker *hw = calloc(1, sizeof(*hw));
	if (!hw)
		return -ENOMEM;
	list_init(&hw->downs);
	list_init(&hw->closed_downs);
	list_init(&hw->ups);
	list_init(&hw->closed_ups);
	list_init(&hw->ready_downs);
	list_init(&hw->ready_ups);
	list_init(&hw->backoff);
	hw->pools = http_pools_new();
	if (!hw->pools) {
		free(hw);
		return -ENOMEM;
	}
	w->http = hw;
	return 0;
}

bool http_worker_has_ready(const struct worker *w)
{
	return w->http && (!list_empty(&w->http->ready_downs) || !list_empty(&w->http->ready_ups));
}

void http_worker_backoff_add(struct worker *w, struct http_stream *s)
{
	/* Sorted from the tail: a new back-off usually ends after the others. */
	struct list *head = &w->http->backoff, *n = head->prev;
	while (n != head &&
	       container_of(n, struct http_stream, backoff_link)->retry_at_ms > s->retry_at_ms)
		n = n->prev;
	list_add_tail(n->next, &s->backoff_link);
}

uint64_t http_worker_next_retry_ms(const struct worker *w)
{
	const struct list *head = &w->http->backoff;
	return list_empty(head)
		   ? UINT64_MAX
		   : container_of(head->next, struct http_stream, backoff_link)->retry_at_ms;
}

static void run_retries(struct worker *w)
{
	struct list *head = &w->http->backoff;
	while (!list_empty(head)) {
		struct http_stream *s = container_of(head->next, struct http_stream, backoff_link);
		if (s->retry_at_ms > w->loop.now_ms)
			break;
		list_del(&s->backoff_link);
		http_stream_backoff_done(s);
	}
}

void http_worker_run_ready(struct worker *w)
{
	struct http_worker *hw = w->http;
	if (!hw)
		return;
	run_retries(w);
	/* Take the current lists whole: what runs may schedule itself again
	 * for the next turn. */
	struct list downs, ups;
	list_init(&downs);
	list_init(&ups);
	list_splice_tail(&downs, &hw->ready_downs);
	list_splice_tail(&ups, &hw->ready_ups);
	while (!list_empty(&ups)) {
		struct list *node = ups.next;
		list_del(node);
		http_up_run_ready(container_of(node, struct http_up, ready));
	}
	while (!list_empty(&downs)) {
		struct list *node = downs.next;
		list_del(node);
		http_down_run_ready(container_of(node, struct http_down, ready));
	}
}

void http_worker_sweep(struct worker *w)
{
	struct http_worker *hw = w->http;
	uint64_t now = w->loop.now_ms;
	struct list *n, *next;
	for (n = hw->downs.next; n != &hw->downs; n = next) {
		next = n->next;
		http_down_sweep(container_of(n, struct http_down, all), now);
	}
	for (n = hw->ups.next; n != &hw->ups; n = next) {
		next = n->next;
		http_up_sweep(container_of(n, struct http_up, all), now);
	}
}

void http_worker_reap(struct worker *w)
{
	struct http_worker *hw = w->http;
	while (!list_empty(&hw->closed_downs)) {
		struct http_down *d = container_of(hw->closed_downs.next, struct http_down, all);
		list_del(&d->all);
		http_down_free(d);
	}
	while (!list_empty(&hw->closed_ups)) {
		struct http_up *u = container_of(hw->closed_ups.next, struct http_up, all);
		list_del(&u->all);
		http_up_free(u);
	}
}

void http_worker_abort_all(struct worker *w)
{
	struct http_worker *hw = w->http;
	if (!hw)
		return;
	while (!list_empty(&hw->downs))
		http_down_abort(container_of(hw->downs.next, struct http_down, all));
	while (!list_empty(&hw->ups))
		http_up_abort(container_of(hw->ups.next, struct http_up, all));
	http_worker_reap(w);
}

void http_worker_free(struct worker *w)
{
	struct http_worker *hw = w->http;
	if (!hw)
		return;
	http_worker_abort_all(w);
	http_pools_free(w, hw->pools);
	free(hw);
	w->http = NULL;
}
