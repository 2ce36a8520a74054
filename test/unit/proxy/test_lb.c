/* Tests proxy/lb.c: xxHash64 vectors, every policy's distribution, hosts
 * that are out (ejected, failing health checks: proxy/host_health.c, tested
 * in test_host_health.c) skipped by every worker, panic mode, and a
 * worker's host state across snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/lb.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

#define NOW 1000000u /* any time well past 0 */

/* A cluster of n endpoints 10.0.<i/250>.<i%250+1>:80 with the given weights
 * (NULL: all 1) and Envoy's outlier and health-check defaults. */
static struct cluster *cluster_new(size_t n, const uint32_t *weights, enum lb_policy policy)
{
	struct cluster *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->name = "test";
	c->lb_policy = policy;
	c->endpoints = calloc(n ? n : 1, sizeof(*c->endpoints));
	assert_non_null(c->endpoints);
	c->n_endpoints = n;
	for (size_t i = 0; i < n; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "10.0.%zu.%zu", i / 250, i % 250 + 1);
		assert_int_equal(sock_addr_parse(ip, 80, &c->endpoints[i].addr), 0);
		c->endpoints[i].weight = weights ? weights[i] : 1;
	}
	c->ring_hash_min_size = 1024;
	c->maglev_table_size = 65537;
	c->outlier = (struct outlier_detection){
		.enabled = true,
		.consecutive_5xx = 5,
		.consecutive_gateway_failure = 5,
		.interval_ms = 10000,
		.base_ejection_time_ms = 30000,
		.max_ejection_time_ms = 300000,
		.max_ejection_percent = 10,
	};
	c->health.unhealthy_threshold = 2;
	c->health.healthy_threshold = 3;
	return c;
}

static void cluster_free(struct cluster *c)
{
	lb_release(c);
	free(c->endpoints);
	free(c);
}

/* The same cluster with endpoint `drop` left out (SIZE_MAX: none) and one
 * more endpoint `add` (NULL: none) at the end. */
static struct cluster *cluster_edit(const struct cluster *old, size_t drop, const char *add)
{
	struct cluster *c = malloc(sizeof(*c));
	assert_non_null(c);
	*c = *old;
	c->lb = NULL;
	c->host_health = NULL;
	c->endpoints = calloc(old->n_endpoints + 1, sizeof(*c->endpoints));
	c->n_endpoints = 0;
	for (size_t i = 0; i < old->n_endpoints; i++)
		if (i != drop)
			c->endpoints[c->n_endpoints++] = old->endpoints[i];
	if (add) {
		assert_int_equal(sock_addr_parse(add, 80, &c->endpoints[c->n_endpoints].addr), 0);
		c->endpoints[c->n_endpoints++].weight = 1;
	}
	return c;
}

static void prepare(struct cluster *c)
{
	char err[256] = "";
	assert_int_equal(lb_prepare(c, err, sizeof(err)), 0);
}

static uint64_t key_hash(unsigned k)
{
	char key[32];
	int len = snprintf(key, sizeof(key), "user-%u", k);
	return lb_hash(key, (size_t)len);
}

static void test_xxhash64_vectors(void **state)
{
	(void)state;
	static const char fox[] = "The quick brown fox jumps over the lazy dog, twice: "
				  "the quick brown fox jumps over the lazy dog.";
	assert_true(lb_hash("", 0) == 0xef46db3751d8e999ull);
	assert_true(lb_hash("a", 1) == 0xd24ec4f1a98c6e5bull);
	assert_true(lb_hash("abc", 3) == 0x44bc2cf5ad770999ull);
	/* 96 bytes: the 32-byte stripe loop, then 8-byte lanes */
	assert_int_equal(strlen(fox), 96);
	assert_true(lb_hash(fox, 96) == 0x581d6c19ba1b00f2ull);
}

static void test_round_robin_unweighted(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(3, NULL, LB_ROUND_ROBIN);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	assert_non_null(rt);
	assert_false(rt->weighted);
	int first = lb_pick(rt, NOW, false, 0);
	for (int k = 1; k < 9; k++)
		assert_int_equal(lb_pick(rt, NOW, false, 0), (first + k) % 3);
	cluster_rt_table_free(&t);
	cluster_free(c);
}

static void test_round_robin_weighted_exact(void **state)
{
	(void)state;
	static const uint32_t w[] = { 1, 2, 3, 4 };
	struct cluster *c = cluster_new(4, w, LB_ROUND_ROBIN);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	assert_true(rt->weighted);
	for (int cycle = 0; cycle < 5; cycle++) {
		unsigned n[4] = { 0 };
		int run = 0, last = -1, longest = 0;
		for (int k = 0; k < 10; k++) { /* one cycle: sum of the weights */
			int h = lb_pick(rt, NOW, false, 0);
			run = h == last ? run + 1 : 1;
			longest = run > longest ? run : longest;
			last = h;
			n[h]++;
		}
		for (int h = 0; h < 4; h++)
			assert_int_equal(n[h], w[h]);
		assert_true(longest <= 2); /* smooth: no burst of the heaviest */
	}
	cluster_rt_table_free(&t);
	cluster_free(c);
}

static void test_random_weighted(void **state)
{
	(void)state;
	static const uint32_t w[] = { 1, 3 };
	struct cluster *c = cluster_new(2, w, LB_RANDOM);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	unsigned n[2] = { 0 };
	for (int k = 0; k < 40000; k++)
		n[lb_pick(rt, NOW, false, 0)]++;
	assert_in_range(n[0], 9000, 11000); /* 10000 expected */
	cluster_rt_table_free(&t);
	cluster_free(c);
}

static void test_least_request_p2c(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(4, NULL, LB_LEAST_REQUEST);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	rt->hosts[0].active_requests = 100;
	unsigned n[4] = { 0 };
	for (int k = 0; k < 16000; k++)
		n[lb_pick(rt, NOW, false, 0)]++;
	/* host 0 wins only when drawn twice: 1/16 of 16000 = 1000 */
	assert_in_range(n[0], 700, 1300);
	for (int h = 1; h < 4; h++)
		assert_in_range(n[h], 4500, 5500); /* 5000 each */

	/* weighted: drawn by weight / (active + 1), as Envoy schedules */
	static const uint32_t w[] = { 1, 4 };
	struct cluster *cw = cluster_new(2, w, LB_LEAST_REQUEST);
	cw->stats_id = 1;
	rt = cluster_rt_get(&t, cw);
	unsigned m[2] = { 0 };
	for (int k = 0; k < 10000; k++)
		m[lb_pick(rt, NOW, false, 0)]++;
	assert_in_range(m[1], 7600, 8400); /* idle: by weight, 4/5 */
	rt->hosts[0].active_requests = 1; /* 1/2 */
	rt->hosts[1].active_requests = 7; /* 4/8: the same effective weight */
	m[0] = m[1] = 0;
	for (int k = 0; k < 10000; k++)
		m[lb_pick(rt, NOW, false, 0)]++;
	assert_in_range(m[1], 4500, 5500);
	rt->hosts[1].active_requests = 40; /* 4/41 against 1/2 */
	m[0] = m[1] = 0;
	for (int k = 0; k < 10000; k++)
		m[lb_pick(rt, NOW, false, 0)]++;
	assert_in_range(m[0], 8000, 8700); /* 0.5 / (0.5 + 0.0976) = 84% */
	cluster_rt_table_free(&t);
	cluster_free(c);
	cluster_free(cw);
}

static void test_ring_hash_consistency(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(10, NULL, LB_RING_HASH);
	prepare(c);
	struct cluster *more = cluster_edit(c, SIZE_MAX, "10.9.9.9");
	more->stats_id = 1;
	prepare(more);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	struct cluster_rt *rt2 = cluster_rt_get(&t, more);
	const unsigned keys = 20000;
	unsigned moved = 0, to_new = 0, per_host[10] = { 0 };
	for (unsigned k = 0; k < keys; k++) {
		int h = lb_pick(rt, NOW, true, key_hash(k));
		assert_int_equal(lb_pick(rt, NOW, true, key_hash(k)), h);
		per_host[h]++;
		int h2 = lb_pick(rt2, NOW, true, key_hash(k));
		if (h2 != h) {
			moved++;
			to_new += h2 == 10; /* only to the new host */
		}
	}
	/* 1/11 of the keys go to the new host. Envoy's ring keeps its size
	 * (ring_hash_min_size), so every host also loses 1/11 of its points,
	 * whose keys move on clockwise: about as many again move between old
	 * hosts. Same ring as Envoy's, so the same bound holds there. */
	assert_in_range(to_new, keys / 11 * 2 / 3, keys / 11 * 3 / 2);
	assert_true(moved < keys * 5 / 2 / 11);
	for (int h = 0; h < 10; h++)
		assert_in_range(per_host[h], keys / 10 / 2, keys / 10 * 2);
	/* without a hash: random */
	assert_in_range(lb_pick(rt, NOW, false, 0), 0, 9);
	cluster_rt_table_free(&t);
	cluster_free(c);
	cluster_free(more);
}

static void test_ring_hash_weights(void **state)
{
	(void)state;
	static const uint32_t w[] = { 1, 2, 3 };
	struct cluster *c = cluster_new(3, w, LB_RING_HASH);
	c->ring_hash_min_size = 16384;
	prepare(c);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	const unsigned keys = 60000;
	unsigned n[3] = { 0 };
	for (unsigned k = 0; k < keys; k++)
		n[lb_pick(rt, NOW, true, key_hash(k))]++;
	for (int h = 0; h < 3; h++) { /* within 10% of the weight's share */
		unsigned want = keys * w[h] / 6;
		assert_in_range(n[h], want * 9 / 10, want * 11 / 10);
	}
	cluster_rt_table_free(&t);
	cluster_free(c);
}

static void test_ring_hash_limits(void **state)
{
	(void)state;
	char err[256] = "";
	struct cluster *c = cluster_new(3, NULL, LB_RING_HASH);
	c->ring_hash_min_size = 9u * 1024 * 1024;
	assert_int_equal(lb_prepare(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "minimum_ring_size"));
	assert_null(c->lb);
	cluster_free(c);
	/* no endpoints: nothing to build, and nothing to pick */
	c = cluster_new(0, NULL, LB_RING_HASH);
	prepare(c);
	struct cluster_rt_table t = { 0 };
	assert_int_equal(lb_pick(cluster_rt_get(&t, c), NOW, true, 1), -1);
	cluster_rt_table_free(&t);
	cluster_free(c);
}

/* Slot s of a Maglev table answers hash s. */
static void maglev_count(struct cluster_rt *rt, uint32_t size, unsigned *per_host, int *owner)
{
	for (uint32_t s = 0; s < size; s++) {
		int h = lb_pick(rt, NOW, true, s);
		assert_in_range(h, 0, (int)rt->n_hosts - 1);
		if (per_host)
			per_host[h]++;
		if (owner)
			owner[s] = h;
	}
}

static void test_maglev_table(void **state)
{
	(void)state;
	const uint32_t size = 65537;
	struct cluster *c = cluster_new(10, NULL, LB_MAGLEV);
	prepare(c);
	struct cluster *fewer = cluster_edit(c, 4, NULL);
	fewer->stats_id = 1;
	prepare(fewer);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	unsigned per_host[10] = { 0 };
	int *before = calloc(size, sizeof(int)), *after = calloc(size, sizeof(int));
	maglev_count(rt, size, per_host, before);
	/* every slot filled, hosts taking turns: each holds size/10 or one more */
	for (int h = 0; h < 10; h++)
		assert_in_range(per_host[h], size / 10, size / 10 + 1);
	assert_int_equal(lb_pick(rt, NOW, true, 12345), lb_pick(rt, NOW, true, 12345 + size));

	/* removing host 4: its slots move, and few others do */
	maglev_count(cluster_rt_get(&t, fewer), size, NULL, after);
	unsigned kept = 0, disrupted = 0;
	for (uint32_t s = 0; s < size; s++) {
		int old = before[s] < 4 ? before[s] : before[s] - 1; /* index in `fewer` */
		if (before[s] == 4)
			continue;
		kept++;
		disrupted += after[s] != old;
	}
	assert_true(disrupted * 100 < kept); /* under 1% of the other keys (0.2% now) */
	free(before);
	free(after);
	cluster_rt_table_free(&t);
	cluster_free(c);
	cluster_free(fewer);
}

static void test_maglev_weights_and_prime(void **state)
{
	(void)state;
	static const uint32_t w[] = { 1, 2, 3 };
	const uint32_t size = 65537;
	struct cluster *c = cluster_new(3, w, LB_MAGLEV);
	prepare(c);
	struct cluster_rt_table t = { 0 };
	unsigned n[3] = { 0 };
	maglev_count(cluster_rt_get(&t, c), size, n, NULL);
	for (int h = 0; h < 3; h++) /* within 1% of the weight's share */
		assert_in_range(n[h], size * w[h] / 6 * 99 / 100, size * w[h] / 6 * 101 / 100);
	cluster_rt_table_free(&t);

	char err[256] = "";
	struct cluster_rt_table t2 = { 0 };
	c->maglev_table_size = 65536;
	lb_release(c);
	assert_int_equal(lb_prepare(c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "table_size 65536"));
	assert_null(c->lb);
	c->maglev_table_size = 1;
	assert_int_equal(lb_prepare(c, err, sizeof(err)), -EINVAL);
	c->maglev_table_size = 5000011 + 2; /* 5000013 is prime, but too big */
	assert_int_equal(lb_prepare(c, err, sizeof(err)), -EINVAL);
	c->maglev_table_size = 7; /* small prime, fewer slots than weight turns */
	prepare(c);
	maglev_count(cluster_rt_get(&t2, c), 7, NULL, NULL);
	cluster_rt_table_free(&t2);
	cluster_free(c);
}

/* A retry host predicate's pick again: a hashed request reaches another
 * host within a few attempts (ring: the next entries; Maglev: a mutated
 * hash, Envoy's), and the same attempt always gives the same host. */
static void test_pick_again_moves_hashed_requests(void **state)
{
	(void)state;
	static const enum lb_policy policies[] = { LB_RING_HASH, LB_MAGLEV };
	for (size_t p = 0; p < 2; p++) {
		struct cluster *c = cluster_new(4, NULL, policies[p]);
		prepare(c);
		struct cluster_rt_table t = { 0 };
		struct cluster_rt *rt = cluster_rt_get(&t, c);
		for (unsigned k = 0; k < 1000; k++) {
			uint64_t h = key_hash(k);
			int first = lb_pick(rt, NOW, true, h);
			assert_int_equal(lb_pick_again(rt, NOW, true, h, 0), first);
			uint32_t a = 1;
			while (a <= 8 && lb_pick_again(rt, NOW, true, h, a) == first)
				a++;
			assert_true(a <= 8);
			assert_int_equal(lb_pick_again(rt, NOW, true, h, a),
					 lb_pick_again(rt, NOW, true, h, a));
			if (policies[p] == LB_MAGLEV) /* ~0 - 1 + 1: all bits flipped */
				assert_int_equal(lb_pick_again(rt, NOW, true, h, 1),
						 lb_pick(rt, NOW, true, ~h));
		}
		cluster_rt_table_free(&t);
		cluster_free(c);
	}
}

static void eject_host(const struct cluster *c, size_t i, uint64_t now)
{
	for (int k = 0; k < 5; k++)
		host_health_outlier_report(c, i, OUTLIER_5XX, now);
	assert_false(host_health_available(c, i, now));
}

static void test_skip_unavailable(void **state)
{
	(void)state;
	static const enum lb_policy policies[] = { LB_ROUND_ROBIN, LB_RANDOM, LB_LEAST_REQUEST,
						   LB_RING_HASH, LB_MAGLEV };
	for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
		struct cluster *c = cluster_new(4, NULL, policies[p]);
		c->outlier.max_ejection_percent = 100;
		c->health.enabled = true;
		prepare(c);
		struct cluster_rt_table t = { 0 };
		struct cluster_rt *rt = cluster_rt_get(&t, c);
		int home[64];
		for (unsigned k = 0; k < 64; k++)
			home[k] = lb_pick(rt, NOW, true, key_hash(k));
		eject_host(c, 1, NOW);
		host_health_check_report(c, 2, false);
		assert_true(host_health_check_report(c, 2, false));
		assert_int_equal(host_health_unhealthy(c), 1);
		unsigned n[4] = { 0 };
		for (unsigned k = 0; k < 2000; k++)
			n[lb_pick(rt, NOW, true, key_hash(k % 64))]++;
		assert_int_equal(n[1] + n[2], 0);
		if (policies[p] == LB_ROUND_ROBIN) { /* the others share evenly */
			assert_int_equal(n[0], 1000);
			assert_int_equal(n[3], 1000);
		}
		if (policies[p] == LB_RING_HASH || policies[p] == LB_MAGLEV)
			for (unsigned k = 0; k < 64; k++) /* keys of hosts still in stay */
				if (home[k] == 0 || home[k] == 3)
					assert_int_equal(lb_pick(rt, NOW, true, key_hash(k)), home[k]);
		cluster_rt_table_free(&t);
		cluster_free(c);
	}
}

/* Another worker's ejection is seen by this worker's next pick. */
static void test_ejection_seen_by_every_worker(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(2, NULL, LB_ROUND_ROBIN);
	c->outlier.max_ejection_percent = 100;
	prepare(c);
	struct cluster_rt_table w1 = { 0 }, w2 = { 0 };
	struct cluster_rt *rt1 = cluster_rt_get(&w1, c), *rt2 = cluster_rt_get(&w2, c);
	eject_host(c, 0, NOW); /* reported by worker 1's requests */
	for (int k = 0; k < 10; k++) {
		assert_int_equal(lb_pick(rt1, NOW, false, 0), 1);
		assert_int_equal(lb_pick(rt2, NOW, false, 0), 1);
	}
	/* back after base_ejection_time, on both */
	assert_true(lb_host_available(rt2, 0, NOW + 30000));
	assert_true(lb_host_available(rt1, 0, NOW + 30000));
	assert_int_equal(host_health_ejected(c), 0);
	cluster_rt_table_free(&w1);
	cluster_rt_table_free(&w2);
	cluster_free(c);
}

static void test_panic_mode(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(3, NULL, LB_ROUND_ROBIN);
	c->outlier.max_ejection_percent = 100;
	prepare(c);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	for (size_t i = 0; i < 3; i++)
		eject_host(c, i, NOW);
	assert_int_equal(host_health_ejected(c), 3);
	unsigned n[3] = { 0 };
	for (int k = 0; k < 30; k++)
		n[lb_pick(rt, NOW, false, 0)]++;
	for (int h = 0; h < 3; h++)
		assert_int_equal(n[h], 10);
	cluster_rt_table_free(&t);
	cluster_free(c);
}

/* The worker's own state (requests in flight, when a check is due) follows
 * each host's address to the next version of the cluster. */
static void test_state_across_snapshots(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(3, NULL, LB_ROUND_ROBIN); /* .1 .2 .3 */
	c->stats_id = 300;                                        /* the table grows */
	prepare(c);
	struct cluster_rt_table t = { 0 };
	struct cluster_rt *rt = cluster_rt_get(&t, c);
	assert_true(t.cap > 300);
	assert_ptr_equal(cluster_rt_get(&t, c), rt);
	rt->hosts[1].active_requests = 7;
	rt->hc_due_ms[2] = 42;

	/* next snapshot: .1 gone, .2 and .3 kept (now at 0 and 1), .99 new */
	struct cluster *next = cluster_edit(c, 0, "10.0.0.99");
	prepare(next);
	host_health_inherit(next, c);
	struct cluster_rt *rt2 = cluster_rt_get(&t, next);
	assert_ptr_equal(rt2, rt); /* same stats id, same state object */
	assert_ptr_equal(rt2->c, next);
	assert_int_equal(rt2->n_hosts, 3);
	assert_int_equal(rt2->hosts[0].active_requests, 7);
	assert_true(rt2->hc_due_ms[1] == 42);
	assert_int_equal(rt2->hosts[2].active_requests, 0);
	assert_true(rt2->hc_due_ms[2] == 0);
	cluster_rt_table_free(&t);
	assert_null(t.by_id);
	cluster_free(c);
	cluster_free(next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xxhash64_vectors),
		cmocka_unit_test(test_round_robin_unweighted),
		cmocka_unit_test(test_round_robin_weighted_exact),
		cmocka_unit_test(test_random_weighted),
		cmocka_unit_test(test_least_request_p2c),
		cmocka_unit_test(test_ring_hash_consistency),
		cmocka_unit_test(test_ring_hash_weights),
		cmocka_unit_test(test_ring_hash_limits),
		cmocka_unit_test(test_maglev_table),
		cmocka_unit_test(test_maglev_weights_and_prime),
		cmocka_unit_test(test_pick_again_moves_hashed_requests),
		cmocka_unit_test(test_skip_unavailable),
		cmocka_unit_test(test_ejection_seen_by_every_worker),
		cmocka_unit_test(test_panic_mode),
		cmocka_unit_test(test_state_across_snapshots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
