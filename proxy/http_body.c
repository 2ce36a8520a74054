/* Body queues of HTTP streams; see bodyq in http_internal.h. */
#include <errno.h>
#include <string.h>

#include "proxy/http_internal.h"

void bodyq_free(struct bodyq *q, struct buf_pool *pool)
{
	struct buf *b = q->head;
	while (b) {
		struct buf *next = b->next_free;
		buf_pool_put(pool, b);
		b = next;
	}
	q->head = q->tail = NULL;
	q->bytes = 0;
}

int bodyq_append(struct bodyq *q, struct buf_pool *pool, const void *p, size_t len)
{
	const char *src = p;
	while (len) {
		struct buf *t = q->tail;
		if (!t || buf_space(t) == 0) {
			struct buf *n = buf_pool_get(pool);
			if (!n)
				return -ENOMEM;
			n->next_free = NULL;
			if (t)
				t->next_free = n;
			else
				q->head = n;
			q->tail = t = n;
		}
		size_t n = buf_space(t) < len ? buf_space(t) : len;
		memcpy(t->data + t->end, src, n);
		t->end += (uint32_t)n;
		q->bytes += n;
		src += n;
		len -= n;
	}
	return 0;
}

/* Drops the emptied head buffer. */
static void pop_empty(struct bodyq *q, struct buf_pool *pool)
{
	struct buf *b = q->head;
	if (!b || buf_len(b) != 0)
		return;
	q->head = b->next_free;
	if (!q->head)
		q->tail = NULL;
	buf_pool_put(pool, b);
}

size_t bodyq_take(struct bodyq *q, struct buf_pool *pool, void *dst, size_t len)
{
	char *out = dst;
	size_t done = 0;
	while (done < len && q->head) {
		struct buf *b = q->head;
		size_t n = buf_len(b) < len - done ? buf_len(b) : len - done;
		memcpy(out + done, b->data + b->start, n);
		b->start += (uint32_t)n;
		if (b->start == b->end)
			b->start = b->end = 0;
		q->bytes -= n;
		done += n;
		pop_empty(q, pool);
	}
	return done;
}

ssize_t bodyq_write(struct bodyq *q, struct buf_pool *pool, struct transport *t,
		    enum transport_wait *wait)
{
	ssize_t total = 0;
	while (q->head) {
		struct buf *b = q->head;
		ssize_t n = t->ops->write(t, b->data + b->start, buf_len(b), wait);
		if (n < 0)
			return total ? total : n;
		b->start += (uint32_t)n;
		q->bytes -= (uint64_t)n;
		total += n;
		if (b->start == b->end) {
			b->start = b->end = 0;
			pop_empty(q, pool);
		} else {
			continue; /* partial: the next write says EAGAIN or takes more */
		}
	}
	return total;
}
