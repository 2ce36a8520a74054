/* certs/watch.c: reloads on rename, on in-place rewrites and on a
 * Kubernetes-style `..data` symlink swap; refuses bad files and keeps the
 * old identity. */
#include "test/unit/certs/helpers.h"

#include <errno.h>
#include <poll.h>
#include <sys/stat.h>

#include "certs/watch.h"

#define ID_WEB "spiffe://example.org/ns/default/sa/web"

static char *ca_dir;

struct seen {
	int calls;
	char serial[64];
	char err[512];
};

static void on_change(struct tls_identity *id, const char *err, void *arg)
{
	struct seen *s = arg;

	s->calls++;
	if (id) {
		snprintf(s->serial, sizeof(s->serial), "%s", id->serial);
		s->err[0] = '\0';
		tls_identity_unref(id);
	} else {
		snprintf(s->err, sizeof(s->err), "%s", err);
	}
}

/* Polls and handles the watcher until it reports a reload or refusal;
 * returns that result, and the time it took in `*ms`. */
static int wait_reload(struct cert_watch *w, long *ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = {.fd = cert_watch_fd(w), .events = POLLIN};

		clock_gettime(CLOCK_MONOTONIC, &t1);
		*ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (*ms > 3000)
			return 0;
		if (poll(&pfd, 1, 100) == 1) {
			int rc = cert_watch_handle(w);

			if (rc != 0)
				return rc;
		}
	}
}

static void issue(const char *out)
{
	char err[512];
	time_t now = time(NULL);

	if (dev_ca_issue(ca_dir, ID_WEB, now - 60, now + HOUR, out, err, sizeof(err)) < 0)
		fail_msg("issue: %s", err);
}

static int setup(void **state)
{
	char err[512];
	time_t now = time(NULL);

	(void)state;
	ca_dir = test_tmpdir();
	if (dev_ca_create(ca_dir, "example.org", now - 60, now + 24 * HOUR, err, sizeof(err)) < 0)
		fail_msg("ca: %s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rmdir(ca_dir);
	return 0;
}

static void test_rename_and_rewrite(void **state)
{
	char *dir = test_tmpdir();
	struct seen seen = {0};
	struct cert_watch *w = NULL;
	char err[512] = "", first[64];
	long ms;

	(void)state;
	issue(dir);
	if (cert_watch_new(dir, NULL, on_change, &seen, &w, err, sizeof(err)) < 0)
		fail_msg("watch: %s", err);
	snprintf(first, sizeof(first), "%s", cert_watch_identity(w)->serial);
	assert_int_equal(cert_watch_handle(w), 0); /* nothing pending */

	/* Files replaced by rename, three of them one after the other: one
	 * reload, well within a second. */
	issue(dir);
	assert_int_equal(wait_reload(w, &ms), 1);
	assert_int_equal(seen.calls, 1);
	assert_true(ms < 1000);
	assert_string_not_equal(seen.serial, first);
	assert_string_equal(cert_watch_identity(w)->serial, seen.serial);

	/* A certificate rewritten in place with garbage: refused, with the
	 * file named, and the identity before it stays. */
	FILE *f = fopen(test_path(0, dir, "cert.pem"), "w");

	fputs("not a certificate\n", f);
	fclose(f);
	assert_int_equal(wait_reload(w, &ms), -EINVAL);
	assert_int_equal(seen.calls, 2);
	assert_non_null(strstr(seen.err, "cert.pem"));
	assert_string_equal(cert_watch_identity(w)->serial, seen.serial);

	/* Fixed again: back in service. */
	issue(dir);
	assert_int_equal(wait_reload(w, &ms), 1);
	assert_int_equal(seen.calls, 3);
	assert_string_equal(cert_watch_identity(w)->serial, seen.serial);

	cert_watch_free(w);
	test_rmdir(dir);
}

/* The kubelet's atomic writer: files are symlinks through `..data`, which is
 * itself a symlink to a timestamped directory, swapped by rename. */
static void swap_data(const char *dir, const char *version)
{
	char target[600], tmp[600], data[600];

	snprintf(target, sizeof(target), "%s/%s", dir, version);
	issue(target);
	snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
	snprintf(data, sizeof(data), "%s/..data", dir);
	assert_int_equal(symlink(version, tmp), 0);
	assert_int_equal(rename(tmp, data), 0);
}

static void test_kubernetes_symlink_swap(void **state)
{
	char *dir = test_tmpdir();
	struct seen seen = {0};
	struct cert_watch *w = NULL;
	struct cert_watch_files names = {"tls.crt", "tls.key", "ca.crt"};
	char err[512] = "", first[64];
	long ms;

	(void)state;
	swap_data(dir, "..2024_01_01_00_00_00.1");
	assert_int_equal(symlink("..data/cert.pem", test_path(0, dir, "tls.crt")), 0);
	assert_int_equal(symlink("..data/key.pem", test_path(0, dir, "tls.key")), 0);
	assert_int_equal(symlink("..data/ca.pem", test_path(0, dir, "ca.crt")), 0);
	if (cert_watch_new(dir, &names, on_change, &seen, &w, err, sizeof(err)) < 0)
		fail_msg("watch: %s", err);
	snprintf(first, sizeof(first), "%s", cert_watch_identity(w)->serial);

	swap_data(dir, "..2024_01_01_00_00_00.2");
	assert_int_equal(wait_reload(w, &ms), 1);
	assert_true(ms < 1000);
	assert_string_not_equal(cert_watch_identity(w)->serial, first);

	cert_watch_free(w);
	test_rmdir(dir);
}

static void test_bad_start(void **state)
{
	char *dir = test_tmpdir();
	struct cert_watch *w = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(cert_watch_new(dir, NULL, on_change, NULL, &w, err, sizeof(err)), -EINVAL);
	assert_null(w);
	assert_non_null(strstr(err, "cert.pem"));
	assert_int_equal(
	    cert_watch_new("/nonexistent", NULL, on_change, NULL, &w, err, sizeof(err)), -ENOENT);
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rename_and_rewrite),
	    cmocka_unit_test(test_kubernetes_symlink_swap),
	    cmocka_unit_test(test_bad_start),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
