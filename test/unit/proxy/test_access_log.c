/* Tests proxy/access_log.c: JSON lines with Envoy's field names for TCP flows
 * and HTTP requests, escaping of configured names and peer-sent values, the
 * bound on a line, buffering whole lines and flushing them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/access_log.h"
#include "proxy/sock_addr.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void record(struct tcp_flow_record *rec, struct sock_addr *a, struct sock_addr *b)
{
	assert_int_equal(sock_addr_parse("10.1.2.3", 40000, a), 0);
	assert_int_equal(sock_addr_parse("::1", 8080, b), 0);
	*rec = (struct tcp_flow_record){
		.connection_id = 7,
		.start_unix_ms = 1795000000123ull,
		.duration_ms = 42,
		.bytes_received = 100,
		.bytes_sent = 200,
		.listener = "virtualOutbound",
		.cluster = "PassthroughCluster",
		.downstream_remote = a,
		.downstream_local = a,
		.original_dst = b,
		.upstream_host = NULL,
		.peer_principal = "spiffe://td/ns/a/sa/b",
		.response_flags = "UF",
		.termination = "connect_failed",
	};
}

static void test_line_has_envoy_fields(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	assert_non_null(f);
	assert_ptr_equal(access_log_open(&set, path), f); /* one file per path */
	struct tcp_flow_record rec;
	struct sock_addr a, b;
	record(&rec, &a, &b);
	access_log_tcp(&set, f, &rec);
	assert_true(access_log_pending(&set));
	assert_string_equal(read_file(path), ""); /* buffered until flushed */
	access_log_flush(&set);
	assert_false(access_log_pending(&set));
	assert_string_equal(
		read_file(path),
		"{\"start_time\":\"2026-11-18T11:06:40.123Z\",\"duration\":42,\"connection_id\":7,"
		"\"bytes_received\":100,\"bytes_sent\":200,"
		"\"downstream_remote_address\":\"10.1.2.3:40000\",\"downstream_local_address\":\"10.1.2.3:40000\","
		"\"original_destination\":\"[::1]:8080\",\"upstream_host\":\"-\","
		"\"listener_name\":\"virtualOutbound\",\"upstream_cluster\":\"PassthroughCluster\","
		"\"downstream_peer_uri_san\":\"spiffe://td/ns/a/sa/b\",\"transport_failure_reason\":\"\","
		"\"response_flags\":\"UF\",\"termination_reason\":\"connect_failed\"}\n");
	access_log_close(&set);
	unlink(path);
}

static void test_names_are_escaped(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	struct tcp_flow_record rec;
	struct sock_addr a, b;
	record(&rec, &a, &b);
	rec.listener = "quote\"back\\slash\nnl";
	rec.cluster = NULL;
	access_log_tcp(&set, f, &rec);
	access_log_close(&set); /* close flushes */
	const char *line = read_file(path);
	assert_non_null(strstr(line, "\"listener_name\":\"quote\\\"back\\\\slash\\u000anl\""));
	assert_non_null(strstr(line, "\"upstream_cluster\":\"\""));
	unlink(path);
}

static void test_full_buffer_writes_whole_lines(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	struct tcp_flow_record rec;
	struct sock_addr a, b;
	record(&rec, &a, &b);
	for (int i = 0; i < 100; i++)
		access_log_tcp(&set, f, &rec);
	/* Some lines went out when the buffer filled: every one of them whole. */
	const char *partial = read_file(path);
	assert_true(strlen(partial) > 0);
	assert_int_equal(partial[strlen(partial) - 1], '\n');
	access_log_close(&set);
	int lines = 0;
	for (const char *p = read_file(path); *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 100);
	assert_int_equal(set.dropped, 0);
	unlink(path);
}

static void test_unopenable_path_counts_drops(void **state)
{
	(void)state;
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, "/nonexistent/dir/access.log");
	assert_null(f);
	struct tcp_flow_record rec;
	struct sock_addr a, b;
	record(&rec, &a, &b);
	access_log_tcp(&set, f, &rec);
	assert_int_equal(set.dropped, 1);
}

static void http_record(struct http_request_record *rec, struct sock_addr *a, struct sock_addr *b)
{
	assert_int_equal(sock_addr_parse("10.1.2.3", 40000, a), 0);
	assert_int_equal(sock_addr_parse("::1", 8080, b), 0);
	*rec = (struct http_request_record){
		.connection_id = 9,
		.start_unix_ms = 1795000000123ull,
		.duration_ms = 12,
		.upstream_service_time_ms = 10,
		.bytes_received = 5,
		.bytes_sent = 64,
		.method = "GET",
		.path = "/api?q=1",
		.authority = "web.default:8080",
		.protocol = "HTTP/1.1",
		.user_agent = "curl/7.88.1",
		.request_id = "6f2c1a9e-0d3b-4c55-9f6e-1b2a3c4d5e6f",
		.x_forwarded_for = NULL,
		.response_code = 200,
		.response_flags = "-",
		.response_code_details = "via_upstream",
		.listener = "0.0.0.0_15001",
		.route_name = "default",
		.cluster = "outbound|8080||web.default.svc.cluster.local",
		.upstream_host = b,
		.downstream_remote = a,
		.downstream_local = b,
		.peer_principal = NULL,
		.upstream_peer_principal = "spiffe://cluster.local/ns/default/sa/web",
		.upstream_transport_failure = NULL,
		.attempts = 1,
	};
}

static void test_http_line_has_envoy_fields(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	struct http_request_record rec;
	struct sock_addr a, b;
	http_record(&rec, &a, &b);
	access_log_http(&set, f, &rec);
	assert_true(access_log_pending(&set));
	access_log_close(&set);
	assert_string_equal(
		read_file(path),
		"{\"start_time\":\"2026-11-18T11:06:40.123Z\",\"method\":\"GET\",\"path\":\"/api?q=1\","
		"\"protocol\":\"HTTP/1.1\",\"response_code\":200,\"response_flags\":\"-\","
		"\"response_code_details\":\"via_upstream\",\"bytes_received\":5,\"bytes_sent\":64,"
		"\"duration\":12,\"upstream_service_time\":\"10\",\"x_forwarded_for\":null,"
		"\"user_agent\":\"curl/7.88.1\",\"request_id\":\"6f2c1a9e-0d3b-4c55-9f6e-1b2a3c4d5e6f\","
		"\"authority\":\"web.default:8080\",\"upstream_host\":\"[::1]:8080\","
		"\"upstream_cluster\":\"outbound|8080||web.default.svc.cluster.local\","
		"\"downstream_remote_address\":\"10.1.2.3:40000\","
		"\"downstream_local_address\":\"[::1]:8080\",\"listener_name\":\"0.0.0.0_15001\","
		"\"route_name\":\"default\",\"connection_id\":9,\"downstream_peer_uri_san\":null,"
		"\"upstream_peer_uri_san\":\"spiffe://cluster.local/ns/default/sa/web\","
		"\"upstream_transport_failure_reason\":null,\"attempts\":1}\n");
	unlink(path);
}

static void test_http_absent_values_are_null(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	struct http_request_record rec;
	struct sock_addr a, b;
	http_record(&rec, &a, &b);
	/* A 404 NR: no route, no cluster, no upstream, nobody answered. */
	rec.response_code = 404;
	rec.response_flags = NULL;
	rec.response_code_details = "route_not_found";
	rec.route_name = NULL;
	rec.cluster = NULL;
	rec.upstream_host = NULL;
	rec.upstream_service_time_ms = UINT64_MAX;
	rec.upstream_peer_principal = NULL;
	rec.user_agent = NULL;
	rec.attempts = 0;
	access_log_http(&set, f, &rec);
	access_log_close(&set);
	const char *line = read_file(path);
	assert_non_null(strstr(line, "\"response_code\":404,\"response_flags\":\"-\","
				     "\"response_code_details\":\"route_not_found\""));
	assert_non_null(strstr(line, "\"upstream_service_time\":null,"));
	assert_non_null(strstr(line, "\"user_agent\":null,"));
	assert_non_null(strstr(line, "\"upstream_host\":null,\"upstream_cluster\":null,"));
	assert_non_null(strstr(line, "\"route_name\":null,"));
	assert_non_null(strstr(line, "\"upstream_peer_uri_san\":null,"));
	assert_non_null(strstr(line, "\"attempts\":0}\n"));
	unlink(path);
}

static void test_http_request_values_are_escaped(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	struct http_request_record rec;
	struct sock_addr a, b;
	http_record(&rec, &a, &b);
	/* Header values come from the peer: quotes, backslashes, controls,
	 * valid UTF-8 (kept) and bytes that are not UTF-8 (replaced). */
	rec.path = "/a\"b\\c";
	rec.user_agent = "ua\t\x01\x7f";
	rec.authority = "caf\xc3\xa9.example";
	rec.x_forwarded_for = "bad\xff\xc3(\xed\xa0\x80";
	access_log_http(&set, f, &rec);
	access_log_close(&set);
	const char *line = read_file(path);
	assert_non_null(strstr(line, "\"path\":\"/a\\\"b\\\\c\","));
	assert_non_null(strstr(line, "\"user_agent\":\"ua\\u0009\\u0001\x7f\","));
	assert_non_null(strstr(line, "\"authority\":\"caf\xc3\xa9.example\","));
	/* 0xff, a lone lead byte, an encoded surrogate (3 bytes, each replaced). */
	assert_non_null(strstr(line, "\"x_forwarded_for\":\"bad\\ufffd\\ufffd(\\ufffd\\ufffd\\ufffd\","));
	unlink(path);
}

static void test_http_longest_record_fits_one_line(void **state)
{
	(void)state;
	char path[] = "/tmp/skiff-test-access-XXXXXX";
	close(mkstemp(path));
	struct access_log_set set = { 0 };
	struct access_log_file *f = access_log_open(&set, path);
	struct http_request_record rec;
	struct sock_addr a, b;
	http_record(&rec, &a, &b);
	/* Every string field at 8 KiB of bytes that escape to 6 each. */
	static char huge[8192];
	memset(huge, '\x01', sizeof(huge) - 1);
	rec.method = rec.path = rec.authority = rec.protocol = rec.user_agent = rec.request_id =
		rec.x_forwarded_for = rec.response_flags = rec.response_code_details = rec.listener =
			rec.route_name = rec.cluster = rec.peer_principal = rec.upstream_peer_principal =
				rec.upstream_transport_failure = huge;
	rec.connection_id = rec.start_unix_ms = rec.bytes_received = rec.bytes_sent = UINT64_MAX;
	rec.duration_ms = rec.upstream_service_time_ms = UINT64_MAX - 1;
	rec.attempts = UINT32_MAX;
	struct sock_addr v6;
	assert_int_equal(sock_addr_parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, &v6), 0);
	rec.upstream_host = rec.downstream_remote = rec.downstream_local = &v6;
	access_log_http(&set, f, &rec);
	assert_int_equal(set.dropped, 0);
	access_log_close(&set);
	const char *line = read_file(path);
	size_t n = strlen(line);
	assert_true(n <= ACCESS_LOG_BUF);
	assert_int_equal(line[n - 1], '\n');
	assert_non_null(strstr(line, "\"attempts\":4294967295}\n"));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_has_envoy_fields),
		cmocka_unit_test(test_names_are_escaped),
		cmocka_unit_test(test_full_buffer_writes_whole_lines),
		cmocka_unit_test(test_unopenable_path_counts_drops),
		cmocka_unit_test(test_http_line_has_envoy_fields),
		cmocka_unit_test(test_http_absent_values_are_null),
		cmocka_unit_test(test_http_request_values_are_escaped),
		cmocka_unit_test(test_http_longest_record_fits_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
