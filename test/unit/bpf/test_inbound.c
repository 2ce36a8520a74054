/* Tests bpf/inbound.bpf.c, the sk_lookup program, through BPF_PROG_TEST_RUN:
 * a table of lookups (family, protocol, addresses, ports) with the verdict,
 * the socket it must pick (the registered inbound listener, or none) and the
 * counter it must bump; then the runtime exclusion map, the fail-closed case
 * with no listener, and the SO_ORIGINAL_DST record left for the proxy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/datapath.h"
#include "bpf/skiff.skel.h"
#include "test/unit/bpf/bpf_test.h"

#define SK_DROP 0
#define SK_PASS 1

struct fixture {
	struct skiff_bpf *skel;
	int listen_fd;
	uint64_t listen_cookie;
};

static bool can_run;

struct lookup_case {
	const char *what;
	int family;
	int protocol;
	const char *remote;
	uint16_t remote_port;
	const char *local;
	uint16_t local_port;
	int verdict;
	bool steered;           /* the inbound listener must be selected */
	int counter;            /* enum skiff_counter bumped, -1 for none */
};

static const struct lookup_case cases[] = {
	{ "peer to an application port is steered", AF_INET, IPPROTO_TCP, "10.9.9.9", 40000,
	  "10.1.2.3", 8080, SK_PASS, true, SKIFF_CNT_LOOKUP_STEERED },
	{ "the proxy's own connection (127.0.0.6) is left alone", AF_INET, IPPROTO_TCP, "127.0.0.6",
	  40001, "10.1.2.3", 8080, SK_PASS, false, SKIFF_CNT_LOOKUP_FROM_PROXY },
	{ "loopback destination is left alone", AF_INET, IPPROTO_TCP, "127.0.0.1", 40002, "127.0.0.1",
	  8080, SK_PASS, false, SKIFF_CNT_LOOKUP_LOOPBACK },
	{ "default-excluded port 15021 is left alone", AF_INET, IPPROTO_TCP, "10.9.9.9", 40003,
	  "10.1.2.3", 15021, SK_PASS, false, SKIFF_CNT_LOOKUP_EXCLUDED_PORT },
	{ "the outbound listener port is never steered", AF_INET, IPPROTO_TCP, "10.9.9.9", 40004,
	  "10.1.2.3", 15001, SK_PASS, false, SKIFF_CNT_LOOKUP_EXCLUDED_PORT },
	{ "the inbound listener port is never steered", AF_INET, IPPROTO_TCP, "10.9.9.9", 40005,
	  "10.1.2.3", 15006, SK_PASS, false, SKIFF_CNT_LOOKUP_EXCLUDED_PORT },
	{ "UDP is left alone", AF_INET, IPPROTO_UDP, "10.9.9.9", 40006, "10.1.2.3", 53, SK_PASS,
	  false, -1 },
	{ "IPv6 is left alone while IPv6 capture is off", AF_INET6, IPPROTO_TCP, "fd00::9", 40007,
	  "fd00::3", 8080, SK_PASS, false, SKIFF_CNT_LOOKUP_IPV6_OFF },
};

static uint64_t counter(struct fixture *fx, int c)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;
	uint32_t key = (uint32_t)c;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(fx->skel->maps.counters), &key, vals), 0);
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

/* Runs the program on one lookup; returns the verdict, *cookie the cookie
 * of the selected socket (0: none). */
static int run_lookup(struct fixture *fx, const struct lookup_case *c, uint64_t *cookie)
{
	struct bpf_sk_lookup ctx;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ctx, .ctx_size_in = sizeof(ctx),
		    .ctx_out = &ctx, .ctx_size_out = sizeof(ctx));

	memset(&ctx, 0, sizeof(ctx));
	ctx.family = (uint32_t)c->family;
	ctx.protocol = (uint32_t)c->protocol;
	ctx.remote_port = htons(c->remote_port);
	ctx.local_port = c->local_port;
	if (c->family == AF_INET) {
		assert_int_equal(inet_pton(AF_INET, c->remote, &ctx.remote_ip4), 1);
		assert_int_equal(inet_pton(AF_INET, c->local, &ctx.local_ip4), 1);
	} else {
		assert_int_equal(inet_pton(AF_INET6, c->remote, ctx.remote_ip6), 1);
		assert_int_equal(inet_pton(AF_INET6, c->local, ctx.local_ip6), 1);
	}
	assert_int_equal(bpf_prog_test_run_opts(bpf_program__fd(fx->skel->progs.skiff_lookup), &opts), 0);
	*cookie = ctx.cookie;
	return (int)opts.retval;
}

static void register_listener(struct fixture *fx)
{
	uint32_t slot = (uint32_t)fx->listen_cookie & (SKIFF_INBOUND_SLOTS - 1);
	uint64_t fd = (uint64_t)fx->listen_fd;

	assert_int_equal(bpf_map_update_elem(bpf_map__fd(fx->skel->maps.inbound_listener), &slot, &fd,
					     BPF_ANY), 0);
}

static int setup(void **state)
{
	struct fixture *fx;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(fx->listen_cookie);
	uint16_t excluded = 15021;
	uint8_t one = 1;

	if (!can_run)
		return 0;
	fx = calloc(1, sizeof(*fx));
	assert_non_null(fx);
	fx->skel = skiff_bpf__open();
	assert_non_null(fx->skel);
	bpf_program__set_autoload(fx->skel->progs.skiff_msg, false);
	assert_int_equal(skiff_bpf__load(fx->skel), 0);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(fx->skel->maps.excluded_ports_in), &excluded,
					     &one, BPF_ANY), 0);
	fx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fx->listen_fd >= 0);
	assert_int_equal(bind(fx->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fx->listen_fd, 8), 0);
	assert_int_equal(getsockopt(fx->listen_fd, SOL_SOCKET, SO_COOKIE, &fx->listen_cookie, &len), 0);
	register_listener(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx) {
		close(fx->listen_fd);
		skiff_bpf__destroy(fx->skel);
		free(fx);
	}
	return 0;
}

static void test_lookup_table(void **state)
{
	struct fixture *fx = *state;

	if (!can_run)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct lookup_case *c = &cases[i];
		uint64_t before = c->counter >= 0 ? counter(fx, c->counter) : 0, cookie;
		int verdict = run_lookup(fx, c, &cookie);

		print_message("  %s\n", c->what);
		assert_int_equal(verdict, c->verdict);
		assert_int_equal(cookie, c->steered ? fx->listen_cookie : 0);
		if (c->counter >= 0)
			assert_int_equal(counter(fx, c->counter), before + 1);
	}
}

/* Exclusions live in a map: adding a port takes effect on the next lookup,
 * without reloading anything. */
static void test_exclusion_changes_at_runtime(void **state)
{
	struct fixture *fx = *state;
	struct lookup_case c = { "9090", AF_INET, IPPROTO_TCP, "10.9.9.9", 41000, "10.1.2.3", 9090,
				 SK_PASS, true, -1 };
	uint16_t port = 9090;
	uint8_t one = 1;
	uint64_t cookie;

	if (!can_run)
		skip();
	assert_int_equal(run_lookup(fx, &c, &cookie), SK_PASS);
	assert_int_equal(cookie, fx->listen_cookie);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(fx->skel->maps.excluded_ports_in), &port, &one,
					     BPF_ANY), 0);
	assert_int_equal(run_lookup(fx, &c, &cookie), SK_PASS);
	assert_int_equal(cookie, 0);
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(fx->skel->maps.excluded_ports_in), &port), 0);
}

/* No proxy listening: refuse, as iptables REDIRECT would, rather than let
 * the peer reach the application around the proxy's policy. */
static void test_no_listener_fails_closed(void **state)
{
	struct fixture *fx = *state;
	uint32_t slot = (uint32_t)fx->listen_cookie & (SKIFF_INBOUND_SLOTS - 1);
	uint64_t before, cookie;

	if (!can_run)
		skip();
	before = counter(fx, SKIFF_CNT_LOOKUP_NO_LISTENER);
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(fx->skel->maps.inbound_listener), &slot), 0);
	assert_int_equal(run_lookup(fx, &cases[0], &cookie), SK_DROP);
	assert_int_equal(cookie, 0);
	assert_int_equal(counter(fx, SKIFF_CNT_LOOKUP_NO_LISTENER), before + 1);
	register_listener(fx);
	assert_int_equal(run_lookup(fx, &cases[0], &cookie), SK_PASS);
}

/* A steered connection leaves its original destination under the accepted
 * socket's own tuple, for cgroup/getsockopt to answer SO_ORIGINAL_DST. */
static void test_steer_records_original_destination(void **state)
{
	struct fixture *fx = *state;
	struct lookup_case c = { "record", AF_INET, IPPROTO_TCP, "10.9.9.9", 42000, "10.1.2.3", 8443,
				 SK_PASS, true, -1 };
	struct skiff_tuple key = { .sport = 8443, .dport = 42000, .family = SKIFF_AF_INET,
				   .proto = SKIFF_IPPROTO_TCP };
	struct skiff_orig_dst od;
	uint64_t cookie;

	if (!can_run)
		skip();
	assert_int_equal(run_lookup(fx, &c, &cookie), SK_PASS);
	inet_pton(AF_INET, "10.1.2.3", key.saddr);
	inet_pton(AF_INET, "10.9.9.9", key.daddr);
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(fx->skel->maps.orig_dst), &key, &od), 0);
	assert_int_equal(od.port, 8443);
	assert_int_equal(od.family, SKIFF_AF_INET);
	assert_int_equal(od.kind, SKIFF_FLOW_INBOUND);
	assert_memory_equal(od.addr, key.saddr, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exclusion_changes_at_runtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_listener_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_steer_records_original_destination, setup, teardown),
	};

	can_run = test_isolate_netns() && libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_LOOKUP, NULL) == 1;
	if (!can_run)
		fprintf(stderr, "test_inbound: needs root and sk_lookup: skipping\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
