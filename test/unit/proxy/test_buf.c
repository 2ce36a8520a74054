/* Tests proxy/buf.c: the per-worker buffer pool and the buffer cursors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy/buf.h"

static void test_new_buffer_is_empty_and_whole(void **state)
{
	(void)state;
	struct buf_pool pool;
	buf_pool_init(&pool, 4);
	struct buf *b = buf_pool_get(&pool);
	assert_non_null(b);
	assert_int_equal(buf_len(b), 0);
	assert_int_equal(buf_space(b), BUF_SIZE);
	assert_int_equal(pool.in_use, 1);
	buf_pool_put(&pool, b);
	assert_int_equal(pool.in_use, 0);
	buf_pool_drain(&pool);
}

static void test_consume_rewinds_when_emptied(void **state)
{
	(void)state;
	struct buf_pool pool;
	buf_pool_init(&pool, 4);
	struct buf *b = buf_pool_get(&pool);
	memcpy(b->data, "abcdef", 6);
	b->end = 6;
	buf_consume(b, 2);
	assert_int_equal(buf_len(b), 4);
	assert_memory_equal(b->data + b->start, "cdef", 4);
	assert_int_equal(buf_space(b), BUF_SIZE - 6);
	buf_consume(b, 4);
	/* Emptied: the whole buffer is writable again. */
	assert_int_equal(b->start, 0);
	assert_int_equal(buf_space(b), BUF_SIZE);
	buf_pool_put(&pool, b);
	buf_pool_drain(&pool);
}

static void test_pool_reuses_and_keeps_at_most_max_free(void **state)
{
	(void)state;
	struct buf_pool pool;
	buf_pool_init(&pool, 2);
	struct buf *b[4];
	for (int i = 0; i < 4; i++)
		b[i] = buf_pool_get(&pool);
	assert_int_equal(pool.in_use, 4);
	b[0]->end = 10; /* a reused buffer must come back empty */
	for (int i = 0; i < 4; i++)
		buf_pool_put(&pool, b[i]);
	assert_int_equal(pool.n_free, 2);
	assert_int_equal(pool.in_use, 0);
	struct buf *again = buf_pool_get(&pool);
	assert_true(again == b[1] || again == b[0]);
	assert_int_equal(buf_len(again), 0);
	assert_int_equal(pool.n_free, 1);
	buf_pool_put(&pool, again);
	buf_pool_put(&pool, NULL); /* a connection without a buffer returns none */
	assert_int_equal(pool.in_use, 0);
	buf_pool_drain(&pool);
	assert_int_equal(pool.n_free, 0);
	assert_null(pool.free);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_buffer_is_empty_and_whole),
		cmocka_unit_test(test_consume_rewinds_when_emptied),
		cmocka_unit_test(test_pool_reuses_and_keeps_at_most_max_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
