/* Tests proxy/snapshot.c: publication, references, and freeing a replaced
 * snapshot only once every worker has moved past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"
#include "proxy/stats.h"

static struct snapshot *make(const char *cluster)
{
	struct snapshot *s = snapshot_new();
	assert_non_null(s);
	s->n_clusters = 1;
	s->clusters = calloc(1, sizeof(*s->clusters));
	s->clusters[0].name = strdup(cluster);
	s->n_listeners = 1;
	s->listeners = calloc(1, sizeof(*s->listeners));
	s->listeners[0].name = strdup("l");
	assert_int_equal(sock_addr_parse("0.0.0.0", 15001, &s->listeners[0].addr), 0);
	return s;
}

static int setup(void **state)
{
	(void)state;
	snapshot_set_workers(2);
	return stats_init(2);
}

static int teardown(void **state)
{
	(void)state;
	snapshot_shutdown();
	stats_shutdown();
	return 0;
}

static void test_publish_assigns_versions_and_stats_ids(void **state)
{
	(void)state;
	assert_null(snapshot_acquire(0));
	struct snapshot *a = make("a");
	assert_int_equal(snapshot_publish(a), 0);
	assert_int_equal(snapshot_current_version(), 1);
	struct snapshot *got = snapshot_acquire(0);
	assert_ptr_equal(got, a);
	assert_non_null(snapshot_find_cluster(got, "a"));
	assert_null(snapshot_find_cluster(got, "b"));
	/* The listener's stats carry Envoy's address name. */
	enum stats_kind kind;
	const char *name;
	assert_int_equal(stats_scope_info(got->listeners[0].stats_id, &kind, &name), 0);
	assert_int_equal(kind, STATS_LISTENER);
	assert_string_equal(name, "0.0.0.0_15001");
	snapshot_unref(got);
}

static void test_replaced_snapshot_lives_until_every_worker_moves(void **state)
{
	(void)state;
	struct snapshot *a = make("a");
	snapshot_ref(a); /* the test's own reference, to watch the count */
	assert_int_equal(snapshot_publish(a), 0);
	struct snapshot *w0 = snapshot_acquire(0);
	struct snapshot *w1 = snapshot_acquire(1);
	assert_int_equal(atomic_load(&a->refs), 4);

	assert_int_equal(snapshot_publish(make("b")), 0);
	/* Worker 1 has not looked at the new one yet: the publisher keeps its
	 * reference on a, since worker 1 may be reading the old pointer. */
	snapshot_unref(w0);
	snapshot_unref(w1);
	struct snapshot *b0 = snapshot_acquire(0);
	snapshot_collect();
	assert_int_equal(atomic_load(&a->refs), 2);
	struct snapshot *b1 = snapshot_acquire(1);
	snapshot_collect();
	assert_int_equal(atomic_load(&a->refs), 1); /* only the test's now */
	assert_int_equal(snapshot_current_version(), b1->version);
	snapshot_unref(b0);
	snapshot_unref(b1);
	snapshot_unref(a);
}

static void test_counters_keep_their_scope_across_snapshots(void **state)
{
	(void)state;
	assert_int_equal(snapshot_publish(make("same")), 0);
	struct snapshot *first = snapshot_acquire(0);
	assert_int_equal(snapshot_publish(make("same")), 0);
	struct snapshot *second = snapshot_acquire(0);
	assert_int_equal(first->clusters[0].stats_id, second->clusters[0].stats_id);
	snapshot_unref(first);
	snapshot_unref(second);
}

static struct listener listener_to(const char *name, const char *cluster)
{
	struct listener l = { .name = strdup(name), .n_chains = 1 };
	l.chains[0].tcp_proxy.cluster_name = strdup(cluster);
	return l;
}

static void test_link_resolves_appended_resources(void **state)
{
	(void)state;
	struct snapshot *s = make("static");
	s->listeners[0].n_chains = 1;
	s->listeners[0].chains[0].tcp_proxy.cluster_name = strdup("static");
	struct cluster dynamic = { .name = strdup("dynamic") };
	struct listener to_dynamic = listener_to("to-dynamic", "dynamic");
	struct listener warming = listener_to("warming", "not-yet");
	assert_int_equal(snapshot_add_cluster(s, &dynamic), 0);
	assert_null(dynamic.name); /* moved */
	assert_int_equal(snapshot_add_listener(s, &to_dynamic), 0);
	assert_int_equal(snapshot_add_listener(s, &warming), 0);
	char err[128];
	assert_int_equal(snapshot_link(s, err, sizeof(err)), 0);
	/* The listener whose cluster is missing waits outside the snapshot. */
	assert_int_equal(s->n_listeners, 2);
	assert_ptr_equal(s->listeners[0].chains[0].tcp_proxy.cluster, &s->clusters[0]);
	assert_string_equal(s->listeners[1].name, "to-dynamic");
	assert_ptr_equal(s->listeners[1].chains[0].tcp_proxy.cluster, &s->clusters[1]);
	snapshot_unref(s);
}

static void test_link_refuses_duplicates(void **state)
{
	(void)state;
	struct snapshot *s = make("c");
	s->listeners[0].n_chains = 1;
	s->listeners[0].chains[0].tcp_proxy.cluster_name = strdup("c");
	struct listener again = listener_to("l", "c");
	assert_int_equal(snapshot_add_listener(s, &again), 0);
	char err[128];
	assert_int_equal(snapshot_link(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "listener \"l\" is defined twice");
	snapshot_unref(s);
	s = make("c");
	struct cluster twin = { .name = strdup("c") };
	assert_int_equal(snapshot_add_cluster(s, &twin), 0);
	assert_int_equal(snapshot_link(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "cluster \"c\" is defined twice");
	snapshot_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_assigns_versions_and_stats_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_snapshot_lives_until_every_worker_moves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_keep_their_scope_across_snapshots, setup, teardown),
		cmocka_unit_test(test_link_resolves_appended_resources),
		cmocka_unit_test(test_link_refuses_duplicates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
