/* Tests bpf/capture.bpf.c (cgroup/connect4, cgroup/getsockopt) with the
 * sockops program that carries the original destination between them, and
 * the loader that attaches them. cgroup_sock_addr programs have no
 * BPF_PROG_TEST_RUN, so the table below drives real connect() calls: the
 * test process enters a network namespace of its own (lo with 10.1.0.1 and
 * 10.2.0.1, nothing else) and a cgroup of its own, attaches an instance
 * there, and for each destination checks where the connection landed: on
 * the stand-in outbound listener (with SO_ORIGINAL_DST naming the
 * destination) or directly on the destination. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/wait.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/datapath.h"
#include "test/unit/bpf/bpf_test.h"

#define SO_ORIGINAL_DST 80
#define PROXY_UID 1337

static bool can_run;
static char instance[32];
static char cgroup_dir[4200], home_cgroup[4200];
static struct bpf_datapath *dp;

/* Listeners: the outbound proxy (127.0.0.1:15001) and one per destination
 * a connection may reach directly. */
static const struct {
	const char *addr;
	uint16_t port;
} listen_on[] = {
	{ "127.0.0.1", 15001 }, { "10.1.0.1", 8080 }, { "10.1.0.1", 5432 },
	{ "10.2.0.1", 8080 },   { "127.0.0.1", 8080 },
};
static int listeners[sizeof(listen_on) / sizeof(listen_on[0])];
#define PROXY 0 /* index of the outbound listener */

struct connect_case {
	const char *what;
	const char *dst;
	uint16_t port;
	bool as_proxy;  /* connect as the proxy's uid */
	bool captured;  /* lands on the outbound listener */
};

static const struct connect_case cases[] = {
	{ "a pod address is captured", "10.1.0.1", 8080, false, true },
	{ "an excluded port goes direct", "10.1.0.1", 5432, false, false },
	{ "an excluded range goes direct", "10.2.0.1", 8080, false, false },
	{ "loopback goes direct", "127.0.0.1", 8080, false, false },
	{ "the proxy's uid goes direct (no loop)", "10.1.0.1", 8080, true, false },
};

static struct sockaddr_in sin_of(const char *addr, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	return sin;
}

static int attach(const char *exclude_ports, bool sockmap, struct bpf_datapath **out)
{
	struct bpf_attach_opts o;
	char err[512] = "";
	int rc;

	bpf_attach_opts_init(&o);
	o.instance = instance;
	o.cgroup_path = cgroup_dir;
	o.proxy_uid = PROXY_UID;
	o.sockmap = sockmap;
	o.exclude_outbound_ports = exclude_ports;
	o.exclude_cidrs = "10.2.0.0/16";
	/* Direct connections to this namespace's own addresses would otherwise
	 * be steered inbound (test_inbound.c covers that): keep them out. */
	o.exclude_inbound_ports = "5432,8080";
	rc = bpf_datapath_attach(&o, out, err, sizeof(err));
	if (rc < 0)
		print_error("attach: %s\n", err);
	return rc;
}

static int group_setup(void **state)
{
	char mnt[2048];

	(void)state;
	if (!can_run)
		return 0;
	assert_int_equal(test_sh("ip addr add 10.1.0.1/32 dev lo && ip addr add 10.2.0.1/32 dev lo"), 0);
	assert_true(test_cgroup2_mount(mnt, sizeof(mnt)));
	assert_true(test_self_cgroup(home_cgroup, sizeof(home_cgroup)));
	snprintf(instance, sizeof(instance), "unit%d", getpid());
	snprintf(cgroup_dir, sizeof(cgroup_dir), "%s/skiff-unit-%d", mnt, getpid());
	assert_int_equal(mkdir(cgroup_dir, 0755), 0);
	assert_int_equal(test_enter_cgroup(cgroup_dir), 0);
	assert_int_equal(attach("5432", true, &dp), 0);
	assert_true(bpf_datapath_is_owner(dp));
	for (size_t i = 0; i < sizeof(listen_on) / sizeof(listen_on[0]); i++) {
		struct sockaddr_in sin = sin_of(listen_on[i].addr, listen_on[i].port);
		int one = 1;

		listeners[i] = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(listeners[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		assert_int_equal(bind(listeners[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(listen(listeners[i], 16), 0);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!can_run)
		return 0;
	for (size_t i = 0; i < sizeof(listeners) / sizeof(listeners[0]); i++)
		close(listeners[i]);
	bpf_datapath_detach(dp);
	bpf_datapath_detach_instance(instance, NULL, 0);
	test_enter_cgroup(home_cgroup);
	rmdir(cgroup_dir);
	return 0;
}

/* Connects to dst:port, as the proxy's uid in a child process if asked (a
 * socket is captured by the uid that calls connect()). Returns the connected
 * socket in the parent, or -1 for the child's connection (already closed). */
static int connect_to(const char *dst, uint16_t port, bool as_proxy)
{
	struct sockaddr_in sin = sin_of(dst, port);
	int fd, status;
	pid_t pid;

	if (!as_proxy) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			fail_msg("connect %s:%u: %s", dst, port, strerror(errno));
		return fd;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int cfd;

		if (setresgid(PROXY_UID, PROXY_UID, PROXY_UID) || setresuid(PROXY_UID, PROXY_UID, PROXY_UID))
			_exit(2);
		cfd = socket(AF_INET, SOCK_STREAM, 0);
		_exit(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return -1;
}

/* The listener index a new connection is waiting on, accepted into *conn. */
static int landed(int *conn)
{
	struct pollfd pfd[sizeof(listeners) / sizeof(listeners[0])];
	size_t n = sizeof(listeners) / sizeof(listeners[0]);

	for (size_t i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = listeners[i], .events = POLLIN };
	assert_true(poll(pfd, n, 2000) > 0);
	for (size_t i = 0; i < n; i++) {
		if (pfd[i].revents & POLLIN) {
			*conn = accept(listeners[i], NULL, NULL);
			assert_true(*conn >= 0);
			return (int)i;
		}
	}
	return -1;
}

static void expect_original_dst(int conn, const char *dst, uint16_t port)
{
	struct sockaddr_in got, want = sin_of(dst, port);
	socklen_t len = sizeof(got);

	memset(&got, 0, sizeof(got));
	assert_int_equal(getsockopt(conn, SOL_IP, SO_ORIGINAL_DST, &got, &len), 0);
	assert_int_equal(len, sizeof(got));
	assert_int_equal(got.sin_family, AF_INET);
	assert_int_equal(got.sin_port, want.sin_port);
	assert_int_equal(got.sin_addr.s_addr, want.sin_addr.s_addr);
}

static void test_connect_table(void **state)
{
	(void)state;
	if (!can_run)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct connect_case *c = &cases[i];
		int fd = connect_to(c->dst, c->port, c->as_proxy), conn, at;
		struct sockaddr_in orig;
		socklen_t len = sizeof(orig);

		print_message("  %s\n", c->what);
		at = landed(&conn);
		if (c->captured) {
			assert_int_equal(at, PROXY);
			expect_original_dst(conn, c->dst, c->port);
		} else {
			assert_true(at != PROXY);
			assert_string_equal(listen_on[at].addr, c->dst);
			assert_int_equal(listen_on[at].port, c->port);
			/* nothing recorded: the kernel's own answer stands */
			assert_int_equal(getsockopt(conn, SOL_IP, SO_ORIGINAL_DST, &orig, &len), -1);
		}
		close(conn);
		if (fd >= 0)
			close(fd);
	}
}

/* The captured connection has a flow entry keyed app -> outbound listener,
 * naming the original destination. */
static void test_flow_recorded(void **state)
{
	char dir[128], path[256];
	struct skiff_tuple key, next;
	struct skiff_flow f;
	void *prev = NULL;
	bool found = false;
	int fd, flows;

	(void)state;
	if (!can_run)
		skip();
	fd = connect_to("10.1.0.1", 8080, false);
	assert_int_equal(landed(&flows), PROXY);
	close(flows);
	close(fd);
	bpf_instance_dir(instance, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/flows", dir);
	flows = bpf_obj_get(path);
	assert_true(flows >= 0);
	while (!found && bpf_map_get_next_key(flows, prev, &next) == 0) {
		key = next;
		prev = &key;
		assert_int_equal(bpf_map_lookup_elem(flows, &key, &f), 0);
		found = f.kind == SKIFF_FLOW_OUTBOUND && key.dport == 15001 && f.orig_dport == 8080;
	}
	close(flows);
	assert_true(found);
	assert_int_equal(f.orig_daddr[0], 10);
	assert_true(f.start_ns > 0 && f.cgroup_id > 0);
}

/* Attaching again with the same settings changes only the exclusions, in
 * place: 8080 is excluded from the next connect() on. */
static void test_reattach_updates_exclusions(void **state)
{
	struct bpf_datapath *again;
	int fd, conn;

	(void)state;
	if (!can_run)
		skip();
	assert_int_equal(attach("5432,8080", true, &again), 0);
	assert_false(bpf_datapath_is_owner(again));
	bpf_datapath_detach(again); /* not the owner: stays attached */
	fd = connect_to("10.1.0.1", 8080, false);
	assert_int_not_equal(landed(&conn), PROXY);
	close(conn);
	close(fd);
	assert_int_equal(attach("5432", true, &again), 0);
	bpf_datapath_close(again);
	fd = connect_to("10.1.0.1", 8080, false);
	assert_int_equal(landed(&conn), PROXY);
	close(conn);
	close(fd);
}

static void test_reattach_with_other_settings_fails(void **state)
{
	struct bpf_datapath *other;

	(void)state;
	if (!can_run)
		skip();
	assert_int_equal(attach("5432", false, &other), -EEXIST);
}

/* With sockmap on, bytes from the app to the proxy skip TCP: the flow's
 * redirected byte count moves and the proxy reads exactly what was sent. */
static void test_sockmap_redirects_app_to_proxy(void **state)
{
	char buf[4096], got[4096], dir[128], path[256];
	struct skiff_tuple key, next;
	struct skiff_flow f = { 0 };
	uint64_t counters[SKIFF_CNT__COUNT], before;
	struct pollfd pfd;
	void *prev = NULL;
	size_t n = 0;
	int fd, conn, flows;

	(void)state;
	if (!can_run)
		skip();
	assert_int_equal(bpf_datapath_counters(dp, counters), 0);
	before = counters[SKIFF_CNT_MSG_REDIRECTED];
	fd = connect_to("10.1.0.1", 8080, false);
	assert_int_equal(landed(&conn), PROXY);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	assert_int_equal(send(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	/* poll first: a blocking read of a sockmap socket can see EAGAIN */
	while (n < sizeof(got)) {
		ssize_t r;

		pfd = (struct pollfd){ .fd = conn, .events = POLLIN };
		assert_true(poll(&pfd, 1, 2000) == 1);
		r = recv(conn, got + n, sizeof(got) - n, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		assert_true(r > 0);
		n += (size_t)r;
	}
	assert_memory_equal(buf, got, sizeof(buf));
	assert_int_equal(bpf_datapath_counters(dp, counters), 0);
	assert_true(counters[SKIFF_CNT_MSG_REDIRECTED] > before);

	bpf_instance_dir(instance, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/flows", dir);
	flows = bpf_obj_get(path);
	while (bpf_map_get_next_key(flows, prev, &next) == 0) {
		struct skiff_flow cur;
		struct sockaddr_in local;
		socklen_t len = sizeof(local);

		key = next;
		prev = &key;
		getsockname(fd, (struct sockaddr *)&local, &len);
		if (bpf_map_lookup_elem(flows, &key, &cur) == 0 && key.sport == ntohs(local.sin_port))
			f = cur;
	}
	close(flows);
	assert_int_equal(f.redir_bytes_c2s, sizeof(buf));
	assert_true(f.flags & SKIFF_FLOW_F_ACCEL_CLIENT);
	assert_true(f.flags & SKIFF_FLOW_F_ACCEL_SERVER);
	close(conn);
	close(fd);
}

static void test_bad_options_are_named(void **state)
{
	struct bpf_attach_opts o;
	struct bpf_datapath *x;
	char err[512];

	(void)state;
	bpf_attach_opts_init(&o);
	o.instance = "../etc";
	assert_int_equal(bpf_datapath_attach(&o, &x, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "instance name"));
	o.instance = "bad-cidr";
	o.exclude_cidrs = "10.0.0.0/33";
	assert_int_equal(bpf_datapath_attach(&o, &x, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "10.0.0.0/33"));
	o.exclude_cidrs = NULL;
	o.exclude_outbound_ports = "80,http";
	assert_int_equal(bpf_datapath_attach(&o, &x, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http"));
}

/* Last: detach leaves nothing pinned and connect() goes direct again. */
static void test_detach_leaves_nothing(void **state)
{
	char dir[128];
	struct stat st;
	int fd, conn;

	(void)state;
	if (!can_run)
		skip();
	bpf_datapath_detach(dp);
	dp = NULL;
	bpf_instance_dir(instance, dir, sizeof(dir));
	assert_int_equal(stat(dir, &st), -1);
	fd = connect_to("10.1.0.1", 8080, false);
	assert_int_not_equal(landed(&conn), PROXY);
	close(conn);
	close(fd);
	assert_int_equal(bpf_datapath_detach_instance(instance, NULL, 0), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_table),
		cmocka_unit_test(test_flow_recorded),
		cmocka_unit_test(test_reattach_updates_exclusions),
		cmocka_unit_test(test_reattach_with_other_settings_fails),
		cmocka_unit_test(test_sockmap_redirects_app_to_proxy),
		cmocka_unit_test(test_bad_options_are_named),
		cmocka_unit_test(test_detach_leaves_nothing),
	};

	can_run = test_isolate_netns();
	if (!can_run)
		fprintf(stderr, "test_capture: needs root: skipping\n");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
