/* Tests proxy/http_body.c: body queues of pool buffers. Bytes appended and
 * taken across buffer boundaries come out in order, the byte count follows,
 * emptied buffers go back to the pool, and bodyq_write moves a queue through
 * a raw transport over a socketpair whose small buffer makes writes partial. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/http_internal.h"
#include "proxy/transport.h"

/* Byte i of every test body: a pattern that does not repeat at buffer
 * boundaries (251 is prime, BUF_SIZE a power of two). */
static char pattern(size_t i)
{
	return (char)(i % 251);
}

static char *make_body(size_t len)
{
	char *p = malloc(len);
	assert_non_null(p);
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(i);
	return p;
}

static unsigned queue_buffers(const struct bodyq *q)
{
	unsigned n = 0;
	for (const struct buf *b = q->head; b; b = b->next_free)
		n++;
	return n;
}

static void test_append_and_take_small(void **state)
{
	(void)state;
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	char out[16];
	assert_int_equal(bodyq_take(&q, &pool, out, sizeof(out)), 0);
	assert_int_equal(bodyq_append(&q, &pool, "hello", 5), 0);
	assert_int_equal(bodyq_append(&q, &pool, " world", 6), 0);
	assert_int_equal(q.bytes, 11);
	assert_int_equal(pool.in_use, 1);
	assert_ptr_equal(q.head, q.tail);
	/* Appending nothing takes no buffer. */
	assert_int_equal(bodyq_append(&q, &pool, "", 0), 0);
	assert_int_equal(pool.in_use, 1);

	assert_int_equal(bodyq_take(&q, &pool, out, 3), 3);
	assert_memory_equal(out, "hel", 3);
	assert_int_equal(q.bytes, 8);
	/* Asking for more than is queued gives what there is. */
	assert_int_equal(bodyq_take(&q, &pool, out, sizeof(out)), 8);
	assert_memory_equal(out, "lo world", 8);
	assert_int_equal(q.bytes, 0);
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(pool.in_use, 0);

	/* An emptied queue takes new bytes (its tail was reset, not left
	 * pointing at the returned buffer). */
	assert_int_equal(bodyq_append(&q, &pool, "again", 5), 0);
	assert_int_equal(bodyq_take(&q, &pool, out, sizeof(out)), 5);
	assert_memory_equal(out, "again", 5);
	assert_int_equal(pool.in_use, 0);
	buf_pool_drain(&pool);
}

/* Appended in odd pieces across three buffers, taken in other odd pieces. */
static void test_append_take_across_buffers(void **state)
{
	(void)state;
	const size_t total = 2 * BUF_SIZE + 1000;
	char *body = make_body(total);
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	for (size_t off = 0; off < total;) {
		size_t n = total - off < 7001 ? total - off : 7001;
		assert_int_equal(bodyq_append(&q, &pool, body + off, n), 0);
		off += n;
		assert_int_equal(q.bytes, off);
	}
	assert_int_equal(pool.in_use, 3);
	assert_int_equal(queue_buffers(&q), 3);
	assert_int_equal(buf_len(q.head), BUF_SIZE);
	assert_int_equal(buf_len(q.tail), 1000);

	char *out = malloc(total);
	assert_non_null(out);
	size_t got = 0;
	while (got < total) {
		size_t n = bodyq_take(&q, &pool, out + got, 5003);
		assert_true(n > 0);
		got += n;
		assert_int_equal(q.bytes, total - got);
		/* A buffer goes back as soon as it is emptied. */
		assert_int_equal(pool.in_use, queue_buffers(&q));
	}
	assert_int_equal(got, total);
	assert_memory_equal(out, body, total);
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(pool.in_use, 0);
	free(out);
	free(body);
	buf_pool_drain(&pool);
}

/* Appending to a queue whose head was partly taken fills the tail's space
 * first, then chains another buffer. */
static void test_append_after_partial_take(void **state)
{
	(void)state;
	char *body = make_body(BUF_SIZE + 10);
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	assert_int_equal(bodyq_append(&q, &pool, body, BUF_SIZE - 5), 0);
	char out[100];
	assert_int_equal(bodyq_take(&q, &pool, out, 100), 100);
	assert_memory_equal(out, body, 100);
	assert_int_equal(bodyq_append(&q, &pool, body + BUF_SIZE - 5, 15), 0);
	assert_int_equal(pool.in_use, 2);
	assert_int_equal(buf_len(q.tail), 10);
	assert_int_equal(q.bytes, BUF_SIZE + 10 - 100);

	size_t rest = BUF_SIZE + 10 - 100;
	char *all = malloc(rest);
	assert_non_null(all);
	assert_int_equal(bodyq_take(&q, &pool, all, rest + 50), rest);
	assert_memory_equal(all, body + 100, rest);
	assert_int_equal(pool.in_use, 0);
	free(all);
	free(body);
	buf_pool_drain(&pool);
}

static void test_free_returns_every_buffer(void **state)
{
	(void)state;
	char *body = make_body(3 * BUF_SIZE);
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	assert_int_equal(bodyq_append(&q, &pool, body, 3 * BUF_SIZE), 0);
	assert_int_equal(pool.in_use, 3);
	bodyq_free(&q, &pool);
	assert_int_equal(pool.in_use, 0);
	assert_int_equal(pool.n_free, 3);
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(q.bytes, 0);
	/* Freeing an empty queue is harmless. */
	bodyq_free(&q, &pool);
	assert_int_equal(pool.in_use, 0);
	free(body);
	buf_pool_drain(&pool);
}

struct pair {
	int w, r; /* the writer's end (our transport) and the peer's */
	struct transport t;
};

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* A socketpair with small buffers, both ends non-blocking, so a queue of a
 * few pool buffers cannot be written in one go. */
static void pair_open(struct pair *p)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	int small = 4096;
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	p->w = sv[0];
	p->r = sv[1];
	transport_init_raw(&p->t, p->w);
}

static void pair_close(struct pair *p)
{
	p->t.ops->release(&p->t);
	if (p->w >= 0)
		close(p->w);
	if (p->r >= 0)
		close(p->r);
}

/* Reads whatever the peer end has into out; returns the count. */
static size_t drain_peer(int fd, char *out, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(fd, out + got, cap - got);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		assert_true(n > 0);
		got += (size_t)n;
	}
	return got;
}

static void test_write_empty_queue(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	enum transport_wait wait = TRANSPORT_WAIT_READ;
	assert_int_equal(bodyq_write(&q, &pool, &p.t, &wait), 0);
	assert_int_equal(pool.in_use, 0);
	pair_close(&p);
}

/* The peer's buffer fills: bodyq_write takes what fits, says it waits for
 * writability, and keeps the rest queued; written again as the peer reads,
 * the whole body arrives in order and every buffer goes back to the pool. */
static void test_write_partial_when_peer_full(void **state)
{
	(void)state;
	const size_t total = 3 * BUF_SIZE + 123;
	char *body = make_body(total);
	char *got = malloc(total);
	assert_non_null(got);
	struct pair p;
	pair_open(&p);
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	assert_int_equal(bodyq_append(&q, &pool, body, total), 0);
	assert_int_equal(pool.in_use, 4);

	size_t sent = 0, recvd = 0;
	unsigned partial = 0, rounds = 0;
	while (q.head) {
		assert_true(++rounds < 100000);
		enum transport_wait wait = TRANSPORT_WAIT_READ;
		ssize_t n = bodyq_write(&q, &pool, &p.t, &wait);
		if (n == -EAGAIN) {
			assert_int_equal(wait, TRANSPORT_WAIT_WRITE);
		} else {
			assert_true(n > 0);
			sent += (size_t)n;
			if (q.head) {
				/* Stopped short: the socket said EAGAIN. */
				partial++;
				assert_int_equal(wait, TRANSPORT_WAIT_WRITE);
			}
		}
		assert_int_equal(q.bytes, total - sent);
		assert_int_equal(pool.in_use, queue_buffers(&q));
		recvd += drain_peer(p.r, got + recvd, total - recvd);
		assert_true(recvd <= sent);
	}
	assert_true(partial > 0); /* the small buffer really made writes short */
	assert_int_equal(sent, total);
	assert_int_equal(q.bytes, 0);
	assert_null(q.tail);
	assert_int_equal(pool.in_use, 0);
	while (recvd < total)
		recvd += drain_peer(p.r, got + recvd, total - recvd);
	assert_memory_equal(got, body, total);
	pair_close(&p);
	buf_pool_drain(&pool);
	free(got);
	free(body);
}

/* A peer that went away: the error comes back and nothing is dropped from
 * the queue, which the caller then frees. */
static void test_write_to_closed_peer(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	close(p.r);
	p.r = -1;
	struct buf_pool pool;
	buf_pool_init(&pool, 8);
	struct bodyq q = {0};
	assert_int_equal(bodyq_append(&q, &pool, "data", 4), 0);
	enum transport_wait wait = TRANSPORT_WAIT_READ;
	ssize_t n = bodyq_write(&q, &pool, &p.t, &wait);
	assert_int_equal(n, -EPIPE);
	assert_int_equal(q.bytes, 4);
	assert_int_equal(pool.in_use, 1);
	bodyq_free(&q, &pool);
	assert_int_equal(pool.in_use, 0);
	pair_close(&p);
	buf_pool_drain(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_take_small),
	    cmocka_unit_test(test_append_take_across_buffers),
	    cmocka_unit_test(test_append_after_partial_take),
	    cmocka_unit_test(test_free_returns_every_buffer),
	    cmocka_unit_test(test_write_empty_queue),
	    cmocka_unit_test(test_write_partial_when_peer_full),
	    cmocka_unit_test(test_write_to_closed_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
