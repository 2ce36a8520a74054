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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scope_ids_are_stable_per_kind_and_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sum_adds_every_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_scopes_span_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_text_has_envoy_names_and_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_groups_families_and_escapes_labels, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
