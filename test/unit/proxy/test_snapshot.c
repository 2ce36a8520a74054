/* Tests proxy/snapshot.c: publication, references, freeing a replaced
 * snapshot only once every worker has moved past it, and linking (clusters,
 * RDS route configurations, regexes, hash tables). */
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

/* A route configuration with one virtual host "*" and one route to
 * `cluster` matching `regex` (NULL: prefix "/"). */
static struct route_config route_config_to(const char *name, const char *cluster, const char *regex)
{
	struct route_config rc = { .name = strdup(name), .n_vhosts = 1 };
	rc.vhosts = calloc(1, sizeof(*rc.vhosts));
	struct virtual_host *vh = &rc.vhosts[0];
	vh->name = strdup("v");
	vh->n_domains = 1;
	vh->domains = calloc(1, sizeof(char *));
	vh->domains[0] = strdup("*");
	vh->n_routes = 1;
	vh->routes = calloc(1, sizeof(struct route));
	struct route *r = &vh->routes[0];
	r->match.kind = regex ? PATH_REGEX : PATH_PREFIX;
	r->match.value = strdup(regex ? regex : "/");
	r->match.case_sensitive = true;
	r->cluster_name = strdup(cluster);
	return rc;
}

static struct listener listener_http(const char *name, const char *rds, struct route_config *inline_rc)
{
	struct listener l = { .name = strdup(name), .n_chains = 1 };
	struct http_conn_manager_config *h = calloc(1, sizeof(*h));
	h->stat_prefix = strdup(name);
	if (rds) {
		h->rds_name = strdup(rds);
	} else {
		h->route_config = malloc(sizeof(*h->route_config));
		*h->route_config = *inline_rc;
		h->route_config_owned = true;
	}
	l.chains[0].http = h;
	return l;
}

/* RDS names resolve to the snapshot's route configurations; a listener
 * whose configuration has not come waits; routes to a missing cluster are
 * linked NULL without dropping anything. */
static void test_link_http(void **state)
{
	(void)state;
	struct snapshot *s = make("c");
	s->listeners[0].n_chains = 1;
	s->listeners[0].chains[0].tcp_proxy.cluster_name = strdup("c");
	struct route_config inl = route_config_to("inline", "not-a-cluster", "/x[0-9]+");
	struct listener a = listener_http("rds-here", "r1", NULL);
	struct listener b = listener_http("rds-missing", "r2", NULL);
	struct listener d = listener_http("inline", NULL, &inl);
	struct route_config r1 = route_config_to("r1", "c", NULL);
	r1.version = strdup("v7");
	assert_int_equal(snapshot_add_listener(s, &a), 0);
	assert_int_equal(snapshot_add_listener(s, &b), 0);
	assert_int_equal(snapshot_add_listener(s, &d), 0);
	assert_int_equal(snapshot_add_route_config(s, &r1), 0);
	assert_null(r1.name); /* moved */
	char err[256] = "";
	assert_int_equal(snapshot_link(s, err, sizeof(err)), 0);
	assert_int_equal(s->n_listeners, 3);
	assert_string_equal(s->listeners[1].name, "rds-here");
	assert_string_equal(s->listeners[2].name, "inline");
	const struct http_conn_manager_config *h = s->listeners[1].chains[0].http;
	assert_ptr_equal(h->route_config, &s->route_configs[0]);
	assert_ptr_equal(s->route_configs[0].vhosts[0].routes[0].cluster, &s->clusters[0]);
	h = s->listeners[2].chains[0].http;
	assert_null(h->route_config->vhosts[0].routes[0].cluster);
	assert_non_null(h->route_config->vhosts[0].routes[0].match.re); /* prepared */
	assert_ptr_equal(snapshot_find_route_config(s, "r1"), &s->route_configs[0]);
	assert_null(snapshot_find_route_config(s, "r2"));
	snapshot_unref(s);
}

static void test_link_http_errors(void **state)
{
	(void)state;
	char err[256];
	struct snapshot *s = make("c");
	struct route_config r = route_config_to("r", "c", NULL);
	struct route_config twin = route_config_to("r", "c", NULL);
	assert_int_equal(snapshot_add_route_config(s, &r), 0);
	assert_int_equal(snapshot_add_route_config(s, &twin), 0);
	assert_int_equal(snapshot_link(s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "route_config \"r\" is defined twice");
	snapshot_unref(s);

	/* regexes compile before publish, RDS and inline alike */
	s = make("c");
	r = route_config_to("bad", "c", "a(b");
	assert_int_equal(snapshot_add_route_config(s, &r), 0);
	assert_int_equal(snapshot_link(s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "route_config \"bad\": "));
	assert_non_null(strstr(err, "virtual_hosts[0].routes[0].match.safe_regex.regex"));
	assert_non_null(strstr(err, "missing closing parenthesis"));
	snapshot_unref(s);

	s = make("c");
	struct route_config inl = route_config_to("i", "c", "[");
	struct listener l = listener_http("in", NULL, &inl);
	assert_int_equal(snapshot_add_listener(s, &l), 0);
	assert_int_equal(snapshot_link(s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "listener \"in\" filter_chains[0] route_config: "));
	snapshot_unref(s);

	/* a Maglev table that cannot be built fails the snapshot */
	s = make("m");
	struct cluster *m = &s->clusters[0];
	m->lb_policy = LB_MAGLEV;
	m->maglev_table_size = 100;
	m->n_endpoints = 1;
	m->endpoints = calloc(1, sizeof(*m->endpoints));
	m->endpoints[0].weight = 1;
	assert_int_equal(sock_addr_parse("10.0.0.1", 80, &m->endpoints[0].addr), 0);
	free(s->listeners[0].name);
	s->n_listeners = 0;
	assert_int_equal(snapshot_link(s, err, sizeof(err)), -EINVAL);
	assert_memory_equal(err, "cluster \"m\": ", 13);
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
		cmocka_unit_test(test_link_http),
		cmocka_unit_test(test_link_http_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
