/* Tests the timeout decision of proxy/http_stream.c (http_stream_due_timeout):
 * which of a stream's timeouts (request_timeout, the route's timeout and
 * per-try timeout, stream_idle_timeout) has expired, and when each is not
 * armed. Acting on them needs a connection and is left to
 * test/integration/http/test_timeouts.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy/http_internal.h"
#include "proxy/stats.h"

/* A stream as http_stream_new and routing leave it, at time 1000, without
 * the connection around it: the decision reads the stream's fields only. */
struct fixture {
	struct worker w;
	struct http_down d;
	struct http_stream s;
};

static struct fixture f;

static int setup(void **state)
{
	(void)state;
	memset(&f, 0, sizeof(f));
	f.w.loop.now_ms = 1000;
	f.d.w = &f.w;
	f.s.down = &f.d;
	f.s.start_ms = f.s.last_active_ms = 1000;
	f.s.phase = PHASE_REQUEST_HEAD;
	return 0;
}

static void test_nothing_armed_never_expires(void **state)
{
	(void)state;
	f.s.phase = PHASE_UPSTREAM;
	assert_int_equal(http_stream_due_timeout(&f.s, 1000), STREAM_TIMEOUT_NONE);
	assert_int_equal(http_stream_due_timeout(&f.s, UINT64_MAX / 2), STREAM_TIMEOUT_NONE);
}

static void test_request_timeout_until_the_request_is_whole(void **state)
{
	(void)state;
	f.s.request_deadline_ms = 2000;
	f.s.phase = PHASE_UPSTREAM;
	assert_int_equal(http_stream_due_timeout(&f.s, 1999), STREAM_TIMEOUT_NONE);
	assert_int_equal(http_stream_due_timeout(&f.s, 2000), STREAM_TIMEOUT_REQUEST);
	f.s.req_end = true;
	assert_int_equal(http_stream_due_timeout(&f.s, 5000), STREAM_TIMEOUT_NONE);
}

static void test_request_timeout_applies_while_the_head_comes_in(void **state)
{
	(void)state;
	f.s.request_deadline_ms = 2000;
	assert_int_equal(http_stream_due_timeout(&f.s, 2500), STREAM_TIMEOUT_REQUEST);
}

static void test_request_timeout_disarmed_once_the_response_begins(void **state)
{
	(void)state;
	/* An upgrade's request never ends before its tunnel does: its 101 is
	 * what disarms the timer (Envoy's "or when the response is initiated"). */
	f.s.request_deadline_ms = 2000;
	f.s.upgrade = true;
	f.s.phase = PHASE_RESPONDING;
	f.s.resp_head_ready = true;
	assert_int_equal(http_stream_due_timeout(&f.s, 5000), STREAM_TIMEOUT_NONE);
}

static void test_route_timeout_only_while_the_upstream_owes(void **state)
{
	(void)state;
	f.s.req_end = true;
	f.s.deadline_ms = 3000;
	f.s.phase = PHASE_WAIT_UPSTREAM;
	assert_int_equal(http_stream_due_timeout(&f.s, 3000), STREAM_TIMEOUT_ROUTE);
	f.s.phase = PHASE_RESPONDING;
	f.s.resp_head_ready = f.s.resp_head_sent = true;
	assert_int_equal(http_stream_due_timeout(&f.s, 3000), STREAM_TIMEOUT_ROUTE);
	f.s.resp_end = true; /* all of it is here: the client is what is slow */
	assert_int_equal(http_stream_due_timeout(&f.s, 3000), STREAM_TIMEOUT_NONE);
}

static void test_route_timeout_covers_a_retry_back_off(void **state)
{
	(void)state;
	/* Envoy's route timeout spans every attempt and the waits between. */
	f.s.req_end = true;
	f.s.deadline_ms = 3000;
	f.s.phase = PHASE_BACKOFF;
	f.s.retry_at_ms = 3500;
	assert_int_equal(http_stream_due_timeout(&f.s, 2999), STREAM_TIMEOUT_NONE);
	assert_int_equal(http_stream_due_timeout(&f.s, 3000), STREAM_TIMEOUT_ROUTE);
}

static void test_per_try_timeout_until_the_response_head(void **state)
{
	(void)state;
	f.s.req_end = true;
	f.s.phase = PHASE_UPSTREAM;
	f.s.try_deadline_ms = 1500;
	assert_int_equal(http_stream_due_timeout(&f.s, 1500), STREAM_TIMEOUT_PER_TRY);
	f.s.resp_head_ready = true;
	f.s.phase = PHASE_RESPONDING;
	assert_int_equal(http_stream_due_timeout(&f.s, 1500), STREAM_TIMEOUT_NONE);
}

static void test_idle_counts_from_the_last_bytes_moved(void **state)
{
	(void)state;
	f.s.req_end = true;
	f.s.phase = PHASE_UPSTREAM;
	f.s.idle_timeout_ms = 500;
	assert_int_equal(http_stream_due_timeout(&f.s, 1499), STREAM_TIMEOUT_NONE);
	assert_int_equal(http_stream_due_timeout(&f.s, 1500), STREAM_TIMEOUT_IDLE);
	f.w.loop.now_ms = 1400;
	http_stream_touch(&f.s);
	assert_int_equal(http_stream_due_timeout(&f.s, 1500), STREAM_TIMEOUT_NONE);
	assert_int_equal(http_stream_due_timeout(&f.s, 1900), STREAM_TIMEOUT_IDLE);
}

static void test_idle_applies_to_tunnels_and_to_responses_the_client_does_not_take(void **state)
{
	(void)state;
	f.s.idle_timeout_ms = 500;
	f.s.upgrade = true;
	f.s.phase = PHASE_RESPONDING;
	f.s.resp_head_ready = f.s.resp_head_sent = true;
	assert_int_equal(http_stream_due_timeout(&f.s, 1500), STREAM_TIMEOUT_IDLE);
	f.s.upgrade = false;
	f.s.req_end = f.s.resp_end = true; /* whole, but still queued for the client */
	assert_int_equal(http_stream_due_timeout(&f.s, 1500), STREAM_TIMEOUT_IDLE);
}

static void test_a_finished_stream_has_no_timeout(void **state)
{
	(void)state;
	f.s.idle_timeout_ms = 500;
	f.s.request_deadline_ms = 1200;
	f.s.phase = PHASE_RESPONDING;
	f.s.resp_sent_end = true;
	assert_int_equal(http_stream_due_timeout(&f.s, 9000), STREAM_TIMEOUT_NONE);
	f.s.resp_sent_end = false;
	f.s.phase = PHASE_DONE;
	assert_int_equal(http_stream_due_timeout(&f.s, 9000), STREAM_TIMEOUT_NONE);
}

static void test_request_timeout_wins_over_idle(void **state)
{
	(void)state;
	f.s.idle_timeout_ms = 500;
	f.s.request_deadline_ms = 1500;
	assert_int_equal(http_stream_due_timeout(&f.s, 1600), STREAM_TIMEOUT_REQUEST);
}

static void test_idle_counter_has_envoy_name(void **state)
{
	(void)state;
	assert_string_equal(stats_counter_name(STATS_LISTENER, STAT_RQ_IDLE_TIMEOUT),
			    "downstream_rq_idle_timeout");
	assert_null(stats_counter_name(STATS_CLUSTER, STAT_RQ_IDLE_TIMEOUT));
	assert_string_equal(stats_counter_name(STATS_LISTENER, STAT_RQ_TIMEOUT),
			    "downstream_rq_timeout");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_nothing_armed_never_expires, setup),
		cmocka_unit_test_setup(test_request_timeout_until_the_request_is_whole, setup),
		cmocka_unit_test_setup(test_request_timeout_applies_while_the_head_comes_in, setup),
		cmocka_unit_test_setup(test_request_timeout_disarmed_once_the_response_begins, setup),
		cmocka_unit_test_setup(test_route_timeout_only_while_the_upstream_owes, setup),
		cmocka_unit_test_setup(test_route_timeout_covers_a_retry_back_off, setup),
		cmocka_unit_test_setup(test_per_try_timeout_until_the_response_head, setup),
		cmocka_unit_test_setup(test_idle_counts_from_the_last_bytes_moved, setup),
		cmocka_unit_test_setup(test_idle_applies_to_tunnels_and_to_responses_the_client_does_not_take,
				       setup),
		cmocka_unit_test_setup(test_a_finished_stream_has_no_timeout, setup),
		cmocka_unit_test_setup(test_request_timeout_wins_over_idle, setup),
		cmocka_unit_test_setup(test_idle_counter_has_envoy_name, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
