/* Tests proxy/health_check.c against a small HTTP server on 127.0.0.1 (a
 * thread): the request it sends, 2xx passing and other statuses failing,
 * refused connections, timeouts, the counters, and a snapshot change while
 * a check is in flight; and TCP checks: connect only, and send and
 * receive with blocks found in order across reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/health_check.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

/* ---- the server: answers every connection with `status`, or never
 * (status 0) until the client goes away ---- */

struct server {
	int fd;
	uint16_t port;
	pthread_t thread;
	_Atomic int status;
	_Atomic bool stop;
	_Atomic unsigned requests;
	pthread_mutex_t lock;
	char last[1024]; /* the last request head (TCP: what came) */
	/* TCP mode: read tcp_in_len bytes, then answer tcp_reply a byte at a
	 * time and close */
	const char *tcp_reply;
	size_t tcp_in_len;
};

static void serve_tcp(struct server *s, int c)
{
	char buf[1024] = "";
	size_t len = 0;
	while (len < s->tcp_in_len && len < sizeof(buf) - 1) {
		ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->last, buf, len + 1);
	pthread_mutex_unlock(&s->lock);
	s->requests++;
	for (const char *r = s->tcp_reply; *r; r++) {
		send(c, r, 1, MSG_NOSIGNAL);
		usleep(2000); /* separate reads: blocks straddle them */
	}
}

static void serve_one(struct server *s, int c)
{
	if (s->tcp_reply)
		return serve_tcp(s, c);
	char buf[1024] = "";
	size_t len = 0;
	while (len < sizeof(buf) - 1 && !strstr(buf, "\r\n\r\n")) {
		ssize_t n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = 0;
	}
	pthread_mutex_lock(&s->lock);
	memcpy(s->last, buf, len + 1);
	pthread_mutex_unlock(&s->lock);
	s->requests++;
	int status = s->status;
	if (status == 0) { /* hang until the client closes */
		while (recv(c, buf, sizeof(buf), 0) > 0)
			;
		return;
	}
	char resp[128];
	int n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n\r\n",
			 status);
	send(c, resp, (size_t)n, MSG_NOSIGNAL);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	while (!s->stop) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve_one(s, c);
		close(c);
	}
	return NULL;
}

static void server_start(struct server *s, int status)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->status = status;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	socklen_t len = sizeof(a);
	getsockname(s->fd, (struct sockaddr *)&a, &len);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	s->stop = true;
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

/* A port nothing listens on: bound, then closed. */
static uint16_t closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	socklen_t len = sizeof(a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	close(fd);
	return ntohs(a.sin_port);
}

/* ---- the checker's side ---- */

struct fixture {
	struct loop loop;
	struct cluster_rt_table clusters;
	struct health_checker *hc;
	struct cluster cluster;
	struct endpoint eps[2];
	struct snapshot snap;
	struct server server;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_int_equal(stats_init(1), 0);
	assert_int_equal(loop_init(&f->loop), 0);
	f->hc = health_checker_new(&f->loop, &f->clusters, 0);
	assert_non_null(f->hc);
	server_start(&f->server, 200);
	struct cluster *c = &f->cluster;
	c->name = "hc-test";
	int id = stats_scope_id(STATS_CLUSTER, c->name);
	assert_true(id >= 0);
	c->stats_id = (uint32_t)id;
	c->endpoints = f->eps;
	c->n_endpoints = 2;
	assert_int_equal(sock_addr_parse("127.0.0.1", f->server.port, &f->eps[0].addr), 0);
	assert_int_equal(sock_addr_parse("127.0.0.1", closed_port(), &f->eps[1].addr), 0);
	f->eps[0].weight = f->eps[1].weight = 1;
	c->health = (struct health_check){
		.enabled = true,
		.path = "/healthz",
		.interval_ms = 100,
		.timeout_ms = 300,
		.unhealthy_threshold = 1,
		.healthy_threshold = 1,
	};
	assert_int_equal(host_health_prepare(c), 0);
	f->snap.clusters = c;
	f->snap.n_clusters = 1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	health_checker_free(f->hc);
	server_stop(&f->server);
	cluster_rt_table_free(&f->clusters);
	host_health_release(&f->cluster);
	loop_close(&f->loop);
	stats_shutdown();
	free(f);
	return 0;
}

/* Ticks and runs the loop as a worker would, until done(f) or max_ms. */
static bool run_until(struct fixture *f, bool (*done)(struct fixture *), unsigned max_ms)
{
	uint64_t end = loop_now_ms() + max_ms;
	while (loop_now_ms() < end) {
		uint64_t now = loop_now_ms();
		health_checker_tick(f->hc, &f->snap, now);
		if (done(f))
			return true;
		uint64_t next = health_checker_next_ms(f->hc);
		int timeout = next <= now ? 0 : next - now > 20 ? 20 : (int)(next - now);
		loop_run_once(&f->loop, timeout);
	}
	return false;
}

static struct cluster_rt *rt_of(struct fixture *f)
{
	return f->clusters.by_id[f->cluster.stats_id];
}

/* The shared verdict (the cluster has no outlier detection to eject). */
static bool unhealthy(struct fixture *f, size_t i)
{
	return !host_health_available(&f->cluster, i, loop_now_ms());
}

static bool host1_down(struct fixture *f)
{
	return unhealthy(f, 1);
}

static bool host0_down(struct fixture *f)
{
	return unhealthy(f, 0);
}

static bool host0_up(struct fixture *f)
{
	return !unhealthy(f, 0);
}

static bool three_requests(struct fixture *f)
{
	return f->server.requests >= 3;
}

static void test_request_and_results(void **state)
{
	struct fixture *f = *state;
	uint64_t start = loop_now_ms();
	assert_true(run_until(f, host1_down, 2000)); /* refused */
	assert_false(unhealthy(f, 0));
	assert_true(run_until(f, three_requests, 2000));
	/* one check per interval, counted from the end of the previous one */
	assert_true(loop_now_ms() - start >= 2 * 100);
	assert_false(unhealthy(f, 0));
	pthread_mutex_lock(&f->server.lock);
	assert_string_equal(f->server.last, "GET /healthz HTTP/1.1\r\n"
					    "Host: hc-test\r\n"
					    "User-Agent: skiff-health-check\r\n"
					    "Connection: close\r\n\r\n");
	pthread_mutex_unlock(&f->server.lock);
	uint64_t attempts = stats_sum(f->cluster.stats_id, STAT_HC_ATTEMPT);
	uint64_t failures = stats_sum(f->cluster.stats_id, STAT_HC_FAILURE);
	assert_true(attempts >= 4);
	assert_true(failures >= 1);
	assert_true(failures < attempts);

	f->server.status = 503;
	assert_true(run_until(f, host0_down, 2000));
	assert_false(lb_host_available(rt_of(f), 0, loop_now_ms()));
	f->server.status = 204;
	assert_true(run_until(f, host0_up, 2000));
	f->server.status = 302; /* Envoy's default: only 200 passes; we take 2xx */
	assert_true(run_until(f, host0_down, 2000));
}

static void test_timeout(void **state)
{
	struct fixture *f = *state;
	f->server.status = 0; /* never answers */
	f->cluster.health.host = "override.example";
	uint64_t start = loop_now_ms();
	assert_true(run_until(f, host0_down, 3000));
	assert_true(loop_now_ms() - start >= 300 - 10); /* coarse clock */
	pthread_mutex_lock(&f->server.lock);
	assert_non_null(strstr(f->server.last, "\r\nHost: override.example\r\n"));
	pthread_mutex_unlock(&f->server.lock);
}

static bool one_request(struct fixture *f)
{
	return f->server.requests >= 1;
}

/* A new snapshot arrives while a check is in flight and the old one is
 * freed: the result lands on the host with the same address, now at
 * another index, without reading the old cluster (ASan would tell). */
static void test_snapshot_change_in_flight(void **state)
{
	struct fixture *f = *state;
	f->server.status = 0;
	f->cluster.health.timeout_ms = 400;
	struct cluster *old = malloc(sizeof(*old));
	*old = f->cluster;
	f->snap.clusters = old;
	assert_true(run_until(f, one_request, 2000));
	assert_int_equal(rt_of(f)->hc_due_ms[0], UINT64_MAX); /* in flight */

	struct endpoint swapped[2] = { f->eps[1], f->eps[0] };
	f->cluster.endpoints = swapped;
	f->snap.clusters = &f->cluster;
	memset(old, 0x5a, sizeof(*old));
	free(old);
	assert_true(run_until(f, host1_down, 3000)); /* the server, now at 1 */
	f->cluster.endpoints = f->eps;
}

static void test_bad_path_not_checked(void **state)
{
	struct fixture *f = *state;
	f->cluster.health.path = "/x HTTP/1.1\r\nEvil: 1\r\n\r\nGET /";
	f->cluster.endpoints = f->eps; /* just the server */
	f->cluster.n_endpoints = 1;
	uint64_t end = loop_now_ms() + 300;
	while (loop_now_ms() < end) {
		health_checker_tick(f->hc, &f->snap, loop_now_ms());
		loop_run_once(&f->loop, 20);
	}
	assert_int_equal(f->server.requests, 0);
	assert_int_equal(stats_sum(f->cluster.stats_id, STAT_HC_ATTEMPT), 0);
	uint64_t now = loop_now_ms();
	health_checker_tick(f->hc, &f->snap, now);
	assert_true(health_checker_next_ms(f->hc) > now); /* no busy loop */
	assert_true(health_checker_next_ms(f->hc) <= now + 100);
}

/* Connect only (no send, no receive): a connection made is a pass. */
static void test_tcp_connect_only(void **state)
{
	struct fixture *f = *state;
	f->cluster.health.tcp = true;
	f->cluster.health.path = NULL;
	assert_true(run_until(f, host1_down, 2000)); /* refused */
	assert_true(stats_sum(f->cluster.stats_id, STAT_HC_ATTEMPT) >= 2);
	assert_false(unhealthy(f, 0));
}

static bool two_checks_of_host0(struct fixture *f)
{
	return f->server.requests >= 2;
}

/* "PING\r\n" sent; "PO" and then "NG" must come, each maybe split over
 * reads, not necessarily adjacent. A block that never comes before the
 * server closes fails. */
static void test_tcp_send_and_receive(void **state)
{
	struct fixture *f = *state;
	struct hc_payload want[2] = { { (uint8_t *)"PO", 2 }, { (uint8_t *)"NG", 2 } };
	f->cluster.health.tcp = true;
	f->cluster.health.path = NULL;
	f->cluster.health.send = (struct hc_payload){ (uint8_t *)"PING\r\n", 6 };
	f->cluster.health.receive = want;
	f->cluster.health.n_receive = 2;
	f->cluster.endpoints = f->eps; /* just the server */
	f->cluster.n_endpoints = 1;
	f->server.tcp_in_len = 6;
	f->server.tcp_reply = "+POxNG\r\n";
	assert_true(run_until(f, two_checks_of_host0, 3000));
	assert_false(unhealthy(f, 0));
	assert_int_equal(stats_sum(f->cluster.stats_id, STAT_HC_FAILURE), 0);
	pthread_mutex_lock(&f->server.lock);
	assert_string_equal(f->server.last, "PING\r\n");
	pthread_mutex_unlock(&f->server.lock);

	f->server.tcp_reply = "+NGPO\r\n"; /* both there, not in order */
	assert_true(run_until(f, host0_down, 3000));
	f->cluster.health.send = (struct hc_payload){ 0 };
	f->cluster.health.receive = NULL;
	f->cluster.health.n_receive = 0;
	f->cluster.endpoints = f->eps;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_and_results, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_change_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_path_not_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_connect_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_send_and_receive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
