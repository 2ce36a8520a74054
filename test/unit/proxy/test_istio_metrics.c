/* Tests proxy/istio_metrics.c: label sets per worker, sums across workers,
 * the bound on label sets, and the Prometheus rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/istio_metrics.h"

#define WEB "spiffe://cluster.local/ns/default/sa/web"
#define DB "spiffe://cluster.local/ns/default/sa/db"

static int setup(void **state)
{
	(void)state;
	return istio_metrics_init(2);
}

static int teardown(void **state)
{
	(void)state;
	istio_metrics_shutdown();
	return 0;
}

static const struct istio_tcp_labels inbound_web = {
	.inbound = true,
	.source_principal = WEB,
	.destination_principal = DB,
	.destination_service = "inbound|5432",
	.mutual_tls = true,
	.response_flags = "-",
};

static void test_same_labels_same_series(void **state)
{
	(void)state;
	struct istio_series *a = istio_series_get(0, &inbound_web);
	struct istio_tcp_labels other = inbound_web;
	other.response_flags = "UF";
	assert_non_null(a);
	assert_ptr_equal(istio_series_get(0, &inbound_web), a);
	assert_ptr_not_equal(istio_series_get(0, &other), a);
}

static void test_prometheus_sums_workers_and_labels(void **state)
{
	(void)state;
	istio_tcp_opened(istio_series_get(0, &inbound_web));
	istio_tcp_opened(istio_series_get(1, &inbound_web));
	istio_tcp_closed(istio_series_get(1, &inbound_web), 100, 40);
	struct istio_tcp_labels plain = { .destination_service = "PassthroughCluster",
					  .response_flags = "-" };
	istio_tcp_opened(istio_series_get(1, &plain));
	size_t len;
	char *out = istio_metrics_prometheus(&len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	const char *labels =
		"{reporter=\"destination\",source_workload=\"unknown\",source_principal=\"" WEB
		"\",destination_workload=\"unknown\",destination_principal=\"" DB
		"\",destination_service=\"inbound|5432\",destination_service_name=\"inbound|5432\","
		"request_protocol=\"tcp\",response_flags=\"-\",connection_security_policy="
		"\"mutual_tls\"}";
	char want[1024];
	snprintf(want, sizeof(want), "istio_tcp_connections_opened_total%s 2\n", labels);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "istio_tcp_sent_bytes_total%s 100\n", labels);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "istio_tcp_received_bytes_total%s 40\n", labels);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "reporter=\"source\",source_workload=\"unknown\","
				    "source_principal=\"unknown\""));
	assert_non_null(strstr(out, "connection_security_policy=\"none\"} 1\n"));
	/* One TYPE line per family. */
	char *first = strstr(out, "# TYPE istio_tcp_connections_opened_total counter\n");
	assert_non_null(first);
	assert_null(strstr(first + 1, "# TYPE istio_tcp_connections_opened_total"));
	free(out);
}

static void test_label_sets_are_bounded(void **state)
{
	(void)state;
	char id[96];
	struct istio_tcp_labels l = inbound_web;
	for (int i = 0; i < ISTIO_MAX_SERIES + 10; i++) {
		snprintf(id, sizeof(id), "spiffe://cluster.local/ns/x/sa/minted-%d", i);
		l.source_principal = id;
		istio_tcp_opened(istio_series_get(1, &l));
	}
	size_t len;
	char *out = istio_metrics_prometheus(&len);
	assert_non_null(strstr(out, "skiff_istio_label_overflow_total 10\n"));
	assert_non_null(strstr(out, "source_principal=\"overflow\""));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_labels_same_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_sums_workers_and_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_sets_are_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
