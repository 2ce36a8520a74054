/* Tests proxy/stats.c and proxy/stats_export.c: per-worker counters summed
 * on read, and Envoy's text and Prometheus renderings of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/breakers.h"
#include "proxy/stats.h"
#include "proxy/stats_export.h"

static int setup(void **state)
{
	(void)state;
	return stats_init(2);
}

static int teardown(void **state)
{
	(void)state;
	stats_shutdown();
	return 0;
}

static void test_scope_ids_are_stable_per_kind_and_name(void **state)
{
	(void)state;
	int a = stats_scope_id(STATS_CLUSTER, "backend");
	int b = stats_scope_id(STATS_LISTENER, "backend");
	assert_true(a >= 0 && b >= 0);
	assert_int_not_equal(a, b);
	assert_int_equal(stats_scope_id(STATS_CLUSTER, "backend"), a);
}

static void test_sum_adds_every_worker(void **state)
{
	(void)state;
	uint32_t id = (uint32_t)stats_scope_id(STATS_CLUSTER, "c");
	stats_add(stats_scope(0, id), STAT_CX_TOTAL, 3);
	stats_add(stats_scope(1, id), STAT_CX_TOTAL, 4);
	stats_add(stats_scope(1, id), STAT_RX_BYTES, 100);
	assert_int_equal(stats_sum(id, STAT_CX_TOTAL), 7);
	assert_int_equal(stats_sum(id, STAT_RX_BYTES), 100);
	assert_int_equal(stats_sum(id, STAT_TX_BYTES), 0);
}

static void test_many_scopes_span_chunks(void **state)
{
	(void)state;
	char name[32];
	int last = -1;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "cluster-%d", i);
		last = stats_scope_id(STATS_CLUSTER, name);
		assert_true(last >= 0);
	}
	stats_add(stats_scope(1, (uint32_t)last), STAT_CONNECT_FAIL, 1);
	assert_int_equal(stats_sum((uint32_t)last, STAT_CONNECT_FAIL), 1);
}

static void test_text_has_envoy_names_and_active(void **state)
{
	(void)state;
	uint32_t l = (uint32_t)stats_scope_id(STATS_LISTENER, "0.0.0.0_15001");
	uint32_t c = (uint32_t)stats_scope_id(STATS_CLUSTER, "PassthroughCluster");
	stats_add(stats_scope(0, l), STAT_CX_TOTAL, 5);
	stats_add(stats_scope(1, l), STAT_CX_DESTROY, 2);
	stats_add(stats_scope(0, c), STAT_CONNECT_TIMEOUT, 1);
	size_t len = 0;
	char *out = stats_export_text(&len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	assert_non_null(strstr(out, "listener.0.0.0.0_15001.downstream_cx_total: 5\n"));
	assert_non_null(strstr(out, "listener.0.0.0.0_15001.downstream_cx_active: 3\n"));
	assert_non_null(strstr(out, "cluster.PassthroughCluster.upstream_cx_connect_timeout: 1\n"));
	/* Counters that do not exist for a kind are not printed. */
	assert_null(strstr(out, "listener.0.0.0.0_15001.upstream"));
	assert_null(strstr(out, "cluster.PassthroughCluster.downstream_cx_idle_timeout"));
	free(out);
}

static void test_prometheus_groups_families_and_escapes_labels(void **state)
{
	(void)state;
	stats_scope_id(STATS_CLUSTER, "a\"b\\c");
	uint32_t c = (uint32_t)stats_scope_id(STATS_CLUSTER, "plain");
	stats_add(stats_scope(1, c), STAT_CX_TOTAL, 9);
	size_t len = 0;
	char *out = stats_export_prometheus(&len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	assert_non_null(strstr(out, "# TYPE envoy_cluster_upstream_cx_total counter\n"
				    "envoy_cluster_upstream_cx_total{envoy_cluster_name=\"a\\\"b\\\\c\"} 0\n"
				    "envoy_cluster_upstream_cx_total{envoy_cluster_name=\"plain\"} 9\n"));
	assert_non_null(strstr(out, "# TYPE envoy_cluster_upstream_cx_active gauge\n"));
	/* One TYPE line per family: the format forbids a family split in two. */
	char *first = strstr(out, "# TYPE envoy_cluster_upstream_cx_total ");
	assert_null(strstr(first + 1, "# TYPE envoy_cluster_upstream_cx_total "));
	free(out);
}

static void test_http_counters_have_envoy_names_per_kind(void **state)
{
	(void)state;
	static const struct {
		enum stats_counter c;
		const char *listener, *cluster; /* NULL: not of that kind */
	} want[] = {
		{ STAT_HTTP1_CX, "downstream_cx_http1_total", "upstream_cx_http1_total" },
		{ STAT_HTTP2_CX, "downstream_cx_http2_total", "upstream_cx_http2_total" },
		{ STAT_RQ_TOTAL, "downstream_rq_total", "upstream_rq_total" },
		{ STAT_RQ_1XX, "downstream_rq_1xx", "upstream_rq_1xx" },
		{ STAT_RQ_5XX, "downstream_rq_5xx", "upstream_rq_5xx" },
		{ STAT_RQ_TIMEOUT, "downstream_rq_timeout", "upstream_rq_timeout" },
		{ STAT_RQ_PER_TRY_TIMEOUT, NULL, "upstream_rq_per_try_timeout" },
		{ STAT_RQ_RETRY, NULL, "upstream_rq_retry" },
		{ STAT_RQ_RETRY_OVERFLOW, NULL, "upstream_rq_retry_overflow" },
		{ STAT_RQ_RETRY_BACKOFF, NULL, "upstream_rq_retry_backoff_exponential" },
		{ STAT_RQ_PENDING_OVERFLOW, NULL, "upstream_rq_pending_overflow" },
		{ STAT_CX_OVERFLOW, NULL, "upstream_cx_overflow" },
		{ STAT_RQ_RESET, "downstream_rq_rx_reset", "upstream_rq_rx_reset" },
		{ STAT_RQ_NO_ROUTE, "no_route", NULL },
		{ STAT_RQ_NO_CLUSTER, "no_cluster", NULL },
		{ STAT_RQ_NO_HEALTHY, NULL, "upstream_cx_none_healthy" },
		{ STAT_PROTOCOL_ERROR, "downstream_cx_protocol_error", "upstream_cx_protocol_error" },
		{ STAT_OUTLIER_EJECTED, NULL, "outlier_detection.ejections_enforced_total" },
		{ STAT_HC_ATTEMPT, NULL, "health_check.attempt" },
		{ STAT_HC_FAILURE, NULL, "health_check.failure" },
		{ STAT_CX_POOL_REUSE, NULL, "upstream_cx_pool_reuse" },
		{ STAT_H2_FLOOD, "http2.outbound_flood", "http2.outbound_flood" },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *l = stats_counter_name(STATS_LISTENER, want[i].c);
		const char *c = stats_counter_name(STATS_CLUSTER, want[i].c);
		if (want[i].listener)
			assert_string_equal(l, want[i].listener);
		else
			assert_null(l);
		if (want[i].cluster)
			assert_string_equal(c, want[i].cluster);
		else
			assert_null(c);
	}
}

static void test_http_counters_render_in_text_and_prometheus(void **state)
{
	(void)state;
	uint32_t l = (uint32_t)stats_scope_id(STATS_LISTENER, "0.0.0.0_8080");
	uint32_t c = (uint32_t)stats_scope_id(STATS_CLUSTER, "web");
	stats_add(stats_scope(0, l), STAT_RQ_TOTAL, 4);
	stats_add(stats_scope(1, l), STAT_RQ_2XX, 3);
	stats_add(stats_scope(0, l), STAT_RQ_NO_ROUTE, 1);
	stats_add(stats_scope(1, c), STAT_RQ_5XX, 2);
	stats_add(stats_scope(0, c), STAT_OUTLIER_EJECTED, 1);
	stats_add(stats_scope(1, c), STAT_H2_FLOOD, 5);
	size_t len = 0;
	char *out = stats_export_text(&len);
	assert_non_null(out);
	assert_non_null(strstr(out, "listener.0.0.0.0_8080.downstream_rq_total: 4\n"));
	assert_non_null(strstr(out, "listener.0.0.0.0_8080.downstream_rq_2xx: 3\n"));
	assert_non_null(strstr(out, "listener.0.0.0.0_8080.no_route: 1\n"));
	assert_non_null(strstr(out, "cluster.web.upstream_rq_5xx: 2\n"));
	assert_non_null(strstr(out, "cluster.web.outlier_detection.ejections_enforced_total: 1\n"));
	assert_non_null(strstr(out, "cluster.web.http2.outbound_flood: 5\n"));
	assert_null(strstr(out, "listener.0.0.0.0_8080.upstream_rq"));
	free(out);

	out = stats_export_prometheus(&len);
	assert_non_null(out);
	assert_non_null(strstr(out, "# TYPE envoy_listener_downstream_rq_total counter\n"
				    "envoy_listener_downstream_rq_total{envoy_listener_address=\"0.0.0.0_8080\"} 4\n"));
	assert_non_null(strstr(out, "envoy_listener_no_route{envoy_listener_address=\"0.0.0.0_8080\"} 1\n"));
	/* The classes are one family with Envoy's envoy_response_code_class. */
	assert_non_null(strstr(
		out, "# TYPE envoy_cluster_upstream_rq_xx counter\n"
		     "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"1\",envoy_cluster_name=\"web\"} 0\n"
		     "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"web\"} 0\n"
		     "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"3\",envoy_cluster_name=\"web\"} 0\n"
		     "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"4\",envoy_cluster_name=\"web\"} 0\n"
		     "envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"5\",envoy_cluster_name=\"web\"} 2\n"));
	assert_non_null(strstr(out, "envoy_listener_downstream_rq_xx{envoy_response_code_class=\"2\","
				    "envoy_listener_address=\"0.0.0.0_8080\"} 3\n"));
	assert_null(strstr(out, "rq_2xx"));
	assert_non_null(strstr(out, "envoy_cluster_outlier_detection_ejections_enforced_total"
				    "{envoy_cluster_name=\"web\"} 1\n"));
	assert_non_null(strstr(out, "envoy_cluster_http2_outbound_flood{envoy_cluster_name=\"web\"} 5\n"));
	assert_non_null(strstr(out, "envoy_cluster_health_check_attempt{envoy_cluster_name=\"web\"} 0\n"));
	assert_non_null(strstr(out, "envoy_cluster_upstream_cx_pool_reuse{envoy_cluster_name=\"web\"} 0\n"));
	char *first = strstr(out, "# TYPE envoy_cluster_upstream_rq_xx ");
	assert_null(strstr(first + 1, "# TYPE envoy_cluster_upstream_rq_xx "));
	free(out);
}

/* The circuit-breaker gauges read the counts shared by the workers
 * against the published limits; remaining_* only with track_remaining. */
static void test_circuit_breaker_gauges(void **state)
{
	(void)state;
	uint32_t tracked = (uint32_t)stats_scope_id(STATS_CLUSTER, "tracked");
	uint32_t plain = (uint32_t)stats_scope_id(STATS_CLUSTER, "plain");
	struct circuit_breakers lim = { .max_connections = 5, .max_pending_requests = 1,
					.max_requests = 2, .max_retries = 3, .track_remaining = true };
	breaker_publish_limits(tracked, &lim);
	lim.track_remaining = false;
	breaker_publish_limits(plain, &lim);
	assert_true(breaker_acquire(tracked, BREAKER_REQUESTS, 2));
	assert_true(breaker_acquire(tracked, BREAKER_REQUESTS, 2));
	breaker_add(tracked, BREAKER_CONNECTIONS);
	size_t len = 0;
	char *out = stats_export_text(&len);
	assert_non_null(out);
	assert_non_null(strstr(out, "cluster.tracked.upstream_rq_active: 2\n"));
	assert_non_null(strstr(out, "cluster.tracked.circuit_breakers.default.rq_open: 1\n"));
	assert_non_null(strstr(out, "cluster.tracked.circuit_breakers.default.cx_open: 0\n"));
	assert_non_null(strstr(out, "cluster.tracked.circuit_breakers.default.remaining_cx: 4\n"));
	assert_non_null(strstr(out, "cluster.tracked.circuit_breakers.default.remaining_rq: 0\n"));
	assert_non_null(strstr(out, "cluster.plain.circuit_breakers.default.rq_open: 0\n"));
	assert_null(strstr(out, "cluster.plain.circuit_breakers.default.remaining"));
	free(out);
	out = stats_export_prometheus(&len);
	assert_non_null(out);
	assert_non_null(strstr(out, "# TYPE envoy_cluster_upstream_rq_active gauge\n"));
	assert_non_null(strstr(out, "envoy_cluster_upstream_rq_active{envoy_cluster_name=\"tracked\"} 2\n"));
	assert_non_null(strstr(out, "# TYPE envoy_cluster_circuit_breakers_default_rq_open gauge\n"));
	assert_non_null(strstr(out, "envoy_cluster_circuit_breakers_default_rq_open"
				    "{envoy_cluster_name=\"tracked\"} 1\n"));
	assert_non_null(strstr(out, "# TYPE envoy_cluster_circuit_breakers_default_remaining_rq gauge\n"
				    "envoy_cluster_circuit_breakers_default_remaining_rq"
				    "{envoy_cluster_name=\"tracked\"} 0\n"));
	assert_null(strstr(out, "remaining_rq{envoy_cluster_name=\"plain\"}"));
	free(out);
	breaker_release(tracked, BREAKER_REQUESTS);
	breaker_release(tracked, BREAKER_REQUESTS);
	breaker_release(tracked, BREAKER_CONNECTIONS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scope_ids_are_stable_per_kind_and_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sum_adds_every_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_scopes_span_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_has_envoy_names_and_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_groups_families_and_escapes_labels, setup, teardown),
		cmocka_unit_test(test_http_counters_have_envoy_names_per_kind),
		cmocka_unit_test_setup_teardown(test_http_counters_render_in_text_and_prometheus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_circuit_breaker_gauges, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
