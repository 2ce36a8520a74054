/* Tests proxy/breakers.c: a limit is exact across threads, counts are kept
 * per cluster id and never go below zero, and an id out of range touches
 * no cluster's counts. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/breakers.h"
#include "proxy/stats.h"

static void test_acquire_up_to_the_limit_then_refuse(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(breaker_acquire(1, BREAKER_REQUESTS, 3));
	assert_false(breaker_acquire(1, BREAKER_REQUESTS, 3));
	assert_int_equal(breaker_count(1, BREAKER_REQUESTS), 3);
	/* other kinds and other clusters are counted apart */
	assert_int_equal(breaker_count(1, BREAKER_PENDING), 0);
	assert_int_equal(breaker_count(2, BREAKER_REQUESTS), 0);
	assert_true(breaker_acquire(2, BREAKER_REQUESTS, 3));
	breaker_release(1, BREAKER_REQUESTS);
	assert_true(breaker_acquire(1, BREAKER_REQUESTS, 3));
	assert_false(breaker_acquire(1, BREAKER_REQUESTS, 0)); /* a limit of 0 admits none */
	for (int i = 0; i < 3; i++)
		breaker_release(1, BREAKER_REQUESTS);
	breaker_release(2, BREAKER_REQUESTS);
	assert_int_equal(breaker_count(1, BREAKER_REQUESTS), 0);
}

static void test_add_passes_the_limit_and_release_stops_at_zero(void **state)
{
	(void)state;
	assert_true(breaker_acquire(3, BREAKER_CONNECTIONS, 1));
	breaker_add(3, BREAKER_CONNECTIONS); /* a pool's first connection, over the limit */
	assert_int_equal(breaker_count(3, BREAKER_CONNECTIONS), 2);
	assert_false(breaker_acquire(3, BREAKER_CONNECTIONS, 2));
	for (int i = 0; i < 5; i++)
		breaker_release(3, BREAKER_CONNECTIONS);
	assert_int_equal(breaker_count(3, BREAKER_CONNECTIONS), 0);
}

static void test_id_out_of_range_touches_no_cluster(void **state)
{
	(void)state;
	breaker_add(STATS_MAX_SCOPES, BREAKER_RETRIES);
	breaker_add(UINT32_MAX, BREAKER_RETRIES);
	assert_int_equal(breaker_count(STATS_MAX_SCOPES - 1, BREAKER_RETRIES), 0);
	assert_int_equal(breaker_count(0, BREAKER_RETRIES), 0);
	breaker_release(STATS_MAX_SCOPES, BREAKER_RETRIES);
	breaker_release(UINT32_MAX, BREAKER_RETRIES);
}

/* Workers racing for one limit: at no moment more than LIMIT held. */
enum { LIMIT = 4, THREADS = 4, ROUNDS = 200000 };
static _Atomic int held, most_held;

static void *race(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (!breaker_acquire(7, BREAKER_PENDING, LIMIT))
			continue;
		int now = ++held;
		int most = most_held;
		while (now > most && !atomic_compare_exchange_weak(&most_held, &most, now))
			;
		--held;
		breaker_release(7, BREAKER_PENDING);
	}
	return NULL;
}

static void test_limit_is_exact_across_threads(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_true(most_held >= 1);
	assert_true(most_held <= LIMIT);
	assert_int_equal(breaker_count(7, BREAKER_PENDING), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_up_to_the_limit_then_refuse),
		cmocka_unit_test(test_add_passes_the_limit_and_release_stops_at_zero),
		cmocka_unit_test(test_id_out_of_range_touches_no_cluster),
		cmocka_unit_test(test_limit_is_exact_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
