/* Tests proxy/istio_metrics.c: label sets per worker, sums across workers,
 * the bound on label sets, the HTTP histograms, and the Prometheus
 * rendering (checked by prometheus_client's own parser too). */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "proxy/istio_metrics.h"
#include "proxy/stats.h"
#include "proxy/stats_export.h"

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

static const struct istio_http_labels http_in = {
	.inbound = true,
	.source_principal = WEB,
	.destination_principal = DB,
	.destination_service = "inbound|8080||",
	.mutual_tls = true,
	.request_protocol = "http",
	.response_code = 200,
	.response_flags = "-",
};

#define HTTP_IN_LABELS                                                                        \
	"{reporter=\"destination\",source_workload=\"unknown\","                              \
	"source_workload_namespace=\"default\",source_principal=\"" WEB "\","                 \
	"source_app=\"unknown\",source_version=\"unknown\",source_cluster=\"unknown\","       \
	"destination_workload=\"unknown\",destination_workload_namespace=\"default\","        \
	"destination_principal=\"" DB "\",destination_app=\"unknown\","                       \
	"destination_version=\"unknown\",destination_service=\"inbound|8080||\","             \
	"destination_service_name=\"inbound|8080||\",destination_service_namespace=\"unknown\"," \
	"destination_cluster=\"unknown\",request_protocol=\"http\",response_code=\"200\","     \
	"grpc_response_status=\"\",response_flags=\"-\",connection_security_policy=\"mutual_tls\""

/* Whether out holds the line "<metric><labels>[,le="<le>"]} <value>". */
static bool has_sample(const char *out, const char *metric, const char *labels, const char *le,
		       const char *value)
{
	char want[2048];
	if (le)
		snprintf(want, sizeof(want), "\n%s%s,le=\"%s\"} %s\n", metric, labels, le, value);
	else
		snprintf(want, sizeof(want), "\n%s%s} %s\n", metric, labels, value);
	return strstr(out, want) != NULL;
}

static void test_http_histograms_sum_workers(void **state)
{
	(void)state;
	/* duration ms, request bytes, response bytes */
	istio_request_done(0, &http_in, 0, 0, 5);
	istio_request_done(1, &http_in, 3, 10, 11);
	istio_request_done(1, &http_in, 7000, 1000000, 0);
	istio_request_done(0, &http_in, 4000000, 2000000000ull, 1);
	size_t len;
	char *out = istio_metrics_prometheus(&len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	assert_true(has_sample(out, "istio_requests_total", HTTP_IN_LABELS, NULL, "4"));
	const char *d = "istio_request_duration_milliseconds_bucket";
	/* Cumulative: 0 ms in 0.5; 3 ms from 5 on; 7 s from 10000; 4e6 ms only +Inf. */
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "0.5", "1"));
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "1", "1"));
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "5", "2"));
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "5000", "2"));
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "10000", "3"));
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "3600000", "3"));
	assert_true(has_sample(out, d, HTTP_IN_LABELS, "+Inf", "4"));
	assert_true(has_sample(out, "istio_request_duration_milliseconds_sum", HTTP_IN_LABELS, NULL,
			       "4007003"));
	assert_true(has_sample(out, "istio_request_duration_milliseconds_count", HTTP_IN_LABELS,
			       NULL, "4"));
	/* Sizes: a bound holds values equal to it; 2e9 is past 1e9. */
	const char *q = "istio_request_bytes_bucket";
	assert_true(has_sample(out, q, HTTP_IN_LABELS, "1", "1"));
	assert_true(has_sample(out, q, HTTP_IN_LABELS, "10", "2"));
	assert_true(has_sample(out, q, HTTP_IN_LABELS, "100000", "2"));
	assert_true(has_sample(out, q, HTTP_IN_LABELS, "1000000", "3"));
	assert_true(has_sample(out, q, HTTP_IN_LABELS, "1000000000", "3"));
	assert_true(has_sample(out, q, HTTP_IN_LABELS, "+Inf", "4"));
	assert_true(has_sample(out, "istio_request_bytes_sum", HTTP_IN_LABELS, NULL, "2001000010"));
	const char *r = "istio_response_bytes_bucket";
	assert_true(has_sample(out, r, HTTP_IN_LABELS, "1", "2"));
	assert_true(has_sample(out, r, HTTP_IN_LABELS, "10", "3"));
	assert_true(has_sample(out, r, HTTP_IN_LABELS, "100", "4"));
	assert_true(has_sample(out, "istio_response_bytes_count", HTTP_IN_LABELS, NULL, "4"));
	/* One TYPE line per family, of the right type. */
	static const char *const families[] = {
		"# TYPE istio_requests_total counter\n",
		"# TYPE istio_request_duration_milliseconds histogram\n",
		"# TYPE istio_request_bytes histogram\n",
		"# TYPE istio_response_bytes histogram\n",
	};
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		char *first = strstr(out, families[i]);
		assert_non_null(first);
		assert_null(strstr(first + 1, families[i]));
	}
	free(out);
}

static void test_http_labels(void **state)
{
	(void)state;
	/* Outbound plaintext gRPC with no response, no principals, no cluster;
	 * a quote in the flags and a SPIFFE id of another shape. */
	struct istio_http_labels l = {
		.request_protocol = "grpc",
		.grpc_status = "14",
		.response_flags = "U\"F",
		.destination_principal = "spiffe://td/other/path",
	};
	istio_request_done(0, &l, 1, 2, 3);
	/* A new response code is a new series. */
	struct istio_http_labels e = http_in;
	e.response_code = 503;
	e.response_flags = "UF";
	istio_request_done(1, &e, 1, 2, 3);
	istio_request_done(1, &http_in, 1, 2, 3);
	size_t len;
	char *out = istio_metrics_prometheus(&len);
	assert_non_null(out);
	assert_true(has_sample(
		out, "istio_requests_total",
		"{reporter=\"source\",source_workload=\"unknown\",source_workload_namespace=\"unknown\","
		"source_principal=\"unknown\",source_app=\"unknown\",source_version=\"unknown\","
		"source_cluster=\"unknown\",destination_workload=\"unknown\","
		"destination_workload_namespace=\"unknown\","
		"destination_principal=\"spiffe://td/other/path\",destination_app=\"unknown\","
		"destination_version=\"unknown\",destination_service=\"unknown\","
		"destination_service_name=\"unknown\",destination_service_namespace=\"unknown\","
		"destination_cluster=\"unknown\",request_protocol=\"grpc\",response_code=\"0\","
		"grpc_response_status=\"14\",response_flags=\"U\\\"F\","
		"connection_security_policy=\"none\"",
		NULL, "1"));
	assert_non_null(strstr(out, "response_code=\"503\",grpc_response_status=\"\","
				    "response_flags=\"UF\",connection_security_policy=\"mutual_tls\"} 1\n"));
	assert_true(has_sample(out, "istio_requests_total", HTTP_IN_LABELS, NULL, "1"));
	free(out);
}

static void test_http_label_sets_are_bounded_apart_from_tcp(void **state)
{
	(void)state;
	char id[96];
	struct istio_http_labels l = http_in;
	for (int i = 0; i < ISTIO_MAX_SERIES + 5; i++) {
		snprintf(id, sizeof(id), "spiffe://cluster.local/ns/x/sa/minted-%d", i);
		l.source_principal = id;
		istio_request_done(0, &l, 1, 1, 1);
	}
	/* Labels too long for a key count as overflow too, never cut. */
	char longid[2048];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	l.source_principal = longid;
	istio_request_done(1, &l, 1, 1, 1);
	/* The full HTTP table leaves TCP its own room. */
	assert_non_null(istio_series_get(0, &inbound_web));
	istio_tcp_opened(istio_series_get(0, &inbound_web));
	size_t len;
	char *out = istio_metrics_prometheus(&len);
	assert_non_null(out);
	assert_non_null(strstr(out, "skiff_istio_label_overflow_total 6\n"));
	assert_non_null(strstr(out, "istio_requests_total{reporter=\"source\",source_workload=\"unknown\","
				    "source_workload_namespace=\"unknown\",source_principal=\"overflow\""));
	assert_null(strstr(out, "aaaaaaaa"));
	assert_non_null(strstr(out, "istio_tcp_connections_opened_total{reporter=\"destination\","
				    "source_workload=\"unknown\",source_principal=\"" WEB "\""));
	free(out);
}

/* prometheus_client's parser, given the file at argv[1]: exits 0 when it
 * reads every family, each histogram complete (+Inf bucket, _sum, _count).
 * The parser names a counter family without its _total suffix. */
static const char parse_script[] =
	"import sys\n"
	"from prometheus_client.parser import text_string_to_metric_families\n"
	"fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}\n"
	"want = {'istio_requests': 'counter', 'istio_request_duration_milliseconds': 'histogram',\n"
	"        'istio_request_bytes': 'histogram', 'istio_response_bytes': 'histogram',\n"
	"        'istio_tcp_connections_opened': 'counter',\n"
	"        'envoy_cluster_upstream_rq_xx': 'counter',\n"
	"        'envoy_cluster_upstream_rq': 'counter',\n"
	"        'envoy_listener_downstream_rq_xx': 'counter',\n"
	"        'envoy_cluster_http2_outbound_flood': 'counter'}\n"
	"for name, typ in want.items():\n"
	"    assert name in fams, name\n"
	"    assert fams[name].type == typ, (name, fams[name].type)\n"
	"for name in ('istio_request_duration_milliseconds', 'istio_request_bytes'):\n"
	"    s = fams[name].samples\n"
	"    inf = [x for x in s if x.name.endswith('_bucket') and x.labels['le'] == '+Inf']\n"
	"    cnt = [x for x in s if x.name.endswith('_count')]\n"
	"    assert inf and [x.value for x in inf] == [x.value for x in cnt], name\n"
	"    assert all(x.labels['destination_workload_namespace'] for x in s)\n"
	"xx = [x for x in fams['envoy_cluster_upstream_rq_xx'].samples\n"
	"      if x.labels['envoy_response_code_class'] == '5']\n"
	"assert xx and xx[0].value == 3, xx\n"
	"print('parsed', len(fams), 'families')\n";

static void test_prometheus_client_parses_the_output(void **state)
{
	(void)state;
	assert_int_equal(stats_init(2), 0);
	uint32_t c = (uint32_t)stats_scope_id(STATS_CLUSTER, "outbound|80||web.default");
	uint32_t l = (uint32_t)stats_scope_id(STATS_LISTENER, "0.0.0.0_15001");
	stats_add(stats_scope(1, c), STAT_RQ_5XX, 3);
	stats_add(stats_scope(0, l), STAT_RQ_2XX, 1);
	istio_request_done(0, &http_in, 12, 100, 2000);
	istio_request_done(1, &http_in, 0, 0, 0);
	struct istio_http_labels g = http_in;
	g.request_protocol = "grpc";
	g.grpc_status = "0";
	g.inbound = false;
	istio_request_done(1, &g, 250, 1, 1);
	istio_tcp_opened(istio_series_get(0, &inbound_web));
	size_t n1, n2;
	char *envoy = stats_export_prometheus(&n1);
	char *istio = istio_metrics_prometheus(&n2);
	assert_non_null(envoy);
	assert_non_null(istio);
	char text[] = "/tmp/skiff-test-prom-XXXXXX", script[] = "/tmp/skiff-test-prom-XXXXXX";
	int tfd = mkstemp(text), sfd = mkstemp(script);
	assert_true(tfd >= 0 && sfd >= 0);
	/* /stats/prometheus is the two joined, as the admin server serves it. */
	assert_int_equal(write(tfd, envoy, n1), (ssize_t)n1);
	assert_int_equal(write(tfd, istio, n2), (ssize_t)n2);
	assert_int_equal(write(sfd, parse_script, sizeof(parse_script) - 1),
			 (ssize_t)sizeof(parse_script) - 1);
	close(tfd);
	close(sfd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s", script, text);
	int rc = system(cmd);
	unlink(text);
	unlink(script);
	free(envoy);
	free(istio);
	stats_shutdown();
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_labels_same_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_sums_workers_and_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_label_sets_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_histograms_sum_workers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_label_sets_are_bounded_apart_from_tcp, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_client_parses_the_output, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
