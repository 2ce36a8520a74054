/* Byte buffers for the data path, from a per-worker pool.
 *
 * A buffer holds the bytes read from one side that the other side has not
 * taken yet. A connection holds at most one buffer per direction and only
 * while bytes are in flight, so an idle connection costs no buffer memory and
 * a slow reader bounds a connection at two buffers: backpressure is the
 * kernel's socket buffer, never our heap. */
#ifndef SKIFF_PROXY_BUF_H
#define SKIFF_PROXY_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_SIZE (64u * 1024u)

struct buf {
	uint32_t start; /* first unread byte */
	uint32_t end;   /* one past the last written byte */
	struct buf *next_free;
	char data[BUF_SIZE];
};

/* Free buffers kept for reuse; past max_free they go back to malloc. Not
 * thread-safe: one pool per worker. */
struct buf_pool {
	struct buf *free;
	unsigned n_free;
	unsigned max_free;
	uint64_t in_use; /* buffers handed out and not returned */
};

void buf_pool_init(struct buf_pool *pool, unsigned max_free);

/* An empty buffer, or NULL when out of memory. */
struct buf *buf_pool_get(struct buf_pool *pool);

/* Returns b (which may be NULL) to the pool. */
void buf_pool_put(struct buf_pool *pool, struct buf *b);

/* Frees every cached buffer. */
void buf_pool_drain(struct buf_pool *pool);

static inline uint32_t buf_len(const struct buf *b)
{
	return b->end - b->start;
}

static inline uint32_t buf_space(const struct buf *b)
{
	return BUF_SIZE - b->end;
}

/* Marks n bytes at the front as taken; an emptied buffer rewinds so the
 * whole buffer is writable again. */
static inline void buf_consume(struct buf *b, uint32_t n)
{
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

#endif
