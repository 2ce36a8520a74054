/* node/pod_registry.c and node/node_config.c without the kernel: a pods
 * directory in a temporary folder, certificates from the development CA,
 * the datapath off, and a plain directory standing in for the pod's cgroup
 * (the registry only makes its leaf there). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certs/dev_ca.h"
#include "node/node_config.h"
#include "node/pod_registry.h"
#include "proxy/snapshot.h"
#include "proxy/sock_addr.h"

static char root[64];
static char path_buf[4][512];

static const char *at(int slot, const char *fmt, const char *arg)
{
	char rel[256];
	snprintf(rel, sizeof(rel), fmt, arg);
	snprintf(path_buf[slot], sizeof(path_buf[slot]), "%s/%s", root, rel);
	return path_buf[slot];
}

static void issue(const char *who, const char *sa)
{
	char id[128], err[256];
	time_t now = time(NULL);
	snprintf(id, sizeof(id), "spiffe://cluster.local/ns/default/sa/%s", sa);
	if (dev_ca_issue(at(0, "%s", "ca"), id, now - 60, now + 3600, at(1, "certs/%s", who), err,
			 sizeof(err)) < 0)
		fail_msg("issue %s: %s", who, err);
}

/* Writes pods/<file>.json for pod `name` with the certificates of `certs`. */
static void descriptor(const char *file, const char *name, const char *sa, const char *certs,
		       const char *netns)
{
	char text[2048], cg[512];
	snprintf(cg, sizeof(cg), "%s", at(2, "cg-%s", name));
	mkdir(cg, 0755);
	snprintf(text, sizeof(text),
		 "{\"uid\": \"%08x-1\", \"name\": \"%s\", \"namespace\": \"default\", "
		 "\"service_account\": \"%s\", \"netns\": \"%s\", \"ip\": \"10.0.0.7\", "
		 "\"cgroup\": \"%s\", \"cert\": \"%s/certs/%s/cert.pem\", "
		 "\"key\": \"%s/certs/%s/key.pem\", \"ca\": \"%s/certs/%s/ca.pem\"}\n",
		 (unsigned)strlen(file) * 7919u + (unsigned)file[0], name, sa, netns, cg, root,
		 certs, root, certs, root, certs);
	FILE *f = fopen(at(3, "pods/%s.json", file), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char err[256];
	(void)state;
	snprintf(root, sizeof(root), "/tmp/skiff-node-unit-XXXXXX");
	assert_non_null(mkdtemp(root));
	time_t now = time(NULL);
	assert_int_equal(dev_ca_create(at(0, "%s", "ca"), "cluster.local", now - 60, now + 3600,
				       err, sizeof(err)),
			 0);
	issue("web", "web");
	assert_int_equal(mkdir(at(0, "%s", "pods"), 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct listener *listener(const struct snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->n_listeners; i++)
		if (strcmp(s->listeners[i].name, name) == 0)
			return &s->listeners[i];
	fail_msg("no listener %s", name);
	return NULL;
}

static void test_pods_become_listeners_and_clusters(void **state)
{
	(void)state;
	char pods_dir[512];
	snprintf(pods_dir, sizeof(pods_dir), "%s", at(0, "%s", "pods"));
	struct node_opts o = {.pods_dir = pods_dir, .access_log = "/dev/null"};
	descriptor("web", "web", "web", "web", "/proc/self/ns/net");
	/* Refused: another service account's certificate, and a namespace
	 * already served. */
	descriptor("x-evil", "evil", "admin", "web", "/proc/1/ns/net");
	descriptor("y-twin", "twin", "web", "web", "/proc/self/ns/net");
	struct pod_registry *r;
	char err[256];
	assert_int_equal(pod_registry_open(&o, &r, err, sizeof(err)), 0);
	assert_int_equal(pod_registry_refresh(r), 1);
	assert_int_equal(pod_registry_count(r), 1);
	assert_string_equal(pod_registry_pod(r, 0)->name, "web");
	struct stat st;
	assert_int_equal(stat(at(0, "cg-web/%s", POD_LEAF_CGROUP), &st), 0);
	assert_int_equal(pod_registry_refresh(r), 0); /* nothing changed */

	struct snapshot *snap = snapshot_new();
	assert_int_equal(node_config_add(snap, r, err, sizeof(err)), 0);
	assert_int_equal(snap->n_listeners, 2);
	assert_int_equal(snap->n_clusters, 2);
	char addr[SOCK_ADDR_STRLEN];
	const struct listener *out = listener(snap, "pod|default/web|virtualOutbound");
	assert_string_equal(sock_addr_format(&out->addr, addr, sizeof(addr)), "127.0.0.1:15001");
	assert_string_equal(out->netns, "/proc/self/ns/net");
	assert_true(out->use_original_dst);
	assert_null(out->chains[0].tls);
	assert_string_equal(out->chains[0].tcp_proxy.cluster_name, "pod|default/web|outbound");
	const struct listener *in = listener(snap, "pod|default/web|virtualInbound");
	assert_string_equal(sock_addr_format(&in->addr, addr, sizeof(addr)), "10.0.0.7:15006");
	assert_true(in->chains[0].tls->require_client_certificate);
	assert_string_equal(in->chains[0].tcp_proxy.access_log.path, "/dev/null");
	const struct cluster *up = snapshot_find_cluster(snap, "pod|default/web|outbound");
	assert_non_null(up);
	assert_int_equal(up->type, CLUSTER_ORIGINAL_DST);
	assert_string_equal(up->netns, "/proc/self/ns/net");
	assert_non_null(up->tls);
	assert_string_equal(up->tls->alpn[0], "skiff-tcp");
	assert_int_equal(up->tls->min_version, 0x0304);
	const struct cluster *local = snapshot_find_cluster(snap, "pod|default/web|inbound");
	assert_true(local->has_source_address);
	assert_null(local->tls);
	snapshot_unref(snap);

	assert_int_equal(unlink(at(0, "pods/%s", "web.json")), 0);
	/* The twin may now take the namespace the first one left. */
	assert_int_equal(pod_registry_refresh(r), 2);
	assert_int_equal(pod_registry_count(r), 1);
	assert_string_equal(pod_registry_pod(r, 0)->name, "twin");
	assert_int_equal(stat(at(0, "cg-web/%s", POD_LEAF_CGROUP), &st), -1);
	pod_registry_close(r);
	assert_int_equal(stat(at(0, "cg-twin/%s", POD_LEAF_CGROUP), &st), -1);
}

static void test_embedded_listeners_dropped(void **state)
{
	(void)state;
	struct snapshot *snap = snapshot_new();
	struct listener host = {.name = strdup("virtualOutbound")};
	struct listener pod = {.name = strdup("pod|x/y|virtualOutbound"), .netns = strdup("/n")};
	assert_int_equal(snapshot_add_listener(snap, &host), 0);
	assert_int_equal(snapshot_add_listener(snap, &pod), 0);
	node_config_drop_host_listeners(snap);
	assert_int_equal(snap->n_listeners, 1);
	assert_string_equal(snap->listeners[0].name, "pod|x/y|virtualOutbound");
	snapshot_unref(snap);
}

static void test_missing_directory(void **state)
{
	(void)state;
	struct node_opts o = {.pods_dir = "/nonexistent/skiff/pods"};
	struct pod_registry *r;
	char err[256];
	assert_int_equal(pod_registry_open(&o, &r, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/skiff/pods"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pods_become_listeners_and_clusters),
	    cmocka_unit_test(test_embedded_listeners_dropped),
	    cmocka_unit_test(test_missing_directory),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
