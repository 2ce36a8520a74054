/* Tests proxy/retry_backoff.c: Envoy's jittered exponential back-off, its
 * defaults (25 ms base, 10 x base max), the cap, and bounds that cannot
 * overflow however many retries a route allows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "proxy/retry_backoff.h"

static void test_defaults_are_envoys(void **state)
{
	(void)state;
	struct retry_policy p = {0};
	assert_int_equal(retry_back_off_base_ms(&p), 25);
	assert_int_equal(retry_back_off_max_ms(&p), 250);
	p.back_off_base_ms = 100;
	assert_int_equal(retry_back_off_max_ms(&p), 1000); /* 10 x the base given */
	p.back_off_max_ms = 150;
	assert_int_equal(retry_back_off_max_ms(&p), 150);
}

/* The largest wait a retry can get: the bound of the uniform draw less one. */
static uint32_t largest(const struct retry_policy *p, uint32_t n)
{
	return retry_back_off_ms(p, n, UINT64_MAX - 1);
}

static void test_bound_grows_as_two_to_the_n_minus_one(void **state)
{
	(void)state;
	struct retry_policy p = {0};
	/* [0, 25), [0, 75), [0, 175), then the 250 ms cap */
	assert_int_equal(retry_back_off_ms(&p, 1, 0), 0);
	assert_int_equal(retry_back_off_ms(&p, 1, 24), 24);
	assert_int_equal(retry_back_off_ms(&p, 1, 25), 0); /* the draw wraps at the bound */
	assert_int_equal(retry_back_off_ms(&p, 2, 74), 74);
	assert_int_equal(retry_back_off_ms(&p, 2, 75), 0);
	assert_int_equal(retry_back_off_ms(&p, 3, 174), 174);
	assert_int_equal(retry_back_off_ms(&p, 4, 249), 249);
	assert_int_equal(retry_back_off_ms(&p, 4, 250), 0);
	for (uint32_t n = 1; n < 8; n++)
		assert_true(largest(&p, n) < 250);
}

static void test_many_retries_stay_under_the_cap(void **state)
{
	(void)state;
	struct retry_policy p = {.back_off_base_ms = 4000000, .back_off_max_ms = UINT32_MAX};
	for (uint32_t n = 1; n <= 200; n += 13)
		assert_true(largest(&p, n) < UINT32_MAX);
	assert_int_equal(retry_back_off_ms(&p, 1, 3999999), 3999999);
	assert_int_equal(retry_back_off_ms(&p, 100, (uint64_t)UINT32_MAX - 1), UINT32_MAX - 1);
	p = (struct retry_policy){.back_off_base_ms = 1, .back_off_max_ms = 1};
	assert_int_equal(retry_back_off_ms(&p, 63, UINT64_MAX), 0); /* [0, 1) */
	assert_int_equal(retry_back_off_ms(&p, 0, 12345), 0);
}

static void test_draws_cover_the_range(void **state)
{
	(void)state;
	/* Successive values of a 64-bit generator land all over [0, bound):
	 * retries of clients that failed together spread out. */
	struct retry_policy p = {.back_off_base_ms = 10};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned low = 0, high = 0;
	for (int i = 0; i < 1000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t ms = retry_back_off_ms(&p, 3, x); /* [0, 70) */
		assert_true(ms < 70);
		low += ms < 10;
		high += ms >= 60;
	}
	assert_true(low > 80 && low < 210); /* about 1/7 of 1000 each */
	assert_true(high > 80 && high < 210);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_are_envoys),
	    cmocka_unit_test(test_bound_grows_as_two_to_the_n_minus_one),
	    cmocka_unit_test(test_many_retries_stay_under_the_cap),
	    cmocka_unit_test(test_draws_cover_the_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
