/* Per-worker buffer pool; see buf.h. */
#include "proxy/buf.h"

#include <stdlib.h>

void buf_pool_init(struct buf_pool *pool, unsigned max_free)
{
	*pool = (struct buf_pool){ .max_free = max_free };
}

struct buf *buf_pool_get(struct buf_pool *pool)
{
	struct buf *b = pool->free;
	if (b) {
		pool->free = b->next_free;
		pool->n_free--;
	} else {
		b = malloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	b->start = b->end = 0;
	b->next_free = NULL;
	pool->in_use++;
	return b;
}

void buf_pool_put(struct buf_pool *pool, struct buf *b)
{
	if (!b)
		return;
	pool->in_use--;
	if (pool->n_free >= pool->max_free) {
		free(b);
		return;
	}
	b->next_free = pool->free;
	pool->free = b;
	pool->n_free++;
}

void buf_pool_drain(struct buf_pool *pool)
{
	while (pool->free) {
		struct buf *b = pool->free;
		pool->free = b->next_free;
		free(b);
	}
	pool->n_free = 0;
}
