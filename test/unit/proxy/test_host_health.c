/* Tests proxy/host_health.c: outlier detection (the two detectors, the
 * growing and decaying ejection time, max_ejection_percent), what an
 * attempt reports, health-check thresholds, the state carried to the next
 * version of a cluster, and workers reporting at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/host_health.h"
#include "proxy/http_config.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

#define NOW 1000000u /* any time well past 0 */

/* A prepared cluster of n endpoints 10.0.0.<first>.. with Envoy's outlier
 * defaults (max_ejection_percent 100 unless the test lowers it) and
 * health-check thresholds 2 down, 3 up. */
static struct cluster *cluster_of(size_t n, unsigned first)
{
	struct cluster *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->name = "test";
	c->endpoints = calloc(n ? n : 1, sizeof(*c->endpoints));
	assert_non_null(c->endpoints);
	c->n_endpoints = n;
	for (size_t i = 0; i < n; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.0.0.%zu", first + i);
		assert_int_equal(sock_addr_parse(ip, 80, &c->endpoints[i].addr), 0);
	}
	cluster_http_defaults(c);
	c->outlier.enabled = true;
	c->outlier.max_ejection_percent = 100;
	c->health.unhealthy_threshold = 2;
	c->health.healthy_threshold = 3;
	assert_int_equal(host_health_prepare(c), 0);
	return c;
}

static void cluster_free(struct cluster *c)
{
	host_health_release(c);
	free(c->endpoints);
	free(c);
}

static void eject(const struct cluster *c, size_t i, uint64_t now)
{
	for (int k = 0; k < 5; k++)
		host_health_outlier_report(c, i, OUTLIER_5XX, now);
	assert_false(host_health_available(c, i, now));
}

static uint64_t ejected_for(const struct cluster *c, size_t i, uint64_t now)
{
	uint64_t t = 0;
	while (!host_health_available(c, i, now + t))
		t += 1000;
	return t;
}

static void test_outlier_ejection(void **state)
{
	(void)state;
	struct cluster *c = cluster_of(2, 1);
	c->outlier.max_ejection_time_ms = 80000;
	uint64_t now = NOW;
	for (int k = 0; k < 4; k++)
		assert_false(host_health_outlier_report(c, 0, OUTLIER_5XX, now));
	assert_true(host_health_outlier_report(c, 0, OUTLIER_5XX, now));
	assert_false(host_health_available(c, 0, now));
	assert_true(host_health_any_out(c));
	assert_int_equal(host_health_ejected(c), 1);
	assert_false(host_health_available(c, 0, now + 29999));
	assert_true(host_health_available(c, 0, now + 30000)); /* base x 1 */
	assert_int_equal(host_health_ejected(c), 0);
	assert_false(host_health_any_out(c));

	now += 30000; /* second ejection right away: base x 2 */
	eject(c, 0, now);
	assert_false(host_health_available(c, 0, now + 59999));
	assert_true(host_health_available(c, 0, now + 60000));
	now += 60000; /* third: base x 3 = 90 s, capped at 80 s */
	eject(c, 0, now);
	assert_false(host_health_available(c, 0, now + 79999));
	assert_true(host_health_available(c, 0, now + 80000));

	/* back for two intervals: the count decays from 3 to 1, so the next
	 * ejection lasts base x 2 */
	now += 80000 + 2 * 10000;
	eject(c, 0, now);
	assert_int_equal(ejected_for(c, 0, now), 60000);

	/* reports while ejected do not extend it */
	now += 100000;
	eject(c, 1, now);
	for (int k = 0; k < 10; k++)
		assert_false(host_health_outlier_report(c, 1, OUTLIER_5XX, now + 1));
	assert_int_equal(ejected_for(c, 1, now), 30000);
	cluster_free(c);
}

static void test_outlier_success_resets_and_gateway(void **state)
{
	(void)state;
	struct cluster *c = cluster_of(2, 1);
	c->outlier.consecutive_gateway_failure = 3;
	for (int k = 0; k < 4; k++)
		assert_false(host_health_outlier_report(c, 0, OUTLIER_5XX, NOW));
	assert_false(host_health_outlier_report(c, 0, OUTLIER_SUCCESS, NOW));
	for (int k = 0; k < 4; k++)
		assert_false(host_health_outlier_report(c, 0, OUTLIER_5XX, NOW));
	assert_true(host_health_available(c, 0, NOW));

	/* a plain 5xx breaks the gateway streak but counts as a 5xx */
	assert_false(host_health_outlier_report(c, 1, OUTLIER_GATEWAY_FAILURE, NOW));
	assert_false(host_health_outlier_report(c, 1, OUTLIER_CONNECT_FAILURE, NOW));
	assert_false(host_health_outlier_report(c, 1, OUTLIER_5XX, NOW));
	assert_false(host_health_outlier_report(c, 1, OUTLIER_GATEWAY_FAILURE, NOW));
	/* five 5xx in a row, counting the gateway errors and connect failures */
	assert_true(host_health_outlier_report(c, 1, OUTLIER_CONNECT_FAILURE, NOW));
	cluster_free(c);

	/* gateway detector alone: three connect failures */
	c = cluster_of(2, 1);
	c->outlier.consecutive_gateway_failure = 3;
	c->outlier.consecutive_5xx = 0;
	assert_false(host_health_outlier_report(c, 0, OUTLIER_CONNECT_FAILURE, NOW));
	assert_false(host_health_outlier_report(c, 0, OUTLIER_GATEWAY_FAILURE, NOW));
	assert_true(host_health_outlier_report(c, 0, OUTLIER_CONNECT_FAILURE, NOW));
	cluster_free(c);

	/* disabled: never */
	c = cluster_of(2, 1);
	c->outlier.enabled = false;
	c->outlier.consecutive_5xx = 1;
	for (int k = 0; k < 10; k++)
		assert_false(host_health_outlier_report(c, 0, OUTLIER_5XX, NOW));
	assert_int_equal(host_health_ejected(c), 0);
	cluster_free(c);
}

static void test_max_ejection_percent(void **state)
{
	(void)state;
	struct cluster *c = cluster_of(10, 1);
	c->outlier.max_ejection_percent = 10;
	eject(c, 0, NOW); /* 10% of 10 */
	for (int k = 0; k < 5; k++)
		assert_false(host_health_outlier_report(c, 1, OUTLIER_5XX, NOW));
	assert_true(host_health_available(c, 1, NOW));
	assert_int_equal(host_health_ejected(c), 1);
	/* once host 0 is back (noticed by the next ejection), host 1 may go */
	eject(c, 1, NOW + 30000);
	assert_int_equal(host_health_ejected(c), 1);
	cluster_free(c);

	/* 2 hosts at 10%: one may still go, not two */
	c = cluster_of(2, 1);
	c->outlier.max_ejection_percent = 10;
	eject(c, 0, NOW);
	for (int k = 0; k < 5; k++)
		assert_false(host_health_outlier_report(c, 1, OUTLIER_5XX, NOW));
	assert_int_equal(host_health_ejected(c), 1);
	cluster_free(c);
}

/* An attempt reports against the cluster version it picked from, and an
 * ejection is counted in the worker's stats. */
static void test_attempt_counts_the_ejection(void **state)
{
	(void)state;
	assert_int_equal(stats_init(1), 0);
	int id = stats_scope_id(STATS_CLUSTER, "test");
	assert_true(id >= 0);
	struct cluster *c = cluster_of(3, 1);
	c->stats_id = (uint32_t)id;
	c->outlier.consecutive_5xx = 2;
	struct stats_scope *scope = stats_scope(0, (uint32_t)id);
	host_health_attempt(c, 0, OUTLIER_CONNECT_FAILURE, NOW, 0);
	host_health_attempt(c, 0, OUTLIER_CONNECT_FAILURE, NOW, 0);
	assert_false(host_health_available(c, 0, NOW));
	assert_int_equal(scope->c[STAT_OUTLIER_EJECTED], 1);
	/* out of range, none picked, no cluster: nothing */
	host_health_attempt(c, 3, OUTLIER_CONNECT_FAILURE, NOW, 0);
	host_health_attempt(c, -1, OUTLIER_CONNECT_FAILURE, NOW, 0);
	host_health_attempt(NULL, 0, OUTLIER_CONNECT_FAILURE, NOW, 0);
	assert_int_equal(scope->c[STAT_OUTLIER_EJECTED], 1);
	assert_int_equal(host_health_ejected(c), 1);
	cluster_free(c);
	stats_shutdown();
}

static void test_health_thresholds(void **state)
{
	(void)state;
	struct cluster *c = cluster_of(2, 1);
	c->health.enabled = true;
	assert_false(host_health_check_report(c, 0, false));
	assert_false(host_health_check_report(c, 0, true)); /* streak broken */
	assert_false(host_health_check_report(c, 0, false));
	assert_true(host_health_check_report(c, 0, false)); /* 2 in a row */
	assert_false(host_health_available(c, 0, NOW));
	assert_int_equal(host_health_unhealthy(c), 1);
	assert_false(host_health_check_report(c, 0, false));
	assert_false(host_health_check_report(c, 0, true));
	assert_false(host_health_check_report(c, 0, true));
	assert_true(host_health_check_report(c, 0, true)); /* 3 in a row */
	assert_true(host_health_available(c, 0, NOW));
	assert_int_equal(host_health_unhealthy(c), 0);
	assert_false(host_health_check_report(c, 5, false)); /* no such host */
	cluster_free(c);
}

/* A cluster that was never prepared has every endpoint in service. */
static void test_unprepared_cluster(void **state)
{
	(void)state;
	struct cluster *c = cluster_of(2, 1);
	host_health_release(c);
	assert_true(host_health_available(c, 1, NOW));
	assert_false(host_health_available(c, 2, NOW));
	assert_false(host_health_any_out(c));
	assert_false(host_health_outlier_report(c, 0, OUTLIER_5XX, NOW));
	assert_false(host_health_check_report(c, 0, false));
	cluster_free(c);
}

static void test_inherit_by_address(void **state)
{
	(void)state;
	struct cluster *c = cluster_of(3, 1); /* .1 .2 .3 */
	c->health.enabled = true;
	eject(c, 1, NOW);
	host_health_check_report(c, 2, false);
	host_health_check_report(c, 2, false);
	for (int k = 0; k < 3; k++) /* a streak under way carries over too */
		host_health_outlier_report(c, 0, OUTLIER_5XX, NOW);

	/* next version: .1 .2 .3 become .2 .3 .4 */
	struct cluster *next = cluster_of(3, 2);
	next->health.enabled = true;
	host_health_inherit(next, c);
	assert_false(host_health_available(next, 0, NOW)); /* .2, ejected */
	assert_false(host_health_available(next, 1, NOW)); /* .3, unhealthy */
	assert_true(host_health_available(next, 2, NOW));  /* .4, new */
	assert_int_equal(host_health_ejected(next), 1);
	assert_int_equal(host_health_unhealthy(next), 1);
	assert_true(host_health_check_report(next, 1, true) == false); /* 1 of 3 up */

	/* .1 went away with its streak; a version with it again starts fresh */
	struct cluster *again = cluster_of(1, 1);
	host_health_inherit(again, next);
	for (int k = 0; k < 2; k++)
		assert_false(host_health_outlier_report(again, 0, OUTLIER_5XX, NOW));
	assert_true(host_health_available(again, 0, NOW));

	/* health checking turned off: nothing would clear the mark, so it goes */
	struct cluster *off = cluster_of(3, 2);
	host_health_inherit(off, next);
	assert_true(host_health_available(off, 1, NOW));
	assert_int_equal(host_health_unhealthy(off), 0);
	assert_int_equal(host_health_ejected(off), 1);
	assert_int_equal(ejected_for(off, 0, NOW), 30000); /* the same end, carried twice */
	host_health_inherit(off, NULL); /* no previous version: nothing */
	cluster_free(c);
	cluster_free(next);
	cluster_free(again);
	cluster_free(off);
}

/* Workers failing on the same endpoints at once: each endpoint is ejected
 * once, and the count of ejected endpoints stays exact. */
enum { RACERS = 4, RACE_HOSTS = 8 };
static struct cluster *race_cluster;
static _Atomic unsigned race_ejections;

static void *race(void *arg)
{
	(void)arg;
	for (int round = 0; round < 2000; round++)
		for (size_t i = 0; i < RACE_HOSTS; i++)
			if (host_health_outlier_report(race_cluster, i, OUTLIER_5XX, NOW))
				race_ejections++;
	return NULL;
}

static void test_workers_report_at_once(void **state)
{
	(void)state;
	race_cluster = cluster_of(RACE_HOSTS, 1);
	race_cluster->outlier.base_ejection_time_ms = 3600000; /* none returns during the race */
	race_cluster->outlier.max_ejection_percent = 50;
	pthread_t t[RACERS];
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, NULL), 0);
	for (int i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(race_ejections, RACE_HOSTS / 2);
	assert_int_equal(host_health_ejected(race_cluster), RACE_HOSTS / 2);
	unsigned out = 0;
	for (size_t i = 0; i < RACE_HOSTS; i++)
		out += !host_health_available(race_cluster, i, NOW);
	assert_int_equal(out, RACE_HOSTS / 2);
	cluster_free(race_cluster);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outlier_ejection),
		cmocka_unit_test(test_outlier_success_resets_and_gateway),
		cmocka_unit_test(test_max_ejection_percent),
		cmocka_unit_test(test_attempt_counts_the_ejection),
		cmocka_unit_test(test_health_thresholds),
		cmocka_unit_test(test_unprepared_cluster),
		cmocka_unit_test(test_inherit_by_address),
		cmocka_unit_test(test_workers_report_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
