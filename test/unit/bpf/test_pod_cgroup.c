/* Tests bpf/pod_cgroup.c over directory trees shaped like the kubelet's
 * cgroupfs and systemd layouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpf/pod_cgroup.h"

#define UID "0d2b7e4a-1f3c-4e5d-9a8b-7c6d5e4f3a2b"

static char root[64];

static void mkdirs(const char *rel)
{
	char path[PATH_MAX], *p;
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/skiff-podcg-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd);
}

static void test_cgroupfs_layout(void **state)
{
	(void)state;
	mkdirs("kubepods/burstable/pod" UID "/c0ffee");
	mkdirs("kubepods/besteffort/podffff");
	char out[PATH_MAX], err[256], want[PATH_MAX];
	assert_int_equal(pod_cgroup_find(root, UID, out, sizeof(out), err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/kubepods/burstable/pod" UID, root);
	assert_string_equal(out, want);
}

static void test_systemd_layout(void **state)
{
	(void)state;
	mkdirs("kubepods.slice/kubepods-burstable.slice/"
	       "kubepods-burstable-pod0d2b7e4a_1f3c_4e5d_9a8b_7c6d5e4f3a2b.slice/cri-containerd-1.scope");
	char out[PATH_MAX], err[256];
	assert_int_equal(pod_cgroup_find(root, UID, out, sizeof(out), err, sizeof(err)), 0);
	assert_non_null(strstr(out, "-pod0d2b7e4a_1f3c_4e5d_9a8b_7c6d5e4f3a2b.slice"));
}

static void test_missing_ambiguous_and_bad_uid(void **state)
{
	(void)state;
	char out[PATH_MAX], err[256];
	mkdirs("kubepods/podother");
	assert_int_equal(pod_cgroup_find(root, UID, out, sizeof(out), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no cgroup for pod " UID));
	mkdirs("a/pod" UID);
	mkdirs("b/pod" UID);
	assert_int_equal(pod_cgroup_find(root, UID, out, sizeof(out), err, sizeof(err)), -EEXIST);
	assert_int_equal(pod_cgroup_find(root, "../etc", out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_int_equal(pod_cgroup_find("/nonexistent", UID, out, sizeof(out), err, sizeof(err)),
			 -ENOENT);
}

static void test_too_deep_is_not_found(void **state)
{
	(void)state;
	mkdirs("1/2/3/4/pod" UID);
	char out[PATH_MAX], err[256];
	assert_int_equal(pod_cgroup_find(root, UID, out, sizeof(out), err, sizeof(err)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cgroupfs_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_systemd_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_ambiguous_and_bad_uid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_deep_is_not_found, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
