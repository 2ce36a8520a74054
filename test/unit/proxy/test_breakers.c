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

/* The gauges' view: at the limit or not, and what remains when tracked; the
 * retry limit follows the budget's share of the requests in flight. */
static void test_open_and_remaining(void **state)
{
	(void)state;
	uint64_t left = 99;
	assert_false(breaker_open(20, BREAKER_REQUESTS)); /* no limits published */
	assert_false(breaker_remaining(20, BREAKER_REQUESTS, &left));
	struct circuit_breakers lim = { .max_connections = 1, .max_pending_requests = 1,
					.max_requests = 100, .max_retries = 3,
					.has_retry_budget = true, .retry_budget_percent = 10,
					.min_retry_concurrency = 1 };
	breaker_publish_limits(20, &lim);
	assert_false(breaker_remaining(20, BREAKER_CONNECTIONS, &left)); /* not tracked */
	assert_int_equal(left, 99);
	breaker_add(20, BREAKER_RETRIES);
	assert_true(breaker_open(20, BREAKER_RETRIES)); /* 10 % of 0, at least 1 */
	for (int i = 0; i < 20; i++)
		assert_true(breaker_acquire(20, BREAKER_REQUESTS, 100));
	assert_false(breaker_open(20, BREAKER_RETRIES)); /* 10 % of 20 = 2 */
	lim.track_remaining = true;
	breaker_publish_limits(20, &lim);
	assert_true(breaker_remaining(20, BREAKER_RETRIES, &left));
	assert_int_equal(left, 1);
	assert_true(breaker_remaining(20, BREAKER_REQUESTS, &left));
	assert_int_equal(left, 80);
	breaker_add(20, BREAKER_CONNECTIONS);
	breaker_add(20, BREAKER_CONNECTIONS); /* one past: remaining stays 0 */
	assert_true(breaker_open(20, BREAKER_CONNECTIONS));
	assert_true(breaker_remaining(20, BREAKER_CONNECTIONS, &left));
	assert_int_equal(left, 0);
	assert_false(breaker_open(STATS_MAX_SCOPES, BREAKER_CONNECTIONS));
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
		cmocka_unit_test(test_open_and_remaining),
		cmocka_unit_test(test_limit_is_exact_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
