/* Tests proxy/access_log.c: JSON lines with Envoy's field names, escaping of
 * configured names, buffering whole lines and flushing them. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_has_envoy_fields),
		cmocka_unit_test(test_names_are_escaped),
		cmocka_unit_test(test_full_buffer_writes_whole_lines),
		cmocka_unit_test(test_unopenable_path_counts_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
